from plugin_operator import conditions, health, lifecycle
from plugin_operator.conditions import Observation
from plugin_operator.models import ConditionType, HealthReport, Phase
from plugin_operator.runtime_client import ProbeResult

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def _by_type(items):
    return {c.type: c for c in items}


def test_first_reconcile_sets_every_condition_unknown() -> None:
    items = conditions.apply([], [], generation=1, now=T0)
    assert [c.type for c in items] == [
        ConditionType.READY,
        ConditionType.RUNTIME_READY,
        ConditionType.BACKEND_HEALTHY,
        ConditionType.REGISTERED,
        ConditionType.PROGRESSING,
    ]
    assert {c.status for c in items} == {"Unknown"}


def test_transition_time_moves_only_when_status_flips() -> None:
    first = conditions.apply([], [Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp")], generation=1, now=T0)
    same = conditions.apply(
        first, [Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp", "x")], generation=2, now=T1
    )
    assert _by_type(same)[ConditionType.RUNTIME_READY].last_transition_time == T0
    assert _by_type(same)[ConditionType.RUNTIME_READY].observed_generation == 2
    flipped = conditions.apply(
        same, [Observation(ConditionType.RUNTIME_READY, "False", "RuntimeUnreachable")], generation=2, now=T1
    )
    assert _by_type(flipped)[ConditionType.RUNTIME_READY].last_transition_time == T1


def test_isolated_is_kept_after_the_fixed_conditions_and_does_not_change_ready() -> None:
    missing = Observation(ConditionType.ISOLATED, "False", "IsolationIncomplete", "network namespace")
    first = conditions.apply([], [missing], generation=1, now=T0)
    assert [c.type for c in first][-1] is ConditionType.ISOLATED and len(first) == 6
    again = conditions.apply(
        first, [Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp")], generation=1, now=T1
    )
    assert _by_type(again)[ConditionType.ISOLATED].last_transition_time == T0
    assert conditions.summary(again, enabled=True).reason != "IsolationIncomplete"


def test_ready_summarises_components() -> None:
    ok = [
        Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp"),
        Observation(ConditionType.BACKEND_HEALTHY, "True", "Healthy"),
        Observation(ConditionType.REGISTERED, "True", "Registered"),
    ]
    items = conditions.apply([], ok, generation=1, now=T0)
    assert conditions.summary(items, enabled=True).status == "True"
    disabled = conditions.summary(items, enabled=False)
    assert (disabled.status, disabled.reason) == ("False", "Disabled")
    broken = conditions.apply(
        items, [Observation(ConditionType.REGISTERED, "False", "Conflict", "owned by b")], generation=1, now=T1
    )
    summary = conditions.summary(broken, enabled=True)
    assert (summary.status, summary.reason, summary.message) == ("False", "Conflict", "owned by b")


def _probe(status: str, reachable: bool = True, circuit: str | None = None) -> ProbeResult:
    doc = {"status": status, "plugin_id": "p", "uptime": "1h0m", "queries_executed": 3, "error_rate": 0.0}
    if circuit:
        doc["circuit"] = circuit
    return ProbeResult(
        reachable, status, 5, document=doc if reachable else None, error=None if status == "healthy" else "bad"
    )


def test_unhealthy_degrades_only_after_consecutive_failures() -> None:
    report = HealthReport()
    phase = Phase.ACTIVE
    for attempt in range(1, 4):
        result = health.assess(report, _probe("unhealthy", circuit="open"), phase=phase, now=T0, unhealthy_after=3)
        report = result.report
        assert report.consecutive_failures == attempt
        if attempt < 3:
            assert result.event is None
    assert result.event is lifecycle.Event.DEGRADE
    backend = next(o for o in result.observations if o.type is ConditionType.BACKEND_HEALTHY)
    assert (backend.status, backend.reason) == ("False", "CircuitOpen")
    recovered = health.assess(report, _probe("healthy"), phase=Phase.DEGRADED, now=T1, unhealthy_after=3)
    assert recovered.event is lifecycle.Event.RECOVER
    assert recovered.report.consecutive_failures == 0


def test_refused_backend_credentials_are_reported_as_such_not_as_an_outage() -> None:
    refused = "authentication failed: Prometheus: the token endpoint refused the client credentials (HTTP 401)"
    probe = _probe("unhealthy")
    assert probe.document is not None
    probe.document["dependencies"] = [{"name": "Prometheus API", "status": "unhealthy", "message": refused}]
    result = health.assess(HealthReport(), probe, phase=Phase.ACTIVE, now=T0, unhealthy_after=1)
    backend = next(o for o in result.observations if o.type is ConditionType.BACKEND_HEALTHY)
    assert (backend.status, backend.reason) == ("False", "BackendAuthFailed")
    assert backend.message.startswith(refused)
    plain = health.assess(HealthReport(), _probe("unhealthy"), phase=Phase.ACTIVE, now=T0, unhealthy_after=1)
    assert [o.reason for o in plain.observations if o.type is ConditionType.BACKEND_HEALTHY] == ["Unhealthy"]


def test_unreachable_runtime_is_reported_as_runtime_not_ready() -> None:
    result = health.assess(
        HealthReport(), _probe("unknown", reachable=False), phase=Phase.ACTIVE, now=T0, unhealthy_after=3
    )
    assert result.runtime_gone
    runtime = next(o for o in result.observations if o.type is ConditionType.RUNTIME_READY)
    assert runtime.status == "False"


def test_load_failure_reads_the_runtimes_metadata() -> None:
    from plugin_operator.progress import load_failure

    loaded = {"plugins": [{"id": "p", "state": "Active"}], "errors": []}
    assert load_failure(loaded, "p") is None
    failed = {
        "plugins": [{"id": "p", "state": "Failed"}],
        "errors": [
            {"plugin_id": "other", "stage": "import", "message": "x"},
            {"plugin_id": "p", "stage": "init", "message": "boom"},
        ],
    }
    assert load_failure(failed, "p") == "plugin init failed: boom"
    rejected = {"plugins": [], "errors": [{"plugin_id": "p", "stage": "manifest", "message": "bad"}]}
    assert load_failure(rejected, "p") == "plugin manifest failed: bad"
    assert "does not host" in load_failure({"plugins": [], "errors": []}, "p")
    # A shared runtime's member whose new entry failed to load while the old one keeps serving.
    swapped = {
        "plugins": [{"id": "p", "state": "Active", "last_reload_error": {"stage": "init", "message": "bad setting"}}],
        "errors": [],
    }
    assert load_failure(swapped, "p") == "plugin init failed: bad setting"


def test_status_patch_deletes_cleared_fields_but_shows_no_nulls_in_lists() -> None:
    from plugin_operator.models import DependencyStatus, HealthReport, PluginStatus
    from plugin_operator.progress import status_patch

    status = PluginStatus(
        failed_version=None,
        health=HealthReport(uptime=None, dependencies=[DependencyStatus(name="db", status="healthy", message=None)]),
    )
    patch = status_patch(status)
    assert patch["failedVersion"] is None  # a merge patch null: removes a stale value
    assert patch["health"]["uptime"] is None
    assert patch["health"]["dependencies"] == [{"name": "db", "status": "healthy"}]
