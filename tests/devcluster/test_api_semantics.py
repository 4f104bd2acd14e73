"""API-server behaviour the operator relies on, checked over HTTP: generation, status isolation,
finalizers, garbage collection, selectors, watches, conflicts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from plugin_devcluster import storage
from tests.devcluster.conftest import CONFIGMAPS, DEPLOYMENTS, PLUGINS, plugin
from tests.support import kube

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    return dict(response.json())


def _patch(api: httpx.Client, path: str, body: Any, headers: dict[str, str] = MERGE) -> httpx.Response:
    return api.patch(path, content=json.dumps(body), headers=headers)


def _watch(api: httpx.Client, path: str, count: int, **params: str) -> list[dict[str, Any]]:
    """The first `count` events of a watch (the server ends the stream after 5 s at the latest)."""
    events: list[dict[str, Any]] = []
    with api.stream("GET", path, params={"watch": "true", "timeoutSeconds": "5", **params}) as stream:
        for line in stream.iter_lines():
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


def _owned_by(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}


def _configmap(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": [_owned_by(o) for o in owners]}, "data": {"k": "v"}}


def test_create_fills_the_server_owned_metadata_and_drops_status(api: httpx.Client) -> None:
    body = plugin("metrics")
    body["status"] = {"phase": "Active"}
    body["metadata"]["uid"] = "chosen-by-client"

    created = api.post(PLUGINS, json=body)

    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert meta["uid"] != "chosen-by-client" and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert "status" not in created.json()


def test_generation_counts_spec_changes_only(api: httpx.Client) -> None:
    _ok(api.post(PLUGINS, json=plugin("metrics")))

    spec_change = _ok(_patch(api, f"{PLUGINS}/metrics", {"spec": {"replicas": 2}}))
    label_change = _ok(_patch(api, f"{PLUGINS}/metrics", {"metadata": {"labels": {"a": "b"}}}))
    status_change = _ok(
        _patch(api, f"{PLUGINS}/metrics/status", {"status": {"phase": "Active", "observedGeneration": 2}})
    )
    no_change = _ok(_patch(api, f"{PLUGINS}/metrics", {"spec": {"replicas": 2}}))

    assert [o["metadata"]["generation"] for o in (spec_change, label_change, status_change)] == [2, 2, 2]
    assert no_change["metadata"]["resourceVersion"] == status_change["metadata"]["resourceVersion"]


def test_status_and_spec_writes_are_isolated(api: httpx.Client) -> None:
    _ok(api.post(PLUGINS, json=plugin("metrics")))
    _ok(_patch(api, f"{PLUGINS}/metrics/status", {"status": {"phase": "Active"}}))

    main = _ok(_patch(api, f"{PLUGINS}/metrics", {"spec": {"replicas": 3}, "status": {"phase": "Failed"}}))
    status = _ok(_patch(api, f"{PLUGINS}/metrics/status", {"spec": {"replicas": 9}, "status": {"phase": "Degraded"}}))
    replaced = dict(status, spec={**status["spec"], "replicas": 4}, status={"phase": "Failed"})
    put = _ok(api.put(f"{PLUGINS}/metrics", json=replaced))

    assert (main["spec"]["replicas"], main["status"]["phase"]) == (3, "Active")
    assert (status["spec"]["replicas"], status["status"]["phase"]) == (3, "Degraded")
    assert (put["spec"]["replicas"], put["status"]["phase"]) == (4, "Degraded")
    assert put["metadata"]["generation"] == 3


def test_status_writes_are_validated_against_the_schema(api: httpx.Client) -> None:
    _ok(api.post(PLUGINS, json=plugin("metrics")))

    rejected = _patch(api, f"{PLUGINS}/metrics/status", {"status": {"phase": "Sleeping"}})

    assert rejected.status_code == 422
    assert rejected.json()["details"]["causes"][0]["field"] == "status.phase"


def test_a_failed_json_patch_test_is_a_422(api: httpx.Client) -> None:
    created = _ok(api.post(PLUGINS, json=plugin("metrics")))
    stale = str(int(created["metadata"]["resourceVersion"]) - 1)
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]

    refused = _patch(api, f"{PLUGINS}/metrics", ops, JSON_PATCH)
    ops[0]["value"] = created["metadata"]["resourceVersion"]
    accepted = _patch(api, f"{PLUGINS}/metrics", ops, JSON_PATCH)

    assert refused.status_code == 422
    assert accepted.json()["metadata"]["finalizers"] == ["x/y"]


def test_conflicts_and_missing_things(api: httpx.Client) -> None:
    created = _ok(api.post(PLUGINS, json=plugin("metrics")))
    _ok(_patch(api, f"{PLUGINS}/metrics", {"spec": {"replicas": 2}}))

    duplicate = api.post(PLUGINS, json=plugin("metrics"))
    stale_put = api.put(f"{PLUGINS}/metrics", json=created)
    missing = api.get(f"{PLUGINS}/absent")
    no_namespace = api.post("/api/v1/namespaces/nowhere/configmaps", json={"metadata": {"name": "x"}})

    assert (duplicate.status_code, duplicate.json()["reason"]) == (409, "AlreadyExists")
    assert (stale_put.status_code, stale_put.json()["reason"]) == (409, "Conflict")
    assert (missing.status_code, missing.json()["message"]) == (
        404,
        'plugins.analytics.hyperspot.io "absent" not found',
    )
    assert (no_namespace.status_code, no_namespace.json()["message"]) == (404, 'namespaces "nowhere" not found')


def test_generate_name(api: httpx.Client) -> None:
    created = _ok(api.post(CONFIGMAPS, json={"metadata": {"generateName": "event-"}}))

    assert created["metadata"]["name"].startswith("event-")
    assert len(created["metadata"]["name"]) == len("event-") + 5


def test_finalizers_hold_deletion_until_removed(api: httpx.Client) -> None:
    body = plugin("metrics")
    body["metadata"]["finalizers"] = ["operator/cleanup"]
    created = _ok(api.post(PLUGINS, json=body))

    marked = _ok(api.delete(f"{PLUGINS}/metrics"))
    again = _ok(api.delete(f"{PLUGINS}/metrics"))
    more = _patch(api, f"{PLUGINS}/metrics", {"metadata": {"finalizers": ["operator/cleanup", "other/x"]}})
    released = _ok(_patch(api, f"{PLUGINS}/metrics", {"metadata": {"finalizers": None}}))
    events = _watch(api, PLUGINS, 2, resourceVersion=created["metadata"]["resourceVersion"])

    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["generation"] == 2
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    assert more.status_code == 422 and "no new finalizers" in more.json()["message"]
    assert released["metadata"]["name"] == "metrics"
    assert api.get(f"{PLUGINS}/metrics").status_code == 404
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]


def test_deleting_an_owner_collects_what_it_owns(api: httpx.Client) -> None:
    owner = _ok(api.post(PLUGINS, json=plugin("metrics")))
    keeper = _ok(api.post(PLUGINS, json=plugin("keeper")))
    deployment = _ok(
        api.post(DEPLOYMENTS, json={"metadata": {"name": "runtime", "ownerReferences": [_owned_by(owner)]}})
    )
    _ok(api.post(CONFIGMAPS, json=_configmap("config", owner)))
    _ok(api.post(CONFIGMAPS, json=_configmap("grandchild", deployment)))
    _ok(api.post(CONFIGMAPS, json=_configmap("shared", owner, keeper)))
    _ok(api.post(CONFIGMAPS, json=_configmap("unrelated")))

    _ok(api.delete(f"{PLUGINS}/metrics"))

    remaining = [cm["metadata"]["name"] for cm in _ok(api.get(CONFIGMAPS))["items"]]
    assert remaining == ["shared", "unrelated"]
    assert api.get(f"{DEPLOYMENTS}/runtime").status_code == 404


def test_orphan_propagation_keeps_the_children(api: httpx.Client) -> None:
    owner = _ok(api.post(PLUGINS, json=plugin("metrics")))
    _ok(api.post(CONFIGMAPS, json=_configmap("config", owner)))

    _ok(api.delete(f"{PLUGINS}/metrics", params={"propagationPolicy": "Orphan"}))

    assert api.get(f"{CONFIGMAPS}/config").status_code == 200


def test_children_with_finalizers_are_only_marked(api: httpx.Client) -> None:
    owner = _ok(api.post(PLUGINS, json=plugin("metrics")))
    child = _configmap("config", owner)
    child["metadata"]["finalizers"] = ["x/y"]
    _ok(api.post(CONFIGMAPS, json=child))

    _ok(api.delete(f"{PLUGINS}/metrics"))

    assert _ok(api.get(f"{CONFIGMAPS}/config"))["metadata"]["deletionTimestamp"]


def test_list_and_watch_honour_selectors_and_namespaces(api: httpx.Client) -> None:
    _ok(api.post("/api/v1/namespaces", json={"metadata": {"name": "team-a"}}))
    _ok(api.post(CONFIGMAPS, json={"metadata": {"name": "a", "labels": {"app": "x"}}}))
    _ok(api.post(CONFIGMAPS, json={"metadata": {"name": "b", "labels": {"app": "y"}}}))
    _ok(api.post("/api/v1/namespaces/team-a/configmaps", json={"metadata": {"name": "c", "labels": {"app": "x"}}}))

    def names(path: str, **params: str) -> list[str]:
        return [item["metadata"]["name"] for item in _ok(api.get(path, params=params))["items"]]

    assert names(CONFIGMAPS, labelSelector="app=x") == ["a"]
    assert names("/api/v1/configmaps", labelSelector="app=x") == ["a", "c"]
    assert names("/api/v1/configmaps", fieldSelector="metadata.namespace=team-a") == ["c"]
    assert names("/api/v1/namespaces") == ["default", "team-a"]
    watched = _watch(api, "/api/v1/configmaps", 2, fieldSelector="metadata.name!=b")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in watched] == [("ADDED", "a"), ("ADDED", "c")]


def test_a_watch_resumes_after_a_resource_version(api: httpx.Client) -> None:
    listed = _ok(api.get(CONFIGMAPS))
    _ok(api.post(CONFIGMAPS, json={"metadata": {"name": "a"}}))
    _ok(_patch(api, f"{CONFIGMAPS}/a", {"data": {"k": "v"}}))
    _ok(api.delete(f"{CONFIGMAPS}/a"))

    events = _watch(api, CONFIGMAPS, 3, resourceVersion=listed["metadata"]["resourceVersion"])

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(listed["metadata"]["resourceVersion"])


def test_initial_events_end_with_a_bookmark(api: httpx.Client) -> None:
    _ok(api.post(CONFIGMAPS, json={"metadata": {"name": "a"}}))

    events = _watch(api, CONFIGMAPS, 2, sendInitialEvents="true", resourceVersionMatch="NotOlderThan")

    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_compacted_resource_version_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "CHANGE_LOG_SIZE", 2)
    with kube.dev_cluster() as cluster, httpx.Client(base_url=cluster.url, timeout=10) as api:
        start = _ok(api.get(CONFIGMAPS))["metadata"]["resourceVersion"]
        for name in ("a", "b", "c"):
            _ok(api.post(CONFIGMAPS, json={"metadata": {"name": name}}))

        events = _watch(api, CONFIGMAPS, 1, resourceVersion=start)

    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


def test_a_table_is_served_when_asked_for(api: httpx.Client) -> None:
    _ok(api.post(PLUGINS, json=plugin("metrics")))

    table = _ok(api.get(PLUGINS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))

    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Phase", "Health", "Version", "Enabled", "Age"]
    assert table["rows"][0]["cells"][:5] == ["metrics", None, None, None, True]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_secret_string_data_is_stored_as_data(api: httpx.Client) -> None:
    secret = {"metadata": {"name": "token"}, "stringData": {"api_key": "s3cr3t"}, "data": {"other": "eA=="}}

    stored = _ok(api.post("/api/v1/namespaces/default/secrets", json=secret))

    assert "stringData" not in stored
    assert stored["data"] == {"other": "eA==", "api_key": "czNjcjN0"}


def test_namespaces_get_their_name_label_and_take_their_objects_when_deleted(api: httpx.Client) -> None:
    namespace = _ok(api.post("/api/v1/namespaces", json={"metadata": {"name": "team-a"}}))
    _ok(api.post("/api/v1/namespaces/team-a/configmaps", json={"metadata": {"name": "c"}}))

    _ok(api.delete("/api/v1/namespaces/team-a"))

    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert namespace["status"] == {"phase": "Active"}
    assert _ok(api.get("/api/v1/configmaps"))["items"] == []


def test_a_new_crd_is_served_and_its_removal_takes_its_objects(api: httpx.Client) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                        }
                    },
                }
            ],
        },
    }
    widgets = "/apis/example.com/v1/namespaces/default/widgets"

    _ok(api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd))
    discovered = _ok(api.get("/apis/example.com/v1"))
    invalid = api.post(widgets, json={"metadata": {"name": "w"}, "spec": {"size": "big"}})
    _ok(api.post(widgets, json={"metadata": {"name": "w"}, "spec": {"size": 3}}))
    _ok(api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"))

    assert [r["name"] for r in discovered["resources"]] == ["widgets"]
    assert invalid.status_code == 422
    assert api.get(widgets).status_code == 404
    assert "example.com" not in [g["name"] for g in _ok(api.get("/apis"))["groups"]]
