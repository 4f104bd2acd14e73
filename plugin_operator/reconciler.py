"""Reconcile one Plugin: validate, run its runtime, gate updates on health, register its entities.

Every entry point (create/update/resume handlers, Secret rotations, the health monitor, the
finalizer) re-reads the Plugin from the API under a per-plugin lock, so concurrent triggers never
act on a stale body and never start duplicate runtimes. All Kubernetes and database calls are
idempotent, so a reconcile interrupted anywhere (operator killed) converges when it runs again.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

import pydantic

from plugin_operator import calls, conditions, desired, health, lifecycle, metrics
from plugin_operator.dependencies import find_cycle
from plugin_operator.drains import Drains
from plugin_operator.drivers.base import Driver, Handle, Instance, RuntimeStartFailed, instance_id
from plugin_operator.kube import Kube
from plugin_operator.models import (
    ADOPT_ANNOTATION,
    RELOAD_ANNOTATION,
    ConditionType,
    DeletionPolicy,
    LastError,
    Phase,
    PluginSpec,
    PluginStatus,
    RegisteredEntity,
)
from plugin_operator.progress import (
    Failed,
    Retry,
    Work,
    describe_validation_error,
    code_version_mismatch,
    load_failure,
    rfc3339,
    status_patch,
    utcnow,
)
from plugin_operator.runtime_client import RuntimeClient
from plugin_operator.secrets import SecretResolver
from plugin_operator.settings import OperatorSettings
from plugin_operator.store import Store
from plugin_runtime import errors

log = logging.getLogger(__name__)

#: A restarted runtime that stays up this long is healthy again: its next crash restarts at once.
_STABLE_SECONDS = 120.0

#: emit(body, type, reason, message): records a Kubernetes Event on the Plugin.
Emit = Callable[[dict[str, Any], str, str, str], None]


class Reconciler:
    def __init__(
        self,
        *,
        kube: Kube,
        store: Store,
        driver: Driver,
        client: RuntimeClient,
        settings: OperatorSettings,
        emit: Emit,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.kube, self.store, self.driver, self.client = kube, store, driver, client
        self.settings, self.emit, self.clock = settings, emit, clock
        self.secrets = SecretResolver(kube=kube, store=store, actor=settings.actor)
        self.target = desired.target(settings)
        self._locks: dict[str, asyncio.Lock] = {}
        self.drains = Drains(seconds=settings.drain_seconds)
        self._restarts: dict[str, tuple[int, float]] = {}
        self._probes = 0

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    # Entry points --------------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> None:
        async with self.lock(f"{namespace}.{name}"):
            body = await self._fetch(namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            await self.reconcile_locked(body)

    async def reconcile_locked(self, body: dict[str, Any]) -> None:
        work = Work(body, PluginStatus.model_validate(body.get("status") or {}))
        result = "success"
        with metrics.RECONCILE_SECONDS.time():
            try:
                await self._reconcile(work)
            except Failed as failure:
                result = "failed"
                if await self._still_serving(work):
                    self._reject_change(work, failure)
                else:
                    self._fail(work, failure)
            except Retry as retry:
                result = "retry"
                self._record_error(work, retry.reason, str(retry))
                await self._finish(work, observed=False)
                raise
            finally:
                metrics.RECONCILES.labels(result=result).inc()
        await self._finish(work)

    async def monitor(self, namespace: str, name: str) -> None:
        """One health probe of a serving plugin (the kopf timer); a vanished runtime triggers a reconcile."""
        async with self.lock(f"{namespace}.{name}"):
            body = await self._fetch(namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            status = PluginStatus.model_validate(body.get("status") or {})
            if status.phase in (Phase.FAILED, Phase.UNLOADED, Phase.INACTIVE) or not status.config_hash:
                return
            serving = instance_id(status.serving_version or "", status.config_hash)
            handle = await self.driver.find(f"{namespace}.{name}", serving)
            if handle is None:
                await self.reconcile_locked(body)
                return
            work = Work(body, status)
            await self._probe_into(work, handle, status.plugin_id or name)
            await self._finish(work, observed=False)  # a probe acts on no spec change
            self._probes += 1
            if self._probes % 100 == 1:
                cutoff = self.clock() - datetime.timedelta(days=self.settings.health_retention_days)
                await calls.db(self.store.prune_health, cutoff)

    async def remove(self, body: dict[str, Any]) -> None:
        """Finalizer: deregister entities, record the removal, stop the runtime; raise Retry on failure."""
        namespace, name, uid = body["metadata"]["namespace"], body["metadata"]["name"], body["metadata"]["uid"]
        key = f"{namespace}.{name}"
        async with self.lock(key):
            raw = body.get("spec") or {}
            plugin_id = str(raw.get("pluginId") or name)
            hard = raw.get("deletionPolicy") == DeletionPolicy.DELETE.value
            self.drains.cancel(key)
            record = await calls.db(self.store.get_plugin, plugin_id)
            owned = record is not None and record.uid == uid
            if owned and record is not None and record.removed_at is not None:
                # kopf calls on-delete handlers again while a timer is still stopping (and after an
                # operator restart): the removal is recorded, so make sure nothing runs and say no more.
                await self.driver.stop_all(key)
                return
            if owned:
                removed = await calls.db(self.store.deregister, plugin_id, hard)
                await calls.db(self.store.mark_removed, plugin_id, self.settings.actor)
            else:
                removed = []
            await self.driver.stop_all(key)
            verb = "deleted" if hard else "deprecated"
            self.emit(body, "Normal", "Removed", f"runtime stopped; {len(removed)} registered entities {verb}")
            metrics.forget(key)

    # The reconcile -------------------------------------------------------------------------------

    async def _reconcile(self, work: Work) -> None:
        meta = work.body["metadata"]
        if work.status.phase is Phase.FAILED and work.status.observed_generation != meta.get("generation"):
            work.transition(lifecycle.Event.RETRY)
        try:
            spec = PluginSpec.model_validate(work.body.get("spec") or {})
        except pydantic.ValidationError as exc:
            raise Failed("InvalidSpec", describe_validation_error(exc)) from None
        plugin_id = spec.id_for(work.name)
        work.update(plugin_id=plugin_id)
        await self._check_claim(work, plugin_id)
        await self._check_dependencies(work, plugin_id, spec)
        # The row first: stored keys hang off it, so the key PUT a missing-key failure asks for can succeed.
        await calls.db(self.store.mirror, work.body, spec, plugin_id, self.settings.actor)
        secrets, versions = await self.secrets.resolve(work.namespace, work.name, spec)
        try:
            instance = desired.instance(
                namespace=work.namespace,
                cr_name=work.name,
                uid=str(meta["uid"]),
                plugin_id=plugin_id,
                spec=spec,
                target=self.target,
                secrets=secrets,
                secret_versions=versions,
            )
        except errors.InvalidInput as exc:
            raise Failed("InvalidSpec", exc.detail) from None
        serving = (
            instance_id(work.status.serving_version, work.status.config_hash)
            if work.status.serving_version and work.status.config_hash
            else None
        )
        if serving is None:
            await self._first_load(work, spec, instance)
        elif serving == instance.instance_id:
            await self._steady(work, spec, instance)
        elif not self._already_failed(work, instance):
            await self._roll_out(work, spec, instance, serving)
        else:
            await self._hold(work, spec, instance, serving)

    async def _check_claim(self, work: Work, plugin_id: str) -> None:
        record = await calls.db(self.store.get_plugin, plugin_id)
        uid = work.body["metadata"]["uid"]
        if record is not None and not record.removed and record.uid not in (None, uid):
            claimant = await self._fetch(record.namespace or "", record.cr_name or "")
            if claimant is None or claimant["metadata"]["uid"] != record.uid:
                # The claiming Plugin is gone (deleted while no operator watched, or a fresh dev
                # cluster over a kept database): its row is stale, not a rival.
                log.info("taking over a stale claim", extra={"plugin_id": plugin_id, "previous": record.cr_name})
                return
            raise Failed(
                "Conflict",
                f"plugin id {plugin_id!r} is already claimed by Plugin {record.namespace}/{record.cr_name} "
                f"(version {record.version}); set spec.pluginId to a unique id",
            )

    async def _check_dependencies(self, work: Work, plugin_id: str, spec: PluginSpec) -> None:
        if not spec.depends_on:
            return
        plugins = await calls.kube(self.kube.list_plugins, None)
        graph: dict[str, list[str]] = {}
        phases: dict[str, str] = {}
        for other in plugins:
            other_spec = other.get("spec") or {}
            other_id = str(other_spec.get("pluginId") or other["metadata"]["name"])
            graph[other_id] = list(other_spec.get("dependsOn") or [])
            phases[other_id] = str((other.get("status") or {}).get("phase") or Phase.UNLOADED.value)
        graph[plugin_id] = list(spec.depends_on)
        cycle = find_cycle(graph, plugin_id)
        if cycle:
            raise Failed("CircularDependency", "circular plugin dependency: " + " → ".join(cycle))
        waiting = [d for d in spec.depends_on if phases.get(d) not in (Phase.ACTIVE.value, Phase.DEGRADED.value)]
        if waiting:
            work.observe(ConditionType.PROGRESSING, "True", "DependencyNotReady", f"waiting for {', '.join(waiting)}")
            raise Retry(f"dependencies not active yet: {', '.join(waiting)}", delay=5, reason="DependencyNotReady")

    def _already_failed(self, work: Work, instance: Instance) -> bool:
        """This exact version and config failed its rollout; a reload request (POST …/reload) retries it."""
        if self._reload_requested(work):
            return False
        return (
            work.status.failed_version == instance.version and work.status.failed_config_hash == instance.identity
        )

    @staticmethod
    def _reload_requested(work: Work) -> str | None:
        requested = (work.body["metadata"].get("annotations") or {}).get(RELOAD_ANNOTATION)
        return requested if requested and requested != work.status.observed_reload else None

    async def _start_and_gate(self, instance: Instance, *, smoke: bool) -> Handle:
        """Start an instance and admit it only after consecutive good probes (and a smoke query)."""
        try:
            handle = await self.driver.start(instance)
        except RuntimeStartFailed as exc:
            raise Failed("RuntimeFailed", str(exc), condition=ConditionType.RUNTIME_READY) from None
        try:
            await self._gate(instance, handle, smoke=smoke)
        except Failed:
            await self.driver.stop(instance.key, handle.instance_id)
            raise
        return handle

    async def _gate(self, instance: Instance, handle: Handle, *, smoke: bool) -> None:
        metadata = await self.client.metadata(handle.endpoint)
        failure = load_failure(metadata, instance.plugin_id)
        if failure is not None:
            raise Failed("InitFailed", failure)
        mismatch = code_version_mismatch(metadata, instance.plugin_id, instance.version)
        if mismatch is not None:
            raise Failed("VersionMismatch", mismatch)
        good = 0
        probe = None
        for _ in range(self.settings.rollout_probes * 3):
            probe = await self.client.probe(handle.endpoint, instance.plugin_id)
            acceptable = probe.reachable and (probe.status in ("healthy", "degraded") or not smoke)
            good = good + 1 if acceptable else 0
            if good >= self.settings.rollout_probes:
                break
            await asyncio.sleep(self.settings.rollout_probe_interval)
        else:
            detail = probe.error if probe is not None else "no probe"
            raise Failed("ProbeFailed", f"version {instance.version} failed its health probes: {detail}")
        if smoke and instance.runtime_config.plugins[0].queries:
            query = instance.runtime_config.plugins[0].queries[0].id
            try:
                await self.client.smoke_query(handle.endpoint, query)
            except errors.PluginError as exc:
                raise Failed("SmokeQueryFailed", f"smoke query {query} failed: {exc.detail}") from None

    async def _register(self, work: Work, spec: PluginSpec, instance: Instance) -> None:
        adopt = (work.body["metadata"].get("annotations") or {}).get(ADOPT_ANNOTATION) == "true"
        try:
            entities = await calls.db(self.store.register, instance, spec, adopt)
        except errors.Conflict as exc:
            raise Failed("Conflict", exc.detail, condition=ConditionType.REGISTERED) from None
        except errors.InvalidInput as exc:
            raise Failed("InvalidSpec", exc.detail, condition=ConditionType.REGISTERED) from None
        work.update(registered_entities=[RegisteredEntity(id=e.id, kind=e.kind, state=e.state) for e in entities])
        registered = sum(1 for e in entities if e.state == "active")
        work.observe(ConditionType.REGISTERED, "True", "Registered", f"{registered} GTS entities registered")

    async def _start_and_register(self, work: Work, spec: PluginSpec, instance: Instance, *, smoke: bool) -> Handle:
        """A gated instance whose entities are registered at its version; nothing left running on failure."""
        handle = await self._start_and_gate(instance, smoke=smoke)
        try:
            await self._register(work, spec, instance)
        except Failed:
            await self.driver.stop(instance.key, handle.instance_id)
            raise
        return handle

    async def _promote(self, work: Work, spec: PluginSpec, instance: Instance, handle: Handle) -> None:
        await self.driver.promote(instance, handle)
        work.update(
            serving_version=spec.version,
            config_hash=instance.identity,
            endpoint=handle.endpoint,
            failed_version=None,
            failed_config_hash=None,
        )

    async def _first_load(self, work: Work, spec: PluginSpec, instance: Instance) -> None:
        if work.status.phase is Phase.FAILED:
            work.transition(lifecycle.Event.RETRY)
        elif work.status.phase is not Phase.UNLOADED:
            work.update(phase=Phase.UNLOADED)
        work.observe(ConditionType.PROGRESSING, "True", "Loading", f"starting version {spec.version}")
        handle = await self._start_and_register(work, spec, instance, smoke=False)
        work.transition(lifecycle.Event.LOAD)
        work.transition(lifecycle.Event.INIT)
        await self._promote(work, spec, instance, handle)
        work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp", f"version {spec.version} running")
        work.observe(ConditionType.PROGRESSING, "False", "Complete", f"version {spec.version} loaded")
        await self._apply_enabled(work, spec, instance, handle)
        await self._probe_into(work, handle, instance.plugin_id)

    async def _roll_out(self, work: Work, spec: PluginSpec, instance: Instance, serving: str) -> None:
        old_version = work.status.serving_version
        if requested := self._reload_requested(work):
            work.update(observed_reload=requested)  # a retry of a failed rollout is this request, done
        self.emit(work.body, "Normal", "RolloutStarted", f"{old_version} → {spec.version}: starting beside the old one")
        await self._publish_progress(work, f"rolling out {spec.version} beside {old_version}")
        try:
            handle = await self._start_and_register(work, spec, instance, smoke=True)
        except Failed as failure:
            work.update(failed_version=spec.version, failed_config_hash=instance.identity)
            work.observe(ConditionType.PROGRESSING, "False", failure.reason, failure.message)
            self._record_error(work, failure.reason, failure.message)
            work.events.append(("Warning", "RolloutFailed", f"{spec.version}: {failure.message}; {old_version} keeps serving"))
            old = await self.driver.find(work.key, serving)
            if old is not None:
                await self._probe_into(work, old, instance.plugin_id)
            return
        await self._promote(work, spec, instance, handle)
        if await self.driver.find(work.key, serving) is not None:
            self.drains.then(f"{work.key}/{serving}", lambda: self.driver.stop(work.key, serving))
        work.observe(ConditionType.PROGRESSING, "False", "RolloutComplete", f"{old_version} → {spec.version}")
        work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp", f"version {spec.version} running")
        work.events.append(("Normal", "Promoted", f"{spec.version} promoted; {old_version} draining"))
        if work.status.phase in (Phase.FAILED, Phase.UNLOADED):
            work.update(phase=Phase.INITIALIZED)
        await self._apply_enabled(work, spec, instance, handle)
        await self._probe_into(work, handle, instance.plugin_id)

    async def _steady(self, work: Work, spec: PluginSpec, instance: Instance) -> None:
        handle = await self.driver.find(work.key, instance.instance_id)
        if handle is None and spec.enabled:
            handle = await self._restart(work, instance)
        if work.status.phase in (Phase.FAILED, Phase.UNLOADED) and handle is not None:
            work.update(phase=Phase.INITIALIZED)
        if handle is not None:
            await self._register(work, spec, instance)
            await self._reload_if_requested(work, handle)
        await self._apply_enabled(work, spec, instance, handle)
        if handle is not None and spec.enabled:
            await self._probe_into(work, handle, instance.plugin_id)

    async def _hold(self, work: Work, spec: PluginSpec, instance: Instance, serving: str) -> None:
        """The spec asks for a version that already failed its rollout: keep the old one serving.

        If the old runtime is gone too, there is nothing left to protect, so the new version gets a
        fresh first load instead of leaving the plugin without any runtime.
        """
        handle = await self.driver.find(work.key, serving)
        if handle is None:
            work.update(serving_version=None, config_hash=None, failed_version=None, failed_config_hash=None)
            await self._first_load(work, spec, instance)
            return
        await self._apply_enabled(work, spec, instance, handle)
        if spec.enabled:
            await self._probe_into(work, handle, instance.plugin_id)

    async def _restart(self, work: Work, instance: Instance) -> Handle:
        """The serving runtime is gone (crashed, killed, or stopped while disabled): start it again.

        Restarts back off exponentially (2 s … 60 s) while the runtime keeps dying; a runtime that
        stayed up for `_STABLE_SECONDS` starts the count afresh. Meanwhile the plugin is Degraded.
        """
        attempts, not_before = self._restarts.get(work.key, (0, 0.0))
        loop_time = asyncio.get_running_loop().time()
        if loop_time - not_before > _STABLE_SECONDS:
            attempts = 0
        if loop_time < not_before:
            self._runtime_down(work, "RuntimeRestarting", "the runtime keeps stopping; waiting to restart it (backoff)")
            raise Retry("runtime restart backing off", delay=not_before - loop_time, reason="RuntimeRestarting")
        backoff = min(2 ** (attempts + 1), 60)
        self._restarts[work.key] = (attempts + 1, loop_time + backoff)
        try:
            handle = await self.driver.start(instance)
        except RuntimeStartFailed as exc:
            self._runtime_down(work, "RuntimeFailed", str(exc))
            raise Retry(f"runtime restart failed: {exc}", delay=backoff, reason="RuntimeFailed") from None
        if work.status.phase is Phase.INACTIVE:
            self._restarts.pop(work.key, None)  # started on purpose (enabled again), not a crash
        else:
            work.events.append(("Warning", "RuntimeRestarted", f"runtime was gone; restarted (attempt {attempts + 1})"))
        work.update(endpoint=handle.endpoint)
        work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp", "runtime running")
        return handle

    @staticmethod
    def _runtime_down(work: Work, reason: str, message: str) -> None:
        work.observe(ConditionType.RUNTIME_READY, "False", reason, message)
        if work.status.phase is Phase.ACTIVE:  # serving nothing until a restart works
            work.transition(lifecycle.Event.DEGRADE)

    async def _apply_enabled(self, work: Work, spec: PluginSpec, instance: Instance, handle: Handle | None) -> None:
        phase = work.status.phase
        if spec.enabled:
            self.drains.cancel(work.key)
            if handle is not None and phase in (Phase.INACTIVE, Phase.INITIALIZED):
                await self.client.admin(handle.endpoint, handle.admin_token, "enable", instance.plugin_id)
                work.transition(lifecycle.Event.ENABLE)
            return
        if handle is not None and not self.drains.pending(work.key):
            # Also after an operator restart: a disabled plugin's runtime still running gets drained.
            await self.client.admin(handle.endpoint, handle.admin_token, "disable", instance.plugin_id)
            if handle.instance_id == instance.instance_id:
                self.drains.then(work.key, lambda: self.driver.suspend(instance))
            else:  # a held-back rollout: the serving instance is not the one the spec renders
                self.drains.then(work.key, lambda: self.driver.stop(work.key, handle.instance_id))
        if phase is not Phase.INACTIVE:
            work.transition(lifecycle.Event.DISABLE)
            work.observe(
                ConditionType.RUNTIME_READY, "True", "Draining", "disabled: in-flight queries finish, then the runtime stops"
            )

    async def _reload_if_requested(self, work: Work, handle: Handle) -> None:
        if requested := self._reload_requested(work):
            await self.client.admin(handle.endpoint, handle.admin_token, "reload")
            work.update(observed_reload=requested)
            work.events.append(("Normal", "Reloaded", f"config and secrets re-read (request {requested})"))

    async def _probe_into(self, work: Work, handle: Handle, plugin_id: str) -> None:
        probe = await self.client.probe(handle.endpoint, plugin_id)
        now = self.clock()
        assessment = health.assess(
            work.status.health,
            probe,
            phase=work.status.phase,
            now=rfc3339(now),
            unhealthy_after=self.settings.unhealthy_after,
        )
        work.update(health=assessment.report)
        work.observations.extend(assessment.observations)
        if assessment.event is not None and work.status.phase in (Phase.ACTIVE, Phase.DEGRADED):
            work.transition(assessment.event)
        await calls.db(self.store.record_probe, plugin_id, now, probe)
        metrics.PROBE_SECONDS.observe(probe.response_time_ms / 1000)

    # Draining --------------------------------------------------------------------------------------

    async def close(self) -> None:
        self.drains.cancel_all()

    # Status --------------------------------------------------------------------------------------

    def _fail(self, work: Work, failure: Failed) -> None:
        if work.status.phase is not Phase.FAILED:
            work.transition(lifecycle.Event.FAIL)
        work.observe(failure.condition, "False", failure.reason, failure.message)
        if failure.condition is not ConditionType.READY:
            work.observe(ConditionType.READY, "False", failure.reason, failure.message)
        work.observe(ConditionType.PROGRESSING, "False", failure.reason, failure.message)
        self._record_error(work, failure.reason, failure.message)
        work.events.append(("Warning", failure.reason, failure.message))

    async def _still_serving(self, work: Work) -> bool:
        status = work.status
        if status.phase is Phase.FAILED or not (status.serving_version and status.config_hash):
            return False
        return await self.driver.find(work.key, instance_id(status.serving_version, status.config_hash)) is not None

    def _reject_change(self, work: Work, failure: Failed) -> None:
        """A spec change that cannot be carried out while a good version serves: keep it serving, say why."""
        message = f"{failure.message}; version {work.status.serving_version} keeps serving"
        work.observe(ConditionType.PROGRESSING, "False", failure.reason, message)
        self._record_error(work, failure.reason, message)
        work.events.append(("Warning", failure.reason, message))

    def _record_error(self, work: Work, reason: str, message: str) -> None:
        work.update(last_error=LastError(time=rfc3339(self.clock()), reason=reason, message=message))

    async def _publish_progress(self, work: Work, message: str) -> None:
        work.observe(ConditionType.PROGRESSING, "True", "RollingOut", message)
        await self._write(work)

    async def _finish(self, work: Work, *, observed: bool = True) -> None:
        """Write the final status; `observed` False keeps observedGeneration (the spec was not acted on)."""
        spec_enabled = bool((work.body.get("spec") or {}).get("enabled", True))
        await self._write(work, enabled=spec_enabled, final=True, observed=observed)
        for event_type, reason, message in work.events:
            self.emit(work.body, event_type, reason, message)
        metrics.set_phase(work.key, work.status.phase.value)

    async def _write(self, work: Work, *, enabled: bool = True, final: bool = False, observed: bool = True) -> None:
        generation = work.body["metadata"].get("generation")
        now = rfc3339(self.clock())
        merged = conditions.apply(work.status.conditions, work.observations, generation=generation, now=now)
        if work.status.phase is not Phase.FAILED:
            merged = conditions.apply(
                merged, [conditions.summary(merged, enabled=enabled)], generation=generation, now=now
            )
        work.update(
            conditions=merged, observed_generation=generation if final and observed else work.status.observed_generation
        )
        work.observations.clear()
        document = status_patch(work.status)
        await calls.kube(self.kube.patch_plugin_status, work.namespace, work.name, document)
        if final and work.status.plugin_id:
            try:
                await asyncio.to_thread(self.store.save_status, work.status.plugin_id, work.body, document)
            except errors.PluginUnavailable:
                log.warning("status not mirrored to the database (unavailable)", extra={"plugin": work.key})

    # I/O helpers ---------------------------------------------------------------------------------

    async def _fetch(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await calls.kube(self.kube.get_plugin, namespace, name)
        except errors.NotFound:
            return None
