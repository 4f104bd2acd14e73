"""Leader election I/O: one thread per replica reads and writes the leader Lease (`lease` decides).

The replica that holds the Lease reconciles (`on_started` starts kopf); the others stand by and
only serve the management API. A leader that cannot renew within the renew deadline, or finds
the Lease held by someone else, calls `on_stopped` once and the thread ends: reconciling must stop
at once, and the process exits so Kubernetes restarts it as a fresh standby (client-go's rule too:
leadership lost is never regained in the same process).
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from plugin_operator import lease, metrics
from plugin_operator.kube import Kube
from plugin_runtime import errors

log = logging.getLogger(__name__)

_API_VERSION = "coordination.k8s.io/v1"


def default_identity() -> str:
    """The pod name in Kubernetes (downward API), else host, pid and a random suffix: unique per process."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Leadership:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        timing: lease.Timing,
        on_started: Callable[[], None],
        on_stopped: Callable[[str], None],
    ) -> None:
        self.kube, self.namespace, self.name, self.identity, self.timing = kube, namespace, name, identity, timing
        self._on_started, self._on_stopped = on_started, on_stopped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once the first attempt has decided this replica's role (leader or standby).
        self.decided = threading.Event()
        self.leading = False
        self.holder: str | None = None
        #: Why the last attempt could not read or write the Lease (None after a successful round).
        self.last_error: str | None = None
        self._last_renewal = 0.0
        metrics.LEADER.set(0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop campaigning; a leader releases the Lease so a standby takes over in one retry period."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timing.renew_deadline + 5)
        if self.leading:
            self._release()
            self._step_down(None)

    # The loop ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            holds = self._attempt()
            if self.last_error is None:
                self.decided.set()
            if holds:
                self._last_renewal = time.monotonic()
                metrics.LEASE_RENEWED.set(time.time())
                if not self.leading:
                    self.leading = True
                    metrics.LEADER.set(1)
                    metrics.LEADER_TRANSITIONS.labels(change="started").inc()
                    log.info("leading", extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity})
                    self._on_started()
            elif self.leading and (
                self.holder not in (None, self.identity)
                or not lease.still_leading(self._last_renewal, time.monotonic(), self.timing)
            ):
                reason = (
                    f"the Lease is now held by {self.holder}"
                    if self.holder not in (None, self.identity)
                    else f"could not renew the Lease for {self.timing.renew_deadline:g}s"
                )
                self._step_down(reason)
                return
            self._stop.wait(self.timing.retry_period)

    def _attempt(self) -> bool:
        """One read-decide-write round; True when this replica holds the Lease afterwards."""
        self.last_error = None
        try:
            current = self.kube.get(_API_VERSION, "Lease", self.namespace, self.name)
            record = lease.Record.from_object(current) if current is not None else None
            decision = lease.decide(record, identity=self.identity, now=_now(), timing=self.timing)
            self.holder = decision.holder
            if decision.action is lease.Action.WAIT:
                return False
            assert decision.spec is not None
            if decision.action is lease.Action.CREATE:
                self.kube.create(self._object(decision.spec, resource_version=None))
            else:
                assert current is not None
                self.kube.replace(self._object(decision.spec, resource_version=current["metadata"]["resourceVersion"]))
            return True
        except errors.Conflict:
            return False  # another replica wrote first: read again next round
        except errors.PluginError as exc:
            self.last_error = str(exc)
            log.warning("leader Lease not written: %s", exc, extra={"lease": f"{self.namespace}/{self.name}"})
            return False

    def _release(self) -> None:
        try:
            current = self.kube.get(_API_VERSION, "Lease", self.namespace, self.name)
            if current is None:
                return
            spec = lease.release(lease.Record.from_object(current), identity=self.identity, now=_now())
            if spec is not None:
                self.kube.replace(self._object(spec, resource_version=current["metadata"]["resourceVersion"]))
                log.info("leader Lease released", extra={"lease": f"{self.namespace}/{self.name}"})
        except errors.PluginError as exc:  # the standby takes over when the Lease expires instead
            log.warning("leader Lease not released: %s", exc)

    def _step_down(self, reason: str | None) -> None:
        self.leading = False
        metrics.LEADER.set(0)
        metrics.LEADER_TRANSITIONS.labels(change="stopped").inc()
        if reason is not None:
            log.error("leadership lost: %s", reason, extra={"lease": f"{self.namespace}/{self.name}"})
            self._on_stopped(reason)

    def _object(self, spec: dict[str, Any], *, resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {"apiVersion": _API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
