"""Plugin dependency graph checks (the spec's edge case "plugin with circular dependencies")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(graph: Mapping[str, Sequence[str]], start: str) -> list[str] | None:
    """A dependency cycle through `start` as a path (`a → b → a`), or None. Unknown ids are leaves."""
    path: list[str] = []
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return path[path.index(node) :] + [node]
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
