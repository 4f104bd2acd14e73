"""Response bodies of the management API (snake_case on the wire, like the spec's health document).

These are the API's promises, documented in its OpenAPI and checked by the schemathesis run; they
reuse the CRD's types (`plugin_operator.models`) where the meaning is the same. Nothing here can
hold a secret value: Secrets appear only as references and secret-looking config values are masked
before a `PluginView` is built.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from plugin_runtime.interface import HealthState

#: Example values of the OpenAPI document (the spec's own examples).
EXAMPLE_PLUGIN_ID = "prometheus-adapter"
EXAMPLE_QUERY_ID = "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1"


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class SecretRefView(_Body):
    """Where a secret lives; never its value."""

    name: str
    source: str = Field("secret", description="secret (a Kubernetes Secret's key) or keystore (see /keys).")
    secret_name: str | None = None
    key: str | None = None


class StoredKeyView(_Body):
    """An API key in the operator's encrypted store: its name and history, never its value."""

    name: str
    created_at: datetime.datetime
    rotated_at: datetime.datetime | None = Field(None, description="When the value was last replaced or re-encrypted.")
    last_used_at: datetime.datetime | None = Field(None, description="When the operator last handed it to a runtime.")


class StoredKeyList(_Body):
    plugin_id: str
    items: list[StoredKeyView]


class KeyValue(BaseModel):
    """The body of PUT …/keys/{name}: the value to encrypt and store (never echoed back or logged)."""

    model_config = ConfigDict(extra="forbid")

    value: SecretStr = Field(
        min_length=1,
        max_length=8192,
        # Documented for clients (and schemathesis); enforced by `_printable` (SecretStr takes no pattern).
        json_schema_extra={"pattern": "^[^\\u0000-\\u001f\\u007f]+$"},
    )

    @field_validator("value")
    @classmethod
    def _printable(cls, value: SecretStr) -> SecretStr:
        # Headers cannot carry line breaks: refuse them here instead of failing later with the value
        # quoted in an HTTP client's error.
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value.get_secret_value()):
            raise ValueError("the value must not contain line breaks or control characters")
        return value


class ConditionView(_Body):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class RegisteredEntityView(_Body):
    id: str
    kind: str
    state: str


class QuerySummary(_Body):
    id: str
    name: str | None = None
    category: str | None = None
    api_endpoint: str | None = None


class DependencyView(_Body):
    name: str
    status: HealthState
    response_time: str | None = Field(None, description="e.g. 45ms")
    message: str | None = None


class HealthDocument(_Body):
    """The spec's health document, plus `stale` when it is the last recorded one, not a live answer."""

    status: HealthState
    plugin_id: str
    version: str | None = None
    uptime: str | None = None
    queries_executed: int | None = None
    error_rate: float | None = None
    last_error: str | None = None
    last_error_message: str | None = None
    circuit: str | None = None
    dependencies: list[DependencyView] = Field(default_factory=list)
    cache: dict[str, Any] | None = Field(
        None, description="The result cache (plugins declaring spec.cache): enabled, hits, misses, coalesced, ..."
    )
    checked_at: str | None = None
    stale: bool = False


class HealthCheckView(_Body):
    """The health monitor's latest check, as recorded in `plugin_health`."""

    status: HealthState
    checked_at: datetime.datetime
    response_time_ms: int | None = None
    error_message: str | None = None


class HealthRecordView(HealthCheckView):
    """One recorded probe: the check and the figures of the health document the runtime answered."""

    metrics: dict[str, Any] = Field(
        default_factory=dict,
        description="queries_executed, error_rate, uptime, circuit and dependencies, as the runtime reported them.",
    )


class HealthHistoryPage(_Body):
    """A plugin's recorded probes, newest first (the operator prunes those older than its retention)."""

    plugin_id: str
    items: list[HealthRecordView]
    total: int
    limit: int
    offset: int


class PluginView(_Body):
    """A plugin as the CR (desired + observed state) and the database (history) describe it together."""

    id: str
    namespace: str
    cr_name: str
    name: str
    version: str | None = None
    serving_version: str | None = None
    endpoint: str | None = Field(
        None,
        description="The plugin's stable URL for query executors (its Service): "
        "GET {endpoint}/queries/{query id} with a token carrying analytics:queries:execute.",
    )
    author: str | None = None
    description: str | None = None
    contract_format: str | None = None
    adapter: str | None = None
    enabled: bool
    phase: str
    pending: bool = Field(
        description="true while the operator has not yet observed the latest change to the plugin's spec."
    )
    generation: int | None = None
    observed_generation: int | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="Adapter settings; secret-looking values masked.")
    secret_refs: list[SecretRefView] = Field(default_factory=list)
    permissions: list[str] = Field(
        default_factory=list,
        description="What the plugin may do (read, write, execute, admin), the Plugin's spec.permissions or "
        "its default read, write, execute.",
    )
    queries: list[QuerySummary] = Field(default_factory=list)
    conditions: list[ConditionView] = Field(default_factory=list)
    registered_entities: list[RegisteredEntityView] = Field(default_factory=list)
    health_status: HealthState | None = None
    last_error: str | None = None
    reload_requested_at: str | None = None
    registered_at: datetime.datetime | None = None
    registered_by: str | None = None
    updated_at: datetime.datetime | None = None
    updated_by: str | None = None
    last_health_check: HealthCheckView | None = None


class PluginPage(_Body):
    items: list[PluginView]
    total: int
    limit: int
    offset: int


class ActionAccepted(_Body):
    """A change the API handed to the operator; it acts on it asynchronously."""

    plugin_id: str
    action: Literal["reload", "delete"]
    status: Literal["accepted"] = "accepted"
    requested_at: datetime.datetime
    requested_by: str


class Translation(_Body):
    """What the adapter would send to its backend, without executing anything."""

    plugin_id: str
    query_id: str
    language: str
    query: Any
    endpoint: str | None = None


class GtsEntityView(_Body):
    id: str
    kind: Literal["query", "datasource"]
    state: Literal["active", "deprecated", "deleted"]
    owner_plugin_id: str | None = None
    owner_version: str | None = None
    adapter_id: str | None = Field(None, description="The plugin that executes the query (the spec's adapter_id).")
    endpoint: str | None = Field(
        None, description="The owning plugin's stable URL (see PluginView.endpoint); none while it serves nothing."
    )
    body: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None
    deprecated_at: datetime.datetime | None = None


class GtsEntityPage(_Body):
    items: list[GtsEntityView]
    total: int
    limit: int
    offset: int


class ProcessStatus(_Body):
    status: Literal["ok", "ready"]
    #: This replica's part in the leader election: `leader` reconciles, `standby` only serves the API.
    role: Literal["leader", "standby"] | None = None


class AuditEntryView(_Body):
    """Who did what to which target, and whether it succeeded, was denied or failed."""

    id: int
    at: datetime.datetime
    actor: str
    action: str = Field(description="e.g. enable, disable, reload, delete, store_key, plugin.update, api_key.use")
    target: str = Field(description="Usually a plugin id (or `{plugin id}/{key name}` for stored keys).")
    outcome: Literal["success", "denied", "failed"]
    detail: dict[str, Any] = Field(default_factory=dict, description="Ids, counts and statuses; never values.")


class AuditPage(_Body):
    items: list[AuditEntryView]
    total: int
    limit: int
    offset: int
