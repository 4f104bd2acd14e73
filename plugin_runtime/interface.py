"""The contract every plugin meets (the spec's QueryPlugin trait) and the values that cross it.

Everything here is pure data: plugins receive and return these frozen values, so a plugin can be
unit-tested without the runtime, and the runtime can host any plugin that satisfies `QueryPlugin`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from plugin_runtime import gts, json_rows, odata

__all__ = [
    "ContractFormat",
    "DependencyHealth",
    "HealthState",
    "HealthStatus",
    "PluginConfig",
    "PluginMetadata",
    "ProcessingPlugin",
    "QueryDefinition",
    "QueryPlugin",
    "QueryResult",
    "SecurityCtx",
    "TranslatingPlugin",
    "Translation",
]


class ContractFormat(enum.StrEnum):
    """The query language a plugin speaks to its backend, shown in `/metadata` and the Plugin's spec."""

    NATIVE = "native"
    ODATA = "odata"
    PROMETHEUS = "prometheus"
    ELASTICSEARCH = "elasticsearch"
    GRAPHQL = "graphql"
    CUSTOM = "custom"


class HealthState(enum.StrEnum):
    """A health verdict: healthy and degraded still serve; unhealthy and unknown do not."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class PluginMetadata:
    """Who the plugin is. `id` and `version` must equal its manifest's: the loader refuses a mismatch."""

    id: str
    name: str
    version: str
    author: str
    description: str
    contract_format: ContractFormat


@dataclasses.dataclass(frozen=True)
class QueryDefinition:
    """A query the plugin serves; `options` carry adapter-specific settings (metric, index, url...)."""

    id: str
    name: str
    category: str
    api_endpoint: str
    capabilities_id: str
    returns_schema_id: str
    description: str = ""
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def entity_set(self) -> str:
        """The OData entity set of this query's rows: `options["entity_set"]`, else the id's type name.

        The runtime names the set this way in `$metadata`; adapters return it as `QueryResult.entity_set`
        so that a result's `@odata.context` points at a set the metadata document describes.
        """
        explicit = self.options.get("entity_set")
        if explicit:
            return str(explicit)
        try:
            parsed = gts.parse_instance(self.id)
        except gts.InvalidGtsId:
            parsed = None
        if parsed is not None and not parsed.anonymous:
            return parsed.elements[-1].split(".")[3]
        return re.sub(r"[^A-Za-z0-9_]", "_", self.id.rsplit("~", 1)[-1])


@dataclasses.dataclass(frozen=True)
class PluginConfig:
    """What `init` receives. `secrets` hold decrypted API keys by name: never log or return them."""

    settings: Mapping[str, Any]
    queries: tuple[QueryDefinition, ...] = ()
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    auto_register_queries: bool = True
    auto_register_datasources: bool = False
    timeout_seconds: float = 30.0

    def query(self, query_id: str) -> QueryDefinition | None:
        """The declared query with this id, or None: a plugin answers only the queries it was given."""
        return next((q for q in self.queries if q.id == query_id), None)


@dataclasses.dataclass(frozen=True)
class SecurityCtx:
    """Who is asking. Plugins receive it with every query and may narrow results by tenant/roles."""

    subject: str
    tenant: str | None = None
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def has_role(self, role: str) -> bool:
        """Whether the caller's token grants `role`."""
        return role in self.roles


#: How a dependency's health `message` starts when the backend refused the plugin's own credentials:
#: the operator reports it as `BackendAuthFailed` (an admin must fix the Plugin), not as an outage.
AUTH_FAILED = "authentication failed"


