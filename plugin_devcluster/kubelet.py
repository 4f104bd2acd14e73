"""The dev cluster's kubelet: runs each Pod's container through a `ContainerRuntime`, probes it,
restarts it with CrashLoop back-off, and reports status and Events through the store.

One asyncio task per pod (`_PodWorker`) in the cluster's event loop; blocking runtime calls run in
threads. `podspec` decides what to run, `probes` when a probe failed, `podstatus` what to report.
A pod removed from the store is stopped at once (its whole process tree) and its host directory
deleted. Services reach pods through `endpoints()` (the `serviceproxy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugin_devcluster import catalogue, objects, podspec, podstatus, probes
from plugin_devcluster.containerlogs import LogLimits
from plugin_devcluster.containers import Container, ContainerRuntime, Termination
from plugin_devcluster.storage import Storage

__all__ = ["Kubelet", "KubeletConfig"]

log = logging.getLogger(__name__)
NODE_NAME = "devcluster"


def default_env() -> dict[str, str]:
    """What every container starts from: this checkout's runtime on PATH, nothing of the operator's env."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}


@dataclasses.dataclass(frozen=True)
class KubeletConfig:
    root: Path
    #: The dev image registry: reference → local directory (see `podspec`).
    images: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    base_env: Mapping[str, str] = dataclasses.field(default_factory=default_env)
    #: CrashLoopBackOff: the first delay, doubled per restart up to the cap; reset after a long clean run.
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    backoff_reset: float = 600.0
    tick: float = 0.2
    #: containerLogMaxSize and containerLogMaxFiles: each container's log is rotated at this size.
    container_logs: LogLimits = dataclasses.field(default_factory=LogLimits)


class Kubelet:
    def __init__(self, store: Storage, runtime: ContainerRuntime, config: KubeletConfig) -> None:
        self.store, self.runtime, self.config = store, runtime, config
        self.isolation = runtime.isolation()
        self._workers: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        #: (namespace, pod) → (labels, ingress socket, ready) of every pod whose container runs.
        self._endpoints: dict[tuple[str, str], tuple[dict[str, str], Path, bool]] = {}
        self._containers: dict[tuple[str, str], Container] = {}

    def endpoints(self, namespace: str, *, ready_only: bool = True) -> list[tuple[dict[str, str], Path]]:
        """(labels, ingress socket) of the namespace's running pods: the Ready ones, or all of them
        (a Service with `publishNotReadyAddresses`)."""
        return [
            (labels, ingress)
            for (ns, _), (labels, ingress, ready) in sorted(self._endpoints.items())
            if ns == namespace and (ready or not ready_only)
        ]

    def containers(self) -> dict[tuple[str, str], Container]:
        """(namespace, pod) → its running container (tests find process ids here)."""
        return dict(self._containers)

    def directory(self, namespace: str, pod: str) -> Path | None:
        """The host directory of a pod this kubelet runs (volumes, the runtime's files and log)."""
        found = self.store.find(catalogue.PODS, namespace, pod)
        return self.config.root / namespace / found["metadata"]["uid"][:8] if found else None

    def running(self, namespace: str, pod: str) -> bool:
        """Whether the pod's container runs now (`podlogs`: a followed log ends when it stops)."""
        return (namespace, pod) in self._containers

    async def run(self) -> None:
        try:
            while True:
                try:
                    self.sync()
                except Exception:
                    log.exception("dev cluster kubelet: a pass failed")
                await asyncio.sleep(self.config.tick)
        finally:
            await self.close()

    def sync(self) -> None:
        present = set()
        for pod in self.store.objects_of(catalogue.PODS):
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") != NODE_NAME:
                continue
            key = (meta["namespace"], meta["name"], meta["uid"])
            present.add(key)
            if key not in self._workers:
                worker = _PodWorker(self, pod)
                self._workers[key] = asyncio.create_task(worker.run(), name=f"pod {meta['namespace']}/{meta['name']}")
        for key in set(self._workers) - present:
            self._workers.pop(key).cancel()

    async def close(self) -> None:
        workers, self._workers = list(self._workers.values()), {}
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def node(self, namespace: str) -> podspec.Node:
        def by_name(resource: catalogue.ResourceType) -> dict[str, dict[str, Any]]:
            return {o["metadata"]["name"]: o for o in self.store.objects_of(resource, namespace)}

        return podspec.Node(
            configmaps=by_name(catalogue.CONFIGMAPS),
            secrets=by_name(catalogue.SECRETS),
            policies=self.store.objects_of(catalogue.NETWORK_POLICIES, namespace),
            images=self.config.images,
            base_env=self.config.base_env,
            log_limits=self.config.container_logs,
        )


