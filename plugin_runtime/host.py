"""The plugins one runtime process hosts, and every change to them while it serves.

Each plugin id has a `Slot`. A slot serves through one `Instance` (a loaded, initialised plugin with
its sandbox). A change — new config, new code in the plugins directory, rotated secrets — is applied
by loading and initialising a *new* instance first; only when that succeeds does the slot switch to
it. Queries already running keep the instance they started on; the old instance is shut down once
they finish (bounded by `drain_seconds`). A new version that fails to load leaves the old one
serving and is reported as the slot's `load_error`.

The host runs on the server's event loop; all plugin code runs in sandbox threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from plugin_runtime import config, errors, health, interface, loader, logs, metrics, odata, sandbox, tokens
from plugin_runtime.instance import Instance

__all__ = ["PluginHost", "PluginState", "QueryTarget", "Slot"]

log = logging.getLogger(__name__)
audit = logging.getLogger(logs.AUDIT_LOGGER)


class PluginState(enum.StrEnum):
    """The spec's lifecycle states a hosted plugin can be observed in (plus Failed: never loaded)."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


@dataclasses.dataclass
class Slot:
    """A plugin id and what serves it; `load_error` is the last (re)load that failed, if any."""

    spec: config.RuntimePlugin
    declared: tuple[interface.QueryDefinition, ...] = ()  # answered with 503 while nothing serves them
    instance: Instance | None = None
    enabled: bool = True
    load_error: loader.LoadError | None = None
    failed_fingerprint: str | None = None

    @property
    def plugin_id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> PluginState:
        if self.instance is None:
            return PluginState.FAILED
        return PluginState.ACTIVE if self.enabled else PluginState.INACTIVE

    def serving(self) -> Instance:
        if self.instance is None:
            reason = self.load_error.message if self.load_error else "it is not loaded"
            raise errors.PluginUnavailable(f"plugin '{self.plugin_id}' failed to load: {reason}", retry_after=30.0)
        if not self.enabled:
            raise errors.PluginUnavailable(f"plugin '{self.plugin_id}' is disabled", retry_after=60.0)
        return self.instance


@dataclasses.dataclass(frozen=True)
class QueryTarget:
    slot: Slot
    query: interface.QueryDefinition

    @property
    def plugin_id(self) -> str:
        return self.slot.plugin_id


