"""The dev cluster's objects kept in a file, so a restarted `make run` finds what was created at run time.

Every change schedules one snapshot `delay` seconds later (changes in between share it); the file is
written whole to a temporary name and renamed over the old one, so a crash leaves the old or the new
snapshot, never half of one. Pods, Events and Leases are not kept (pods are re-created by their
ReplicaSets, Events expire, Leases belong to processes that are gone), nor is workload status (the
controllers recompute it from the pods they run again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from plugin_devcluster import catalogue
from plugin_devcluster.storage import Storage

__all__ = ["Persistence"]

log = logging.getLogger(__name__)
_SKIPPED = {catalogue.PODS, catalogue.EVENTS, catalogue.LEASES}
_STATUS_DROPPED = {"deployments", "replicasets"}
_FORMAT = 1


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    if entry["resource"][2] in _STATUS_DROPPED:
        entry["object"].pop("status", None)
    return entry


class Persistence:
    def __init__(self, store: Storage, path: Path, *, delay: float = 0.5) -> None:
        self.store, self.path, self.delay = store, path, delay
        self._pending: asyncio.TimerHandle | None = None

    def load(self) -> int:
        """Restore the snapshot if there is one (before the cluster serves); returns how many objects."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        if document.get("format") != _FORMAT:
            raise ValueError(f"{self.path}: unknown snapshot format {document.get('format')!r}")
        self.store.restore(document["objects"])
        return len(document["objects"])

    def changed(self) -> None:
        """Called on every change, in the cluster's event loop: save once things settle for `delay`."""
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.delay, self._save_now)

    def _save_now(self) -> None:
        self._pending = None
        try:
            self.save()
        except OSError:
            log.exception("could not save the dev cluster's objects to %s", self.path)

    def save(self) -> None:
        entries = [_kept(entry) for entry in self.store.snapshot(_SKIPPED)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump({"format": _FORMAT, "objects": entries}, file)
            os.chmod(temporary, 0o600)  # it holds Secrets
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def flush(self) -> None:
        """Save now if a save is pending (at shutdown)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
            self.save()
