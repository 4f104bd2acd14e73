"""Prometheus metrics of one runtime process, on a registry of its own (so tests can run several).

Events (queries, translations, signed tokens, reloads) are counted as they happen; states (plugin
lifecycle state, breaker state, calls in flight) are read from the host at scrape time, so no code
path has to remember to update a gauge when a state changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from plugin_runtime.cache import CacheStats
from plugin_runtime.cursors import CursorStats

__all__ = ["CIRCUIT_STATES", "PLUGIN_STATES", "PluginSnapshot", "RuntimeMetrics"]

PLUGIN_STATES = ("Active", "Inactive", "Failed")
CIRCUIT_STATES = ("closed", "half-open", "open")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TRANSLATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


@dataclasses.dataclass(frozen=True)
class PluginSnapshot:
    plugin_id: str
    state: str
    circuit: str
    in_flight: int
    cache: CacheStats | None = None


class _StateCollector(Collector):
    def __init__(self, snapshots: Callable[[], Iterable[PluginSnapshot]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        plugin_state = GaugeMetricFamily(
            "plugin_runtime_plugin_state",
            "Lifecycle state of each plugin (1 for the current one)",
            labels=["plugin", "state"],
        )
        circuit = GaugeMetricFamily(
            "plugin_runtime_circuit_state",
            "Circuit breaker state of each plugin (1 for the current one)",
            labels=["plugin", "state"],
        )
        in_flight = GaugeMetricFamily("plugin_runtime_in_flight_calls", "Plugin calls still running", labels=["plugin"])
        entries = GaugeMetricFamily("plugin_runtime_cache_entries", "Answers in the result cache", labels=["plugin"])
        size = GaugeMetricFamily("plugin_runtime_cache_bytes", "Size of the cached answers", labels=["plugin"])
        evictions = CounterMetricFamily(
            "plugin_runtime_cache_evictions", "Answers evicted to stay within the cache's bounds", labels=["plugin"]
        )
        for snapshot in self._snapshots():
            if snapshot.cache is not None:
                entries.add_metric([snapshot.plugin_id], float(snapshot.cache.entries))
                size.add_metric([snapshot.plugin_id], float(snapshot.cache.bytes))
                evictions.add_metric([snapshot.plugin_id], float(snapshot.cache.evictions))
            for state in PLUGIN_STATES:
                plugin_state.add_metric([snapshot.plugin_id, state], float(snapshot.state == state))
            for state in CIRCUIT_STATES:
                circuit.add_metric([snapshot.plugin_id, state], float(snapshot.circuit == state))
            in_flight.add_metric([snapshot.plugin_id], float(snapshot.in_flight))
        yield from (plugin_state, circuit, in_flight, entries, size, evictions)


class _CursorCollector(Collector):
    """The runtime's one cursor store (`cursors.CursorStore`), shared by its plugins: no plugin label."""

    def __init__(self, stats: Callable[[], CursorStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield GaugeMetricFamily("plugin_runtime_cursor_entries", "Result tails kept for paging", value=stats.entries)
        yield GaugeMetricFamily(
            "plugin_runtime_cursor_bytes", "Estimated size of the result tails kept for paging", value=stats.bytes
        )
        pages = CounterMetricFamily(
            "plugin_runtime_cursor_pages",
            "Next pages asked of a cursor, by outcome: hit (served from the store), miss (re-run from its position; "
            "expired is the part of the misses whose cursor outlived its TTL)",
            labels=["outcome"],
        )
        pages.add_metric(["hit"], float(stats.hits))
        pages.add_metric(["miss"], float(stats.misses))
        pages.add_metric(["expired"], float(stats.expired))
        yield pages
        yield CounterMetricFamily(
            "plugin_runtime_cursor_evictions",
            "Result tails evicted to stay within the cursor store's bounds",
            value=stats.evictions,
        )


class RuntimeMetrics:
    def __init__(
        self, snapshots: Callable[[], Iterable[PluginSnapshot]], cursor_stats: Callable[[], CursorStats] | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.queries = Counter(
            "plugin_runtime_queries",
            "Queries answered, by plugin, query and HTTP status",
            ["plugin", "query", "status"],
            registry=self.registry,
        )
        self.query_seconds = Histogram(
            "plugin_runtime_query_duration_seconds",
            "Time to answer a query, plugin call included",
            ["plugin", "query"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.translation_seconds = Histogram(
            "plugin_runtime_translation_duration_seconds",
            "Time an adapter takes to translate OData into its backend's query",
            ["plugin", "query"],
            buckets=_TRANSLATION_BUCKETS,
            registry=self.registry,
        )
        self.outgoing_tokens = Counter(
            "plugin_runtime_outgoing_tokens", "Outgoing backend tokens signed", ["plugin"], registry=self.registry
        )
        self.cache_requests = Counter(
            "plugin_runtime_cache_requests",
            "Queries of cached plugins, by outcome: hit, miss (a plugin call) or coalesced (shared a call)",
            ["plugin", "query", "outcome"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "plugin_runtime_reloads", "Plugin (re)loads, by outcome", ["plugin", "outcome"], registry=self.registry
        )
        self.registry.register(_StateCollector(snapshots))
        if cursor_stats is not None:
            self.registry.register(_CursorCollector(cursor_stats))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
