"""Plugin dependencies (the spec's edge case "plugin with circular dependencies"): cycles fail the
plugins in them, dependencies not serving yet make a plugin wait, and a broken cycle frees its
members. Pure; the reconciler lists the Plugins as `Peer`s."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from plugin_operator.admission import GO, Admission, Verdict
from plugin_operator.models import Phase

#: How long a plugin waits before it looks at its dependencies again.
DEPENDENCY_WAIT_SECONDS = 5.0
#: The reason a Plugin in a dependency cycle fails with.
CYCLE_REASON = "CircularDependency"


def find_cycle(graph: Mapping[str, Sequence[str]], start: str) -> list[str] | None:
    """A dependency cycle through `start` as a path (`a → b → a`), or None. Unknown ids are leaves."""
    path: list[str] = []
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        visiting.add(node)
        path.append(node)
        for dependency in graph.get(node, ()):
            cycle = visit(dependency)
            if cycle is not None:
                return cycle
        path.pop()
        visiting.discard(node)
        done.add(node)
        return None

    cycle = visit(start)
    return cycle if cycle is not None and start in cycle else None


@dataclasses.dataclass(frozen=True)
class Peer:
    """A Plugin as the dependency rules see it."""

    namespace: str
    name: str
    plugin_id: str
    depends_on: tuple[str, ...] = ()
    phase: Phase = Phase.UNLOADED
    #: status.lastError.reason, if any.
    error: str | None = None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Peer:
        """From a Plugin body as listed (unvalidated: a peer's bad spec must not break this plugin)."""
        meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta["name"]),
            plugin_id=str(spec.get("pluginId") or meta["name"]),
            depends_on=tuple(str(d) for d in spec.get("dependsOn") or ()),
            phase=Phase(status.get("phase") or Phase.UNLOADED.value),
            error=(status.get("lastError") or {}).get("reason"),
        )


def _graph(peers: Sequence[Peer]) -> dict[str, list[str]]:
    return {peer.plugin_id: list(peer.depends_on) for peer in peers}


def admit_dependencies(plugin_id: str, depends_on: Sequence[str], peers: Sequence[Peer]) -> Admission:
    """A cycle through the plugin fails it; dependencies not serving yet (Active or Degraded) make it wait."""
    graph = _graph(peers) | {plugin_id: list(depends_on)}
    cycle = find_cycle(graph, plugin_id)
    if cycle:
        return Admission(Verdict.FAIL, CYCLE_REASON, "circular plugin dependency: " + " → ".join(cycle))
    phases = {peer.plugin_id: peer.phase for peer in peers}
    waiting = [d for d in depends_on if phases.get(d) not in (Phase.ACTIVE, Phase.DEGRADED)]
    if waiting:
        return Admission(
            Verdict.WAIT, "DependencyNotReady", f"waiting for {', '.join(waiting)}", delay=DEPENDENCY_WAIT_SECONDS
        )
    return GO


def cycle_broken(peers: Sequence[Peer]) -> list[Peer]:
    """Plugins Failed for a dependency cycle that no longer exists (a member's spec changed): retry them."""
    graph = _graph(peers)
    return [
        peer
        for peer in peers
        if peer.phase is Phase.FAILED and peer.error == CYCLE_REASON and not find_cycle(graph, peer.plugin_id)
    ]
