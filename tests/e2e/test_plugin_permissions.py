"""Plugin permissions through the real operator (spec: Plugin Security → Permissions): what a Plugin
may not do is refused with a condition and an Event, and nothing of it is half-done."""

from __future__ import annotations

from plugin_operator import models
from plugin_operator.db import entities, records
from tests.e2e.conftest import Harness, localsql_plugin, query_id, unique, wait_for


def _gts_row(harness: Harness, entity_id: str) -> records.EntityRecord | None:
    return harness.database.run(lambda tx: entities.get(tx, entity_id))


def test_a_plugin_without_write_registers_nothing_and_says_why(harness: Harness) -> None:
    name = unique("nowrite")
    harness.apply(localsql_plugin(name, permissions=["read", "execute"]))

    status = harness.wait_phase(name, "Failed")
    registered = harness.condition(name, "Registered")
    assert (registered["status"], registered["reason"]) == ("False", "PermissionDenied"), registered
    assert "lacks write" in registered["message"] and "autoRegister" in registered["message"]
    ready = harness.condition(name, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PermissionDenied")
    assert status["lastError"]["reason"] == "PermissionDenied"
    warnings = [e for e in harness.events(name) if e["type"] == "Warning" and e["reason"] == "PermissionDenied"]
    assert warnings and "lacks write" in warnings[0]["message"]
    # Refused before anything started or registered.
    assert _gts_row(harness, query_id(name)) is None
    assert not status.get("registeredEntities")
    assert not harness.runtime_pids(name)
    gts = harness.api("GET", f"/gts/{query_id(name)}", token=harness.auth.read_token)
    assert gts.status_code == 404, gts.text

    # Granting write is a spec change: the plugin loads and registers.
    harness.patch(name, {"spec": {"permissions": ["read", "write", "execute"]}})
    harness.wait_phase(name, "Active")
    row = _gts_row(harness, query_id(name))
    assert row is not None and row.state == "active" and row.owner_plugin_id == name


def test_a_plugin_without_write_and_without_auto_registration_serves(harness: Harness) -> None:
    name = unique("noreg")
    manifest = localsql_plugin(name, permissions=["execute"], autoRegister={"queries": False, "datasources": False})
    harness.apply(manifest)

    harness.wait_phase(name, "Active")
    assert harness.query(name).status_code == 200
    assert _gts_row(harness, query_id(name)) is None


def test_a_plugin_without_execute_is_not_served(harness: Harness) -> None:
    name = unique("noexec")
    harness.apply(localsql_plugin(name, permissions=["read", "write"]))

    def not_ready() -> dict[str, object]:
        ready = harness.condition(name, "Ready")
        assert ready.get("reason") == "ExecuteNotPermitted", ready
        return ready

    ready = wait_for(not_ready, timeout=60, what="Ready=False ExecuteNotPermitted")
    assert ready["status"] == "False" and "lacks execute" in str(ready["message"])
    refused = harness.query(name)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/execute-not-permitted")
    # Its entities are registered (write): the catalogue lists the query, the runtime does not serve it.
    assert _gts_row(harness, query_id(name)) is not None

    # Granting execute renders another runtime config: a rollout, after which queries are served.
    before = harness.status(name)["configHash"]
    harness.patch(name, {"spec": {"permissions": ["read", "write", "execute"]}})
    wait_for(
        lambda: (
            harness.status(name).get("configHash") not in (None, before)
            and harness.condition(name, "Ready").get("status") == "True"
        ),
        timeout=60,
        what="the rollout with execute to complete",
    )
    assert harness.query(name).status_code == 200

    # Withdrawing it again rolls out beside the serving version: the gate sends no smoke query (it would
    # be refused by design), so the rollout completes rather than rolling back.
    served = harness.status(name)["configHash"]
    harness.patch(name, {"spec": {"permissions": ["read", "write"]}})
    wait_for(
        lambda: (
            harness.status(name).get("configHash") not in (None, served)
            and harness.status(name).get("phase") == "Active"
        ),
        timeout=60,
        what="the rollout without execute to complete",
    )
    assert "RolloutFailed" not in {e["reason"] for e in harness.events(name)}
    assert harness.condition(name, "Ready")["reason"] == "ExecuteNotPermitted"
    assert wait_for(lambda: harness.query(name).status_code == 403, timeout=20, what="queries refused again")


def test_a_reload_without_admin_is_refused_and_the_runtime_untouched(harness: Harness) -> None:
    name = unique("noadmin")
    harness.apply(localsql_plugin(name))  # the default: read, write, execute
    harness.wait_phase(name, "Active")
    pids = harness.runtime_pids(name)

    refused = harness.api("POST", f"/plugins/{name}/reload")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "spec.permissions lacks admin" in refused.json()["detail"]
    assert models.RELOAD_ANNOTATION not in (harness.get(name) or {})["metadata"].get("annotations", {})

    # Asked for through the CR itself (kubectl annotate), the operator refuses it with an Event.
    harness.cluster.kubectl_ok("annotate", "plugin", name, f"{models.RELOAD_ANNOTATION}=2026-01-01T00:00:00+00:00")
    refusal = wait_for(
        lambda: [e for e in harness.events(name) if e["reason"] == "ReloadRefused"],
        timeout=30,
        what="the reload to be refused",
    )
    assert refusal[0]["type"] == "Warning" and "lacks admin" in refusal[0]["message"]
    assert "Reloaded" not in {e["reason"] for e in harness.events(name)}
    assert harness.status(name)["phase"] == "Active"
    assert harness.runtime_pids(name) == pids
    assert harness.query(name).status_code == 200
