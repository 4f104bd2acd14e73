"""Leader election over a `coordination.k8s.io/v1` Lease: the decisions, without I/O.

Several operator replicas run; exactly one reconciles. Each replica reads the Lease, asks `decide`
what to write, and writes it with the Lease's resourceVersion (optimistic concurrency: of two
replicas racing for an expired Lease, the API server accepts one write and answers 409 to the
other). The rules are client-go's leader election, so the Lease reads the same in `kubectl get
lease` as any controller's:

- a Lease held by someone else is respected until `renewTime + leaseDurationSeconds` has passed;
- the holder renews every `retry_period`; a holder that could not renew for `renew_deadline`
  stops reconciling *before* the Lease can expire (`renew_deadline < duration`), so a standby that
  takes over an expired Lease never runs beside a leader that still believes it leads;
- a holder that stops cleanly releases the Lease (empty holder), so a rolling upgrade hands over
  in one retry period instead of a whole lease duration.

`plugin_operator.leadership` does the reading and writing.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any

#: Kubernetes MicroTime, as client-go writes it.
_MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseTimingError(ValueError):
    """Timings under which two leaders could overlap (or renewal could never succeed)."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """client-go's defaults: a dead leader is replaced within `duration + retry_period` seconds."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.duration:
            raise LeaseTimingError(
                "lease timings need 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period} < {self.renew_deadline} < {self.duration}"
            )

    @property
    def failover_bound(self) -> float:
        """Longest time from a leader's death to a standby holding the Lease."""
        return self.duration + self.retry_period


@dataclasses.dataclass(frozen=True)
class Record:
    """The fields of a Lease that leader election reads."""

    holder: str | None
    renew_time: datetime.datetime | None
    acquire_time: datetime.datetime | None
    duration_seconds: int
    transitions: int
    resource_version: str | None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Record:
        spec = obj.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or None,
            renew_time=parse_time(spec.get("renewTime")),
            acquire_time=parse_time(spec.get("acquireTime")),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=(obj.get("metadata") or {}).get("resourceVersion"),
        )

    def expired(self, now: datetime.datetime) -> bool:
        if self.holder is None or self.renew_time is None:
            return True
        return now >= self.renew_time + datetime.timedelta(seconds=self.duration_seconds)


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, holding it
    ACQUIRE = "acquire"  # free or expired: take it over (one more transition)
    RENEW = "renew"  # ours: move renewTime forward
    WAIT = "wait"  # someone else holds a live Lease: stand by


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    #: The Lease spec to write (None for WAIT).
    spec: dict[str, Any] | None
    #: Who holds the Lease after this decision (for logs and metrics).
    holder: str | None


def decide(record: Record | None, *, identity: str, now: datetime.datetime, timing: Timing) -> Decision:
    """What this replica writes to the Lease now, given what it read."""
    duration = max(1, round(timing.duration))
    if record is None:
        return Decision(Action.CREATE, _spec(identity, now, now, duration, 0), identity)
    if record.holder == identity:
        acquired = record.acquire_time or now
        return Decision(Action.RENEW, _spec(identity, acquired, now, duration, record.transitions), identity)
    if record.expired(now):
        return Decision(Action.ACQUIRE, _spec(identity, now, now, duration, record.transitions + 1), identity)
    return Decision(Action.WAIT, None, record.holder)


def release(record: Record, *, identity: str, now: datetime.datetime) -> dict[str, Any] | None:
    """The spec that gives the Lease up on a clean stop, or None when it is not ours to release."""
    if record.holder != identity:
        return None
    return {
        "holderIdentity": None,
        "leaseDurationSeconds": 1,
        "renewTime": format_time(now),
        "acquireTime": None,
        "leaseTransitions": record.transitions,
    }


def still_leading(last_renewal: float, now: float, timing: Timing) -> bool:
    """A leader that has not renewed for `renew_deadline` seconds (monotonic clock) must stop."""
    return now - last_renewal < timing.renew_deadline


def _spec(
    identity: str, acquired: datetime.datetime, renewed: datetime.datetime, duration: int, transitions: int
) -> dict[str, Any]:
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration,
        "acquireTime": format_time(acquired),
        "renewTime": format_time(renewed),
        "leaseTransitions": transitions,
    }


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(_MICROTIME)


def parse_time(text: str | None) -> datetime.datetime | None:
    """MicroTime or plain RFC 3339 (what other writers of the Lease may use); None when absent."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
