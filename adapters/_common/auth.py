"""Outgoing credentials from the plugin's secrets: bearer token, basic auth, an API key, OAuth2
client credentials (`settings.oauth2`), and a client certificate for mutual TLS.

Secrets arrive decrypted in `PluginConfig.secrets`; they go into request headers (or the TLS
handshake) only, never into URLs, settings, log lines or error messages. Choosing two schemes that
both need the `Authorization` header is a configuration error, not something to resolve silently.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Mapping

import httpx

from adapters._common import oauth2, tls
from adapters._common import settings as settings_mod
from plugin_runtime import errors, logs

BEARER_TOKEN = "bearer_token"
BASIC_USERNAME = "basic_username"
BASIC_PASSWORD = "basic_password"
API_KEY = "api_key"


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What to attach to every backend request; `repr` hides the values."""

    auth: httpx.Auth | None = dataclasses.field(default=None, repr=False)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    secret_values: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    #: httpx's `verify`: a context carrying a private CA and/or the client certificate, else a bool.
    verify: ssl.SSLContext | bool = dataclasses.field(default=True, repr=False)

    def redact(self, text: str) -> str:
        """Hide any secret a backend may echo back (e.g. in an error body) before it reaches a message,
        in any of its encodings (`logs.variants`)."""
        dynamic = self.auth.secret_values() if isinstance(self.auth, oauth2.ClientCredentials) else ()
        forms = {form for value in {*self.secret_values, *dynamic} for form in logs.variants(value)}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text

    def close(self) -> None:
        if isinstance(self.auth, oauth2.ClientCredentials):
            self.auth.close()


def _client_credentials(
    secrets: Mapping[str, str], settings: settings_mod.HttpSettings, backend: str, verify: ssl.SSLContext | bool
) -> oauth2.ClientCredentials:
    assert settings.oauth2 is not None
    spec = settings.oauth2
    needed = [oauth2.CLIENT_ID, oauth2.PRIVATE_KEY if spec.method == "private_key_jwt" else oauth2.CLIENT_SECRET]
    missing = [name for name in needed if not secrets.get(name)]
    if missing:
        raise errors.InvalidInput(f"secrets: oauth2 {spec.method} needs {' and '.join(missing)}")
    return oauth2.ClientCredentials(
        backend=backend,
        endpoint=spec.endpoint,
        method=spec.method,
        client_id=secrets[oauth2.CLIENT_ID],
        client_secret=secrets.get(oauth2.CLIENT_SECRET),
        private_key=secrets.get(oauth2.PRIVATE_KEY),
        signing_algorithm=spec.signing_algorithm,
        key_id=spec.key_id,
        scopes=spec.scopes,
        audience=spec.audience,
        refresh_before=spec.refresh_before,
        verify=verify,
        timeout=settings.timeout,
    )


def _quoted_forms(value: str) -> set[str]:
    """The secret as written and as an error may quote it: httpx refuses a header value with a line
    break by quoting its bytes (`b'Bearer tok\\nsecret'`), escaped."""
    return {value, value.encode("unicode_escape").decode("ascii"), repr(value.encode("utf-8"))[2:-1]}


def _header_safe(name: str, value: str) -> str:
    """A secret as a header may carry it: one trailing line break (what `kubectl create secret
    --from-file` keeps) is dropped; any other line break or control character is refused here,
    naming the secret, instead of failing inside the HTTP client with the value in its message."""
    cleaned = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in cleaned):
        raise errors.InvalidInput(f"secrets: {name} contains a line break or control character")
    return cleaned


def from_secrets(
    secrets: Mapping[str, str],
    *,
    settings: settings_mod.HttpSettings | None = None,
    backend: str = "backend",
    api_key_header: str = "Authorization",
    api_key_scheme: str = "ApiKey",
) -> Credentials:
    """Build credentials from the secret names above and `settings` (oauth2, TLS); an `api_key_scheme`
    of '' sends the bare key."""
    original = secrets
    secrets = {
        name: _header_safe(name, value) if name in (BEARER_TOKEN, BASIC_USERNAME, BASIC_PASSWORD, API_KEY) else value
        for name, value in secrets.items()
    }
    has_basic = BASIC_USERNAME in secrets or BASIC_PASSWORD in secrets
    if has_basic and not (secrets.get(BASIC_USERNAME) and secrets.get(BASIC_PASSWORD)):
        raise errors.InvalidInput(f"secrets: basic auth needs both {BASIC_USERNAME} and {BASIC_PASSWORD}")
    uses_oauth2 = settings is not None and settings.oauth2 is not None
    uses_authorization = [
        name
        for name, present in (
            (BEARER_TOKEN, BEARER_TOKEN in secrets),
            ("basic auth", has_basic),
            (API_KEY, API_KEY in secrets and api_key_header.lower() == "authorization"),
            ("oauth2", uses_oauth2),
        )
        if present
    ]
    if len(uses_authorization) > 1:
        raise errors.InvalidInput(
            f"secrets: {' and '.join(uses_authorization)} both use the Authorization header; keep one"
        )
    headers: dict[str, str] = {}
    auth: httpx.Auth | None = None
    if BEARER_TOKEN in secrets:
        headers["Authorization"] = f"Bearer {secrets[BEARER_TOKEN]}"
    if has_basic:
        auth = httpx.BasicAuth(secrets[BASIC_USERNAME], secrets[BASIC_PASSWORD])
    if API_KEY in secrets:
        key = secrets[API_KEY]
        headers[api_key_header] = f"{api_key_scheme} {key}" if api_key_scheme else key
    verify = tls.context(
        verify=settings.verify_tls if settings is not None else True,
        ca_pem=settings.ca_certificate if settings is not None else None,
        cert_pem=secrets.get(tls.CLIENT_CERT),
        key_pem=secrets.get(tls.CLIENT_KEY),
    )
    if settings is not None and uses_oauth2:
        auth = _client_credentials(secrets, settings, backend, verify)
    used = (
        BEARER_TOKEN,
        BASIC_USERNAME,
        BASIC_PASSWORD,
        API_KEY,
        oauth2.CLIENT_SECRET,
        oauth2.PRIVATE_KEY,
        tls.CLIENT_KEY,
    )
    forms = {form for name in used if secrets.get(name) for form in _quoted_forms(secrets[name])} | {
        form for name in used if original.get(name) for form in _quoted_forms(original[name])
    }
    values = tuple(sorted(forms, key=len, reverse=True))
    return Credentials(auth=auth, headers=headers, secret_values=values, verify=verify)
