"""The custom-processing example manifest does what its comments say, in a real runtime rendered
from it the way the operator renders one."""

from __future__ import annotations

from typing import Any

import yaml

from plugin_operator import models, runtime_config
from plugin_operator.app import repo_root

from .conftest import Serve

EXAMPLE = repo_root() / "examples" / "manifests" / "cached-metrics.yaml"


def rendered() -> tuple[dict[str, Any], str]:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    spec = models.PluginSpec.model_validate(manifest["spec"])
    built = runtime_config.build(plugin_id=manifest["metadata"]["name"], spec=spec)
    return built.model_dump(mode="json") | {"watch_interval_seconds": None}, spec.queries[0].id


def test_the_cached_metrics_example_processes_and_caches(serve: Serve) -> None:
    config, query = rendered()
    with serve(config) as runtime:
        options = {"$filter": "cpu gt 80", "$select": "host,cpu,cpu_ratio,memory_gib", "$orderby": "cpu desc"}
        translated = runtime.get(f"/queries/{query}/translate", params=options).json()
        assert translated["options"]["$filter"] == "cpu_usage gt 80"
        assert translated["options"]["$select"] == "host,cpu_usage,memory_mb"
        assert translated["options"]["$top"] == "100"  # the query's defaults step
        first = runtime.get(f"/queries/{query}", params=options)
        assert first.status_code == 200, first.text
        rows = first.json()["value"]
        assert rows and all(set(row) == {"host", "cpu", "cpu_ratio", "memory_gib"} for row in rows)
        assert all(row["cpu"] > 80 and abs(row["cpu_ratio"] - row["cpu"] / 100) < 1e-9 for row in rows)
        assert all(0 < row["memory_gib"] < 64 for row in rows)  # MiB in the table, GiB in the answer
        assert first.headers["cache-control"] == "private, max-age=15"
        again = runtime.get(f"/queries/{query}", params=options)
        assert again.json()["value"] == rows
        health = runtime.get("/plugins/cached-metrics/health").json()
        assert health["cache"]["hits"] == 1 and health["cache"]["misses"] == 1
        refused = runtime.get(f"/queries/{query}", params={"$filter": "memory_gib gt 1"})
        assert refused.status_code == 501 and "converted" in refused.json()["detail"]
        assert runtime.get(f"/queries/{query}", params={"$select": "id"}).status_code == 400
