"""How the kubelet watches a runtime container: the liveness and readiness timings rendered into
every runtime pod, dedicated or pooled (the operator's PLUGIN_OPERATOR_RUNTIME_LIVENESS_* and
_RUNTIME_READINESS_* settings).

They are the operator's settings rather than a Plugin's: how soon a hung runtime is restarted
(liveness: `period × failures` seconds without an answer) trades recovery time against restarting a
runtime that is only slow on a busy node, which is a property of the cluster, not of one plugin. The
startup probe (60 s to import and load plugins) and the 2 s probe timeout stay fixed in `render`.
"""

from __future__ import annotations

import dataclasses

__all__ = ["RuntimeProbes"]


@dataclasses.dataclass(frozen=True)
class RuntimeProbes:
    """Probe periods (seconds) and failure thresholds (probes in a row); the defaults are Kubernetes'
    usual ones: a runtime silent for 30 s is restarted, one failing readiness for 10 s leaves its Services."""

    liveness_period_seconds: int = 10
    liveness_failure_threshold: int = 3
    readiness_period_seconds: int = 5
    readiness_failure_threshold: int = 2
