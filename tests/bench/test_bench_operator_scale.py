"""The operator scale benchmark converges a few Plugins end to end and reports in the agreed form."""

from __future__ import annotations

import re

import yaml

from bench import operator_scale
from plugin_operator import desired
from plugin_operator.desired import Instance
from plugin_operator.models import PluginSpec


def test_every_plugin_becomes_active_and_the_time_is_reported(scale_lines: list[str], scale_plugins: int) -> None:
    line = re.fullmatch(
        r"operator scale: (\d+)/(\d+) Plugins Active in ([0-9.]+) s \(kubectl apply [0-9.]+ s\); "
        r"target < 30 s: (met|MISSED)",
        scale_lines[0],
    )
    assert line is not None, scale_lines[0]
    assert int(line.group(1)) == int(line.group(2)) == scale_plugins
    assert line.group(4) == ("met" if float(line.group(3)) < operator_scale.TARGET_SECONDS else "MISSED")


def test_cpu_per_reconcile_counts_the_reconciles_of_the_run(scale_lines: list[str], scale_plugins: int) -> None:
    line = re.fullmatch(
        r"operator CPU: ([0-9.]+) ms per reconcile \((\d+) reconciles: (.*); ([0-9.]+) s operator CPU, "
        r"[0-9.]+ s dev cluster CPU\)",
        scale_lines[1],
    )
    assert line is not None, scale_lines[1]
    reconciles = int(line.group(2))
    by_result = {result: int(count) for count, result in (part.split(" ") for part in line.group(3).split(", "))}
    assert sum(by_result.values()) == reconciles and by_result.get("success", 0) >= scale_plugins
    per_reconcile, cpu_seconds = float(line.group(1)), float(line.group(4))
    assert abs(per_reconcile - cpu_seconds * 1000 / reconciles) <= 0.05 + 5 / reconciles  # both rounded
    assert scale_lines[2].startswith("  how: ") and len(scale_lines) == 3


def test_the_manifest_holds_valid_plugins_with_distinct_names_and_queries() -> None:
    documents = list(yaml.safe_load_all(operator_scale.manifest("scale-test", 12)))
    assert len(documents) == 12
    assert len({d["metadata"]["name"] for d in documents}) == 12
    specs = [PluginSpec.model_validate(d["spec"]) for d in documents]
    assert len({query.id for spec in specs for query in spec.queries}) == 12


def _instance(key: str, version: str) -> Instance:
    spec = PluginSpec.model_validate({"version": version, "contractFormat": "native", "adapter": "localsql"})
    return desired.instance(
        namespace="default", cr_name=key, uid="uid", plugin_id=key, spec=spec, target=desired.Target(image="noop")
    )


async def test_the_noop_driver_runs_instances_the_noop_client_reports_as_hosted() -> None:
    driver = operator_scale.NoopDriver()
    client = operator_scale.NoopRuntimeClient(driver)
    first, second = _instance("a", "1.0.0"), _instance("a", "2.0.0")
    handle = await driver.start(first)
    assert await driver.start(first) == handle  # adopted, not started twice
    await driver.start(second)
    assert await driver.find(first.key, first.instance_id) == handle and await client.live(handle.endpoint)
    metadata = await client.metadata(handle.endpoint)
    assert [(p["id"], p["version"], p["state"]) for p in metadata["plugins"]] == [("a", "1.0.0", "Active")]
    probe = await client.probe(handle.endpoint, "a")
    assert probe.reachable and probe.status == "healthy" and probe.document and probe.document["plugin_id"] == "a"
    await driver.suspend(first)
    assert await driver.find(first.key, first.instance_id) is None and not await client.live(handle.endpoint)
    await driver.stop_all(first.key)
    assert await driver.find(second.key, second.instance_id) is None
