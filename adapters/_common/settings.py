"""Plugin settings and per-query options, validated once at `init()` with small pydantic models.

A bad value must stop the plugin from starting with a message an admin can act on (the operator
shows it in the Plugin's status), so validation errors become `InvalidInput` naming the field.
Secrets never pass through these models: only `PluginConfig.settings` and query options do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from plugin_runtime import config as runtime_config
from plugin_runtime import errors

_Model = TypeVar("_Model", bound=BaseModel)


def _seconds(value: Any) -> float:
    try:
        seconds = runtime_config.parse_duration(value)
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 1m30s, 250ms or a number of seconds") from None
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


#: A duration given as '30s', '1m30s', '250ms' or a number of seconds; held as seconds.
Seconds = Annotated[float, pydantic.BeforeValidator(_seconds)]


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a URL string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and error messages: they belong in the plugin's secrets.
        raise ValueError("must not contain credentials: put them in the plugin's secrets")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    return value.rstrip("/")


#: An http(s) base URL without credentials, query or fragment, held without a trailing slash.
BaseUrl = Annotated[str, pydantic.BeforeValidator(_base_url)]


class Options(BaseModel):
    """Base of every adapter's settings and query options: unknown keys are typos, so they fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class QueryOptions(Options):
    """Base of every adapter's per-query options. `entity_set`, `page_size` and `key` belong to the runtime
    (the OData entity set of the query's rows, see `QueryDefinition.entity_set`; its server page size;
    the row key `$metadata` declares when the adapter knows none); adapters accept them."""

    entity_set: str | None = None
    #: Server page size of this query's results (overrides the plugin's `page_size`; see plugin_runtime.paging).
    page_size: int | None = Field(None, ge=1, le=10_000)
    #: Properties identifying a row, for `$metadata` when the adapter knows none (e.g. Prometheus labels + timestamp).
    key: tuple[str, ...] = ()


class OAuth2Settings(Options):
    """OAuth2 client credentials towards the backend; the client id and secret or key are secrets
    (`oauth_client_id`, and `oauth_client_secret` or `oauth_private_key`)."""

    endpoint: BaseUrl = Field(description="The token endpoint, e.g. https://idp.example.com/oauth2/token.")
    method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = "client_secret_basic"
    scopes: tuple[str, ...] = ()
    audience: str | None = Field(None, description="Sent as `audience` when the identity provider wants one.")
    signing_algorithm: Literal["RS256", "PS256", "ES256"] = Field("RS256", description="private_key_jwt only.")
    key_id: str | None = Field(None, description="`kid` of the private_key_jwt signing key, if the IdP needs it.")
    refresh_before: Seconds = Field(30.0, description="Fetch a new token when the current one has less left.")


class HttpSettings(Options):
    """Settings every HTTP-backed adapter accepts (the spec's `base_url`, `timeout`, `retry_count`)."""

    base_url: BaseUrl
    timeout: Seconds = Field(30.0, description="Budget of one backend call, retries included.")
    retry_count: int = Field(3, ge=0, le=10, description="Extra attempts after a transient failure.")
    retry_backoff: Seconds = Field(0.2, description="First wait between attempts; doubles each time.")
    page_size: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="Server page size: the runtime answers at most this many rows per response and links the rest "
        "with @odata.nextLink (a query's options.page_size overrides it; see plugin_runtime.paging).",
    )
    verify_tls: bool = True
    ca_certificate: str | None = Field(
        None, description="PEM of a CA to trust for the backend (and token endpoint) besides the system's."
    )
    oauth2: OAuth2Settings | None = Field(None, description="Authenticate with OAuth2 client credentials.")
    outgoing_token_header: str = Field(
        "Authorization",
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header carrying the runtime's signed outgoing token (`Bearer <token>`) when the Plugin "
        "configures spec.outgoingToken; a header the plugin's own credentials already set is left to them.",
    )


def _describe(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def validate(model: type[_Model], data: Mapping[str, Any] | None, *, what: str) -> _Model:
    """Validate `data` against `model`; raise `InvalidInput` saying where (`what`) and which field."""
    try:
        return model.model_validate(dict(data or {}))
    except pydantic.ValidationError as exc:
        raise errors.InvalidInput(f"invalid {what}: {_describe(exc)}") from None