@dataclasses.dataclass(frozen=True)
class DependencyHealth:
    """One backend the plugin depends on, as its `health_check` saw it (shown in the health document).

    A `message` starting with `AUTH_FAILED` says the backend is up but refused the plugin's credentials.
    """

    name: str
    status: HealthState
    response_time_ms: float | None = None
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class HealthStatus:
    """What `health_check` returns; the runtime folds in its own view (circuit breaker, error rate)."""

    status: HealthState
    dependencies: tuple[DependencyHealth, ...] = ()
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class QueryResult:
    """Rows already shaped for OData; the runtime adds `@odata.context`/`nextLink` when serialising.

    The runtime asks for exactly one page (`$skip` at its start, `$top` its length; see
    `plugin_runtime.paging`): `count` counts the whole filtered set, `has_more` says rows exist
    past the last one returned, which is how the runtime knows to link the next page. `rows` is a
    tuple, or `json_rows.JsonRows` when the adapter wrote the rows' JSON itself (read the same)."""

    rows: tuple[Mapping[str, Any], ...] | json_rows.JsonRows
    entity_set: str
    count: int | None = None
    has_more: bool = False

    def to_odata(self, *, context: str, next_link: str | None = None) -> dict[str, Any]:
        """The OData JSON body of this result, as the runtime serves it."""
        body: dict[str, Any] = {"@odata.context": context}
        if self.count is not None:
            body["@odata.count"] = self.count
        # The rows themselves, not copies: the encoder (`answer_json`) never changes them and writes
        # any other Mapping as the dict it stands for; rows still held as JSON text go in as that text.
        rows = self.rows
        text = rows.fragment() if isinstance(rows, json_rows.JsonRows) else None
        body["value"] = list(rows) if text is None else text
        if next_link is not None:
            body["@odata.nextLink"] = next_link
        return body


@dataclasses.dataclass(frozen=True)
class Translation:
    """What an adapter would send to its backend (dry-run preview): `language` e.g. promql, es-dsl."""

    language: str
    query: Any
    endpoint: str | None = None


@runtime_checkable
class QueryPlugin(Protocol):
    """The contract of every plugin (the spec's QueryPlugin trait); the runtime calls it from worker threads.

    A plugin may also offer `translate(query_id, params) -> Translation` (see `TranslatingPlugin`) and
    `capabilities(query_id) -> dict` (its rows' properties and OData capabilities, for `$metadata`).
    """

    def metadata(self) -> PluginMetadata:
        """Who the plugin is; called before `init`, so it must not depend on the configuration."""
        ...

    def init(self, config: PluginConfig) -> None:
        """Take the settings, queries and secrets; raise `InvalidInput` for a bad configuration."""
        ...

    def before_jwt_sign(self, ctx: SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        """Adjust the claims of the token the runtime signs for the backend before each query."""
        ...

    def execute_query(self, ctx: SecurityCtx, query_id: str, params: odata.ODataParams) -> QueryResult:
        """Answer one query; raise `PluginError` subclasses (e.g. `unsupported(...)`), never return partial rows."""
        ...

    def health_check(self) -> HealthStatus:
        """Whether the plugin and its backends can serve; called often, so keep it cheap."""
        ...

    def shutdown(self) -> None:
        """Release connections and threads; the instance is not called again."""
        ...


@runtime_checkable
class TranslatingPlugin(QueryPlugin, Protocol):
    """A plugin that can show the backend query it would run without running it."""

    def translate(self, query_id: str, params: odata.ODataParams) -> Translation:
        """The backend query `execute_query` would run for these options, without running it."""
        ...


@runtime_checkable
class ProcessingPlugin(QueryPlugin, Protocol):
    """Optional hooks around `execute_query` (either may be left out; both run in the plugin's sandbox).

    `preprocess` rewrites the parsed options before the plugin translates them (after the Plugin's
    declarative steps; `/translate` shows its outcome); `postprocess` rewrites the answer before the
    declarative steps and the cache see it. Keep rows one to one: `count` and `has_more` are the
    plugin's. A plugin whose answers depend on more of the caller than its tenant and roles (e.g. the
    subject, through an outgoing token) sets `caller_specific_results = True`: its results are then
    cached only when the Plugin asks for cache scope `caller`.
    """

    def preprocess(self, ctx: SecurityCtx, query_id: str, params: odata.ODataParams) -> odata.ODataParams:
        """The options `execute_query` and `translate` receive (return `params` unchanged to keep them);
        a changed `filter` text is parsed again by the runtime."""
        ...

    def postprocess(self, ctx: SecurityCtx, query_id: str, result: QueryResult) -> QueryResult:
        """The answer the caller (and the cache) receives; keep rows one to one with `result`."""
        ...


REQUIRED_METHODS = ("metadata", "init", "before_jwt_sign", "execute_query", "health_check", "shutdown")
