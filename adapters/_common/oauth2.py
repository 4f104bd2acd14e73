"""OAuth2 client credentials (RFC 6749 §4.4) for backend calls, as an `httpx.Auth` flow.

The client authenticates at the token endpoint in one of three ways (`settings.oauth2.method`):

    client_secret_basic  HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1)
    client_secret_post   client_id and client_secret in the form body
    private_key_jwt      a short-lived JWT signed with the client's private key (RFC 7523, OIDC Core §9)

The access token is kept until `refresh_before` before it expires, then fetched again; a backend
answering 401 gets one more try with a fresh token (it may have revoked the old one early). Many
sandbox threads share one flow: a lock makes exactly one of them fetch. Tokens, secrets and the
assertion never reach a log line or an error message; a refusal says what the endpoint answered.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt

from plugin_runtime import errors

CLIENT_ID = "oauth_client_id"
CLIENT_SECRET = "oauth_client_secret"
PRIVATE_KEY = "oauth_private_key"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 60
_DEFAULT_EXPIRES_IN = 300.0


class ClientCredentials(httpx.Auth):
    """Bearer tokens from a token endpoint; `secret_values()` lists what must never be shown."""

    def __init__(
        self,
        *,
        backend: str,
        endpoint: str,
        method: str,
        client_id: str,
        client_secret: str | None = None,
        private_key: str | None = None,
        signing_algorithm: str = "RS256",
        key_id: str | None = None,
        scopes: tuple[str, ...] = (),
        audience: str | None = None,
        refresh_before: float = 30.0,
        verify: Any = True,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._endpoint = endpoint
        self._method = method
        self._client_id = client_id
        self._client_secret = client_secret
        self._private_key = private_key
        self._algorithm = signing_algorithm
        self._key_id = key_id
        self._scopes = scopes
        self._audience = audience
        self._refresh_before = refresh_before
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._client = httpx.Client(verify=verify, timeout=timeout, follow_redirects=False, transport=transport)

    def secret_values(self) -> tuple[str, ...]:
        values = (self._client_secret, self._private_key, self._token)
        return tuple(value for value in values if value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=token)}"
            yield request

    def token(self, *, stale: str | None = None) -> str:
        """The current access token, fetched when missing, about to expire, or refused (`stale`)."""
        with self._lock:
            due = self._clock() >= self._expires_at - self._refresh_before
            if self._token is None or due or self._token == stale:
                self._token, self._expires_at = self._fetch()
            return self._token

    def close(self) -> None:
        self._client.close()

    def _form(self) -> tuple[dict[str, str], httpx.Auth | None]:
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        if self._audience:
            form["audience"] = self._audience
        if self._method == "client_secret_basic":
            assert self._client_secret is not None
            return form, httpx.BasicAuth(quote_plus(self._client_id), quote_plus(self._client_secret))
        form["client_id"] = self._client_id
        if self._method == "client_secret_post":
            assert self._client_secret is not None
            return form | {"client_secret": self._client_secret}, None
        assert self._private_key is not None  # auth.from_secrets requires it for private_key_jwt
        now = int(self._clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._endpoint,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        headers = {"kid": self._key_id} if self._key_id else None
        assertion = jwt.encode(claims, self._private_key, algorithm=self._algorithm, headers=headers)
        return form | {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}, None

    def _fetch(self) -> tuple[str, float]:
        form, auth = self._form()
        try:
            if auth is None:
                response = self._client.post(self._endpoint, data=form)
            else:
                response = self._client.post(self._endpoint, data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise errors.BackendAuthFailed(
                f"{self._backend}: the token endpoint {self._endpoint} is unreachable ({type(exc).__name__})",
                backend=self._backend,
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not response.is_success or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            reason = body.get("error") if isinstance(body, dict) else None
            described = f"HTTP {response.status_code}" + (f": {reason}" if isinstance(reason, str) else "")
            raise errors.BackendAuthFailed(
                f"{self._backend}: the token endpoint refused the client credentials ({described[:200]})",
                backend=self._backend,
                backend_status=response.status_code,
            )
        try:
            expires_in = float(body.get("expires_in", _DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = _DEFAULT_EXPIRES_IN
        return body["access_token"], self._clock() + expires_in
