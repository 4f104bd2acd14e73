"""Shared runtimes: which Plugins share a runtime process, in which pool, and who is a member.

Pure. One plugin-runtime process costs ~70 MiB and ~0.7 s of CPU to start, one more plugin in a
running process ~0.85 MiB and ~40 ms; so Plugins using a built-in adapter (trusted code shipped with
the project, see `runtime_spec.BUILTIN_ADAPTERS`) may be hosted many per process. A *pool* is one
runtime Deployment of a namespace, hosting at most `size` members of one *class*: the same adapter
and the same per-process settings (image, replicas, resources, egress), so nothing a member asks of
its process differs from its neighbours'. Each member keeps its own stable Service, status, health,
conditions and registrations; only the process is shared.

    which runtime   spec.runtime, else the operator's default for a built-in adapter without
                    secrets, image or outgoing token (`mode`); plugin code is always dedicated
    which pool      a member stays in its pool while its class is the same; a new member joins the
                    first pool of its class with room, else a new pool (`place`); a class change is
                    a new instance in another pool, rolled out beside the serving one
    which entry     the pool's member table (`Members`), stored in the pool's ConfigMap beside the
                    runtime config it renders: a rollout inside one pool replaces the member's entry
                    and keeps the previous one until the new one is promoted (`join`), so a failed
                    gate puts the previous entry back (`leave`)

A member's secrets: a shared member has none (the model refuses `runtime: shared` with secretRefs
or an outgoing token): secret values only ever reach a process of their own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from plugin_operator import models
from plugin_operator.runtime_spec import BUILTIN_ADAPTERS, RuntimeMode

__all__ = [
    "MAX_TABLE_BYTES",
    "Member",
    "Members",
    "Pool",
    "class_of",
    "entry_bytes",
    "join",
    "leave",
    "mode",
    "place",
    "pool_name",
    "shareable",
    "table_bytes",
]

_CLASS_CHARS = 8


def shareable(spec: models.PluginSpec) -> bool:
    """Trusted code without secrets of its own: a built-in adapter, no image, no secretRefs, no signing key."""
    return (
        spec.adapter in BUILTIN_ADAPTERS
        and spec.path is None
        and not spec.image
        and not spec.secret_refs
        and spec.outgoing_token is None
    )


def mode(spec: models.PluginSpec, default: RuntimeMode) -> RuntimeMode:
    """The Plugin's own choice, else the operator's default for what may share (the rest is dedicated)."""
    if spec.runtime is not None:
        return spec.runtime
    return RuntimeMode.SHARED if default is RuntimeMode.SHARED and shareable(spec) else RuntimeMode.DEDICATED


def class_of(spec: models.PluginSpec, process: Mapping[str, Any] | None = None) -> str:
    """A hash of what a member asks of its process — its spec's share (adapter, replicas, resources,
    egress) and `process`, what the operator gives every runtime (image, auth settings, control-plane
    key): members of one pool agree on all of it, and a change of it moves members to new pools."""
    canonical = json.dumps(
        {
            "adapter": spec.adapter,
            "replicas": spec.replicas,
            "resources": spec.resources.model_dump(mode="json"),
            "egress": [rule.model_dump(mode="json") for rule in spec.egress],
            "process": dict(process or {}),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:_CLASS_CHARS]


def pool_name(adapter: str, class_id: str, index: int) -> str:
    """`pool-<adapter>-<class>-<n>`: a DNS-1035 label (adapters are short lower-case names)."""
    return f"pool-{adapter.replace('_', '-').replace('.', '-')}-{class_id}-{index}"


@dataclasses.dataclass(frozen=True)
class Pool:
    """A pool as observed: its name, class, members (`namespace.name` keys) and the bytes their entries
    take in its ConfigMap (`table_bytes`)."""

    name: str
    class_id: str
    members: frozenset[str]
    table_bytes: int = 0


#: What a pool's member table may take: a ConfigMap holds at most 1 MiB, and the table is written
#: twice in it (the runtime config and the member table), with room for previous entries in rollouts.
MAX_TABLE_BYTES = 256 * 1024


def entry_bytes(plugin: Mapping[str, Any]) -> int:
    """What one entry takes in a pool's table (`MAX_TABLE_BYTES` counts these)."""
    return len(json.dumps(plugin, sort_keys=True, separators=(",", ":")).encode())


