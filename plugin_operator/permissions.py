"""What a Plugin's declared permissions allow (the spec's Plugin Security → Permissions): pure rules.

The spec names four permissions; each gates one thing the operator or the runtime would otherwise do
for the plugin:

    permission  gates                                                  without it
    read        datasources over query definitions the plugin does     the spec fails (PermissionDenied)
                not declare itself (another plugin's queries)
    write       autoRegister: its queries/datasources become GTS       the spec fails (PermissionDenied,
                entities                                               Registered=False); nothing registered
    execute     the runtime serves its queries                         queries answered 403; Ready=False
                                                                       (ExecuteNotPermitted); no smoke query
    admin       in-place reconfiguration: a reload request re-reads    the request is answered with a Warning
                config and secrets in the running runtime              Event (ReloadRefused) and not carried out

The default (`models.DEFAULT_PERMISSIONS`: read, write, execute) is what every plugin did before
permissions existed, so manifests without the field behave as before; `admin` is opt-in because every
other change of a plugin's configuration rolls out a new runtime through the health gate (and can be
rolled back), while a reload changes the running one in place.

The reconciler asks `admit` before it starts or registers anything, so a refused plugin leaves no
half-registered entities and no runtime; `serves` and `may_reload` are asked by the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_operator.models import DEFAULT_PERMISSIONS, Permission, PluginSpec

__all__ = [
    "DENIED",
    "NOT_SERVED",
    "NOT_SERVED_MESSAGE",
    "Refusal",
    "admit",
    "granted",
    "may_reload",
    "reload_refused_message",
    "serves",
]

#: Condition reason of a spec its permissions do not allow.
DENIED = "PermissionDenied"
#: Ready's reason and message while the plugin may not execute queries.
NOT_SERVED = "ExecuteNotPermitted"
NOT_SERVED_MESSAGE = (
    "spec.permissions lacks execute: the runtime answers its queries with 403; add execute to serve them"
)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why the spec asks for something its permissions do not grant (`permission`: the missing one)."""

    permission: Permission
    message: str
    reason: str = DENIED


def granted(raw_spec: Mapping[str, Any]) -> frozenset[Permission]:
    """The permissions of a raw (unvalidated) spec, for callers that hold only the body; unknown names
    grant nothing (the CRD schema refuses them anyway)."""
    names = raw_spec.get("permissions")
    if names is None:
        return frozenset(DEFAULT_PERMISSIONS)
    valid = {p.value for p in Permission}
    return frozenset(Permission(n) for n in names if isinstance(n, str) and n in valid)


def admit(spec: PluginSpec) -> Refusal | None:
    """The spec as written is allowed (None), or the first permission it lacks, with a message saying
    what needs it and how to fix it."""
    have = set(spec.permissions)
    if Permission.WRITE not in have:
        wanted = _registering(spec)
        if wanted:
            return Refusal(
                Permission.WRITE,
                f"autoRegister would register {', '.join(wanted)} but spec.permissions lacks write; "
                "add write to spec.permissions or turn autoRegister off for them",
            )
    if Permission.READ not in have:
        own = {query.id for query in spec.queries}
        foreign = sorted({ds.query_id for ds in spec.datasources if ds.query_id not in own})
        if foreign:
            return Refusal(
                Permission.READ,
                f"datasources run query definitions this plugin does not declare ({', '.join(foreign)}) "
                "but spec.permissions lacks read; add read to spec.permissions",
            )
    return None


def serves(permissions: Iterable[Permission]) -> bool:
    """Whether the runtime answers the plugin's queries."""
    return Permission.EXECUTE in set(permissions)


def may_reload(permissions: Iterable[Permission]) -> bool:
    """Whether a reload request may reconfigure the running runtime in place."""
    return Permission.ADMIN in set(permissions)


def reload_refused_message(requested: str) -> str:
    return (
        f"reload request {requested} refused: spec.permissions lacks admin (in-place reconfiguration); "
        "change the spec to roll out a new runtime, or add admin to spec.permissions"
    )


def _registering(spec: PluginSpec) -> list[str]:
    """What autoRegister would register: counted by kind."""
    wanted = []
    if spec.auto_register.queries and spec.queries:
        wanted.append(f"{len(spec.queries)} queries")
    if spec.auto_register.datasources and spec.datasources:
        wanted.append(f"{len(spec.datasources)} datasources")
    return wanted
