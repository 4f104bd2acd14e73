"""Probe bookkeeping as a kubelet keeps it (pure), and one `httpGet` probe sent through a container's ingress.

`Probe.from_container` reads a startup/readiness/liveness probe from the container spec (periods and
thresholds as Kubernetes defaults them); `Tracker` counts consecutive results and says when a probe
has *failed* (failureThreshold in a row) or *succeeded* (successThreshold in a row), and when it is
due next — the kubelet only sends requests and acts on the verdicts.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Probe", "Tracker", "Verdict", "check"]


class Verdict(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Probe:
    kind: str  # startup | readiness | liveness
    path: str
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_container(cls, container: Mapping[str, Any], kind: str) -> Probe | None:
        """The container's `<kind>Probe`; None when absent. Only httpGet probes are supported."""
        spec = container.get(f"{kind}Probe")
        if not spec:
            return None
        if "httpGet" not in spec:
            raise ValueError(f"{kind} probe: only httpGet probes are supported by the dev cluster")
        return cls(
            kind=kind,
            path=str(spec["httpGet"].get("path", "/")),
            initial_delay=float(spec.get("initialDelaySeconds", 0)),
            period=float(spec.get("periodSeconds", 10)),
            timeout=float(spec.get("timeoutSeconds", 1)),
            success_threshold=int(spec.get("successThreshold", 1)),
            failure_threshold=int(spec.get("failureThreshold", 3)),
        )


@dataclasses.dataclass
class Tracker:
    """Consecutive results of one probe for one container run."""

    probe: Probe
    started_at: float
    successes: int = 0
    failures: int = 0
    last_sent: float | None = None

    def due(self, now: float) -> bool:
        if now < self.started_at + self.probe.initial_delay:
            return False
        return self.last_sent is None or now >= self.last_sent + self.probe.period

    def record(self, ok: bool, now: float) -> Verdict:
        self.last_sent = now
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            return Verdict.SUCCEEDED if self.successes >= self.probe.success_threshold else Verdict.PENDING
        self.successes, self.failures = 0, self.failures + 1
        return Verdict.FAILED if self.failures >= self.probe.failure_threshold else Verdict.PENDING


async def check(probe: Probe, ingress: Path) -> tuple[bool, str]:
    """Send the probe's GET through the container's ingress socket: (2xx/3xx, what happened)."""
    # Plain HTTP on a Unix socket: no TLS, so no CA bundle loaded for each probe (40 ms each).
    transport = httpx.AsyncHTTPTransport(uds=str(ingress), verify=False)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=probe.timeout, trust_env=False) as client:
            response = await client.get(f"http://pod{probe.path}")
    except httpx.HTTPError as exc:
        return False, f"{probe.kind.capitalize()} probe failed: Get {probe.path}: {type(exc).__name__}"
    if 200 <= response.status_code < 400:
        return True, ""
    return False, f"{probe.kind.capitalize()} probe failed: HTTP probe failed with statuscode: {response.status_code}"
