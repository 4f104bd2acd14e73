"""Reconcile one Plugin: observe, `decide`, execute the plan's `steps`; write the status.

Every entry point (create/update/resume handlers, Secret rotations, the health monitor, the
finalizer) re-reads the Plugin from the API under a per-plugin lock, so concurrent triggers never
act on a stale body and never start duplicate runtimes. All Kubernetes and database calls are
idempotent, so a reconcile interrupted anywhere (operator killed) converges when it runs again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

import pydantic

from plugin_operator import (
    admission,
    calls,
    db,
    decide,
    dependencies,
    desired,
    keystore,
    metrics,
    mirror,
    permissions,
    report,
)
from plugin_operator.drains import Drains
from plugin_operator.drivers.base import Driver, Instance
from plugin_operator.kube import Kube
from plugin_operator.models import ConditionType, DeletionPolicy, Permission, Phase, PluginSpec, PluginStatus
from plugin_operator.progress import Failed, Retry, Work, describe_validation_error, rfc3339, status_patch, utcnow
from plugin_operator.registry import Registry
from plugin_operator.runtime_client import RuntimeClient
from plugin_operator.secrets import SecretResolver
from plugin_operator.settings import OperatorSettings
from plugin_operator.steps import Context, Steps
from plugin_operator.turns import Turns
from plugin_runtime import errors

log = logging.getLogger(__name__)

#: Which condition says why a permission refused the spec (write gates registration).
_REFUSED_CONDITION = {
    Permission.WRITE: ConditionType.REGISTERED,
    Permission.READ: ConditionType.REGISTERED,
    Permission.EXECUTE: ConditionType.READY,
    Permission.ADMIN: ConditionType.READY,
}

#: emit(body, type, reason, message): records a Kubernetes Event on the Plugin.
Emit = Callable[[dict[str, Any], str, str, str], None]


class Reconciler:
    def __init__(
        self,
        *,
        kube: Kube,
        database: db.Database,
        keys: keystore.Keystore | None = None,
        driver: Driver,
        client: RuntimeClient,
        settings: OperatorSettings,
        emit: Emit,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.kube, self.database, self.driver, self.client = kube, database, driver, client
        self.registry = Registry(database)
        self.settings, self.emit, self.clock = settings, emit, clock
        self.secrets = SecretResolver(kube=kube, keys=keys, actor=settings.actor)
        self.target = desired.target(settings)
        self._locks: dict[str, asyncio.Lock] = {}
        self._turns = Turns(settings.max_concurrent_reconciles)
        self.drains = Drains(seconds=settings.drain_seconds)
        self.steps = Steps(
            driver=driver,
            client=client,
            database=database,
            registry=self.registry,
            settings=settings,
            drains=self.drains,
            publish=self._write,
            clock=clock,
        )
        self._probes = 0
        self._background: set[asyncio.Task[None]] = set()
        #: Plugins whose last reconcile failed them for a dependency cycle (what a spec change may free).
        self._in_cycles: set[str] = set()

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    # Entry points --------------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> None:
        async with self._turns.turn(), self.lock(f"{namespace}.{name}"):
            body = await self._fetch(namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            acted_before = (body.get("status") or {}).get("observedGeneration")
            await self.reconcile_locked(body)
        # Listing every Plugin costs O(Plugins): only when some Plugin is Failed for a cycle (a restarted
        # operator learns of them as it resumes each Plugin: their reconciles fail them again).
        if acted_before != body["metadata"].get("generation") and self._in_cycles - {f"{namespace}.{name}"}:
            await self._recover_cycle_members()

    async def _recover_cycle_members(self) -> None:
        """A spec change may have broken a dependency cycle: its other members, Failed for it, try again."""
        peers = [dependencies.Peer.of(p) for p in await calls.kube(self.kube.list_plugins, None)]
        for peer in dependencies.cycle_broken(peers):
            task = asyncio.create_task(self._retry_member(peer.namespace, peer.name))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _retry_member(self, namespace: str, name: str) -> None:
        try:
            await self.reconcile(namespace, name)
        except Retry as retry:  # its own handlers retry it later; this was only a nudge
            log.info("cycle member not recovered yet", extra={"plugin": f"{namespace}.{name}", "reason": str(retry)})

    async def reconcile_locked(self, body: dict[str, Any]) -> None:
        work = Work(body, PluginStatus.model_validate(body.get("status") or {}))
        result = "success"
        with metrics.RECONCILE_SECONDS.time():
            try:
                await self._reconcile(work)
            except Failed as failure:
                result = "failed"
                serving = decide.serving_instance(work.status)
                running = serving is not None and await self.driver.find(work.key, serving) is not None
                if decide.on_problem(work.status, serving_running=running) is decide.Outcome.REJECT:
                    report.rejected(work, failure, now=self._now())
                else:
                    report.failed(work, failure, now=self._now())
            except Retry as retry:
                result = "retry"
                report.error(work, retry.reason, str(retry), now=self._now())
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
            if not decide.monitored(status):
                return
            serving = decide.serving_instance(status)
            handle = await self.driver.find(f"{namespace}.{name}", serving) if serving else None
            if handle is None:
                await self.reconcile_locked(body)
                return
            work = Work(body, status)
            await self.steps.probe_into(work, handle, status.plugin_id or name)
            await self._finish(work, observed=False)  # a probe acts on no spec change
            self._probes += 1
            if self._probes % 100 == 1:
                cutoff = self.clock() - datetime.timedelta(days=self.settings.health_retention_days)
                await calls.db(self.database.prune_health, cutoff)

    async def remove(self, body: dict[str, Any]) -> None:
        """Finalizer: deregister entities, record the removal, stop the runtime; raise Retry on failure."""
        namespace, name, uid = body["metadata"]["namespace"], body["metadata"]["name"], body["metadata"]["uid"]
        key = f"{namespace}.{name}"
        async with self.lock(key):
            raw = body.get("spec") or {}
            plugin_id = str(raw.get("pluginId") or name)
            hard = raw.get("deletionPolicy") == DeletionPolicy.DELETE.value
            self.drains.cancel(key)
            action = admission.removal(uid, await self._observe_claim(plugin_id, uid, rivals=False))
            if action is admission.Removal.DONE:
                await self.driver.stop_all(key)
                return
            removed: list[str] = []
            if action is admission.Removal.DEREGISTER:
                removed = await calls.db(self.registry.deregister, plugin_id, hard=hard)
                await calls.db(self.database.mark_plugin_removed, plugin_id, self.settings.actor)
            await self.driver.stop_all(key)
            self.steps.forget(key)
            verb = "deleted" if hard else "deprecated"
            self.emit(body, "Normal", "Removed", f"runtime stopped; {len(removed)} registered entities {verb}")
            metrics.forget(key)

    async def sweep(self) -> None:
        """At startup: stop runtimes whose Plugin is gone (deleted while no operator ran, its finalizer
        removed by hand), so no process outlives its Plugin."""
        namespaces = self.settings.namespaces or (None,)
        plugins = [p for ns in namespaces for p in await calls.kube(self.kube.list_plugins, ns)]
        existing = {f"{p['metadata']['namespace']}.{p['metadata']['name']}" for p in plugins}
        for key in await self.driver.keys() - existing:
            log.info("stopping the runtimes of a Plugin that no longer exists", extra={"plugin": key})
            await self.driver.stop_all(key)

    # The reconcile: observe, decide, execute --------------------------------------------------------

    async def _reconcile(self, work: Work) -> None:
        spec, instance = await self._observe_spec(work)
        status = work.status
        serving = decide.serving_instance(status)
        serving_handle = await self.driver.find(work.key, serving) if serving else None
        desired_handle = serving_handle if serving == instance.instance_id else None
        observed = decide.Observed(
            generation=work.body["metadata"].get("generation"),
            version=instance.version,
            identity=instance.identity,
            enabled=spec.enabled,
            serving_running=serving_handle is not None,
            desired_running=desired_handle is not None,
            reload_requested=work.reload_requested(),
        )
        plan = decide.decide(status, observed)
        handle = desired_handle if plan.path is decide.Path.STEADY else serving_handle
        context = Context(work=work, spec=spec, instance=instance, plan=plan, handle=handle)
        if plan.path is decide.Path.ROLL_OUT:
            message = report.rolling_out(work, spec.version, reload_requested=observed.reload_requested)
            self.emit(work.body, "Normal", "RolloutStarted", message)
            await self._write(work)
        try:
            for step in plan.steps:
                await self.steps.run(step, context)
        except Failed as failure:
            if context.started and context.handle is not None:
                await self.driver.stop(work.key, context.handle.instance_id)  # nothing half-started stays
            if decide.on_failure(plan, serving_running=serving_handle is not None) is decide.Outcome.FAIL:
                raise
            assert serving_handle is not None
            report.rolled_back(work, instance.version, instance.identity, failure, now=self._now())
            await self.steps.probe_into(work, serving_handle, instance.plugin_id)

    async def _observe_spec(self, work: Work) -> tuple[PluginSpec, Instance]:
        """The spec, its pre-conditions (claim, dependencies, secrets) and the instance it renders."""
        meta = work.body["metadata"]
        retry = decide.retry_event(work.status, meta.get("generation"))
        if retry is not None:
            work.transition(retry)
        try:
            spec = PluginSpec.model_validate(work.body.get("spec") or {})
        except pydantic.ValidationError as exc:
            raise Failed("InvalidSpec", describe_validation_error(exc)) from None
        plugin_id = spec.id_for(work.name)
        work.update(plugin_id=plugin_id)
        uid = str(meta["uid"])
        self._admit(work, admission.admit_claim(plugin_id, uid, await self._observe_claim(plugin_id, uid)))
        if spec.depends_on:  # the list of every Plugin is read only for a plugin that has dependencies
            peers = [dependencies.Peer.of(p) for p in await calls.kube(self.kube.list_plugins, None)]
            self._admit(work, dependencies.admit_dependencies(plugin_id, spec.depends_on, peers))
        refusal = permissions.admit(spec)
        if refusal is not None:  # before anything starts or registers: nothing is half-done
            raise Failed(refusal.reason, refusal.message, condition=_REFUSED_CONDITION[refusal.permission])
        # The row first: stored keys hang off it, so the key PUT a missing-key failure asks for can succeed.
        await calls.db(
            self.database.upsert_plugin, mirror.plugin_record(work.body, spec, plugin_id), self.settings.actor
        )
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
        return spec, instance

    async def _observe_claim(self, plugin_id: str, uid: str, *, rivals: bool = True) -> admission.Claim | None:
        """The registry's row for the id; for a rival's row (`rivals`), whether its Plugin still exists."""
        record = await calls.db(self.database.get_plugin, plugin_id)
        if record is None:
            return None
        claim = admission.Claim(
            uid=record.uid,
            removed=record.removed,
            owner=f"{record.namespace}/{record.cr_name}",
            version=record.version,
        )
        if rivals and admission.rival(claim, uid):
            owner = await self._fetch(record.namespace or "", record.cr_name or "")
            claim = dataclasses.replace(
                claim, owner_exists=owner is not None and owner["metadata"]["uid"] == record.uid
            )
        return claim

    def _admit(self, work: Work, ruling: admission.Admission) -> None:
        """Carry out an admission ruling: go on, wait (Progressing says why) or fail."""
        if ruling.verdict is admission.Verdict.FAIL:
            raise Failed(ruling.reason, ruling.message)
        if ruling.verdict is admission.Verdict.WAIT:
            work.observe(ConditionType.PROGRESSING, "True", ruling.reason, ruling.message)
            raise Retry(ruling.message, delay=ruling.delay, reason=ruling.reason)
        if ruling.reason:
            log.info(ruling.message, extra={"plugin": work.key, "reason": ruling.reason})

    # Draining --------------------------------------------------------------------------------------

    async def close(self) -> None:
        self.drains.cancel_all()

    # Status --------------------------------------------------------------------------------------

    def _now(self) -> str:
        return rfc3339(self.clock())

    async def _finish(self, work: Work, *, observed: bool = True) -> None:
        """Write the final status; `observed` False keeps observedGeneration (the spec was not acted on)."""
        failure = work.status.last_error
        if work.status.phase is Phase.FAILED and failure is not None and failure.reason == dependencies.CYCLE_REASON:
            self._in_cycles.add(work.key)
        else:
            self._in_cycles.discard(work.key)
        spec_enabled = bool((work.body.get("spec") or {}).get("enabled", True))
        await self._write(work, enabled=spec_enabled, final=True, observed=observed)
        for event_type, reason, message in work.events:
            self.emit(work.body, event_type, reason, message)
        metrics.set_phase(work.key, work.status.phase.value)

    async def _write(self, work: Work, *, enabled: bool = True, final: bool = False, observed: bool = True) -> None:
        generation = work.body["metadata"].get("generation")
        serves = permissions.serves(permissions.granted(work.body.get("spec") or {}))
        report.settle(
            work, generation=generation, now=self._now(), enabled=enabled, serves=serves, final=final, observed=observed
        )
        document = status_patch(work.status)
        await calls.kube(self.kube.patch_plugin_status, work.namespace, work.name, document)
        if final and work.status.plugin_id:
            try:
                await asyncio.to_thread(
                    mirror.save_status, self.database, work.status.plugin_id, work.body, document, work.probes
                )
                work.probes.clear()
            except errors.PluginUnavailable:
                log.warning("status not mirrored to the database (unavailable)", extra={"plugin": work.key})

    # I/O helpers ---------------------------------------------------------------------------------

    async def _fetch(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await calls.kube(self.kube.get_plugin, namespace, name)
        except errors.NotFound:
            return None
