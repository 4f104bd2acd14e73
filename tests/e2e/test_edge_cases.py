"""The spec's edge cases and failure modes, end to end: every bad input ends in a clear status."""

from __future__ import annotations

import base64
import json
import uuid

import yaml

from tests.e2e.conftest import Harness, localsql_plugin, query_id, unique, wait_for


def _failed(harness: Harness, name: str, reason: str) -> dict:
    status = harness.wait_phase(name, "Failed")
    ready = harness.condition(name, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason), ready
    assert status["lastError"]["reason"] == reason
    assert reason in {e["reason"] for e in harness.events(name) if e["type"] == "Warning"}
    return ready


def test_invalid_spec_fails_with_a_message_and_creates_nothing(harness: Harness) -> None:
    name = unique("invalid")
    manifest = localsql_plugin(name)
    manifest["spec"]["queries"] = manifest["spec"]["queries"] * 2  # passes the CRD schema, not the model
    harness.apply(manifest)
    ready = _failed(harness, name, "InvalidSpec")
    assert "declared more than once" in ready["message"]
    assert not harness.runtime_pids(name)
    assert harness.database.get_plugin(name) is None


def test_schema_violations_are_rejected_by_kubectl_apply(harness: Harness) -> None:
    manifest = localsql_plugin(unique("schema"))
    manifest["spec"]["queries"][0]["id"] = "gts.hypernetix.hyperspot.ax.query.v1"  # not chained
    result = harness.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    assert result.returncode != 0
    assert "spec.queries[0].id" in result.stderr


def test_duplicate_gts_id_across_plugins_is_a_conflict(harness: Harness) -> None:
    owner = unique("owner")
    harness.apply(localsql_plugin(owner))
    harness.wait_phase(owner, "Active")

    intruder = unique("intruder")
    manifest = localsql_plugin(intruder)
    manifest["spec"]["queries"][0]["id"] = query_id(owner)
    harness.apply(manifest)
    _failed(harness, intruder, "Conflict")
    registered = harness.condition(intruder, "Registered")
    assert registered["status"] == "False" and owner in registered["message"]
    # Its runtime started before the conflict showed; stopping it is the kubelet's graceful termination.
    wait_for(lambda: not harness.runtime_pids(intruder), timeout=30, what="the conflicting plugin's runtime to stop")
    # The owner is untouched.
    assert harness.status(owner)["phase"] == "Active"
    entity = harness.database.run(
        lambda tx: __import__("plugin_operator.db", fromlist=["entities"]).entities.get(tx, query_id(owner))
    )
    assert (entity.owner_plugin_id, entity.state) == (owner, "active")

    # Adoption needs an explicit annotation; with it the intruder takes over.
    harness.cluster.kubectl_ok("annotate", "plugin", intruder, "analytics.hyperspot.io/adopt-entities=true")
    harness.wait_phase(intruder, "Active")


def test_two_plugins_claiming_one_plugin_id_is_a_version_conflict(harness: Harness) -> None:
    first, second = unique("first"), unique("second")
    shared = unique("shared-id")
    harness.apply(localsql_plugin(first, pluginId=shared))
    harness.wait_phase(first, "Active")
    manifest = localsql_plugin(second, version="9.9.9", pluginId=shared)
    manifest["spec"]["queries"][0]["id"] = query_id(second)
    harness.apply(manifest)
    ready = _failed(harness, second, "Conflict")
    assert f"Plugin default/{first}" in ready["message"] and "1.0.0" in ready["message"]
    assert harness.database.get_plugin(shared).cr_name == first


