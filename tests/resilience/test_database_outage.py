"""PostgreSQL goes down under the operator: reconciles back off and say why; nothing is lost or doubled."""

from __future__ import annotations

import datetime
import json
import time

import httpx

from plugin_operator.db import entities
from tests.e2e.conftest import localsql_plugin, query_id, unique, wait_for

from .conftest import HEALTH_INTERVAL_SECONDS, PASSWORD, ResilienceHarness


def _kopf_progress(harness: ResilienceHarness, name: str) -> dict[str, object]:
    """kopf's record of the reconcile handler (retries, next attempt, last message), from its annotation."""
    annotations = (harness.get(name) or {}).get("metadata", {}).get("annotations", {})
    raw = annotations.get("kopf.zalando.org/reconcile")
    return dict(json.loads(raw)) if raw else {}


def test_reconciles_back_off_while_the_database_is_down_and_converge_after(harness: ResilienceHarness) -> None:
    existing = unique("db-existing")
    harness.apply(localsql_plugin(existing, version="1.0.0"))
    harness.wait_phase(existing, "Active")

    harness.db_proxy.cut()
    fresh = unique("db-fresh")
    harness.apply(localsql_plugin(fresh))
    # The health monitor (every second) fails first and so retries first, before the patch's reconcile.
    time.sleep(HEALTH_INTERVAL_SECONDS)
    harness.patch(existing, {"spec": {"version": "1.1.0"}})

    # The new Plugin: the reconcile failed temporarily, kopf holds it back, and the status says why.
    progress = wait_for(
        lambda: (p := _kopf_progress(harness, fresh)).get("retries") and p,
        timeout=20,
        what="kopf to schedule a retry of the reconcile",
    )
    assert progress["success"] is False and progress["failure"] is False, "a temporary error, not a permanent one"
    started = datetime.datetime.fromisoformat(str(progress["started"]))
    assert datetime.datetime.fromisoformat(str(progress["delayed"])) - started >= datetime.timedelta(seconds=5)
    status = wait_for(lambda: (s := harness.status(fresh)).get("lastError") and s, timeout=10, what="lastError")
    assert status["lastError"]["reason"] == "DatabaseUnavailable"
    assert "database unavailable" in status["lastError"]["message"]
    assert "Connection refused" in status["lastError"]["message"]
    assert harness.condition(fresh, "Ready")["status"] != "True"
    assert not status.get("servingVersion") and not status.get("registeredEntities")
    # Nothing half-written: no runtime, no rows.
    assert harness.runtime_pids(fresh) == []
    assert harness.rows_of(fresh, query_id(fresh)) == (0, 0)

    # The patched Plugin keeps serving its old version and says why the new one is not rolled out.
    wait_for(
        lambda: harness.status(existing).get("lastError", {}).get("reason") == "DatabaseUnavailable",
        timeout=20,
        what="the patched Plugin to report the outage",
    )
    old = harness.status(existing)
    assert (old["servingVersion"], old["observedGeneration"]) == ("1.0.0", 1)
    assert harness.query(existing).status_code == 200
    # The management API says the same at its edge: 503 problems, not stack traces or hangs.
    assert harness.process is not None
    readyz = httpx.get(f"{harness.process.api_url}/readyz", timeout=10)
    listing = harness.api("GET", "/gts")
    for response in (readyz, listing):
        assert response.status_code == 503 and response.headers["content-type"].startswith("application/problem+json")
        assert PASSWORD not in response.text
    assert listing.json()["type"].endswith("/database-unavailable")
    # Not ready, but alive: restarting the operator would not bring the database back.
    assert httpx.get(f"{harness.process.api_url}/healthz", timeout=10).json() == {"status": "ok", "role": "leader"}
    assert "plugin_operator_database_up 0.0" in httpx.get(f"{harness.process.api_url}/metrics", timeout=10).text

    harness.db_proxy.restore()  # the same operator process carries on: nothing crashed

    # Until 1.1.0 serves, the status never claims generation 2 was observed, though health probes
    # are written meanwhile (the monitor's backoff ends before the reconcile's).
    seen: list[dict[str, object]] = []
    updated = wait_for(
        lambda: (s := harness.status(existing), seen.append(s))[0].get("servingVersion") == "1.1.0" and s,
        timeout=40,
        what="the patch made during the outage to roll out",
    )
    assert updated["phase"] == "Active" and updated["observedGeneration"] == 2
    assert {s["observedGeneration"] for s in seen if s["servingVersion"] == "1.0.0"} == {1}
    assert any(
        s["servingVersion"] == "1.0.0" and s["health"].get("checkedAt") != old["health"].get("checkedAt") for s in seen
    ), "health probes were recorded again before the rollout"
    harness.wait_phase(fresh, "Active", timeout=20)
    assert harness.query(fresh).status_code == 200
    for name in (fresh, existing):
        assert harness.rows_of(name, query_id(name)) == (1, 1), "exactly one plugins row and one registration"
        assert harness.condition(name, "Ready")["status"] == "True"
    assert harness.database.get_plugin(existing).version == "1.1.0"
    assert harness.database.run(lambda tx: entities.get(tx, query_id(existing))).owner_version == "1.1.0"
    assert len(harness.runtime_pids(fresh)) == 1
    wait_for(lambda: len(harness.runtime_pids(existing)) == 1, timeout=15, what="the old runtime to drain and stop")
    assert httpx.get(f"{harness.process.api_url}/readyz", timeout=10).status_code == 200

    # The database password never reaches what an admin or a client sees.
    for name in (fresh, existing):
        assert PASSWORD not in json.dumps(harness.get(name))
        assert PASSWORD not in json.dumps(harness.events(name))