class PluginHost:
    def __init__(
        self,
        *,
        config_path: Path,
        plugins_dir: Path | None = None,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        """`on_applied` runs on the event loop after every change to the hosted plugins is applied."""
        self.config_path = config_path
        self._plugins_dir_override = plugins_dir
        self.environ = environ
        self.clock = clock
        self._on_applied = on_applied
        self.config = config.RuntimeConfig()
        self.auth = tokens.IncomingAuth(self.config.auth, environ=environ)
        self.signer: tokens.OutgoingSigner | None = None
        self.slots: dict[str, Slot] = {}
        self.rejected: list[loader.LoadError] = []  # duplicate ids: they never get a slot
        self.reload_error: str | None = None
        self.metrics = metrics.RuntimeMetrics(self.snapshots)
        self._queries: dict[str, QueryTarget] = {}
        self._endpoints: dict[str, str] = {}
        self._known_fingerprints: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    # -- configuration -------------------------------------------------------------------------

    @property
    def plugins_dir(self) -> Path | None:
        if self._plugins_dir_override is not None:
            return self._plugins_dir_override
        if self.config.plugins_dir is None:
            return None
        return (self.config_path.parent / self.config.plugins_dir).resolve()

    def _read_config(self) -> tuple[config.RuntimeConfig, tokens.IncomingAuth, tokens.OutgoingSigner | None]:
        try:
            runtime_config = config.load(self.config_path)
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError covers pydantic's ValidationError
            raise errors.InvalidInput(f"runtime config {self.config_path} is invalid: {exc}") from None
        auth = tokens.IncomingAuth(runtime_config.auth, environ=self.environ)
        signer = None
        if runtime_config.outgoing_jwt is not None:
            signer = tokens.OutgoingSigner(runtime_config.outgoing_jwt, environ=self.environ)
        return runtime_config, auth, signer

    async def start(self) -> None:
        """Read the config and load every plugin; a broken config file raises (nothing to serve)."""
        self.config, self.auth, self.signer = self._read_config()
        await self._apply(retry_failed=True)

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file and apply it; a broken file keeps everything as it was and raises."""
        try:
            runtime_config, auth, signer = self._read_config()
        except errors.PluginError as exc:
            self.reload_error = exc.detail
            log.error("config reload failed", extra={"reason": exc.detail})
            raise
        self.reload_error = None
        self.config, self.auth, self.signer = runtime_config, auth, signer
        await self._apply(retry_failed=True)
        return self.describe()

    async def rescan(self) -> bool:
        """Reload plugins whose folder (manifest or code) changed; True when something was applied."""
        declarations, _ = loader.declare(self.config, plugins_dir=self.plugins_dir)
        current = await asyncio.to_thread(self._fingerprints, declarations)
        if current == self._known_fingerprints:
            return False
        await self._apply(retry_failed=False)
        return True

    async def watch(self) -> None:
        """Poll the plugins directory every `watch_interval_seconds` (runs until cancelled; returns
        at once when the config turns polling off)."""
        while self.config.watch_interval_seconds is not None:
            await asyncio.sleep(self.config.watch_interval_seconds)
            try:
                await self.rescan()
            except Exception:
                log.exception("plugins directory rescan failed")

    def _fingerprints(self, declarations: list[loader.Declaration]) -> dict[str, str]:
        return {d.plugin_id: loader.fingerprint(d, environ=self.environ) for d in declarations}

    # -- applying changes ------------------------------------------------------------------------

    async def _apply(self, *, retry_failed: bool) -> None:
        async with self._lock:
            declarations, rejected = loader.declare(self.config, plugins_dir=self.plugins_dir)
            # Old and new values both: either may show up in a log line or load error until the swap is over.
            serving = [v for s in self.slots.values() if s.instance for v in s.instance.loaded.config.secrets.values()]
            logs.set_secrets(serving + loader.secret_values(declarations, environ=self.environ))
            fingerprints = await asyncio.to_thread(self._fingerprints, declarations)
            declared_ids = {d.plugin_id for d in declarations}
            self.rejected = [e for e in rejected if e.plugin_id in declared_ids]
            for error in rejected:
                if error.plugin_id not in declared_ids:
                    self._record_failure(self._slot_for(error.plugin_id), error, fingerprint=None)
            await asyncio.gather(
                *(self._converge(d, fingerprints[d.plugin_id], retry_failed=retry_failed) for d in declarations)
            )
            wanted = {spec.id for spec in self.config.plugins}
            for plugin_id in [p for p in self.slots if p not in wanted]:
                removed = self.slots.pop(plugin_id)
                if removed.instance is not None:
                    self._retire(removed.instance)
            self._known_fingerprints = fingerprints
            self._index()
            if self._on_applied is not None:
                self._on_applied()

    def _slot_for(self, plugin_id: str) -> Slot:
        spec = next(p for p in self.config.plugins if p.id == plugin_id)
        slot = self.slots.get(plugin_id)
        if slot is None:
            declared = tuple(query.definition() for query in spec.queries)
            slot = self.slots[plugin_id] = Slot(spec, declared, enabled=spec.enabled)
        elif slot.spec.enabled != spec.enabled:  # the config changed its mind; an admin toggle otherwise stays
            slot.enabled = spec.enabled
        slot.spec = spec
        return slot

    def _record_failure(self, slot: Slot, error: loader.LoadError, *, fingerprint: str | None) -> None:
        slot.load_error, slot.failed_fingerprint = error, fingerprint
        self.metrics.reloads.labels(slot.plugin_id, "failure").inc()
        log.error(
            "plugin load failed",
            extra={"plugin_id": slot.plugin_id, "stage": str(error.stage), "reason": error.message},
        )

    async def _converge(self, declaration: loader.Declaration, fingerprint: str, *, retry_failed: bool) -> None:
        slot = self._slot_for(declaration.plugin_id)
        slot.declared = declaration.queries
        if slot.instance is not None and slot.instance.loaded.fingerprint == fingerprint:
            slot.load_error = slot.failed_fingerprint = None
            return
        if not retry_failed and slot.failed_fingerprint == fingerprint:
            return
        try:
            loaded = await sandbox.run_in_thread(
                lambda: loader.load(declaration, environ=self.environ, digest=fingerprint),
                timeout=declaration.spec.timeout_seconds,
                what=f"loading plugin '{declaration.plugin_id}'",
            )
        except loader.LoadError as exc:
            self._record_failure(slot, exc, fingerprint=fingerprint)
            return
        except errors.BackendTimeout as exc:
            self._record_failure(
                slot, loader.LoadError(slot.plugin_id, loader.Stage.INIT, exc.detail), fingerprint=fingerprint
            )
            return
        previous, slot.instance = slot.instance, Instance(loaded, clock=self.clock)
        slot.load_error = slot.failed_fingerprint = None
        self.metrics.reloads.labels(slot.plugin_id, "success").inc()
        log.info(
            "plugin loaded",
            extra={"plugin_id": slot.plugin_id, "version": loaded.metadata.version, "source": declaration.source},
        )
        if previous is not None:
            self._retire(previous)

    def _retire(self, instance: Instance) -> None:
        task = asyncio.create_task(instance.retire(drain_seconds=self.config.drain_seconds))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _index(self) -> None:
        """Route query ids and endpoints; serving plugins first, so a rejected plugin never shadows them."""
        queries: dict[str, QueryTarget] = {}
        endpoints: dict[str, str] = {}
        ordered = sorted(self.slots.values(), key=lambda slot: slot.instance is None)
        for slot in ordered:
            for query in slot.instance.loaded.config.queries if slot.instance else slot.declared:
                endpoint = query.api_endpoint.rstrip("/") or "/"
                if query.id not in queries and endpoint not in endpoints:
                    queries[query.id] = QueryTarget(slot, query)
                    endpoints[endpoint] = query.id
        self._queries, self._endpoints = queries, endpoints

    async def close(self) -> None:
        """Drain and shut down every plugin (SIGTERM / lifespan end)."""
        async with self._lock:
            for slot in self.slots.values():
                if slot.instance is not None:
                    self._retire(slot.instance)
                    slot.instance = None
            if self._retiring:
                await asyncio.gather(*self._retiring)

    # -- admin -----------------------------------------------------------------------------------

    def slot(self, plugin_id: str) -> Slot:
        try:
            return self.slots[plugin_id]
        except KeyError:
            raise errors.NotFound(f"no plugin '{plugin_id}' in this runtime") from None

    def set_enabled(self, plugin_id: str, enabled: bool) -> Slot:
        slot = self.slot(plugin_id)
        slot.enabled = enabled
        log.info("plugin enabled" if enabled else "plugin disabled", extra={"plugin_id": plugin_id})
        return slot

    # -- queries ---------------------------------------------------------------------------------

    def find_query(self, query_id: str) -> QueryTarget:
        try:
            return self._queries[query_id]
        except KeyError:
            raise errors.NotFound(f"no query '{query_id}' in this runtime") from None

    def find_endpoint(self, path: str) -> QueryTarget | None:
        query_id = self._endpoints.get(path.rstrip("/") or "/")
        return self._queries[query_id] if query_id is not None else None

    async def execute(
        self, target: QueryTarget, ctx: interface.SecurityCtx, params: odata.ODataParams
    ) -> interface.QueryResult:
        instance = target.slot.serving()
        signer, plugin_id, query_id = self.signer, target.plugin_id, target.query.id
        token_issued = False

        def call() -> interface.QueryResult:
            nonlocal token_issued
            plugin = instance.plugin
            if signer is not None:
                claims = plugin.before_jwt_sign(ctx, signer.claims_for(ctx))
                tokens.bind_outgoing_token(signer.sign(claims))
                token_issued = True
                self.metrics.outgoing_tokens.labels(plugin_id).inc()
            result = plugin.execute_query(ctx, query_id, params)
            if not isinstance(result, interface.QueryResult):
                raise TypeError(f"execute_query returned {type(result).__name__}, not QueryResult")
            return result

        with logs.bound(plugin_id=plugin_id, query_id=query_id):
            outcome = "cancelled"
            try:
                result = await instance.sandbox.call(call, action=f"query '{query_id}'")
                outcome = "ok"
                return result
            except errors.PluginError as exc:
                outcome = str(exc.status)
                raise
            finally:
                if token_issued:
                    audit.info(
                        "outgoing token issued",
                        extra={"subject": ctx.subject, "tenant": ctx.tenant, "outcome": outcome},
                    )

    async def translate(self, target: QueryTarget, params: odata.ODataParams) -> interface.Translation:
        instance = target.slot.serving()
        method = getattr(instance.plugin, "translate", None)
        if not callable(method):
            raise errors.NotSupported(f"plugin '{target.plugin_id}' cannot show its backend queries (no translate)")
        query_id = target.query.id
        with logs.bound(plugin_id=target.plugin_id, query_id=query_id):
            started = time.perf_counter()
            translation = await instance.sandbox.call(
                lambda: method(query_id, params), action=f"translate '{query_id}'"
            )
            self.metrics.translation_seconds.labels(target.plugin_id, query_id).observe(time.perf_counter() - started)
        if not isinstance(translation, interface.Translation):
            raise errors.PluginError(f"plugin '{target.plugin_id}' returned no Translation from translate")
        return translation

    # -- observation -----------------------------------------------------------------------------

    def snapshots(self) -> list[metrics.PluginSnapshot]:
        return [
            metrics.PluginSnapshot(
                plugin_id=slot.plugin_id,
                state=str(slot.state),
                circuit=str(slot.instance.sandbox.breaker.state) if slot.instance else str(sandbox.CircuitState.CLOSED),
                in_flight=slot.instance.sandbox.running if slot.instance else 0,
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
        )

    async def health_overview(self) -> dict[str, Any]:
        """`/health`: every plugin's document plus its state and last reload error."""
        slots = list(self.slots.values())
        instances = [slot.instance for slot in slots]
        reported = [instance.fresh_health() if instance is not None else None for instance in instances]
        # Only plugins whose cached view expired are asked (concurrently): with every view cached,
        # the common case, answering never suspends, which spares resuming the request's whole
        # coroutine stack (a third of the handler's cost).
        stale = [(n, instance) for n, instance in enumerate(instances) if instance is not None and reported[n] is None]
        if stale:
            probed = await asyncio.gather(*(instance.health_status() for _, instance in stale))
            for (n, _), status in zip(stale, probed, strict=True):
                reported[n] = status
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

    def describe(self) -> dict[str, Any]:
        """`/metadata`: what is hosted, where it came from and what failed."""
        plugins = []
        for slot in self.slots.values():
            entry: dict[str, Any] = {"id": slot.plugin_id, "state": str(slot.state), "enabled": slot.enabled}
            if slot.instance is not None:
                loaded = slot.instance.loaded
                entry |= {
                    **{k: str(v) for k, v in dataclasses.asdict(loaded.metadata).items()},
                    "source": loaded.declaration.source,
                    "queries": [_query_doc(q) for q in loaded.config.queries],
                }
            else:
                entry |= {"version": slot.spec.version, "queries": []}
            entry["last_reload_error"] = _error(slot.load_error)
            plugins.append(entry)
        return {
            "plugins": plugins,
            "errors": self.load_errors(),
            "last_reload_error": self.reload_error,
        }

    async def catalogue(self) -> list[tuple[interface.QueryDefinition, dict[str, Any] | None]]:
        """Every served query with its adapter's capabilities, for `$metadata`."""
        entries = []
        for slot in self.slots.values():
            if slot.instance is not None:
                for query in slot.instance.loaded.config.queries:
                    entries.append((query, await slot.instance.capabilities(query.id)))
        return entries


def _error(error: loader.LoadError | None) -> dict[str, str] | None:
    return error.to_dict() if error is not None else None


def _query_doc(query: interface.QueryDefinition) -> dict[str, Any]:
    # Adapter options stay out: they are configuration, not a description of the query.
    fields = {field.name: getattr(query, field.name) for field in dataclasses.fields(query) if field.name != "options"}
    return {**fields, "entity_set": query.entity_set}
