"""Outgoing credentials from the plugin's secrets: bearer token, basic auth or an API key.

Secrets arrive decrypted in `PluginConfig.secrets`; they go into request headers only, never into
URLs, settings, log lines or error messages. Choosing two schemes that both need the
`Authorization` header is a configuration error, not something to resolve silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import httpx

from plugin_runtime import errors

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

    def redact(self, text: str) -> str:
        """Hide any secret a backend may echo back (e.g. in an error body) before it reaches a message."""
        for value in self.secret_values:
            text = text.replace(value, "***")
        return text


def from_secrets(
    secrets: Mapping[str, str], *, api_key_header: str = "Authorization", api_key_scheme: str = "ApiKey"
) -> Credentials:
    """Build credentials from the secret names above; an `api_key_scheme` of '' sends the bare key."""
    has_basic = BASIC_USERNAME in secrets or BASIC_PASSWORD in secrets
    if has_basic and not (secrets.get(BASIC_USERNAME) and secrets.get(BASIC_PASSWORD)):
        raise errors.InvalidInput(f"secrets: basic auth needs both {BASIC_USERNAME} and {BASIC_PASSWORD}")
    uses_authorization = [
        name
        for name, present in (
            (BEARER_TOKEN, BEARER_TOKEN in secrets),
            ("basic auth", has_basic),
            (API_KEY, API_KEY in secrets and api_key_header.lower() == "authorization"),
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
    used = (BEARER_TOKEN, BASIC_USERNAME, BASIC_PASSWORD, API_KEY)
    values = tuple(sorted({secrets[name] for name in used if secrets.get(name)}, key=len, reverse=True))
    return Credentials(auth=auth, headers=headers, secret_values=values)
