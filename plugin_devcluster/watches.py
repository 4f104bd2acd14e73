"""What a watch request replays before it goes live, from a bounded log of recent changes.

A watch from resourceVersion N must send exactly the changes after N (kopf lists, then watches from
the list's version; `kubectl delete` waits for the DELETED event that way), so the server keeps the
last `size` events per resource. A version older than the log answers an ERROR event with a 410
Expired Status, on which kopf and client-go relist. Without a version (or with
`sendInitialEvents=true`) the current objects are replayed as ADDED, the latter ended by a BOOKMARK
annotated `k8s.io/initial-events-end`, as kopf's and client-go's streaming lists expect.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

from plugin_devcluster import catalogue, statuses

Event = dict[str, Any]


class ChangeLog:
    """The recent events of every resource, each with the global revision that produced it."""

    def __init__(self, size: int) -> None:
        self._events: dict[str, collections.deque[tuple[int, Event]]] = collections.defaultdict(
            lambda: collections.deque(maxlen=size)
        )
        self._compacted: dict[str, int] = collections.defaultdict(int)

    def record(self, resource: catalogue.ResourceType, revision: int, event: Event) -> None:
        events = self._events[resource.key]
        if len(events) == events.maxlen:
            self._compacted[resource.key] = events[0][0]
        events.append((revision, event))

    def after(self, resource: catalogue.ResourceType, since: str) -> list[Event]:
        """The events after revision `since`, or one 410 ERROR event if the log no longer reaches back."""
        if not since.isdigit():
            raise statuses.bad_request(f"invalid resourceVersion {since!r}")
        if int(since) < self._compacted[resource.key]:
            return [{"type": "ERROR", "object": statuses.expired(since).status()}]
        return [event for revision, event in self._events[resource.key] if revision > int(since)]


def replay(objects: Iterable[dict[str, Any]]) -> list[Event]:
    return [{"type": "ADDED", "object": obj} for obj in objects]


def initial_events_end(resource: catalogue.ResourceType, revision: int) -> Event:
    metadata = {"resourceVersion": str(revision), "annotations": {"k8s.io/initial-events-end": "true"}}
    return {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata},
    }


def backlog(
    *,
    resource: catalogue.ResourceType,
    params: dict[str, str],
    current: Callable[[], Iterable[dict[str, Any]]],
    log: ChangeLog,
    revision: int,
) -> list[Event]:
    """The events a watch sends before the live ones (`current()` gives the matching objects now)."""
    since = params.get("resourceVersion", "")
    initial = params.get("sendInitialEvents") == "true"
    if initial:
        return [*replay(current()), initial_events_end(resource, revision)]
    if since in ("", "0"):
        return replay(current())
    return log.after(resource, since)
