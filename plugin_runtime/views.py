"""What a runtime reports about the plugins it hosts: health documents, `/metadata`, `$metadata`
entries and metric snapshots, read from the host's slots (`PluginHost` inherits these)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from plugin_runtime import discovery, execution, health, interface, metrics, sandbox
from plugin_runtime import instance as instance_module
from plugin_runtime.instance import Instance
from plugin_runtime.slot import PluginState, Slot

__all__ = ["HostViews"]


class HostViews:
    """Read-only views over the host's state (the attributes below belong to `PluginHost`)."""

    slots: dict[str, Slot]
    rejected: list[discovery.LoadError]
    reload_error: str | None
    clock: Callable[[], float]

    def snapshots(self) -> list[metrics.PluginSnapshot]:
        return [
            metrics.PluginSnapshot(
                plugin_id=slot.plugin_id,
                state=str(slot.state),
                circuit=str(slot.instance.sandbox.breaker.state) if slot.instance else str(sandbox.CircuitState.CLOSED),
                in_flight=slot.instance.sandbox.running if slot.instance else 0,
                cache=slot.instance.cache.stats if slot.instance and slot.instance.cache else None,
            )
            for slot in self.slots.values()
        ]

    async def health_document(self, slot: Slot) -> dict[str, Any]:
        """The spec's health document for one plugin."""
        instance = slot.instance
        reported = await instance.health_status() if instance is not None else None
        return self._health_document(slot, instance, reported)

    def _health_document(
        self, slot: Slot, instance: Instance | None, reported: interface.HealthStatus | None
    ) -> dict[str, Any]:
        if instance is None or reported is None:
            return health.document(
                plugin_id=slot.plugin_id,
                version=slot.spec.version,
                status=interface.HealthState.UNHEALTHY,
                uptime_seconds=0,
                queries_executed=0,
                error_rate=0.0,
                last_error_at=None,
                last_error_message=slot.load_error.detail if slot.load_error else None,
                circuit=str(sandbox.CircuitState.CLOSED),
                dependencies=(),
            )
        breaker, stats = instance.sandbox.breaker, instance.sandbox.stats
        circuit = str(breaker.state)
        return health.document(
            plugin_id=slot.plugin_id,
            version=instance.loaded.metadata.version,
            status=health.combined_status(
                reported.status,
                circuit=circuit,
                error_rate=breaker.error_rate,
                error_rate_threshold=breaker.error_rate_threshold,
            ),
            uptime_seconds=self.clock() - instance.started_at,
            queries_executed=stats.executed,
            error_rate=breaker.error_rate,
            last_error_at=stats.last_error_at,
            last_error_message=stats.last_error_message,
            circuit=circuit,
            dependencies=reported.dependencies,
            cache=execution.health(instance),
        )

    async def health_overview(self) -> dict[str, Any]:
        """`/health`: every plugin's document plus its state and last reload error."""
        slots = list(self.slots.values())
        instances = [slot.instance for slot in slots]
        reported = [instance.overview_health() if instance is not None else None for instance in instances]
        # Only plugins without a usable view are waited for (concurrently); an expired view is shown
        # while its refresh runs in the background. With every view usable, the common case,
        # answering never suspends, which spares resuming the request's whole coroutine stack (a
        # third of the handler's cost).
        stale = [(n, instance) for n, instance in enumerate(instances) if instance is not None and reported[n] is None]
        if stale:
            # Those are waited for, but not beyond HEALTH_OVERVIEW_WAIT_SECONDS: a `health_check` still
            # running then (a backend timing out) goes on in the background, and this answer shows the
            # plugin's last view (or UNKNOWN) instead of holding the caller — a kubelet probe — for it.
            probes = [asyncio.ensure_future(instance.health_status()) for _, instance in stale]
            await asyncio.wait(probes, timeout=instance_module.HEALTH_OVERVIEW_WAIT_SECONDS)
            for (n, instance), probe in zip(stale, probes, strict=True):
                if probe.done():
                    reported[n] = probe.result()
                else:
                    probe.add_done_callback(_retrieved)
                    reported[n] = instance.last_health()
        plugins = [
            {
                **self._health_document(slot, instance, status),
                "state": str(slot.state),
                "last_reload_error": _error(slot.load_error),
            }
            for slot, instance, status in zip(slots, instances, reported, strict=True)
        ]
        counted = [doc["status"] for doc in plugins if doc["state"] != PluginState.INACTIVE]
        return {
            "status": str(health.aggregate(counted)),
            "plugins": plugins,
            "errors": self.load_errors(),
            "last_reload_error": self.reload_error,
        }

    def load_errors(self) -> list[dict[str, str]]:
        """Every current load failure: rejected entries first, then each plugin's last failed (re)load."""
        failed = [slot.load_error for slot in self.slots.values() if slot.load_error is not None]
        return [error.to_dict() for error in [*self.rejected, *failed]]

    def describe(self, plugin_id: str | None = None) -> dict[str, Any]:
        """`/metadata`: what is hosted, where it came from and what failed (of one plugin, when given:
        a shared runtime hosts many, and the operator asks about one)."""
        plugins = []
        for slot in self.slots.values():
            if plugin_id is not None and slot.plugin_id != plugin_id:
                continue
            entry: dict[str, Any] = {"id": slot.plugin_id, "state": str(slot.state), "enabled": slot.enabled}
            if slot.instance is not None:
                loaded = slot.instance.loaded
                entry |= {
                    **{k: str(v) for k, v in dataclasses.asdict(loaded.metadata).items()},
                    "source": loaded.declaration.source,
                    "code_version": loaded.code_version,
                    "queries": [_query_doc(q) for q in loaded.config.queries],
                }
            else:
                entry |= {"version": slot.spec.version, "queries": []}
            entry["last_reload_error"] = _error(slot.load_error)
            plugins.append(entry)
        errors = [e for e in self.load_errors() if plugin_id is None or e["plugin_id"] == plugin_id]
        return {"plugins": plugins, "errors": errors, "last_reload_error": self.reload_error}

    async def catalogue(
        self, plugin_id: str | None = None
    ) -> list[tuple[interface.QueryDefinition, dict[str, Any] | None]]:
        """Every served query (of one plugin, or all) with its adapter's capabilities, for `$metadata`."""
        entries = []
        for slot in self.slots.values():
            if slot.instance is not None and plugin_id in (None, slot.plugin_id):
                for query in slot.instance.loaded.config.queries:
                    entries.append((query, await slot.instance.capabilities(query.id)))
        return entries


def _retrieved(probe: asyncio.Future[interface.HealthStatus]) -> None:
    """A probe nobody waits for any more: its outcome is kept by the instance; retrieve its exception
    so asyncio does not report it as never retrieved."""
    if not probe.cancelled():
        probe.exception()


def _error(error: discovery.LoadError | None) -> dict[str, str] | None:
    return error.to_dict() if error is not None else None


def _query_doc(query: interface.QueryDefinition) -> dict[str, Any]:
    # Adapter options stay out: they are configuration, not a description of the query.
    fields = {field.name: getattr(query, field.name) for field in dataclasses.fields(query) if field.name != "options"}
    return {**fields, "entity_set": query.entity_set}
