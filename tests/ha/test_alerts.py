"""The chart's PrometheusRule: valid for Prometheus (`promtool check rules`), each alert firing on its
failure and quiet otherwise (`promtool test rules` on tests/ha/alerts-test.yaml), each with a runbook.

promtool comes from Debian's `prometheus` package (installed by .ci/run); without it these fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import helm
from tests.chart.conftest import MINIMAL

HERE = Path(__file__).parent
README = helm.REPO / "README.md"


def _rule_groups() -> list[dict[str, Any]]:
    objects = helm.render_chart(
        {**MINIMAL, "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    )
    [rule] = [o for o in objects if o["kind"] == "PrometheusRule"]
    return list(rule["spec"]["groups"])


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in _rule_groups() for rule in group["rules"]}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package prometheus; .ci/run installs it)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "plugin-operator-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": _rule_groups()}), encoding="utf-8")
    return path


def test_the_rules_pass_promtool_check(rule_file: Path) -> None:
    result = _promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_every_alert_behaves_as_its_promtool_unit_tests_say(rule_file: Path, tmp_path: Path) -> None:
    alerts = _alerts()
    tests = yaml.safe_load((HERE / "alerts-test.yaml").read_text(encoding="utf-8"))
    tests["rule_files"] = [str(rule_file)]
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            for expected in check["exp_alerts"]:
                expected["exp_annotations"] = alerts[check["alertname"]]["annotations"]
    path = tmp_path / "alerts-test.yaml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")

    result = _promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((HERE / "alerts-test.yaml").read_text(encoding="utf-8"))["tests"]
    checks = [check for case in tests for check in case["alert_rule_test"]]
    for name in _alerts():
        assert any(c["alertname"] == name and c["exp_alerts"] for c in checks), f"{name} is never tested firing"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in checks), f"{name} is never tested quiet"


def test_the_issue_asks_for_these_alerts() -> None:
    """Plugins not Ready, failed rollouts, open breakers, reconcile errors, a stalled leader, no database."""
    assert set(_alerts()) == {
        "PluginNotReady",
        "PluginRolloutFailed",
        "PluginCircuitOpen",
        "PluginOperatorReconcileErrors",
        "PluginOperatorLeaderStalled",
        "PluginOperatorNoLeader",
        "PluginOperatorDatabaseUnavailable",
    }


def test_every_alert_links_to_its_runbook_in_the_readme() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for name, rule in _alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and anchor in headings, f"README has no runbook heading for {name}"


def test_no_rule_unless_enabled() -> None:
    assert not [o for o in helm.render_chart(MINIMAL) if o["kind"] == "PrometheusRule"]
