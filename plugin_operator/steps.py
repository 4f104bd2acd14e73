"""The I/O of each `decide.Kind` of step: what the reconciler runs for a plan, one method per kind.

Steps act through the driver (start, promote, drain, suspend), the runtime client (probes, admin
calls) and the database (registration, health rows), and record what they did in the reconcile's
`Work` (status fields, conditions, Events). A step that cannot succeed raises `Failed`; one that
should be retried later raises `Retry`. Phase changes happen only in `TRANSITION` steps and in the
enable/disable steps, through `lifecycle`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Awaitable, Callable

from plugin_operator import calls, conditions, db, health, lifecycle, metrics, permissions, turns
from plugin_operator.decide import Plan, Step
from plugin_operator.drains import Drains
from plugin_operator.drivers.base import Driver, Handle, Instance, RuntimeStartFailed
from plugin_operator.models import ADOPT_ANNOTATION, ConditionType, Phase, PluginSpec, RegisteredEntity
from plugin_operator.progress import Failed, Retry, Work, code_version_mismatch, load_failure, rfc3339
from plugin_operator.registry import Registry
from plugin_operator.runtime_client import ProbeResult, RuntimeClient
from plugin_operator.settings import OperatorSettings
from plugin_runtime import errors

log = logging.getLogger(__name__)

#: A restarted runtime that stays up this long is healthy again: its next crash restarts at once.
_STABLE_SECONDS = 120.0


@dataclasses.dataclass
class Context:
    """One plan's execution: the instance it is for, and the handle steps act on."""

    work: Work
    spec: PluginSpec
    instance: Instance
    plan: Plan
    #: The runtime the steps act on: the desired instance once started or found, else the serving one.
    handle: Handle | None = None
    #: Whether this plan started `handle` (and must stop it when a later step fails).
    started: bool = False
    #: The gate's last probe of `handle`, which the plan's closing probe records instead of asking
    #: again: taken a moment before, it is the runtime's same cached health view (2 s), and one call
    #: fewer per rollout counts when a thousand Plugins converge.
    gated: ProbeResult | None = None


