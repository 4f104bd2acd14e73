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
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from plugin_runtime import (
    config,
    cursors,
    discovery,
    errors,
    execution,
    interface,
    loader,
    logs,
    metrics,
    odata,
    paging,
    prewarm,
    sandbox,
    tokens,
    views,
)
from plugin_runtime.instance import Instance
from plugin_runtime.slot import PluginState, QueryTarget, Slot

__all__ = ["PluginHost", "PluginState", "QueryTarget", "Slot"]

log = logging.getLogger(__name__)


class PluginHost(views.HostViews):
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
        self.rejected: list[discovery.LoadError] = []  # duplicate ids: they never get a slot
        self.reload_error: str | None = None
        self.metrics = metrics.RuntimeMetrics(self.snapshots, lambda: self.cursors.stats())
        self.cursors = cursors.CursorStore(
            max_entries=cursors.MAX_ENTRIES, max_bytes=cursors.MAX_BYTES, ttl_seconds=cursors.TTL_SECONDS, clock=clock
        )
        self._queries: dict[str, QueryTarget] = {}
        self._endpoints: dict[str, str] = {}
        self._known_fingerprints: dict[str, str] = {}
        self._settling: dict[str, str] | None = None  # fingerprints seen changed by the last rescan
        self._lock = asyncio.Lock()
        self._applying = asyncio.Lock()  # admin changes: one apply covers those that arrived meanwhile
        self._changes = self._applied = 0
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
        await asyncio.to_thread(prewarm.import_adapters, prewarm.adapters(self.config))
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
        """Reload plugins whose folder (manifest or code) changed and has settled; True when applied.

        A folder copied non-atomically (the manifest written, its code not yet) must never be
        loaded half-copied: a change is applied only when two scans in a row see the same
        fingerprints, i.e. nothing was written for one poll interval. A copy still under way
        keeps changing the fingerprint and postpones the reload.
        """
        declarations, _ = discovery.declare(self.config, plugins_dir=self.plugins_dir)
        current = await asyncio.to_thread(self._fingerprints, declarations)
        if current == self._known_fingerprints:
            self._settling = None
            return False
        if current != self._settling:
            self._settling = current  # changed since the last scan: wait for it to settle
            return False
        self._settling = None
        await self._apply(retry_failed=False)
        return True

    async def watch(self) -> None:
        """Poll the plugins directory every `watch_interval_seconds` (runs until cancelled; returns
        at once when the config turns polling off). A change is loaded one interval after the
        last write to the folder (see `rescan`)."""
        while self.config.watch_interval_seconds is not None:
            await asyncio.sleep(self.config.watch_interval_seconds)
            try:
                await self.rescan()
            except Exception:
                log.exception("plugins directory rescan failed")

    def _fingerprints(self, declarations: list[discovery.Declaration]) -> dict[str, str]:
        return {d.plugin_id: discovery.fingerprint(d, environ=self.environ) for d in declarations}

    # -- applying changes ------------------------------------------------------------------------

    async def _apply(self, *, retry_failed: bool) -> None:
        async with self._lock:
            declarations, rejected = discovery.declare(self.config, plugins_dir=self.plugins_dir)
            # Old and new values both: either may show up in a log line or load error until the swap is over.
            serving = [v for s in self.slots.values() if s.instance for v in s.instance.loaded.config.secrets.values()]
            signing = self.config.outgoing_jwt
            signing_key = (
                [config.secret_value(self.environ.get(signing.signing_key_env, ""))] if signing is not None else []
            )
            logs.set_secrets(serving + signing_key + discovery.secret_values(declarations, environ=self.environ))
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

    def _record_failure(self, slot: Slot, error: discovery.LoadError, *, fingerprint: str | None) -> None:
        slot.load_error, slot.failed_fingerprint = error, fingerprint
        self.metrics.reloads.labels(slot.plugin_id, "failure").inc()
        log.error(
            "plugin load failed",
            extra={"plugin_id": slot.plugin_id, "stage": str(error.stage), "reason": error.message},
        )

    async def _converge(self, declaration: discovery.Declaration, fingerprint: str, *, retry_failed: bool) -> None:
        slot = self._slot_for(declaration.plugin_id)
        slot.declared = declaration.queries
        if slot.instance is not None and slot.instance.loaded.fingerprint == fingerprint:
            slot.load_error = slot.failed_fingerprint = None
            return
        if not retry_failed and slot.failed_fingerprint == fingerprint:
            return

        def load() -> tuple[loader.LoadedPlugin, dict[str, execution.QueryPolicy]]:
            query_policies = execution.policies(declaration)  # a bad processing step fails before init
            return loader.load(declaration, environ=self.environ, digest=fingerprint), query_policies

        started = time.perf_counter()
        try:
            loaded, query_policies = await sandbox.run_in_thread(
                load, timeout=declaration.spec.timeout_seconds, what=f"loading plugin '{declaration.plugin_id}'"
            )
        except discovery.LoadError as exc:
            self._record_failure(slot, exc, fingerprint=fingerprint)
            return
        except errors.BackendTimeout as exc:
            self._record_failure(
                slot, discovery.LoadError(slot.plugin_id, discovery.Stage.INIT, exc.detail), fingerprint=fingerprint
            )
            return
        previous, slot.instance = slot.instance, execution.new_instance(loaded, query_policies, clock=self.clock)
        slot.load_error = slot.failed_fingerprint = None
        self.metrics.reloads.labels(slot.plugin_id, "success").inc()
        log.info(
            "plugin loaded",
            extra={
                "plugin_id": slot.plugin_id,
                "version": loaded.metadata.version,
                "source": declaration.source,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),  # load + init (bench.cold_load)
            },
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

    async def put_plugin(self, plugin: config.RuntimePlugin) -> Slot:
        """Host this plugin (add it, or replace its entry) without touching the others: the operator's
        way to change one member of a shared runtime. A new entry loads beside the serving one, which
        keeps serving if it fails (`Slot.load_error`); the config file is not re-read."""
        others = [p for p in self.config.plugins if p.id != plugin.id]
        self.config = self.config.model_copy(update={"plugins": [*others, plugin]})
        await self._apply_changes()
        return self.slot(plugin.id)

    async def remove_plugin(self, plugin_id: str) -> None:
        """Stop hosting one plugin (its in-flight queries drain); the others are untouched."""
        self.slot(plugin_id)
        self.config = self.config.model_copy(update={"plugins": [p for p in self.config.plugins if p.id != plugin_id]})
        await self._apply_changes()

    async def _apply_changes(self) -> None:
        """Apply the config as it now stands, unless an apply begun since this change already did:
        changes arriving together (a pool's members joining at once) are applied together."""
        self._changes += 1
        change = self._changes
        async with self._applying:
            if self._applied >= change:
                return
            latest = self._changes
            await self._apply(retry_failed=True)
            self._applied = latest

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

    def page_size(self, target: QueryTarget) -> int:
        """Rows per response for this query (server-driven paging, see `paging.page_size`)."""
        instance = target.slot.instance
        settings = instance.loaded.config.settings if instance is not None else target.slot.spec.settings
        return paging.page_size(target.query.options, settings, whole_results=target.answers_whole_results)

    def entity_sets(self, plugin_id: str | None = None) -> dict[str, QueryTarget]:
        """Entity set name → its query, of every plugin or of one; a name served twice goes to the first."""
        sets: dict[str, QueryTarget] = {}
        for target in self._queries.values():
            if plugin_id is None or target.plugin_id == plugin_id:
                sets.setdefault(target.query.entity_set, target)
        return sets

    def find_endpoint(self, path: str) -> QueryTarget | None:
        query_id = self._endpoints.get(path.rstrip("/") or "/")
        return self._queries[query_id] if query_id is not None else None

    async def answer(
        self,
        target: QueryTarget,
        ctx: interface.SecurityCtx,
        params: odata.ODataParams,
        *,
        refresh: bool = False,
    ) -> execution.Answer:
        """Answer a query through its plugin's cache and processing (`execution.run`); a plugin without
        the execute permission answers nothing (translation previews still work: they reach no backend)."""
        if not target.slot.spec.execute:
            raise errors.ExecuteNotPermitted(
                f"plugin '{target.plugin_id}' may not execute queries (its Plugin's spec.permissions lacks execute)"
            )
        instance = target.slot.serving()
        plugin_id, query_id = target.plugin_id, target.query.id
        return await execution.run(
            instance,
            query_id,
            ctx,
            params,
            signer=self.signer,
            on_token=self.metrics.outgoing_tokens.labels(plugin_id).inc,
            on_cache=lambda outcome: self.metrics.cache_requests.labels(plugin_id, query_id, outcome).inc(),
            refresh=refresh,
        )

    async def translate(
        self, target: QueryTarget, ctx: interface.SecurityCtx, params: odata.ODataParams
    ) -> tuple[interface.Translation, odata.ODataParams]:
        """What the plugin would send its backend, and the options after preprocessing."""
        instance = target.slot.serving()
        started = time.perf_counter()
        answer = await execution.translate(instance, target.query.id, ctx, params)
        self.metrics.translation_seconds.labels(target.plugin_id, target.query.id).observe(
            time.perf_counter() - started
        )
        return answer
