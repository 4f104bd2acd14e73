"""Translation latency of the Prometheus, Elasticsearch and GraphQL adapters over `corpus`, cold and warm.

Cold: a filter never seen before (the $filter parse cache and the plugin's translation cache are
cleared first): parse + translate. Warm: the same request again, as dashboards repeat it: the
request path is then a cache lookup. Both include parsing the query options, as a request does.
Nothing here sends a request: translation is pure.

GraphQL's cold time includes checking the document against the schema (`adapters/graphql/fit.py`,
the rules graphql-core's `validate` could fail on for the adapter's one document shape).

Times are this thread's CPU time (`time.thread_time`), so other processes on a shared 2-core
machine do not show up as translation latency. Targets: cold p99 < 1 ms, warm p99 < 50 µs.
Run with `python -m bench.translation`.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence

from adapters.elasticsearch.plugin import ElasticsearchPlugin
from adapters.graphql.plugin import GraphQLPlugin
from adapters.prometheus.plugin import PrometheusPlugin
from bench import corpus
from plugin_runtime import interface, odata

_BASE_URL = "http://127.0.0.1:9"  # never contacted: translation does no I/O
_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.bench._.{name}.v1"


def _definition(name: str, options: dict) -> interface.QueryDefinition:
    return interface.QueryDefinition(
        id=_QUERY.format(name=name),
        name=name,
        category="bench",
        api_endpoint=f"/bench/{name}",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.bench._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.bench._.rows.v1~",
        options=options,
    )


def _plugins() -> tuple[PrometheusPlugin, ElasticsearchPlugin, GraphQLPlugin]:
    prometheus = PrometheusPlugin()
    prometheus.init(
        interface.PluginConfig(
            settings={"base_url": _BASE_URL},
            queries=tuple(_definition(name, options) for name, options in corpus.PROMETHEUS_QUERIES.items()),
        )
    )
    elasticsearch = ElasticsearchPlugin()
    elasticsearch.init(
        interface.PluginConfig(settings={"base_url": _BASE_URL}, queries=(_definition("logs", corpus.ES_QUERY),))
    )
    graphql = GraphQLPlugin()
    graphql.init(
        interface.PluginConfig(
            settings={"base_url": _BASE_URL, "schema_sdl": corpus.GRAPHQL_SDL},
            queries=(_definition("orders", corpus.GRAPHQL_QUERY),),
        )
    )
    return prometheus, elasticsearch, graphql


Case = tuple[interface.TranslatingPlugin, str, dict[str, str]]


def cases() -> dict[str, list[Case]]:
    """Every corpus request per target language, as (plugin, query id, raw query options)."""
    prometheus, elasticsearch, graphql = _plugins()
    return {
        "promql": [
            (prometheus, _QUERY.format(name=name), {"$filter": text, "step": "60s"})
            for name, text in corpus.PROMQL_FILTERS
        ],
        "es-dsl": [
            (elasticsearch, _QUERY.format(name="logs"), {"$filter": text, "$top": "50", "$orderby": "ts desc"})
            for text in corpus.ES_FILTERS
        ],
        "graphql": [
            (graphql, _QUERY.format(name="orders"), {"$filter": text, "$top": "50", "$orderby": "total desc"})
            for text in corpus.GRAPHQL_FILTERS
        ],
    }


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _measure(language_cases: list[Case], rounds: int) -> dict[str, list[float]]:
    """Per round: every request cold (caches cleared before each), then every request warm."""
    timings: dict[str, list[float]] = {"cold": [], "warm": [], "parse": [], "translate": []}
    plugins = list({id(plugin): plugin for plugin, _, _ in language_cases}.values())
    clock = time.thread_time
    for _ in range(rounds):
        for plugin, query_id, options in language_cases:
            odata.parse_filter.cache_clear()
            for each in plugins:
                each.cache_clear()  # type: ignore[attr-defined]
            started = clock()
            params = odata.parse_params(options)
            parsed = clock()
            plugin.translate(query_id, params)
            done = clock()
            timings["parse"].append(parsed - started)
            timings["translate"].append(done - parsed)
            timings["cold"].append(done - started)
        for plugin, query_id, options in language_cases:
            plugin.translate(query_id, odata.parse_params(options))  # seen once: from here on it is warm
        for plugin, query_id, options in language_cases:
            started = clock()
            plugin.translate(query_id, odata.parse_params(options))
            timings["warm"].append(clock() - started)
    return timings


def run(rounds: int = 20) -> list[str]:
    """Measure, and return the lines to print."""
    lines: list[str] = []
    breakdown: list[str] = []
    for language, language_cases in cases().items():
        _measure(language_cases, 1)  # warm up the interpreter, not the caches
        # As timeit does, pause the cyclic collector while measuring: otherwise a warm request pays
        # for the cycles the cold pass left behind. Reference counting still frees as it goes.
        gc.disable()
        try:
            timings = _measure(language_cases, rounds)
        finally:
            gc.enable()
        for phase in ("cold", "warm"):
            p50, p99 = _percentiles(timings[phase])
            lines.append(f"translation {language} {phase}: p50 {p50 * 1e6:.1f} µs, p99 {p99 * 1e6:.1f} µs")
        parse, translate = sum(timings["parse"]), sum(timings["translate"])
        share = parse / (parse + translate) * 100
        breakdown.append(
            f"{language} parse {share:.0f}% (p50 {_percentiles(timings['parse'])[0] * 1e6:.1f} µs)"
            f" / translate {100 - share:.0f}% (p50 {_percentiles(timings['translate'])[0] * 1e6:.1f} µs)"
        )
    lines.append(f"translation cold time: {'; '.join(breakdown)}")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