def test_circular_dependencies_are_rejected_and_recover_once_broken(harness: Harness) -> None:
    a, b = unique("cycle-a"), unique("cycle-b")
    harness.apply(localsql_plugin(a, dependsOn=[b]))
    manifest = localsql_plugin(b, dependsOn=[a])
    harness.apply(manifest)
    ready = wait_for(
        lambda: (c := harness.condition(b, "Ready")).get("reason") == "CircularDependency" and c,
        timeout=30,
        what="the cycle to be reported",
    )
    assert f"{b} → {a} → {b}" in ready["message"]
    harness.wait_phase(a, "Failed", timeout=30)  # a, retrying its wait, finds the cycle too

    # Breaking the cycle by editing b alone: a, Failed for the cycle with an unchanged spec, recovers.
    harness.patch(b, {"spec": {"dependsOn": []}})
    harness.wait_phase(b, "Active", timeout=60)
    recovered = harness.wait_phase(a, "Active", timeout=60)
    assert harness.condition(a, "Ready")["status"] == "True"
    assert recovered["observedGeneration"] == harness.get(a)["metadata"]["generation"]


def test_dependency_waits_until_active(harness: Harness) -> None:
    base, dependent = unique("base"), unique("dependent")
    harness.apply(localsql_plugin(dependent, dependsOn=[base]))
    wait_for(
        lambda: harness.condition(dependent, "Progressing").get("reason") == "DependencyNotReady",
        timeout=20,
        what="the dependent plugin to wait",
    )
    assert harness.status(dependent).get("phase") != "Active"
    harness.apply(localsql_plugin(base))
    harness.wait_phase(base, "Active")
    harness.wait_phase(dependent, "Active", timeout=40)


def _secret(name: str, value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": "Opaque",
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }


def test_missing_secret_then_rotation_rolls_the_runtime_and_never_leaks(harness: Harness) -> None:
    name, secret_name = unique("secret"), unique("creds")
    planted = f"planted-{uuid.uuid4().hex}"
    manifest = localsql_plugin(name, secretRefs=[{"name": "api_key", "secretName": secret_name, "key": "token"}])
    harness.apply(manifest)
    ready = _failed(harness, name, "InvalidSpec")
    assert secret_name in ready["message"] and "api_key" in ready["message"]

    harness.apply(_secret(secret_name, planted))
    first = harness.wait_phase(name, "Active")
    rotated = f"rotated-{uuid.uuid4().hex}"
    harness.apply(_secret(secret_name, rotated))
    second = wait_for(
        lambda: (
            (s := harness.status(name)).get("configHash") != first["configHash"] and s.get("phase") == "Active" and s
        ),
        timeout=40,
        what="the Secret rotation to roll the runtime",
    )
    assert second["endpoint"] != first["endpoint"]
    assert harness.query(name).status_code == 200

    # Neither value appears in the CR, its Events, the database rows, the API or the runtime config.
    surfaces = [
        harness.cluster.kubectl_ok("get", "plugin", name, "-o", "json"),
        json.dumps(harness.events(name)),
        json.dumps(harness.database.get_plugin(name).__dict__, default=str),
        harness.api("GET", f"/plugins/{name}").text,
        harness.api("GET", f"/plugins/{name}/health").text,
    ]
    surfaces += [p.read_text(errors="replace") for p in harness.runtime_files(name)]
    for text in surfaces:
        assert planted not in text and rotated not in text


def test_a_bad_change_to_a_serving_plugin_keeps_the_old_version_serving(harness: Harness) -> None:
    name = unique("keep")
    harness.apply(localsql_plugin(name))
    first = harness.wait_phase(name, "Active")
    broken = localsql_plugin(name, version="2.0.0")
    broken["spec"]["queries"] = broken["spec"]["queries"] * 2  # passes the schema, not the model
    harness.apply(broken)
    progressing = wait_for(
        lambda: (c := harness.condition(name, "Progressing")).get("reason") == "InvalidSpec" and c,
        timeout=30,
        what="the change to be rejected",
    )
    assert "declared more than once" in progressing["message"] and "1.0.0 keeps serving" in progressing["message"]
    status = harness.status(name)
    assert (status["phase"], status["servingVersion"], status["endpoint"]) == ("Active", "1.0.0", first["endpoint"])
    assert harness.query(name).status_code == 200
    assert "InvalidSpec" in {e["reason"] for e in harness.events(name) if e["type"] == "Warning"}
