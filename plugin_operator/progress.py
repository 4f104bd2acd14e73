"""What one reconcile carries and how it ends: the status being built, and its two ways to fail.

Pure: no Kubernetes or database calls, so the rules of a reconcile's outcome (Events for every phase
transition, how validation errors read) are testable without a cluster.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pydantic

from plugin_operator import lifecycle
from plugin_operator.conditions import Observation
from plugin_operator.models import RELOAD_ANNOTATION, ConditionStatus, ConditionType, PluginStatus


class Retry(Exception):
    """A transient failure (database or API unavailable): retry the reconcile after `delay` seconds.

    `reason` is what status.lastError shows an admin (e.g. DatabaseUnavailable).
    """

    def __init__(self, message: str, *, delay: float, reason: str = "Unavailable") -> None:
        super().__init__(message)
        self.delay, self.reason = delay, reason


class Failed(Exception):
    """A permanent problem with the Plugin as written; reported in status until the spec changes."""

    def __init__(self, reason: str, message: str, *, condition: ConditionType = ConditionType.READY) -> None:
        super().__init__(message)
        self.reason, self.message, self.condition = reason, message, condition


def load_failure(metadata: dict[str, Any], plugin_id: str) -> str | None:
    """Why the runtime could not load or init the plugin, from its `/metadata` document (None: loaded).

    A plugin whose newest entry failed while an older one keeps serving (a member of a shared runtime
    whose change did not load) reports that failure as its `last_reload_error`: not loaded either.
    """
    hosted = next((e for e in metadata.get("plugins") or [] if e.get("id") == plugin_id), None)
    reload_error = (hosted or {}).get("last_reload_error")
    if isinstance(reload_error, dict):
        return f"plugin {reload_error.get('stage') or 'load'} failed: {reload_error.get('message')}"
    if hosted is not None and hosted.get("state") != "Failed":
        return None
    failure = next((e for e in metadata.get("errors") or [] if e.get("plugin_id") == plugin_id), None)
    if failure is None:
        return "the plugin failed to load" if hosted else f"the runtime does not host plugin {plugin_id!r}"
    return f"plugin {failure.get('stage') or 'load'} failed: {failure.get('message')}"


def code_version_mismatch(metadata: dict[str, Any], plugin_id: str, expected: str) -> str | None:
    """Plugin code that is not the version the Plugin asks for (None: it is, or the code is built in).

    The runtime reports `code_version` for code that is the plugin's own: a plugins-folder manifest,
    or the version of the package an entry point comes from (baked into `spec.image`). Built-in
    adapters report none: `spec.version` versions their configuration. A mismatch means the code
    changed behind the operator (a folder edited in place, an image tag moved) or the CR names the
    wrong version; either way the version is not promoted.
    """
    hosted = next((e for e in metadata.get("plugins") or [] if e.get("id") == plugin_id), None)
    loaded = (hosted or {}).get("code_version")
    if loaded is None or loaded == expected:
        return None
    assert hosted is not None
    source = str(hosted.get("source") or "")
    if source.startswith("plugins-dir:"):
        advice = "publish the folder's new version and set spec.version to it"
        where = f"folder {source.removeprefix('plugins-dir:')}"
    else:
        advice = "set spec.version to the version the image carries, or spec.image to an image carrying " + expected
        where = f"package of entry point {source.removeprefix('entry-point:')}"
    return (
        f"the loaded code of plugin {plugin_id} ({where}) is version {loaded}, but spec.version is {expected}: {advice}"
    )


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        parts.append(f"spec.{where}: {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


@dataclasses.dataclass
class Work:
    """The status being built during one reconcile, plus what happened (for Events)."""

    body: dict[str, Any]
    status: PluginStatus
    observations: list[Observation] = dataclasses.field(default_factory=list)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    #: Health probes made (checked_at, `runtime_client.ProbeResult`), written with the final status in
    #: one transaction (`mirror.save_status`).
    probes: list[tuple[datetime.datetime, Any]] = dataclasses.field(default_factory=list)

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"

    def reload_requested(self) -> str | None:
        """An unanswered reload request (POST …/reload sets the annotation), if any."""
        requested = (self.body["metadata"].get("annotations") or {}).get(RELOAD_ANNOTATION)
        return requested if requested and requested != self.status.observed_reload else None

    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def observe(self, kind: ConditionType, status: ConditionStatus, reason: str, message: str = "") -> None:
        self.observations.append(Observation(kind, status, reason, message))

    def transition(self, event: lifecycle.Event) -> None:
        before = self.status.phase
        after = lifecycle.next_phase(before, event)
        if after is not before:
            self.update(phase=after)
            self.events.append(("Normal", event.value.capitalize(), f"{before.value} → {after.value}"))


def status_patch(status: PluginStatus) -> dict[str, Any]:
    """The status as a JSON merge patch: nulls in objects delete stale fields (a cleared failedVersion);
    nulls inside list items (lists are replaced whole) are dropped, so `kubectl describe` shows no <nil>."""

    def clean(value: Any, *, in_list: bool) -> Any:
        if isinstance(value, list):
            return [clean(item, in_list=True) for item in value]
        if isinstance(value, dict):
            return {k: clean(v, in_list=in_list) for k, v in value.items() if not (in_list and v is None)}
        return value

    return dict(clean(status.model_dump(mode="json", by_alias=True, exclude_none=False), in_list=False))
