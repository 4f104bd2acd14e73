"""The query executor's whole path without Kubernetes access: from a query id, through the API, to a
stable endpoint that keeps answering across a version rollout, a disable/enable and a runtime crash."""

from __future__ import annotations

import os
import signal

import httpx

from tests.e2e.conftest import Harness, localsql_plugin, query_id, unique, wait_for


def _answers(harness: Harness, endpoint: str, name: str) -> bool:
    try:
        return harness.runtime_get(f"{endpoint}/queries/{query_id(name)}", params={"$top": "1"}).status_code == 200
    except httpx.HTTPError:
        return False


def test_query_id_to_stable_endpoint_across_rollout_reenable_and_restart(harness: Harness) -> None:
    name = unique("executor")
    harness.apply(localsql_plugin(name))
    harness.wait_phase(name, "Active")

    # What an executor does: look the query up in the API (read role), then call the endpoint.
    entity = harness.api("GET", f"/gts/{query_id(name)}", token=harness.auth.read_token).json()
    assert (entity["adapter_id"], entity["owner_plugin_id"]) == (name, name)
    endpoint = entity["endpoint"]
    assert endpoint and endpoint == harness.status(name)["serviceEndpoint"]
    assert harness.api("GET", f"/plugins/{name}", token=harness.auth.read_token).json()["endpoint"] == endpoint
    assert endpoint != harness.status(name)["endpoint"]  # not the instance's own port
    assert _answers(harness, endpoint, name)

    harness.patch(name, {"spec": {"version": "1.1.0"}})
    wait_for(lambda: harness.status(name).get("servingVersion") == "1.1.0", timeout=60, what="the rollout")
    assert harness.status(name)["serviceEndpoint"] == endpoint
    assert wait_for(lambda: _answers(harness, endpoint, name), timeout=20, what="answers after the rollout")

    harness.patch(name, {"spec": {"enabled": False}})
    harness.wait_phase(name, "Inactive")
    harness.patch(name, {"spec": {"enabled": True}})
    harness.wait_phase(name, "Active")
    assert harness.status(name)["serviceEndpoint"] == endpoint
    assert wait_for(lambda: _answers(harness, endpoint, name), timeout=20, what="answers after re-enabling")

    (pid,) = wait_for(
        lambda: len(p := harness.runtime_pids(name)) == 1 and p, timeout=30, what="the old version to drain"
    )
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (p := harness.runtime_pids(name)) and pid not in p, timeout=60, what="a restarted runtime")
    assert wait_for(lambda: _answers(harness, endpoint, name), timeout=30, what="answers after the restart")
    assert harness.status(name)["serviceEndpoint"] == endpoint

    # Without the execute role the stable endpoint refuses like the runtime itself.
    reader = harness.auth.executor_token(roles=["analytics:plugins:read"])
    refused = harness.runtime_get(f"{endpoint}/queries/{query_id(name)}", token=reader)
    assert refused.status_code == 403

    harness.delete(name)
    wait_for(lambda: harness.get(name) is None, timeout=30, what=f"{name} to be deleted")
    assert not _answers(harness, endpoint, name)


def test_result_links_name_the_stable_endpoint_whatever_host_the_caller_sends(harness: Harness) -> None:
    name = unique("links")
    harness.apply(localsql_plugin(name, config={"table": "server_metrics", "page_size": 2}))
    harness.wait_phase(name, "Active")
    stable, instance = harness.status(name)["serviceEndpoint"], harness.status(name)["endpoint"]

    for endpoint in (stable, instance):  # through the stable address, and straight to the instance's port
        response = harness.runtime_get(f"{endpoint}/queries/{query_id(name)}", headers={"Host": "evil.example"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"].startswith(f"{stable}/$metadata#")
        assert body["@odata.nextLink"].startswith(f"{stable}/queries/"), body["@odata.nextLink"]
        assert "evil" not in response.text
        follow = harness.runtime_get(body["@odata.nextLink"])
        assert follow.status_code == 200 and follow.json()["value"]
    harness.delete(name)
