"""What a `plugin-runtime` process is told to host: the contract between the operator and the runtime.

The operator renders a `RuntimeConfig` into the instance's ConfigMap (or you write one to run a
runtime by hand); the runtime reads it at start and again on reload. Secrets never appear here:
`secret_env` names environment variables the runtime reads them from (Kubernetes Secret refs).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, with_config

from plugin_runtime import interface

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def secret_value(raw: str) -> str:
    """A secret read from the environment, as meant: without one final line break. `kubectl create
    secret --from-file` keeps the file's last line break and a Kubernetes `secretKeyRef` passes it on
    verbatim (the operator strips it the same way for what it resolves itself)."""
    return raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith("\n") else raw


def parse_duration(value: str | float | int) -> float:
    """'30s', '1m30s', '250ms' or a number of seconds → seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 1m30s, 250ms")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheConfig(_Strict):
    """Result caching of one plugin (`RuntimePlugin.cache`); see `plugin_runtime.cache`.

    `scope` says whose answers may be shared: `tenant` (the caller's tenant and roles are in the key)
    or `caller` (the verified subject and its claims too). A plugin that declares its results
    caller-specific (`caller_specific_results = True`) is cached only with scope `caller`.
    """

    ttl_seconds: float = Field(default=30.0, gt=0)
    max_entries: int = Field(default=1000, ge=1)
    max_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    scope: Literal["tenant", "caller"] = "tenant"


class QueryCacheConfig(_Strict):
    """A query's own cache policy: another TTL, or no caching at all."""

    enabled: bool = True
    ttl_seconds: float | None = Field(default=None, gt=0)


class ProcessingStep(_Strict):
    """One declarative pre/post-processing step; exactly one member is set (see `plugin_runtime.processing`)."""

    rename: dict[str, str] | None = Field(default=None, description="public property → backend property")
    drop: list[str] | None = None
    compute: dict[str, str] | None = Field(default=None, description="new property → OData arithmetic expression")
    convert: dict[str, str] | None = Field(default=None, description="{property, from, to}: unit conversion in place")
    defaults: dict[str, str] | None = Field(default=None, description="query option → value when the caller gave none")
    where: str | None = Field(
        default=None, description="OData filter AND-ed with the caller's; {tenant} is the caller's"
    )


@with_config(ConfigDict(extra="forbid"))
@dataclasses.dataclass(frozen=True)
class QueryConfig(interface.QueryDefinition):
    """A query as the runtime is told to serve it: its definition, plus the runtime's policy for it.

    The definition's fields are `interface.QueryDefinition`'s (declared once, there); the cache and
    processing steps are the runtime's business and never reach the plugin (`definition()`).
    """

    cache: QueryCacheConfig | None = None
    processing: list[ProcessingStep] = dataclasses.field(default_factory=list)

    def definition(self) -> interface.QueryDefinition:
        """What the plugin is given: the definition alone."""
        return interface.QueryDefinition(
            **{field.name: getattr(self, field.name) for field in dataclasses.fields(interface.QueryDefinition)}
        )


class BreakerConfig(_Strict):
    failure_threshold: int = 5
    error_rate_threshold: float = 0.5
    cooldown_seconds: float = 30.0
    window: int = 20


class RuntimePlugin(_Strict):
    """One plugin instance. Exactly one of `adapter` (entry point) or `path` (plugins-dir folder)."""

    id: str
    version: str
    adapter: str | None = None
    path: str | None = None
    enabled: bool = True
    name: str | None = None
    author: str | None = None
    description: str | None = None
    contract_format: interface.ContractFormat = interface.ContractFormat.CUSTOM
    settings: dict[str, Any] = Field(default_factory=dict)
    queries: list[QueryConfig] = Field(default_factory=list)
    secret_env: dict[str, str] = Field(default_factory=dict, description="secret name → environment variable")
    auto_register_queries: bool = True
    auto_register_datasources: bool = False
    #: The plugin may serve queries (its `execute` permission); False: every query is answered 403.
    execute: bool = True
    timeout_seconds: float = 30.0
    max_concurrent_queries: int = 16
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    cache: CacheConfig | None = None
    processing: list[ProcessingStep] = Field(default_factory=list)


#: The role a caller's token must carry to run queries and translations on a runtime.
EXECUTE_ROLE = "analytics:queries:execute"
#: `iss` and `aud` of the short-lived tokens the operator (and its API) send to runtimes.
CONTROL_PLANE_ISSUER = "plugin-operator"
CONTROL_PLANE_AUDIENCE = "plugin-runtime"


class IncomingAuth(_Strict):
    """How the runtime authenticates callers.

    Two token sources are trusted: the query executor's identity provider (`public_key`,
    `public_key_env` or `jwks_url`) and the operator's control plane (`control_plane_public_key`,
    ES256, `iss` plugin-operator, `aud` plugin-runtime), whose short-lived tokens carry the
    operator's own health probes, smoke queries and translation previews. Either may be absent, not
    both. `none` turns authentication off: an explicit opt-out for local experiments, logged loudly.
    """

    mode: Literal["none", "jwt"] = "none"
    #: A PEM public key (RS/ES) inline: public keys are not secrets, so the operator may render them.
    public_key: str | None = None
    public_key_env: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "HS256"])
    control_plane_public_key: str | None = None
    execute_role: str = EXECUTE_ROLE

    @property
    def has_executor_keys(self) -> bool:
        return bool(self.public_key or self.public_key_env or self.jwks_url)


class OutgoingJwt(_Strict):
    """Signing of the token an adapter sends to its backend (after the plugin's before_jwt_sign hook)."""

    signing_key_env: str
    algorithm: str = "HS256"
    issuer: str = "hyperspot-plugin-runtime"
    audience: str | None = None
    ttl_seconds: int = 300


class RuntimeConfig(_Strict):
    plugins: list[RuntimePlugin] = Field(default_factory=list)
    plugins_dir: str | None = None
    #: How often a plugins directory is polled for changed folders; None: never (the operator's
    #: runtimes — a changed folder is a new version in the Plugin, rolled out through its gate).
    watch_interval_seconds: float | None = 2.0
    drain_seconds: float = 10.0
    admin_token_env: str = "PLUGIN_RUNTIME_ADMIN_TOKEN"
    auth: IncomingAuth = Field(default_factory=IncomingAuth)
    outgoing_jwt: OutgoingJwt | None = None
    #: The URL callers reach this runtime at (the operator sets the plugin's stable endpoint): the base
    #: of every absolute URL in answers (`@odata.context`, `@odata.nextLink`), never the Host header.
    #: None: the address of the socket each connection reached (`plugin_runtime.links`).
    external_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


def load(path: str | Path) -> RuntimeConfig:
    with open(path, encoding="utf-8") as fh:
        return RuntimeConfig.model_validate(yaml.safe_load(fh) or {})
