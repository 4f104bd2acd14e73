"""The path of one query through a plugin instance: cache, processing, hooks, sandbox.

    caller ─▶ cache (key: query, options, verified tenant/roles) ─hit─▶ caller
                 │ miss (identical concurrent requests share one call)
                 ▼  in the plugin's sandbox thread:
              declarative pre steps ─▶ plugin.preprocess ─▶ execute_query
              ─▶ plugin.postprocess ─▶ declarative post steps ─▶ stored ─▶ caller

The plugin's optional hooks (`interface.ProcessingPlugin`) run in the same sandbox call as
`execute_query`, under the same time limit and circuit breaker. A hook that raises a plugin error
(e.g. `InvalidQuery`) answers with it; anything else is a 500 naming the hook. The cache stores
what the caller receives (post-processed), and steps never add or remove rows, so `$count` and
`@odata.nextLink` are those of the adapter's answer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from plugin_runtime import cache, config, discovery, errors, interface, loader, logs, odata, processing, tokens
from plugin_runtime.instance import Instance

__all__ = ["Answer", "QueryPolicy", "cache_note", "health", "new_instance", "policies", "run", "translate"]

log = logging.getLogger(__name__)
audit = logging.getLogger(logs.AUDIT_LOGGER)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class QueryPolicy:
    """How one query is processed and how long its answers may be kept (None: never)."""

    pipeline: processing.Pipeline = dataclasses.field(default_factory=processing.Pipeline)
    ttl_seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class Answer:
    result: interface.QueryResult
    #: None when the answer is not cacheable (no cache, or the query opted out).
    freshness: cache.Freshness | None = None


def _policy(plugin: config.RuntimePlugin, query: config.QueryConfig) -> QueryPolicy:
    pipeline = processing.compile_steps([*plugin.processing, *query.processing])
    ttl = plugin.cache.ttl_seconds if plugin.cache is not None else None
    if query.cache is not None:
        ttl = (query.cache.ttl_seconds or ttl) if query.cache.enabled else None
    return QueryPolicy(pipeline, ttl if plugin.cache is not None else None)


def policies(declaration: discovery.Declaration) -> dict[str, QueryPolicy]:
    """Every query's policy, checked before the plugin loads: a bad step fails its load (stage manifest)."""
    spec = declaration.spec
    queries = spec.queries or (declaration.manifest.queries if declaration.manifest is not None else [])
    try:
        return {query.id: _policy(spec, query) for query in queries}
    except processing.StepError as exc:
        raise discovery.LoadError(declaration.plugin_id, discovery.Stage.MANIFEST, str(exc)) from None


def _hook(plugin_id: str, name: str, call: Callable[[], T], expected: type[T]) -> T:
    try:
        value = call()
    except errors.PluginError:
        raise
    except Exception as exc:
        log.error(f"{name} hook failed", exc_info=exc, extra={"plugin_id": plugin_id})
        raise errors.PluginError(
            f"plugin '{plugin_id}' failed in its {name} hook ({type(exc).__name__}); see the runtime log", hook=name
        ) from None
    if not isinstance(value, expected):
        raise errors.PluginError(
            f"plugin '{plugin_id}' {name} returned {type(value).__name__}, not {expected.__name__}", hook=name
        )
    return value


def _preprocess(
    instance: Instance, query_id: str, ctx: interface.SecurityCtx, params: odata.ODataParams, policy: QueryPolicy
) -> tuple[odata.ODataParams, processing.Rows]:
    """Declarative steps, then the plugin's own `preprocess` (runs in the sandbox thread)."""
    params, rows = policy.pipeline.options(params, ctx)
    method = getattr(instance.plugin, "preprocess", None)
    if not callable(method):
        return params, rows
    plugin_id = instance.loaded.plugin_id
    changed = _hook(plugin_id, "preprocess", lambda: method(ctx, query_id, params), odata.ODataParams)
    if changed.filter != params.filter:  # the hook rewrote the text: the AST must say the same
        try:
            ast = odata.parse_filter(changed.filter) if changed.filter is not None else None
        except errors.InvalidQuery as exc:
            raise errors.PluginError(
                f"plugin '{plugin_id}' preprocess produced an invalid {exc.detail}", hook="preprocess"
            ) from None
        changed = dataclasses.replace(changed, filter_ast=ast)
    return changed, rows


