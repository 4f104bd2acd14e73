"""The operator scale benchmark converges a few shared Plugins end to end on the Kubernetes driver and
reports in the agreed form."""

from __future__ import annotations

import re

import yaml

from bench import operator_scale
from plugin_operator import pooling
from plugin_operator.models import PluginSpec
from plugin_operator.runtime_spec import RuntimeMode


def test_every_plugin_becomes_active_and_the_time_and_memory_are_reported(
    scale_lines: list[str], scale_plugins: int
) -> None:
    line = re.fullmatch(
        r"operator scale: (\d+) Plugins Active in ([0-9.]+) s, runtime memory ([0-9.]+) MiB total "
        r"\((\d+)/(\d+) Active, (\d+) runtime processes, kubectl apply [0-9.]+ s\); "
        r"target < 30 s and < 2048 MiB: (PASS|MISS)",
        scale_lines[0],
    )
    assert line is not None, scale_lines[0]
    assert int(line.group(1)) == int(line.group(4)) == int(line.group(5)) == scale_plugins
    assert int(line.group(6)) == 1  # a few shared Plugins: one pool, one runtime process
    seconds, memory = float(line.group(2)), float(line.group(3))
    assert 20 < memory < 1000  # one pod's processes' PSS, measured
    passed = seconds < operator_scale.target_seconds(scale_plugins) and memory < operator_scale.MEMORY_TARGET_MIB
    assert line.group(7) == ("PASS" if passed else "MISS")


def test_cpu_per_reconcile_counts_the_reconciles_of_the_run(scale_lines: list[str], scale_plugins: int) -> None:
    line = re.fullmatch(
        r"operator CPU: ([0-9.]+) ms per reconcile \((\d+) Plugins, (\d+) reconciles: (.*); ([0-9.]+) s operator CPU, "
        r"[0-9.]+ s dev cluster CPU, ([0-9.]+) s runtime CPU\)",
        scale_lines[1],
    )
    assert line is not None, scale_lines[1]
    assert int(line.group(2)) == scale_plugins
    reconciles = int(line.group(3))
    by_result = {result: int(count) for count, result in (part.split(" ") for part in line.group(4).split(", "))}
    assert sum(by_result.values()) == reconciles and by_result.get("success", 0) >= scale_plugins
    per_reconcile, cpu_seconds = float(line.group(1)), float(line.group(5))
    assert abs(per_reconcile - cpu_seconds * 1000 / reconciles) <= 0.05 + 5 / reconciles  # both rounded
    assert float(line.group(6)) > 0  # the runtime process did load the plugins
    assert scale_lines[2].startswith("  how: ") and len(scale_lines) == 3


def test_the_manifest_holds_valid_shared_plugins_with_distinct_names_and_queries() -> None:
    documents = list(yaml.safe_load_all(operator_scale.manifest("scale-test", 12)))
    assert len(documents) == 12
    assert len({d["metadata"]["name"] for d in documents}) == 12
    specs = [PluginSpec.model_validate(d["spec"]) for d in documents]
    assert len({query.id for spec in specs for query in spec.queries}) == 12
    assert {pooling.mode(spec, RuntimeMode.DEDICATED) for spec in specs} == {RuntimeMode.SHARED}
    assert len({pooling.class_of(spec) for spec in specs}) == 1  # one class: they fill pools in turn


def test_the_targets_follow_the_size() -> None:
    assert operator_scale.target_seconds(200) == 30 and operator_scale.target_seconds(1000) == 150
    assert operator_scale.target_seconds(3) == 30


def test_memory_is_the_proportional_set_size_of_the_processes_given() -> None:
    import os

    own = operator_scale.pss_mib([os.getpid()])
    assert 1 < own < 4096
    assert operator_scale.pss_mib([os.getpid(), 2**22 + 7]) == own  # a process that is gone counts nothing
