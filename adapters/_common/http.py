"""The one HTTP client of the adapters: timeouts, retries with backoff, and backend failures mapped
onto the plugin error tree.

    connection refused / reset before an answer  → retried, then PluginUnavailable (503)
    no answer within the budget                  → BackendTimeout (504), not retried: the budget is spent
    HTTP 429, 502, 503, 504                      → retried, then mapped by status
    HTTP 401, 403                                → BackendAuthFailed (502): our credentials were refused
                                                   (an OAuth2 token is refreshed once on 401 first)
    any other non-2xx                            → BackendError (502) with the backend's own message

`timeout` is the budget of one call including its retries, so a caller's deadline holds however
many attempts are configured. Only idempotent reads go through this client, so retrying is safe.
"""

from __future__ import annotations

import http.cookiejar
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import tenacity

from adapters._common import auth
from adapters._common import settings as settings_mod
from adapters._common.transport import StdlibTransport
from plugin_runtime import errors, interface, tokens

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_HEALTH_TIMEOUT_SECONDS = 5.0
_MESSAGE_LIMIT = 500
#: Request paths whose joined URL a client keeps (an adapter calls a handful; OData next links are
#: many, and past this many they are joined per call as before).
_KEPT_URLS = 64

#: Extracts the backend's own error message from an error response (None when it has none).
ErrorMessage = Callable[[httpx.Response], str | None]
#: Judges a health-probe answer: (state, message).
HealthJudge = Callable[[httpx.Response], tuple[interface.HealthState, str | None]]

_DEFAULT_STATUS_ERRORS: Mapping[int, type[errors.PluginError]] = {
    401: errors.BackendAuthFailed,
    403: errors.BackendAuthFailed,
    429: errors.PluginUnavailable,
    503: errors.PluginUnavailable,
    504: errors.BackendTimeout,
}


class _TransientStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _no_message(response: httpx.Response) -> str | None:
    return None


def _healthy_if_ok(response: httpx.Response) -> tuple[interface.HealthState, str | None]:
    if response.is_success:
        return interface.HealthState.HEALTHY, None
    return interface.HealthState.UNHEALTHY, f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _uncycled(response: httpx.Response) -> httpx.Response:
    """`response`, read and closed, freed as soon as its last user drops it.

    httpx 0.28 wraps every answer's stream in a `BoundSyncStream` that points back at the response
    (to set `elapsed` on close; encode/httpx#3733), so each answer and its body — 270 KB for a
    1k-series Prometheus answer — waited for the cyclic GC's oldest generation: the runtime grew
    by ~11 MB per 40 such requests until a full collection, and each request paid for fresh memory
    (~10% of its CPU). The body is already read, so a plain stream over it replaces the wrapper.
    """
    response.stream = httpx.ByteStream(response.content)
    return response


def _default_transport(base_url: str) -> httpx.BaseTransport | None:
    """`http.client` under httpx for plain-HTTP backends (`transport`: a third of a small query's CPU);
    None, httpx's own transport, for HTTPS."""
    return StdlibTransport() if str(base_url).startswith("http://") else None


class _SetCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that looks at an answer only when it sets a cookie.

    httpx hands every response to its jar; `http.cookiejar` then copies the response's headers into
    an `email.message.Message` and searches them under a lock, even when there is no `Set-Cookie`
    (a backend's usual answer): ~10 µs of each backend call in the runtime's hot path. An answer
    that does set cookies is handled exactly as before (a load balancer's affinity cookie is kept
    and sent back).
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        headers: httpx.Headers = response.response.headers  # httpx's urllib-shaped wrapper of its Response
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response, request)


