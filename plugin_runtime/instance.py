"""One loaded plugin version as the host runs it: its sandbox, result cache, uptime, health and capabilities.

The plugin's `health_check()` may call its backend, so its answer is cached briefly and asked by
one probe at a time; a `health_check` that never returns is reported as such instead of piling
up threads. `capabilities()` is fixed once the plugin is initialised, so it is asked once per query.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from plugin_runtime import cache, errors, interface, loader, sandbox

if TYPE_CHECKING:
    from plugin_runtime.execution import QueryPolicy

__all__ = ["Instance"]

log = logging.getLogger(__name__)

HEALTH_CACHE_SECONDS = 2.0
HEALTH_CHECK_TIMEOUT = 5.0
#: How old a view `/health` may still show while a fresh one is being asked for in the background.
HEALTH_STALE_SECONDS = HEALTH_CACHE_SECONDS + HEALTH_CHECK_TIMEOUT
#: The longest `/health` waits for a view it has to ask for (none yet, or too old): below the
#: runtime's probe timeout (2 s), so a slow `health_check` never makes the kubelet's probe time out.
HEALTH_OVERVIEW_WAIT_SECONDS = 1.0
CONTROL_CALL_TIMEOUT = 10.0


class Instance:
    """One loaded plugin version: its sandbox, its uptime and its cached health and capabilities."""

    def __init__(
        self,
        loaded: loader.LoadedPlugin,
        *,
        clock: Callable[[], float],
        policies: Mapping[str, QueryPolicy] | None = None,
        result_cache: cache.ResultCache | None = None,
    ) -> None:
        """`policies` (processing, TTL) by query id and `result_cache` come from `execution.new_instance`."""
        spec = loaded.declaration.spec
        self.loaded = loaded
        self.policies: Mapping[str, QueryPolicy] = policies or {}
        self.cache = result_cache
        self.cache_scope = spec.cache.scope if spec.cache is not None else "tenant"
        self.sandbox = sandbox.Sandbox(
            plugin_id=loaded.plugin_id,
            timeout_seconds=spec.timeout_seconds,
            max_concurrent=spec.max_concurrent_queries,
            breaker=sandbox.CircuitBreaker(
                failure_threshold=spec.breaker.failure_threshold,
                error_rate_threshold=spec.breaker.error_rate_threshold,
                cooldown_seconds=spec.breaker.cooldown_seconds,
                window=spec.breaker.window,
                clock=clock,
            ),
        )
        self.started_at = clock()
        self._clock = clock
        self._health: interface.HealthStatus | None = None
        self._health_at = float("-inf")
        self._health_probe: asyncio.Task[interface.HealthStatus] | None = None
        self._probe_thread_running = False
        self._capabilities: dict[str, dict[str, Any] | None] = {}

    @property
    def plugin(self) -> interface.QueryPlugin:
        return self.loaded.instance

    def fresh_health(self) -> interface.HealthStatus | None:
        """The cached view while it is fresh; None when `health_status()` would ask the plugin."""
        if self._health is not None and self._clock() - self._health_at < HEALTH_CACHE_SECONDS:
            return self._health
        return None

    def overview_health(self) -> interface.HealthStatus | None:
        """The view `/health` shows without waiting: the fresh one, else the last one while it is younger
        than HEALTH_STALE_SECONDS, with a probe started in the background; None when there is none
        (the caller then awaits `health_status()`).

        Every request arriving while a probe ran used to wait for it (a thread hop and the plugin's
        health_check): on a busy machine that was the whole p99 of `/health` (bench.health_load)."""
        fresh = self.fresh_health()
        if fresh is not None or self._health is None or self._clock() - self._health_at >= HEALTH_STALE_SECONDS:
            return fresh
        if self._health_probe is None:
            self._health_probe = asyncio.create_task(self._probe())
        return self._health

    def last_health(self) -> interface.HealthStatus:
        """The last view however old, or UNKNOWN when none came back yet (what `/health` shows for a
        plugin whose `health_check` outlasts HEALTH_OVERVIEW_WAIT_SECONDS)."""
        if self._health is not None:
            return self._health
        return interface.HealthStatus(interface.HealthState.UNKNOWN, message="health_check has not answered yet")

    async def health_status(self) -> interface.HealthStatus:
        """The plugin's own view, cached briefly so probes and scrapes never hammer its backend."""
        cached = self.fresh_health()
        if cached is not None:
            return cached
        if self._health_probe is None:  # one probe at a time, however many requests wait for it
            self._health_probe = asyncio.create_task(self._probe())
        return await asyncio.shield(self._health_probe)

    async def _probe(self) -> interface.HealthStatus:
        try:
            status = await self._ask_health()
        finally:
            self._health_probe = None
        self._health, self._health_at = status, self._clock()
        return status

    async def _ask_health(self) -> interface.HealthStatus:
        if self._probe_thread_running:  # the previous health_check never returned
            status = interface.HealthStatus(interface.HealthState.UNKNOWN, message="health_check is hanging")
        else:
            self._probe_thread_running = True
            try:
                status = await sandbox.run_in_thread(
                    self.plugin.health_check,
                    timeout=min(HEALTH_CHECK_TIMEOUT, self.sandbox.timeout_seconds),
                    what=f"plugin '{self.loaded.plugin_id}' health_check",
                    on_return=self._probe_returned,
                )
                if not isinstance(status, interface.HealthStatus):
                    raise TypeError(f"health_check returned {type(status).__name__}, not HealthStatus")
            except errors.BackendTimeout:
                status = interface.HealthStatus(interface.HealthState.UNKNOWN, message="health_check timed out")
            except Exception:
                log.exception("health_check failed", extra={"plugin_id": self.loaded.plugin_id})
                status = interface.HealthStatus(interface.HealthState.UNKNOWN, message="health_check failed")
        return status

    def _probe_returned(self) -> None:
        self._probe_thread_running = False

    async def capabilities(self, query_id: str) -> dict[str, Any] | None:
        """The adapter's `capabilities([query_id])` when it has one (asked once per query: fixed after init).

        A failed answer is not kept: an adapter that reads them from its backend (graphql introspects
        the schema) describes its queries once the backend answers."""
        if query_id not in self._capabilities:
            try:
                self._capabilities[query_id] = await self._ask_capabilities(query_id)
            except Exception:
                log.exception("capabilities() failed", extra={"plugin_id": self.loaded.plugin_id})
                return None
        return self._capabilities[query_id]

    async def _ask_capabilities(self, query_id: str) -> dict[str, Any] | None:
        method = getattr(self.plugin, "capabilities", None)
        if not callable(method):
            return None
        try:
            inspect.signature(method).bind(query_id)
            call = functools.partial(method, query_id)
        except TypeError:  # the adapter describes all its queries alike
            call = method
        value = await sandbox.run_in_thread(
            call, timeout=CONTROL_CALL_TIMEOUT, what=f"plugin '{self.loaded.plugin_id}' capabilities"
        )
        return dict(value)

    async def retire(self, *, drain_seconds: float) -> None:
        """Let running queries finish (up to `drain_seconds`), then shut the plugin down, drop its modules."""
        plugin_id = self.loaded.plugin_id
        if not await self.sandbox.drained(drain_seconds):
            log.warning(
                "shutting down with calls still running",
                extra={"plugin_id": plugin_id, "running": self.sandbox.running},
            )
        try:
            await sandbox.run_in_thread(
                self.plugin.shutdown, timeout=CONTROL_CALL_TIMEOUT, what=f"plugin '{plugin_id}' shutdown"
            )
        except Exception:
            log.exception("plugin shutdown failed", extra={"plugin_id": plugin_id})
        self.sandbox.close()
        if self.loaded.module_name:
            loader.forget_modules(self.loaded.module_name)
        log.info("plugin instance retired", extra={"plugin_id": plugin_id, "version": self.loaded.metadata.version})
