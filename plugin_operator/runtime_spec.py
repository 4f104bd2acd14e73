"""The Plugin's runtime resources: pod resources, the sandbox's limits, the egress allowed and
whether its runtime is shared (`spec.resources`, `spec.sandbox`, `spec.egress`, `spec.runtime`);
`models` re-exports them."""

from __future__ import annotations

import enum
from typing import Annotated

import pydantic
from pydantic import Field

from plugin_operator.model_base import DNS_LABEL as _DNS_LABEL
from plugin_operator.model_base import DURATION as _DURATION
from plugin_operator.model_base import QUANTITY as _QUANTITY
from plugin_operator.model_base import Model as _Model

__all__ = ["BUILTIN_ADAPTERS", "CircuitBreaker", "EgressRule", "ResourceList", "Resources", "RuntimeMode", "Sandbox"]

#: The adapters this project ships (trusted code, no plugin code path or image): only these may share
#: a runtime process with other Plugins (`spec.runtime: shared`).
BUILTIN_ADAPTERS = frozenset({"prometheus", "localsql", "rest", "odata", "elasticsearch", "graphql"})


class RuntimeMode(enum.StrEnum):
    """Where a Plugin runs: a runtime pool shared with other built-in-adapter Plugins, or its own."""

    SHARED = "shared"
    DEDICATED = "dedicated"


class ResourceList(_Model):
    cpu: str | None = Field(None, pattern=_QUANTITY, description="CPU quantity, e.g. 250m.")
    memory: str | None = Field(None, pattern=_QUANTITY, description="Memory quantity, e.g. 256Mi.")


class Resources(_Model):
    requests: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="50m", memory="64Mi"),
        description="Guaranteed resources of each runtime pod.",
    )
    limits: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="500m", memory="256Mi"),
        description="Hard limits of each runtime pod (the plugin's sandbox).",
    )


class EgressRule(_Model):
    """A backend the plugin may reach; everything else (but DNS) is denied by its NetworkPolicy."""

    cidr: str | None = Field(
        None, pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$", description="IP block of the backend, e.g. 10.0.12.0/24."
    )
    namespace: str | None = Field(None, pattern=_DNS_LABEL, description="Namespace of an in-cluster backend.")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Labels of the backend's pods.")
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=list, max_length=32, description="TCP ports of the backend."
    )

    @pydantic.model_validator(mode="after")
    def _has_target(self) -> EgressRule:
        if self.cidr is None and self.namespace is None and not self.pod_labels:
            raise ValueError("an egress rule needs cidr, namespace or podLabels")
        return self


class CircuitBreaker(_Model):
    failure_threshold: int = Field(5, ge=1, le=1000, description="Consecutive failures that open the breaker.")
    error_rate_threshold: float = Field(
        0.5, ge=0, le=1, description="Error rate over the recent window that opens the breaker."
    )
    cooldown: str = Field("30s", pattern=_DURATION, description="Time open before a trial query (half-open).")


class Sandbox(_Model):
    timeout: str = Field("30s", pattern=_DURATION, description="Execution-time limit of one query.")
    max_concurrent_queries: int = Field(16, ge=1, le=1024, description="Queries executing at once for this plugin.")
    circuit_breaker: CircuitBreaker = Field(
        default_factory=CircuitBreaker, description="When the plugin stops taking queries after backend failures."
    )