async def _produce(
    instance: Instance,
    query_id: str,
    ctx: interface.SecurityCtx,
    params: odata.ODataParams,
    policy: QueryPolicy,
    signer: tokens.OutgoingSigner | None,
    on_token: Callable[[], None],
) -> interface.QueryResult:
    plugin_id = instance.loaded.plugin_id
    token_issued = False

    def call() -> interface.QueryResult:
        nonlocal token_issued
        plugin = instance.plugin
        prepared, rows = _preprocess(instance, query_id, ctx, params, policy)
        if signer is not None:
            claims = plugin.before_jwt_sign(ctx, signer.claims_for(ctx))
            tokens.bind_outgoing_token(signer.sign(claims))
            token_issued = True
            on_token()
        result = plugin.execute_query(ctx, query_id, prepared)
        if not isinstance(result, interface.QueryResult):
            raise TypeError(f"execute_query returned {type(result).__name__}, not QueryResult")
        method = getattr(plugin, "postprocess", None)
        if callable(method):
            answered = result
            result = _hook(plugin_id, "postprocess", lambda: method(ctx, query_id, answered), interface.QueryResult)
        return rows(result)

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
                "outgoing token issued", extra={"subject": ctx.subject, "tenant": ctx.tenant, "outcome": outcome}
            )


async def run(
    instance: Instance,
    query_id: str,
    ctx: interface.SecurityCtx,
    params: odata.ODataParams,
    *,
    signer: tokens.OutgoingSigner | None,
    on_token: Callable[[], None],
    on_cache: Callable[[str], None],
    refresh: bool = False,
) -> Answer:
    """Answer one query; `on_cache(outcome)` hears hit/miss/coalesced, `refresh` skips stored answers."""
    policy = instance.policies.get(query_id, QueryPolicy())

    def produce() -> Any:
        return _produce(instance, query_id, ctx, params, policy, signer, on_token)

    result_cache = instance.cache
    with logs.bound(plugin_id=instance.loaded.plugin_id, query_id=query_id):
        if result_cache is None or policy.ttl_seconds is None:
            return Answer(await produce())
        cache_key = cache.key(query_id, params, ctx, scope=instance.cache_scope)
        result, freshness = await result_cache.fetch(cache_key, produce, ttl=policy.ttl_seconds, refresh=refresh)
    on_cache(freshness.outcome)
    if freshness.outcome != "miss":
        instance.sandbox.record_served()  # answered without a plugin call: still a query it served
    return Answer(result, freshness)


async def translate(
    instance: Instance, query_id: str, ctx: interface.SecurityCtx, params: odata.ODataParams
) -> tuple[interface.Translation, odata.ODataParams]:
    """The backend query for the options *after* preprocessing, and those options."""
    method = getattr(instance.plugin, "translate", None)
    plugin_id = instance.loaded.plugin_id
    if not callable(method):
        raise errors.NotSupported(f"plugin '{plugin_id}' cannot show its backend queries (no translate)")
    policy = instance.policies.get(query_id, QueryPolicy())

    def call() -> tuple[Any, odata.ODataParams]:
        prepared, _ = _preprocess(instance, query_id, ctx, params, policy)
        try:
            return method(query_id, prepared), prepared
        except errors.PluginError:
            raise
        except Exception as exc:
            # Translating is a function of the caller's input alone: whatever it raises is the
            # caller's 400, never a plugin failure counted by the circuit breaker.
            raise errors.InvalidQuery(
                f"plugin '{plugin_id}' cannot translate this query ({type(exc).__name__})"
            ) from None

    with logs.bound(plugin_id=plugin_id, query_id=query_id):
        translation, prepared = await instance.sandbox.call(call, action=f"translate '{query_id}'")
    if not isinstance(translation, interface.Translation):
        raise errors.PluginError(f"plugin '{plugin_id}' returned no Translation from translate")
    return translation, prepared


def new_instance(
    loaded: loader.LoadedPlugin, query_policies: Mapping[str, QueryPolicy], *, clock: Callable[[], float]
) -> Instance:
    """An instance with its policies and, when declared and allowed, its own empty cache."""
    spec = loaded.declaration.spec
    result_cache = None
    if spec.cache is not None and cache_note(loaded.instance, spec) is None:
        result_cache = cache.ResultCache(
            max_entries=spec.cache.max_entries, max_bytes=spec.cache.max_bytes, clock=clock
        )
    return Instance(loaded, clock=clock, policies=query_policies, result_cache=result_cache)


def cache_note(plugin: object, spec: config.RuntimePlugin) -> str | None:
    """Why a plugin's declared cache stays off (None: it is on, or none is declared)."""
    if spec.cache is None:
        return None
    if getattr(plugin, "caller_specific_results", False) and spec.cache.scope != "caller":
        return "the plugin declares caller-specific results: cache them only with scope 'caller'"
    return None


def health(instance: Instance) -> Mapping[str, Any] | None:
    """The `cache` member of a plugin's health document."""
    spec = instance.loaded.declaration.spec
    if spec.cache is None:
        return None
    if instance.cache is None:
        return {"enabled": False, "reason": cache_note(instance.plugin, spec)}
    return {"enabled": True, "scope": instance.cache_scope, **instance.cache.stats.to_dict()}
