"""Every example under examples/plugins runs as documented."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from .conftest import Serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
GREETINGS = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.greetings.v1"
METRICS = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.server_metrics.v1"


def test_example_runtime_serves_the_hello_world_plugin_and_local_metrics(serve: Serve) -> None:
    config = yaml.safe_load((EXAMPLES / "runtime.yaml").read_text())
    config["plugins_dir"] = str(EXAMPLES)
    with serve(config) as runtime:
        body = runtime.get(
            "/examples/greetings", params={"$orderby": "name desc", "$top": "2", "$count": "true"}
        ).json()
        assert body["@odata.count"] == 5
        assert body["value"] == [
            {"name": "anonymous", "message": "Hello, anonymous!"},
            {"name": "Margaret", "message": "Hello, Margaret!"},
        ]
        assert body["@odata.context"].endswith("/$metadata#greetings")
        refused = runtime.get(f"/queries/{GREETINGS}", params={"$filter": "name eq 'Ada'"})
        assert refused.status_code == 501 and "greetings cannot be filtered" in refused.json()["detail"]
        metrics = runtime.get(
            "/examples/server-metrics", params={"$filter": "region eq 'eu-west'", "$count": "true", "$top": "1"}
        )
        sample = csv.DictReader((Path(__file__).resolve().parents[2] / "adapters/localsql/sample_data.csv").open())
        assert metrics.json()["@odata.count"] == sum(row["region"] == "eu-west" for row in sample)
        assert {p["plugin_id"]: p["status"] for p in runtime.get("/health").json()["plugins"]} == {
            "hello-world": "healthy",
            "local-metrics": "healthy",
        }
        assert set(
            runtime.get("/$metadata", headers={"Accept": "application/json"}).json()["HyperSpot.Analytics"]["Queries"]
        ) == {
            "$Kind",
            "greetings",
            "server_metrics",
        }