class _PodWorker:
    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]) -> None:
        self.kubelet, self.pod = kubelet, pod
        self.namespace, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        [container] = pod["spec"]["containers"][:1]
        self.container_spec = container
        # Short (the pod's uid, not its name): the runtime keeps Unix sockets here (107 bytes at most).
        self.root = kubelet.config.root / self.namespace / pod["metadata"]["uid"][:8]
        self.observed = podstatus.Observed(
            container=container["name"],
            image=container.get("image", ""),
            started_at=self._now(),
            missing_isolation=kubelet.isolation.missing,
        )
        self._warned: set[tuple[str, str]] = set()

    def _now(self) -> str:
        return objects.format_time(self.kubelet.store.clock())

    async def _event(self, kind: str, reason: str, message: str) -> None:
        body = podstatus.event(
            self.pod, kind=kind, reason=reason, message=message, container=self.observed.container, now=self._now()
        )
        with contextlib.suppress(Exception):  # the namespace may be going away with the pod
            await self.kubelet.store.create(catalogue.EVENTS, body, namespace=self.namespace)

    async def _warn_once(self, reason: str, message: str) -> None:
        if (reason, message) not in self._warned:
            self._warned.add((reason, message))
            await self._event("Warning", reason, message)

    async def _report(self) -> None:
        current = self.kubelet.store.find(catalogue.PODS, self.namespace, self.name) or {}
        new = podstatus.status(self.observed, previous=current.get("status") or {}, now=self._now())
        if current and current.get("status") != new:
            await self.kubelet.store.patch_status(catalogue.PODS, self.namespace, self.name, new)
        key = (self.namespace, self.name)
        container = self.kubelet._containers.get(key)
        if container is not None and self.observed.running_since is not None:
            labels = dict(self.pod["metadata"].get("labels") or {})
            self.kubelet._endpoints[key] = (labels, container.ingress, self.observed.ready)
        else:
            self.kubelet._endpoints.pop(key, None)

    async def run(self) -> None:
        await self._event("Normal", "Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {NODE_NAME}")
        if self.kubelet.isolation.missing:
            await self._warn_once(
                "IsolationIncomplete",
                "the container runtime could not apply: " + ", ".join(self.kubelet.isolation.missing),
            )
        failures = 0
        try:
            while True:
                await self._report()
                began = time.monotonic()
                ended = await self._run_once()
                if time.monotonic() - began > self.kubelet.config.backoff_reset:
                    failures = 0
                failures += 1
                config = self.kubelet.config
                delay = min(config.backoff_cap, config.backoff_base * 2 ** (failures - 1))
                self.observed.running_since, self.observed.ready, self.observed.started = None, False, False
                self.observed.waiting_reason = "CrashLoopBackOff" if ended else self.observed.waiting_reason
                self.observed.waiting_message = (
                    f"back-off {delay:.0f}s restarting failed container={self.observed.container} pod={self.name}"
                    if ended
                    else self.observed.waiting_message
                )
                await self._report()
                if ended:
                    await self._event(
                        "Warning", "BackOff", "Back-off restarting failed container " + self.observed.container
                    )
                await asyncio.sleep(delay)
        finally:
            await self._stop()
            with contextlib.suppress(OSError):
                await asyncio.to_thread(shutil.rmtree, self.root, True)

    async def _stop(self, grace: float | None = None) -> None:
        key = (self.namespace, self.name)
        self.kubelet._endpoints.pop(key, None)
        container = self.kubelet._containers.pop(key, None)
        if container is not None:
            seconds = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)) if grace is None else grace
            await asyncio.to_thread(container.stop, seconds)

    async def _run_once(self) -> bool:
        """Start the container and supervise it; True once it ended (False: it never started)."""
        try:
            plan = podspec.plan(self.pod, self.kubelet.node(self.namespace), root=self.root)
            wanted = [
                probes.Probe.from_container(self.container_spec, kind) for kind in ("startup", "readiness", "liveness")
            ]
        except (podspec.PodConfigError, ValueError) as exc:
            self.observed.waiting_reason = getattr(exc, "reason", "CreateContainerConfigError")
            self.observed.waiting_message = str(exc)
            await self._warn_once("Failed", f"Error: {exc}")
            return False
        for warning in plan.warnings:
            await self._warn_once("NetworkPolicyNotEnforced", warning)
        try:
            await asyncio.to_thread(_materialise, plan)
            container = await asyncio.to_thread(self.kubelet.runtime.start, plan.spec)
        except (OSError, ValueError) as exc:  # the runtime refused it (e.g. uid 0) or could not exec it
            self.observed.waiting_reason, self.observed.waiting_message = "RunContainerError", str(exc)
            await self._warn_once("Failed", f"Error: {exc}")
            return False
        self.kubelet._containers[(self.namespace, self.name)] = container
        self.observed.running_since, self.observed.waiting_reason, self.observed.waiting_message = (
            self._now(),
            None,
            None,
        )
        await self._event("Normal", "Started", f"Started container {self.observed.container}")
        await self._report()
        termination = await self._supervise(container, *wanted)
        code = container.exit_code()
        self.observed.restart_count += 1
        self.observed.last_terminated = {
            "reason": termination.value,
            "exitCode": code if code is not None else 137,
            "startedAt": self.observed.running_since,
            "finishedAt": self._now(),
        }
        if termination is Termination.OOM_KILLED:
            await self._event(
                "Warning", "OOMKilled", f"Container {self.observed.container} was OOM-killed (memory limit)"
            )
        await self._stop(grace=0)
        return True

    async def _supervise(
        self,
        container: Container,
        startup: probes.Probe | None,
        readiness: probes.Probe | None,
        liveness: probes.Probe | None,
    ) -> Termination:
        now = time.monotonic()
        trackers = {p.kind: probes.Tracker(p, now) for p in (startup, readiness, liveness) if p is not None}
        self.observed.started = startup is None
        while True:
            ended = container.poll()
            if ended is not None:
                return ended
            for kind in ("startup", "readiness", "liveness"):
                tracker = trackers.get(kind)
                if tracker is None or (kind == "startup") == self.observed.started or not tracker.due(time.monotonic()):
                    continue
                ok, message = await probes.check(tracker.probe, container.ingress)
                verdict = tracker.record(ok, time.monotonic())
                if not ok:
                    await self._event("Warning", "Unhealthy", message)
                if kind == "startup" and verdict is probes.Verdict.SUCCEEDED:
                    self.observed.started = True
                    for other in ("readiness", "liveness"):  # they start once the startup probe passed
                        if other in trackers:
                            trackers[other] = probes.Tracker(trackers[other].probe, time.monotonic())
                elif kind == "readiness" and verdict is not probes.Verdict.PENDING:
                    self.observed.ready = verdict is probes.Verdict.SUCCEEDED
                elif kind != "readiness" and verdict is probes.Verdict.FAILED:
                    await self._event(
                        "Normal",
                        "Killing",
                        f"Container {self.observed.container} failed {kind} probe, will be restarted",
                    )
                    await self._stop()
                    return container.poll() or Termination.KILLED
            if readiness is None:
                self.observed.ready = self.observed.started
            await self._report()
            await asyncio.sleep(self.kubelet.config.tick)


def _materialise(plan: podspec.Plan) -> None:
    for directory in plan.directories:
        directory.mkdir(parents=True, exist_ok=True)
    for directory in plan.shared:
        directory.chmod(0o777)
    for file in plan.files:
        file.path.write_bytes(file.content)
        file.path.chmod(file.mode)
