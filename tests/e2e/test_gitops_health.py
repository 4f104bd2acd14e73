"""How Argo CD and Flux judge a Plugin's health, evaluated on the statuses the operator really writes.

The shipped checks (deploy/gitops/) run here as the GitOps tools run them: the Argo CD Lua script in a
Lua interpreter (lupa) with the Plugin as `obj`, the Flux healthCheckExprs as CEL (cel-python) with
the Plugin's fields as variables, evaluated in Flux's order (inProgress, failed, current; none: in
progress). kstatus's own rules (observedGeneration, Reconciling/Stalled) are checked too, to show why
they are not enough on their own.
"""

from __future__ import annotations

import json
from typing import Any

import celpy
import lupa
import pytest
import yaml

from plugin_operator.app import repo_root
from tests.e2e.conftest import Harness, localsql_plugin, unique, wait_for

GITOPS = repo_root() / "deploy" / "gitops"


def argo_health(plugin: dict[str, Any]) -> str:
    lua = lupa.LuaRuntime()
    lua.globals().obj = lua.table_from(plugin, recursive=True)
    result = lua.execute((GITOPS / "argocd-plugin-health.lua").read_text(encoding="utf-8"))
    assert result.message, "Argo CD shows the message beside the status"
    return str(result.status)


def flux_health(plugin: dict[str, Any]) -> str:
    [check] = yaml.safe_load((GITOPS / "flux-plugin-health.yaml").read_text(encoding="utf-8"))
    assert (check["apiVersion"], check["kind"]) == (plugin["apiVersion"], plugin["kind"])
    environment = celpy.Environment()
    activation = {key: celpy.json_to_cel(value) for key, value in plugin.items()}
    activation.setdefault("status", celpy.json_to_cel({}))
    for field, verdict in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        if environment.program(environment.compile(check[field])).evaluate(activation):
            return verdict
    return "InProgress"


def kstatus(plugin: dict[str, Any]) -> str:
    """kstatus's generic rules for a custom resource (what Flux uses without healthCheckExprs)."""
    status = plugin.get("status") or {}
    if "observedGeneration" in status and status["observedGeneration"] != plugin["metadata"].get("generation"):
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    return "Current"


def _object(harness: Harness, name: str) -> dict[str, Any]:
    plugin = harness.get(name)
    assert plugin is not None
    return plugin


def _verdicts(plugin: dict[str, Any]) -> tuple[str, str]:
    return argo_health(plugin), flux_health(plugin)


def test_a_plugin_is_progressing_until_its_version_serves_then_healthy(harness: Harness) -> None:
    name = unique("gitops")
    created = json.loads(
        harness.cluster.kubectl_ok("create", "-f", "-", "-o", "json", input=yaml.safe_dump(localsql_plugin(name)))
    )
    assert _verdicts(created) == ("Progressing", "InProgress")

    harness.wait_phase(name, "Active")
    active = _object(harness, name)
    assert _verdicts(active) == ("Healthy", "Current")
    assert kstatus(active) == "Current"

    patched = json.loads(
        harness.cluster.kubectl_ok(
            "patch", "plugin", name, "--type=merge", "-p", '{"spec":{"version":"1.1.0"}}', "-o", "json"
        )
    )
    assert patched["metadata"]["generation"] == 2 and patched["status"]["observedGeneration"] == 1
    assert _verdicts(patched) == ("Progressing", "InProgress")
    assert kstatus(patched) == "InProgress"

    wait_for(lambda: harness.status(name).get("servingVersion") == "1.1.0", timeout=40, what="1.1.0 to serve")
    assert _verdicts(_object(harness, name)) == ("Healthy", "Current")


def test_a_failed_rollout_is_degraded_although_the_old_version_serves(harness: Harness) -> None:
    name = unique("gitops-bad")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    harness.patch(name, {"spec": {"version": "2.0.0", "config": {"table": "server_metrics", "colour": "blue"}}})
    wait_for(lambda: harness.status(name).get("failedVersion") == "2.0.0", timeout=40, what="2.0.0 to fail")

    plugin = _object(harness, name)
    assert plugin["status"]["servingVersion"] == "1.0.0"
    assert harness.condition(name, "Ready")["status"] == "True"  # 1.0.0 still answers queries
    assert _verdicts(plugin) == ("Degraded", "Failed")
    # Why the checks are shipped: by kstatus's rules alone the failed change looks current.
    assert kstatus(plugin) == "Current"


def test_an_invalid_new_plugin_is_degraded(harness: Harness) -> None:
    name = unique("gitops-invalid")
    broken = localsql_plugin(name)
    broken["spec"]["queries"] = broken["spec"]["queries"] * 2  # passes the schema, not the model
    harness.apply(broken)
    harness.wait_phase(name, "Failed", timeout=30)
    assert _verdicts(_object(harness, name)) == ("Degraded", "Failed")


def test_a_disabled_plugin_is_suspended_in_argo_and_current_in_flux(harness: Harness) -> None:
    name = unique("gitops-off")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")
    harness.patch(name, {"spec": {"enabled": False}})
    wait_for(lambda: harness.condition(name, "Ready").get("reason") == "Disabled", timeout=30, what="disabled")
    wait_for(lambda: _object(harness, name)["status"]["observedGeneration"] == 2, timeout=30, what="observed")
    assert _verdicts(_object(harness, name)) == ("Suspended", "Current")


def test_a_plugin_waiting_for_a_dependency_is_progressing(harness: Harness) -> None:
    name = unique("gitops-waits")
    harness.apply(localsql_plugin(name, dependsOn=[unique("missing")]))
    wait_for(
        lambda: harness.condition(name, "Progressing").get("reason") == "DependencyNotReady",
        timeout=20,
        what="the plugin to wait",
    )
    assert _verdicts(_object(harness, name)) == ("Progressing", "InProgress")


@pytest.mark.parametrize("path", sorted(p.name for p in GITOPS.iterdir()))
def test_shipped_checks_are_documented_in_the_readme(path: str) -> None:
    assert f"deploy/gitops/{path}" in (repo_root() / "README.md").read_text(encoding="utf-8")
