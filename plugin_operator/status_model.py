"""The Plugin's status: what the operator observed and did, written by the operator only.

Apart from the spec models (`models`, which re-exports these names) because the two change for
different reasons: the spec is the admins' contract, the status the operator's report.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from plugin_operator.model_base import Model as _Model
from plugin_runtime.interface import HealthState

__all__ = [
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "DependencyStatus",
    "HealthReport",
    "LastError",
    "Phase",
    "PluginStatus",
    "RegisteredEntity",
]


class Phase(enum.StrEnum):
    UNLOADED = "Unloaded"
    LOADED = "Loaded"
    INITIALIZED = "Initialized"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    DEGRADED = "Degraded"
    FAILED = "Failed"


class ConditionType(enum.StrEnum):
    READY = "Ready"
    RUNTIME_READY = "RuntimeReady"
    BACKEND_HEALTHY = "BackendHealthy"
    REGISTERED = "Registered"
    PROGRESSING = "Progressing"
    #: Only where the cluster reports it (the embedded dev cluster): False when the container runtime
    #: could not apply every isolation mechanism to the plugin's pods. Not part of Ready.
    ISOLATED = "Isolated"


#: A Kubernetes condition's status.
ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(_Model):
    type: ConditionType = Field(description="Ready summarises RuntimeReady, BackendHealthy and Registered.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024, description="CamelCase cause."
    )
    message: str = Field("", max_length=32768, description="What happened, for humans.")
    last_transition_time: str = Field(description="RFC 3339 time the status last changed.")
    observed_generation: int | None = Field(None, ge=0, description="The spec generation this was set from.")


class DependencyStatus(_Model):
    name: str = Field(description="The backend, e.g. Prometheus API.")
    status: HealthState = Field(description="healthy, degraded, unhealthy or unknown.")
    response_time: str | None = Field(None, description="e.g. 45ms")
    message: str | None = Field(None, description="Why it is not healthy.")


class HealthReport(_Model):
    status: HealthState = Field(HealthState.UNKNOWN, description="healthy, degraded, unhealthy or unknown.")
    uptime: str | None = Field(None, description="Since the runtime started, e.g. 72h15m.")
    queries_executed: int | None = Field(None, ge=0, description="Queries the plugin answered.")
    error_rate: float | None = Field(None, ge=0, le=1, description="Failed share of recent queries.")
    last_error: str | None = Field(None, description="When the plugin last failed a query.")
    checked_at: str | None = Field(None, description="When the operator last probed the runtime.")
    consecutive_failures: int = Field(0, ge=0, description="Bad probes in a row (Degraded after a threshold).")
    circuit: str | None = Field(None, description="closed, open or half-open")
    dependencies: list[DependencyStatus] = Field(default_factory=list, description="Backends and their health.")


class RegisteredEntity(_Model):
    id: str = Field(description="GTS id.")
    kind: Literal["query", "datasource"] = Field(description="query or datasource.")
    state: Literal["active", "deprecated", "deleted"] = Field(description="active, deprecated or deleted.")


class LastError(_Model):
    time: str = Field(description="RFC 3339 time of the error.")
    reason: str = Field(description="CamelCase cause, as in the conditions.")
    message: str = Field(description="What went wrong.")


class PluginStatus(_Model):
    """Observed state, written by the operator only."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    phase: Phase = Field(
        Phase.UNLOADED, description="Lifecycle state (the spec's section D, plus Degraded and Failed)."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Kubernetes-style conditions.")
    observed_generation: int | None = Field(None, ge=0, description="The spec generation last acted on.")
    plugin_id: str | None = Field(None, description="The id the API and registry use.")
    endpoint: str | None = Field(None, description="URL of the serving runtime instance (changes with each rollout).")
    service_endpoint: str | None = Field(
        None,
        description="The plugin's stable URL for query executors: the plugin's Service; it survives version "
        "rollouts, re-enables and restarts.",
    )
    serving_version: str | None = Field(None, description="The version actually serving queries.")
    failed_version: str | None = Field(None, description="The last version that failed its rollout.")
    failed_config_hash: str | None = Field(None, description="Config hash of the failed rollout (not retried as is).")
    config_hash: str | None = Field(None, description="Hash of the serving config and secret versions.")
    health: HealthReport = Field(default_factory=HealthReport, description="The last health probe.")
    registered_entities: list[RegisteredEntity] = Field(
        default_factory=list, description="GTS entities the plugin owns."
    )
    last_error: LastError | None = Field(None, description="The last error (kept: Events expire).")
    observed_reload: str | None = Field(None, description="The last reload request (annotation value) carried out.")