class Steps:
    def __init__(
        self,
        *,
        driver: Driver,
        client: RuntimeClient,
        database: db.Database,
        registry: Registry,
        settings: OperatorSettings,
        drains: Drains,
        publish: Callable[[Work], Awaitable[None]],
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.driver, self.client, self.settings = driver, client, settings
        self.database, self.registry = database, registry
        self.drains, self.publish, self.clock = drains, publish, clock
        self._restarts: dict[str, tuple[int, float]] = {}

    async def run(self, step: Step, context: Context) -> None:
        try:
            await getattr(self, f"_{step.kind.value}")(step, context)
        except (errors.BackendTimeout, errors.PluginUnavailable) as exc:
            # The runtime did not answer an admin or metadata call in time: try the reconcile again
            # soon (a started instance is adopted then), rather than failing the plugin for it.
            raise Retry(f"{step.kind.value}: {exc.detail}", delay=2, reason="RuntimeUnavailable") from None

    # Lifecycle and instances ------------------------------------------------------------------------

    async def _transition(self, step: Step, context: Context) -> None:
        assert step.event is not None
        context.work.transition(step.event)
        if step.publish:
            await self.publish(context.work)

    async def _forget(self, step: Step, context: Context) -> None:
        context.work.update(serving_version=None, config_hash=None, failed_version=None, failed_config_hash=None)

    async def _start(self, step: Step, context: Context) -> None:
        instance = context.instance
        context.work.observe(ConditionType.PROGRESSING, "True", "Loading", f"starting version {instance.version}")
        try:
            context.handle = await self.driver.start(instance)
        except RuntimeStartFailed as exc:
            raise Failed("RuntimeFailed", str(exc), condition=ConditionType.RUNTIME_READY) from None
        context.started = True

    async def _check(self, step: Step, context: Context) -> None:
        assert context.handle is not None
        instance = context.instance
        shared = context.handle.shared  # a pool hosts many: ask about this one
        metadata = await self.client.metadata(context.handle.endpoint, instance.plugin_id if shared else None)
        failure = load_failure(metadata, instance.plugin_id)
        if failure is not None:
            raise Failed("InitFailed", failure)
        mismatch = code_version_mismatch(metadata, instance.plugin_id, instance.version)
        if mismatch is not None:
            raise Failed("VersionMismatch", mismatch)

    async def _gate(self, step: Step, context: Context) -> None:
        """Admit the instance only after consecutive good probes (and a smoke query on a rollout)."""
        assert context.handle is not None
        instance, endpoint, smoke = context.instance, context.handle.endpoint, context.plan.smoke
        good, probe = 0, None
        for _ in range(self.settings.rollout_probes * 3):
            probe = await self.client.probe(endpoint, instance.plugin_id)
            acceptable = probe.reachable and (probe.status in ("healthy", "degraded") or not smoke)
            good = good + 1 if acceptable else 0
            if good >= self.settings.rollout_probes:
                break
            await turns.pause(self.settings.rollout_probe_interval)
        else:
            detail = probe.error if probe is not None else "no probe"
            raise Failed("ProbeFailed", f"version {instance.version} failed its health probes: {detail}")
        hosted = instance.runtime_config.plugins[0]
        if not (smoke and hosted.queries and hosted.execute):  # without execute the runtime answers 403 by design
            context.gated = probe  # no query since: the closing probe would read the same view
            return
        query = hosted.queries[0].id
        try:
            await self.client.smoke_query(endpoint, query)
        except errors.PluginError as exc:
            raise Failed("SmokeQueryFailed", f"smoke query {query} failed: {exc.detail}") from None

    def _register_entities(self, instance: Instance, spec: PluginSpec, adopt: bool) -> list[db.EntityRecord]:
        """Own exactly the declared entities at this instance's version (ownership moves on promotion)."""
        result = self.registry.register(
            instance.plugin_id,
            instance.uid,
            instance.version,
            spec.queries if spec.auto_register.queries else [],
            spec.datasources if spec.auto_register.datasources else [],
            adopt=adopt,
        )
        return list(result.entities)

    async def _register(self, step: Step, context: Context) -> None:
        work = context.work
        adopt = (work.body["metadata"].get("annotations") or {}).get(ADOPT_ANNOTATION) == "true"
        try:
            entities = await calls.db(self._register_entities, context.instance, context.spec, adopt)
        except errors.Conflict as exc:
            raise Failed("Conflict", exc.detail, condition=ConditionType.REGISTERED) from None
        except errors.InvalidInput as exc:
            raise Failed("InvalidSpec", exc.detail, condition=ConditionType.REGISTERED) from None
        work.update(registered_entities=[RegisteredEntity(id=e.id, kind=e.kind, state=e.state) for e in entities])
        registered = sum(1 for e in entities if e.state == "active")
        work.observe(ConditionType.REGISTERED, "True", "Registered", f"{registered} GTS entities registered")

    async def _promote(self, step: Step, context: Context) -> None:
        assert context.handle is not None
        work, instance = context.work, context.instance
        await self.driver.promote(instance, context.handle)
        previous = work.status.serving_version
        work.update(
            serving_version=instance.version,
            config_hash=instance.identity,
            endpoint=context.handle.endpoint,
            service_endpoint=self.driver.stable_endpoint(instance),
            failed_version=None,
            failed_config_hash=None,
        )
        context.started = False  # promoted: from here on a failure no longer removes it
        work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp", f"version {instance.version} running")
        if context.plan.serving is None:
            work.observe(ConditionType.PROGRESSING, "False", "Complete", f"version {instance.version} loaded")
            return
        work.observe(ConditionType.PROGRESSING, "False", "RolloutComplete", f"{previous} → {instance.version}")
        work.events.append(("Normal", "Promoted", f"{instance.version} promoted; {previous} draining"))

    async def _drain(self, step: Step, context: Context) -> None:
        """The replaced instance finishes in-flight queries, then stops (hung or not: it is killed)."""
        old, key = context.plan.serving, context.work.key
        assert old is not None
        self.drains.then(f"{key}/{old}", lambda: self.driver.stop(key, old))

    async def _restart(self, step: Step, context: Context) -> None:
        """The serving runtime is gone (crashed, killed, or stopped while disabled): start it again.

        Restarts back off exponentially (2 s … 60 s) while the runtime keeps dying; a runtime that
        stayed up for `_STABLE_SECONDS` starts the count afresh. Meanwhile the plugin is Degraded.
        """
        work = context.work
        attempts, not_before = self._restarts.get(work.key, (0, 0.0))
        loop_time = asyncio.get_running_loop().time()
        if loop_time - not_before > _STABLE_SECONDS:
            attempts = 0
        if loop_time < not_before:
            _runtime_down(work, "RuntimeRestarting", "the runtime keeps stopping; waiting to restart it (backoff)")
            raise Retry("runtime restart backing off", delay=not_before - loop_time, reason="RuntimeRestarting")
        backoff = min(2 ** (attempts + 1), 60)
        self._restarts[work.key] = (attempts + 1, loop_time + backoff)
        try:
            context.handle = await self.driver.start(context.instance)
        except RuntimeStartFailed as exc:
            _runtime_down(work, "RuntimeFailed", str(exc))
            raise Retry(f"runtime restart failed: {exc}", delay=backoff, reason="RuntimeFailed") from None
        if work.status.phase is Phase.INACTIVE:
            self._restarts.pop(work.key, None)  # started on purpose (enabled again), not a crash
        else:
            work.events.append(("Warning", "RuntimeRestarted", f"runtime was gone; restarted (attempt {attempts + 1})"))
        work.update(endpoint=context.handle.endpoint)
        work.observe(ConditionType.RUNTIME_READY, "True", "RuntimeUp", "runtime running")

    def forget(self, key: str) -> None:
        self._restarts.pop(key, None)

    # Serving ------------------------------------------------------------------------------------------

    async def _reload(self, step: Step, context: Context) -> None:
        assert context.handle is not None
        work = context.work
        requested = work.reload_requested()
        if not permissions.may_reload(context.spec.permissions):
            work.update(observed_reload=requested)  # answered (refused), so not asked again
            work.events.append(("Warning", "ReloadRefused", permissions.reload_refused_message(str(requested))))
            return
        if context.handle.shared:  # the runtime is its neighbours' too: only this plugin's entry is re-applied
            await self.client.put_plugin(
                context.handle.endpoint, context.handle.admin_token, context.instance.member_entry()
            )
        else:
            await self.client.admin(context.handle.endpoint, context.handle.admin_token, "reload")
        work.update(observed_reload=requested)
        work.events.append(("Normal", "Reloaded", f"config and secrets re-read (request {requested})"))

    async def _enable(self, step: Step, context: Context) -> None:
        self.drains.cancel(context.work.key)
        if step.event is not None and context.handle is not None:
            await self.client.admin(
                context.handle.endpoint, context.handle.admin_token, "enable", context.instance.plugin_id
            )
            context.work.transition(step.event)

    async def _disable(self, step: Step, context: Context) -> None:
        work, handle, instance = context.work, context.handle, context.instance
        if handle is not None and not self.drains.pending(work.key):
            # Also after an operator restart: a disabled plugin's runtime still running gets drained.
            await self.client.admin(handle.endpoint, handle.admin_token, "disable", instance.plugin_id)
            if handle.instance_id == instance.instance_id:
                self.drains.then(work.key, lambda: self.driver.suspend(instance))
            else:  # a held-back rollout: the serving instance is not the one the spec renders
                self.drains.then(work.key, lambda: self.driver.stop(work.key, handle.instance_id))
        if step.event is not None:
            work.transition(step.event)
            work.observe(
                ConditionType.RUNTIME_READY,
                "True",
                "Draining",
                "disabled: in-flight queries finish, then the runtime stops",
            )

    async def _probe(self, step: Step, context: Context) -> None:
        if context.handle is not None:
            await self.probe_into(context.work, context.handle, context.instance.plugin_id, probed=context.gated)

    async def probe_into(
        self, work: Work, handle: Handle, plugin_id: str, *, probed: ProbeResult | None = None
    ) -> None:
        """Probe the runtime and record what it said; `probed`: a probe of this handle just taken (the gate's)."""
        probe = probed if probed is not None else await self.client.probe(handle.endpoint, plugin_id)
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
        _observe_isolation(work, handle)
        if assessment.event is not None and work.status.phase in (Phase.ACTIVE, Phase.DEGRADED):
            work.transition(assessment.event)
        work.probes.append((now, probe))  # written with the status (`Reconciler._write`), one transaction
        metrics.PROBE_SECONDS.observe(probe.response_time_ms / 1000)


def _observe_isolation(work: Work, handle: Handle) -> None:
    """The Isolated condition, where the cluster reports it; a Warning Event when isolation goes missing."""
    before = conditions.get(work.status.conditions, ConditionType.ISOLATED)
    if handle.isolation_missing is not None:
        work.observe(ConditionType.ISOLATED, "False", "IsolationIncomplete", handle.isolation_missing)
        if before is None or before.status != "False":
            work.events.append(
                (
                    "Warning",
                    "IsolationIncomplete",
                    f"the plugin's pods run without isolation: {handle.isolation_missing}",
                )
            )
    elif before is not None:
        work.observe(ConditionType.ISOLATED, "True", "Isolated", "the plugin's pods run isolated")


def _runtime_down(work: Work, reason: str, message: str) -> None:
    work.observe(ConditionType.RUNTIME_READY, "False", reason, message)
    if work.status.phase is Phase.ACTIVE:  # serving nothing until a restart works
        work.transition(lifecycle.Event.DEGRADE)