def table_bytes(members: Members) -> int:
    return sum(m.stored_bytes for m in members.values())


def place(key: str, adapter: str, class_id: str, pools: Sequence[Pool], size: int, entry: int = 0) -> str:
    """The pool the member belongs in: its own pool of this class, else the first with room (members
    and bytes: an `entry` of this many bytes must fit), else a new one."""
    same_class = sorted((p for p in pools if p.class_id == class_id), key=lambda p: _index(p.name))
    for pool in same_class:
        if key in pool.members:
            return pool.name
    for pool in same_class:
        if len(pool.members) < size and pool.table_bytes + entry <= MAX_TABLE_BYTES:
            return pool.name
    taken = {_index(p.name) for p in same_class}
    return pool_name(adapter, class_id, next(i for i in range(len(taken) + 1) if i not in taken))


def _index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


@dataclasses.dataclass(frozen=True)
class Member:
    """One member's entry: the instance it runs and its `RuntimePlugin` (JSON), and during a rollout
    inside the pool the entry it replaced (put back if the new one fails its gate)."""

    instance_id: str
    plugin: Mapping[str, Any]
    previous_instance: str | None = None
    previous_plugin: Mapping[str, Any] | None = None

    def runs(self, instance_id: str) -> bool:
        return instance_id in (self.instance_id, self.previous_instance)

    @functools.cached_property
    def stored_bytes(self) -> int:
        """What the entry and its previous one take in the table (`table_bytes`), measured once: every
        placement counts every pool's table, and serialising each entry each time was quadratic."""
        return entry_bytes(self.plugin) + (entry_bytes(self.previous_plugin) if self.previous_plugin else 0)

    def to_json(self) -> dict[str, Any]:
        """As stored in the pool's ConfigMap (no deep copy: the table is rendered on every change)."""
        fields = {
            "instance_id": self.instance_id,
            "plugin": self.plugin,
            "previous_instance": self.previous_instance,
            "previous_plugin": self.previous_plugin,
        }
        return {k: v for k, v in fields.items() if v is not None}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Member:
        return cls(
            instance_id=str(document["instance_id"]),
            plugin=dict(document["plugin"]),
            previous_instance=document.get("previous_instance"),
            previous_plugin=document.get("previous_plugin"),
        )


#: A pool's members: `namespace.name` → entry.
Members = Mapping[str, Member]


def join(members: Members, key: str, instance_id: str, plugin: Mapping[str, Any]) -> dict[str, Member]:
    """The table with this instance as the member's entry; a different serving entry is kept as previous."""
    current = members.get(key)
    if current is None or current.instance_id == instance_id:
        kept = (current.previous_instance, current.previous_plugin) if current is not None else (None, None)
        return {**members, key: Member(instance_id, dict(plugin), *kept)}
    return {**members, key: Member(instance_id, dict(plugin), current.instance_id, current.plugin)}


def leave(members: Members, key: str, instance_id: str) -> dict[str, Member]:
    """The table without this instance: a rolled-back entry gives way to the previous one; a drained
    previous entry is forgotten; the member's only entry removes the member."""
    current = members.get(key)
    if current is None or not current.runs(instance_id):
        return dict(members)
    rest = {k: v for k, v in members.items() if k != key}
    if current.instance_id == instance_id:
        if current.previous_instance is None or current.previous_plugin is None:
            return rest
        return {**rest, key: Member(current.previous_instance, current.previous_plugin)}
    return {**rest, key: Member(current.instance_id, current.plugin)}
