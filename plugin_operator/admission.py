"""Whether a spec may be acted on now, and who owns a plugin id: pure rules with table tests.

Before `decide` plans anything, the reconciler observes the registry's claim on the plugin id and the
other Plugins, and these rules (and `dependencies`') say go on, wait (retry later, Progressing says
why) or fail. The finalizer asks `removal` what a deleted Plugin's removal takes.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["GO", "Admission", "Claim", "Removal", "Verdict", "admit_claim", "removal", "rival"]


class Verdict(enum.StrEnum):
    GO = "go"  # act on the spec
    WAIT = "wait"  # not yet: retry the reconcile after `delay` (Progressing says why)
    FAIL = "fail"  # the spec cannot be carried out as written


@dataclasses.dataclass(frozen=True)
class Admission:
    """Whether the spec may be acted on now; a GO with a reason is worth a log line."""

    verdict: Verdict = Verdict.GO
    reason: str = ""
    message: str = ""
    delay: float = 0.0


GO = Admission()


@dataclasses.dataclass(frozen=True)
class Claim:
    """The registry's row for a plugin id: the Plugin that claimed it, and whether that Plugin exists."""

    uid: str | None
    removed: bool
    #: `namespace/name` of the claiming Plugin.
    owner: str
    version: str | None
    #: The Plugin the row names still exists with the row's uid (observed only for a `rival` row).
    owner_exists: bool = True


def rival(claim: Claim | None, uid: str) -> bool:
    """The row claims the id for another Plugin (then whether that Plugin still exists matters)."""
    return claim is not None and not claim.removed and claim.uid not in (None, uid)


def admit_claim(plugin_id: str, uid: str, claim: Claim | None) -> Admission:
    """Two Plugins never share a plugin id; a claim whose Plugin is gone is stale, not a rival (deleted
    while no operator watched, or a fresh dev cluster over a kept database)."""
    if claim is None or not rival(claim, uid):
        return GO
    if not claim.owner_exists:
        return Admission(Verdict.GO, "StaleClaim", f"taking over plugin id {plugin_id!r} from {claim.owner} (gone)")
    return Admission(
        Verdict.FAIL,
        "Conflict",
        f"plugin id {plugin_id!r} is already claimed by Plugin {claim.owner} (version {claim.version}); "
        "set spec.pluginId to a unique id",
    )


class Removal(enum.StrEnum):
    """What the finalizer does for a deleted Plugin."""

    DEREGISTER = "deregister"  # it owns its id: deregister its entities, record the removal, stop its runtimes
    STOP = "stop"  # the id is not its own (a rival's, or never claimed): stop its runtimes only
    DONE = "done"  # the removal is already recorded (kopf calls finalizers again): make sure nothing runs


def removal(uid: str, claim: Claim | None) -> Removal:
    if claim is None or claim.uid != uid:
        return Removal.STOP
    return Removal.DONE if claim.removed else Removal.DEREGISTER
