"""`permissions`: what a Plugin's declared permissions allow (the spec's Plugin Security → Permissions)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from plugin_operator import conditions, permissions
from plugin_operator.conditions import Observation
from plugin_operator.models import DEFAULT_PERMISSIONS, ConditionType, Permission, PluginSpec

R, W, X, A = Permission.READ, Permission.WRITE, Permission.EXECUTE, Permission.ADMIN
OWN_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.perm._.own.v1"
OTHER_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.other._.theirs.v1"


def _query(query_id: str) -> dict[str, Any]:
    return {
        "id": query_id,
        "name": "rows",
        "category": "tests",
        "apiEndpoint": "/rows",
        "capabilitiesId": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.perm._.std.v1",
        "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.perm._.rows.v1~",
    }


def _datasource(query_id: str) -> dict[str, Any]:
    return {"id": "gts.hypernetix.hyperspot.ax.datasource.v1~hyperspot.perm._.ds.v1", "queryId": query_id, "name": "d"}


def _spec(
    granted: list[Permission] | None,
    *,
    queries: bool = True,
    datasource_over: str | None = None,
    register: tuple[bool, bool] = (True, True),
) -> PluginSpec:
    raw: dict[str, Any] = {
        "version": "1.0.0",
        "contractFormat": "custom",
        "adapter": "localsql",
        "queries": [_query(OWN_QUERY)] if queries else [],
        "datasources": [_datasource(datasource_over)] if datasource_over else [],
        "autoRegister": {"queries": register[0], "datasources": register[1]},
    }
    if granted is not None:
        raw["permissions"] = [p.value for p in granted]
    return PluginSpec.model_validate(raw)


@pytest.mark.parametrize(
    ("spec", "missing"),
    [
        (_spec(None), None),
        (_spec([R, W, X, A]), None),
        (_spec([R, X]), W),
        (_spec([R, X], register=(False, True)), None),  # nothing to register: write is not needed
        (_spec([R, X], register=(False, True), datasource_over=OWN_QUERY), W),
        (_spec([R, X], queries=False), None),
        (_spec([W, X], datasource_over=OWN_QUERY), None),  # its own query: nothing of others' is read
        (_spec([W, X], datasource_over=OTHER_QUERY), R),
        (_spec([R, W, X], datasource_over=OTHER_QUERY), None),
        (_spec([]), W),
        (_spec([W]), None),  # execute and admin are enforced elsewhere, never refuse the spec
    ],
    ids=[
        "default",
        "all",
        "no-write-registering-queries",
        "no-write-registering-nothing",
        "no-write-registering-datasources",
        "no-write-no-queries",
        "no-read-own-query",
        "no-read-foreign-query",
        "read-foreign-query",
        "none-granted",
        "write-only",
    ],
)
def test_admit_refuses_a_spec_asking_for_what_its_permissions_do_not_grant(
    spec: PluginSpec, missing: Permission | None
) -> None:
    refusal = permissions.admit(spec)

    if missing is None:
        assert refusal is None
        return
    assert refusal is not None
    assert (refusal.permission, refusal.reason) == (missing, "PermissionDenied")
    assert f"lacks {missing.value}" in refusal.message and "spec.permissions" in refusal.message


def test_the_default_keeps_plugins_without_the_field_registering_and_serving_but_not_reloading() -> None:
    spec = _spec(None)

    assert spec.permissions == [R, W, X] == list(DEFAULT_PERMISSIONS)
    assert permissions.serves(spec.permissions) and not permissions.may_reload(spec.permissions)
    assert permissions.granted({}) == frozenset(DEFAULT_PERMISSIONS)


@pytest.mark.parametrize(
    ("granted", "serves", "reloads"),
    [([R, W, X, A], True, True), ([R, W], False, False), ([X], True, False), ([A], False, True), ([], False, False)],
)
def test_execute_gates_serving_and_admin_gates_in_place_reloads(
    granted: list[Permission], serves: bool, reloads: bool
) -> None:
    assert permissions.serves(granted) is serves
    assert permissions.may_reload(granted) is reloads
    assert "lacks admin" in permissions.reload_refused_message("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"permissions": ["read", "execute"]}, {R, X}),
        ({"permissions": []}, set()),
        ({"permissions": ["execute", "root", 7]}, {X}),  # unknown names grant nothing
        ({"enabled": True}, {R, W, X}),
    ],
)
def test_granted_reads_a_raw_body(raw: dict[str, Any], expected: set[Permission]) -> None:
    assert permissions.granted(raw) == frozenset(expected)


def test_unknown_or_repeated_permissions_are_invalid() -> None:
    with pytest.raises(pydantic.ValidationError, match="permissions"):
        _spec([W, W])
    with pytest.raises(pydantic.ValidationError):
        PluginSpec.model_validate(
            {"version": "1", "contractFormat": "custom", "adapter": "localsql", "permissions": ["root"]}
        )


def test_ready_is_false_while_the_plugin_may_not_execute() -> None:
    ok = [
        Observation(ConditionType.RUNTIME_READY, "True", "RuntimeUp"),
        Observation(ConditionType.BACKEND_HEALTHY, "True", "Healthy"),
        Observation(ConditionType.REGISTERED, "True", "Registered"),
    ]
    items = conditions.apply([], ok, generation=1, now="2026-01-01T00:00:00Z")

    summary = conditions.summary(items, enabled=True, serves=False)
    assert (summary.status, summary.reason) == ("False", "ExecuteNotPermitted")
    assert "lacks execute" in summary.message
    assert conditions.summary(items, enabled=False, serves=False).reason == "Disabled"
    assert conditions.summary(items, enabled=True, serves=True).status == "True"


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ({}, ["read", "write", "execute"]),
        ({"permissions": ["admin", "execute"]}, ["execute", "admin"]),
        ({"permissions": []}, []),
    ],
)
def test_the_api_shows_what_a_plugin_may_do(spec: dict[str, Any], shown: list[str]) -> None:
    from plugin_operator.api import views

    cr = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"version": "1", **spec}}

    assert views.plugin_view(cr).permissions == shown
