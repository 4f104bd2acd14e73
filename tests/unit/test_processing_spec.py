"""The Plugin's cache and processing fields: validated when applied, rendered into the runtime config."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from plugin_operator import models, processing_spec, runtime_config

QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.cpu.v1"


def spec(**overrides: Any) -> dict[str, Any]:
    query = {
        "id": QUERY,
        "name": "CPU",
        "category": "monitoring",
        "apiEndpoint": "/cpu",
        "capabilitiesId": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.examples._.default.v1",
        "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.examples._.cpu.v1~",
        **overrides.pop("query", {}),
    }
    return {"version": "1.0.0", "contractFormat": "native", "adapter": "localsql", "queries": [query], **overrides}


def test_cache_and_steps_reach_the_runtime_config() -> None:
    plugin = models.PluginSpec.model_validate(
        spec(
            cache={"ttl": "1m30s", "maxEntries": 10, "maxBytes": "2Mi", "scope": "caller"},
            processing=[{"rename": {"cpu": "cpu_usage"}}],
            query={"cache": {"ttl": "5s"}, "processing": [{"convert": {"property": "m", "from": "B", "to": "KiB"}}]},
        )
    )
    (entry,) = runtime_config.build(plugin_id="p", spec=plugin).plugins
    assert entry.cache is not None
    assert (entry.cache.ttl_seconds, entry.cache.max_entries, entry.cache.max_bytes, entry.cache.scope) == (
        90.0,
        10,
        2 * 2**20,
        "caller",
    )
    assert [s.rename for s in entry.processing] == [{"cpu": "cpu_usage"}]
    (query,) = entry.queries
    assert query.cache is not None and query.cache.ttl_seconds == 5.0 and query.cache.enabled
    assert query.processing[0].convert == {"property": "m", "from": "B", "to": "KiB"}


def test_without_cache_nothing_is_cached() -> None:
    (entry,) = runtime_config.build(plugin_id="p", spec=models.PluginSpec.model_validate(spec())).plugins
    assert entry.cache is None and entry.processing == []


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"processing": [{"compute": {"x": "a eq 1"}}]}, "only numbers, properties"),
        ({"processing": [{"rename": {"a": "b"}, "drop": ["c"]}]}, "exactly one of"),
        ({"processing": [{}]}, "exactly one of"),
        ({"query": {"processing": [{"convert": {"property": "m", "from": "B", "to": "h"}}]}}, "cannot convert"),
        ({"cache": {"ttl": "soon"}}, "cache.ttl"),
        ({"cache": {"maxBytes": "lots"}}, "cache.maxBytes"),
        ({"cache": {"scope": "everyone"}}, "cache.scope"),
    ],
)
def test_bad_declarations_are_rejected_when_applied(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        models.PluginSpec.model_validate(spec(**overrides))
    assert says in str(caught.value)


def test_sizes() -> None:
    assert processing_spec.parse_bytes("512") == 512
    assert processing_spec.parse_bytes("64Mi") == 64 * 2**20
    assert processing_spec.parse_bytes("2G") == 2 * 10**9
    with pytest.raises(ValueError):
        processing_spec.parse_bytes("2TB")


def test_the_api_passes_the_runtime_cache_state_through_live_health() -> None:
    from plugin_operator.api import views

    cache = {"enabled": True, "scope": "tenant", "hits": 3, "misses": 1, "coalesced": 2, "evictions": 0}
    document = {"status": "healthy", "plugin_id": "p", "version": "1", "dependencies": [], "cache": cache}
    shown = views.live_health("p", document)
    assert shown is not None and shown.model_dump()["cache"] == cache