class BackendClient:
    """A synchronous client bound to one backend (`name` is what messages and health reports call it)."""

    def __init__(
        self,
        *,
        name: str,
        settings: settings_mod.HttpSettings,
        credentials: auth.Credentials,
        error_message: ErrorMessage = _no_message,
        status_errors: Mapping[int, type[errors.PluginError]] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`headers` go with every request (e.g. the media type an API answers errors in)."""
        self.name = name
        self.base_url = settings.base_url
        self._timeout = settings.timeout
        self._retry_count = settings.retry_count
        self._backoff = settings.retry_backoff
        self._credentials = credentials
        self._error_message = error_message
        self._status_errors = {**_DEFAULT_STATUS_ERRORS, **(status_errors or {})}
        self._token_header = settings.outgoing_token_header
        self._credential_headers = {name.lower() for name in credentials.headers} | (
            {"authorization"} if credentials.auth is not None else set()
        )
        self._client = httpx.Client(
            base_url=settings.base_url,
            auth=credentials.auth,
            headers={**(headers or {}), **credentials.headers},
            verify=credentials.verify,
            cookies=_SetCookieJar(),
            timeout=settings.timeout,
            follow_redirects=False,  # a redirect must not carry our credentials to another host
            transport=transport if transport is not None else _default_transport(settings.base_url),
        )
        self._urls: dict[str, httpx.URL] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one logical request (retrying transient failures) and return its 2xx response."""
        started = time.monotonic()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._retry_count + 1) | tenacity.stop_before_delay(self._timeout),
            wait=tenacity.wait_exponential_jitter(multiplier=self._backoff, max=self._timeout, jitter=self._backoff),
            retry=tenacity.retry_if_exception_type((httpx.ConnectError, httpx.RemoteProtocolError, _TransientStatus)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    remaining = self._timeout - (time.monotonic() - started)
                    if remaining <= 0:
                        raise httpx.TimeoutException("no time left for another attempt")
                    response = _uncycled(
                        self._client.request(
                            method,
                            self._url(url),
                            params=params,
                            data=data,
                            json=json,
                            headers=self._token(),
                            timeout=remaining,
                        )
                    )
                    if response.status_code in TRANSIENT_STATUSES:
                        raise _TransientStatus(response)
        except _TransientStatus as exc:
            raise self._status_error(exc.response) from None
        except httpx.TimeoutException:
            raise errors.BackendTimeout(
                f"{self.name} did not answer within {self._timeout:g}s", backend=self.name
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise errors.PluginUnavailable(
                f"{self.name} is unreachable at {self.base_url}: {self._credentials.redact(str(exc))}",
                backend=self.name,
            ) from None
        except httpx.HTTPError as exc:
            raise errors.BackendError(
                f"{self.name} request failed: {self._credentials.redact(str(exc))}", backend=self.name
            ) from None
        if not response.is_success:
            raise self._status_error(response)
        return response

    def _url(self, url: str) -> httpx.URL | str:
        """`url` joined to the base URL as httpx joins it, once per path: httpx parses both URLs on
        every call (~25 µs of a backend call's ~140 µs in the client), and an absolute `httpx.URL`
        passes through unparsed."""
        joined = self._urls.get(url)
        if joined is not None:
            return joined
        if len(self._urls) >= _KEPT_URLS:
            return url
        joined = self._urls[url] = self._client.build_request("GET", url).url
        return joined

    def _token(self) -> dict[str, str] | None:
        """The token signed for this call after the plugin's `before_jwt_sign` (spec.outgoingToken)."""
        token = tokens.current_outgoing_token()
        if token is None or self._token_header.lower() in self._credential_headers:
            return None
        return {self._token_header: f"Bearer {token}"}

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request` and decode the JSON body; a body that is not JSON is a backend error."""
        response = self.request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise errors.BackendError(f"{self.name} answered with a body that is not JSON", backend=self.name) from None

    def probe(self, url: str, *, dependency: str, judge: HealthJudge = _healthy_if_ok) -> interface.DependencyHealth:
        """One unretried request to a health endpoint, timed, as the spec's health `dependencies` entry."""
        started = time.perf_counter()
        try:
            response = _uncycled(self._client.get(url, timeout=min(self._timeout, _HEALTH_TIMEOUT_SECONDS)))
        except errors.BackendAuthFailed as exc:  # the token endpoint refused us: not "backend down"
            failed = self._credentials.redact(f"{interface.AUTH_FAILED}: {exc.detail}")
            return interface.DependencyHealth(dependency, interface.HealthState.UNHEALTHY, message=failed)
        except httpx.TimeoutException:
            silent = (
                f"timed out: no answer from {self.base_url} within {min(self._timeout, _HEALTH_TIMEOUT_SECONDS):g}s"
            )
            return interface.DependencyHealth(dependency, interface.HealthState.UNHEALTHY, message=silent)
        except httpx.HTTPError as exc:  # where and why, in words a newcomer can act on
            unreachable = self._credentials.redact(f"unreachable at {self.base_url}: {exc}")
            return interface.DependencyHealth(dependency, interface.HealthState.UNHEALTHY, message=unreachable)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code in (401, 403):
            refused = f"{interface.AUTH_FAILED}: {self.name} answered HTTP {response.status_code}"
            return interface.DependencyHealth(
                dependency, interface.HealthState.UNHEALTHY, response_time_ms=round(elapsed_ms, 1), message=refused
            )
        try:
            state, message = judge(response)
        except ValueError:
            state, message = interface.HealthState.UNHEALTHY, "unreadable health answer"
        return interface.DependencyHealth(dependency, state, response_time_ms=round(elapsed_ms, 1), message=message)

    def close(self) -> None:
        self._client.close()
        self._credentials.close()

    def _status_error(self, response: httpx.Response) -> errors.PluginError:
        try:
            message = self._error_message(response)
        except ValueError:  # an error body that is not the backend's usual JSON
            message = None
        text = self._credentials.redact(message or response.reason_phrase or "no message")[:_MESSAGE_LIMIT]
        error_class = self._status_errors.get(response.status_code, errors.BackendError)
        return error_class(
            f"{self.name} answered HTTP {response.status_code}: {text}",
            retry_after=_retry_after(response),
            backend=self.name,
            backend_status=response.status_code,
        )

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        outcome = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s: attempt %d failed (%s), retrying in %.2fs",
            self.name,
            state.attempt_number,
            type(outcome).__name__ if not isinstance(outcome, _TransientStatus) else outcome,
            wait,
        )
