"""The real kubectl against the dev cluster: what an admin types during `make run` works as on a cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.devcluster.conftest import manifest, plugin, query
from tests.support.kube import RunningCluster

REPO = Path(__file__).resolve().parents[2]


def _table(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def _set_status(cluster: RunningCluster, name: str, status: dict[str, object]) -> None:
    patch = json.dumps({"status": status})
    cluster.kubectl_ok("patch", "plugin", name, "--subresource=status", "--type=merge", "-p", patch)


def test_applying_the_crd_file_updates_the_installed_crd_cleanly(cluster: RunningCluster) -> None:
    result = cluster.kubectl("apply", "-f", str(REPO / "crds" / "plugins.yaml"))

    assert result.returncode == 0, result.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/plugins.analytics.hyperspot.io" in result.stdout
    assert "Warning" not in result.stderr
    assert _table(cluster.kubectl_ok("get", "crd"))[1][0] == "plugins.analytics.hyperspot.io"


def test_plain_apply_of_a_plugin_needs_no_validate_flag(cluster: RunningCluster) -> None:
    result = cluster.kubectl("apply", "-f", "-", input=manifest(plugin("metrics")))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plugin.analytics.hyperspot.io/metrics created"
    assert result.stderr == ""
    again = cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))
    assert again.strip() == "plugin.analytics.hyperspot.io/metrics unchanged"


def test_get_prints_the_crd_printer_columns_under_every_name_of_the_kind(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics"), plugin("logs", enabled=False)))
    _set_status(cluster, "metrics", {"phase": "Active", "servingVersion": "1.0.0", "health": {"status": "healthy"}})

    for name in ("plugins", "plugin", "plg"):
        rows = _table(cluster.kubectl_ok("get", name))
        assert rows[0] == ["NAME", "PHASE", "HEALTH", "VERSION", "ENABLED", "AGE"]
        assert rows[1][:2] == ["logs", "false"] and len(rows[1]) == 3  # no status yet: blank cells
        assert rows[2][:5] == ["metrics", "Active", "healthy", "1.0.0", "true"]
        assert re.fullmatch(r"\d+s", rows[2][5])  # Age, rendered by the server from creationTimestamp


def test_get_with_all_namespaces_adds_the_namespace_column(cluster: RunningCluster) -> None:
    cluster.kubectl_ok(
        "create", "-f", "-", input=manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    )
    cluster.kubectl_ok("apply", "-n", "team-a", "-f", "-", input=manifest(plugin("metrics")))
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("logs")))

    rows = _table(cluster.kubectl_ok("get", "plugins", "-A"))

    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert [row[:2] for row in rows[1:]] == [["default", "logs"], ["team-a", "metrics"]]
    assert _table(cluster.kubectl_ok("get", "plugins", "-n", "team-a"))[1][0] == "metrics"


def test_yaml_json_and_jsonpath_outputs(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics", queries=[query()])))

    single = yaml.safe_load(cluster.kubectl_ok("get", "plugin", "metrics", "-o", "yaml"))
    listed = cluster.kubectl_json("get", "plugins")
    version = cluster.kubectl_ok("get", "plugin", "metrics", "-o", "jsonpath={.spec.queries[0].id}")

    assert single["kind"] == "Plugin"
    assert single["metadata"]["namespace"] == "default"
    assert single["spec"]["replicas"] == 1  # the CRD's default, filled in by the server
    assert listed["kind"] == "List"  # kubectl re-wraps PluginList items as a v1 List
    assert [item["metadata"]["name"] for item in listed["items"]] == ["metrics"]
    assert version == query()["id"]


def test_describe_shows_status_conditions_and_the_objects_own_events(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics"), plugin("logs")))
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "BackendUnreachable",
        "message": "prometheus did not answer",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    _set_status(cluster, "metrics", {"phase": "Degraded", "conditions": [condition]})
    for name, reason in (("metrics", "HealthCheckFailed"), ("logs", "SomethingElse")):
        target = cluster.kubectl_json("get", "plugin", name)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}-"},
            "involvedObject": {
                "apiVersion": "analytics.hyperspot.io/v1alpha1",
                "kind": "Plugin",
                "name": name,
                "namespace": "default",
                "uid": target["metadata"]["uid"],
            },
            "type": "Warning",
            "reason": reason,
            "message": f"{name} probe failed",
            "source": {"component": "plugin-operator"},
            "firstTimestamp": target["metadata"]["creationTimestamp"],
            "lastTimestamp": target["metadata"]["creationTimestamp"],
            "count": 1,
        }
        cluster.kubectl_ok("create", "-f", "-", input=manifest(event))

    described = cluster.kubectl_ok("describe", "plugin", "metrics")

    assert re.search(r"Phase:\s+Degraded", described)
    assert "prometheus did not answer" in described
    events = described.split("Events:")[1]
    assert "HealthCheckFailed" in events and "plugin-operator" in events and "metrics probe failed" in events
    assert "SomethingElse" not in events


def test_get_events_lists_them_with_the_event_columns(cluster: RunningCluster) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "metrics.1"},
        "involvedObject": {"kind": "Plugin", "name": "metrics", "namespace": "default"},
        "type": "Normal",
        "reason": "Loaded",
        "message": "plugin loaded",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    cluster.kubectl_ok("create", "-f", "-", input=manifest(event))

    rows = _table(cluster.kubectl_ok("get", "events"))

    assert rows[0] == ["NAME", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[1][0] == "metrics.1"
    assert rows[1][2:] == ["Normal", "Loaded", "metrics", "plugin", "loaded"]


def test_merge_patch_changes_the_spec_and_bumps_the_generation(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))

    cluster.kubectl_ok("patch", "plugin", "metrics", "--type=merge", "-p", '{"spec":{"enabled":false}}')

    fields = cluster.kubectl_ok("get", "plg", "metrics", "-o", "jsonpath={.spec.enabled} {.metadata.generation}")
    assert fields == "false 2"


def test_replace_and_edit_rewrite_the_whole_object(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))
    current = cluster.kubectl_ok("get", "plugin", "metrics", "-o", "yaml")

    cluster.kubectl_ok("replace", "-f", "-", input=current.replace("version: 1.0.0", "version: 1.1.0"))
    replaced = cluster.kubectl_ok("get", "plugin", "metrics", "-o", "jsonpath={.spec.version}")
    stale = cluster.kubectl("replace", "-f", "-", input=current)

    assert replaced == "1.1.0"
    assert stale.returncode != 0
    assert "the object has been modified" in stale.stderr


def test_edit_through_an_editor_patches_the_object(cluster: RunningCluster, tmp_path: Path) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/replicas: 1/replicas: 3/" "$1"\n')
    editor.chmod(0o755)

    result = cluster.kubectl("edit", "plugin", "metrics", env={"EDITOR": str(editor)})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plugin.analytics.hyperspot.io/metrics edited"
    assert cluster.kubectl_ok("get", "plugin", "metrics", "-o", "jsonpath={.spec.replicas}") == "3"


def test_delete_removes_the_plugin(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(plugin("metrics")))

    deleted = cluster.kubectl_ok("delete", "plugin", "metrics")
    after = cluster.kubectl("get", "plugin", "metrics")

    assert deleted.startswith('plugin.analytics.hyperspot.io "metrics" deleted')
    assert after.returncode == 1
    assert 'plugins.analytics.hyperspot.io "metrics" not found' in after.stderr


def test_builtin_kinds_the_operator_creates_are_listed_together(cluster: RunningCluster) -> None:
    labels = {"app": "metrics"}
    children = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "metrics-config"}, "data": {"a": "b"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "metrics"},
            "spec": {"type": "ClusterIP", "selector": labels, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "metrics"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "runtime", "image": "runtime:1"}]},
                },
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "metrics"},
            "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"]},
        },
    ]
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(*children))

    output = cluster.kubectl_ok("get", "deploy,svc,cm,netpol")
    wide = _table(cluster.kubectl_ok("get", "deploy", "-o", "wide"))

    for name in (
        "deployment.apps/metrics",
        "service/metrics",
        "configmap/metrics-config",
        "networkpolicy.networking.k8s.io/metrics",
    ):
        assert name in output
    assert wide[0] == ["NAME", "REPLICAS", "AVAILABLE", "AGE", "IMAGE"]
    assert wide[1][:2] == ["metrics", "2"] and wide[1][-1] == "runtime:1"


def test_reapplying_a_deployment_merges_its_containers_by_name(cluster: RunningCluster) -> None:
    containers: list[dict[str, Any]] = [
        {"name": "runtime", "image": "runtime:1", "env": [{"name": "LEVEL", "value": "info"}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "metrics"},
        "spec": {
            "selector": {"matchLabels": {"app": "m"}},
            "template": {"metadata": {"labels": {"app": "m"}}, "spec": {"containers": containers}},
        },
    }
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(deployment))
    containers[0]["image"] = "runtime:2"

    cluster.kubectl_ok("apply", "-f", "-", input=manifest(deployment))

    stored = cluster.kubectl_json("get", "deployment", "metrics")["spec"]["template"]["spec"]["containers"]
    assert stored == [
        {"env": [{"name": "LEVEL", "value": "info"}], "image": "runtime:2", "name": "runtime"},
        {"image": "proxy:1", "name": "sidecar"},
    ]


def test_an_invalid_plugin_is_rejected_with_the_field_named(cluster: RunningCluster) -> None:
    bad = plugin("bad", queries=[query(id="not-a-gts-id")], replicas=50)

    result = cluster.kubectl("apply", "-f", "-", input=manifest(bad))

    assert result.returncode == 1
    assert 'The Plugin "bad" is invalid' in result.stderr
    assert (
        '* spec.queries[0].id: Invalid value: "not-a-gts-id": spec.queries[0].id in body should match' in result.stderr
    )
    assert (
        "* spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 20" in result.stderr
    )
    assert cluster.kubectl("get", "plugin", "bad").returncode == 1


def test_unknown_fields_are_rejected_by_default_and_dropped_with_a_warning_otherwise(cluster: RunningCluster) -> None:
    typo = plugin("metrics", replica=2)

    strict = cluster.kubectl("apply", "-f", "-", input=manifest(typo))
    warned = cluster.kubectl("apply", "--validate=warn", "-f", "-", input=manifest(typo))

    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.replica"' in strict.stderr
    assert warned.returncode == 0
    assert 'Warning: unknown field "spec.replica"' in warned.stderr
    assert "replica" not in cluster.kubectl_json("get", "plugin", "metrics")["spec"]


def test_label_selectors(cluster: RunningCluster) -> None:
    plugins = [
        plugin("gold", labels={"tier": "gold"}),
        plugin("silver", labels={"tier": "silver"}),
        plugin("plain"),
    ]
    cluster.kubectl_ok("apply", "-f", "-", input=manifest(*plugins))

    def selected(selector: str) -> list[str]:
        return cluster.kubectl_ok("get", "plugins", "-l", selector, "-o", "name").split()

    assert selected("tier=gold") == ["plugin.analytics.hyperspot.io/gold"]
    assert selected("tier!=gold") == ["plugin.analytics.hyperspot.io/plain", "plugin.analytics.hyperspot.io/silver"]
    assert selected("tier in (gold,silver)") == [
        "plugin.analytics.hyperspot.io/gold",
        "plugin.analytics.hyperspot.io/silver",
    ]
    assert selected("!tier") == ["plugin.analytics.hyperspot.io/plain"]


def test_explain_reads_the_field_descriptions_of_the_crd(cluster: RunningCluster) -> None:
    explained = cluster.kubectl_ok("explain", "plugin.spec.version")

    assert "KIND:       Plugin" in explained
    assert "Plugin version; changing it rolls out a new runtime." in explained


def test_kubectl_create_commands_of_a_dev_loop_work(cluster: RunningCluster) -> None:
    cluster.kubectl_ok("create", "namespace", "team-a")
    cluster.kubectl_ok("create", "secret", "generic", "token", "-n", "team-a", "--from-literal=api_key=s3cr3t")
    cluster.kubectl_ok("create", "configmap", "settings", "--from-literal=level=debug")

    secret = cluster.kubectl_json("get", "secret", "token", "-n", "team-a")
    config = cluster.kubectl_json("get", "configmap", "settings")

    assert (secret["type"], secret["data"]) == ("Opaque", {"api_key": "czNjcjN0"})
    assert config["data"] == {"level": "debug"}
    assert config["metadata"]["namespace"] == "default"


def test_other_create_commands_get_a_hint_to_apply_instead(cluster: RunningCluster) -> None:
    result = cluster.kubectl("create", "deployment", "web", "--image=nginx")
    piped = cluster.kubectl_ok("create", "deployment", "web", "--image=nginx", "--dry-run=client", "-o", "yaml")

    assert result.returncode == 1
    assert "--dry-run=client -o yaml" in result.stderr
    assert cluster.kubectl_ok("apply", "-f", "-", input=piped).strip() == "deployment.apps/web created"
