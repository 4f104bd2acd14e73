"""`dependencies`: cycles, waiting for dependencies, and freeing the members of a broken cycle."""

from __future__ import annotations

import dataclasses

import pytest

from plugin_operator import admission, dependencies
from plugin_operator.dependencies import find_cycle
from plugin_operator.models import Phase


def test_no_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}, "a") is None


def test_two_node_cycle_is_reported_as_a_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["a"]}, "a") == ["a", "b", "a"]


def test_self_dependency() -> None:
    assert find_cycle({"a": ["a"]}, "a") == ["a", "a"]


def test_cycle_elsewhere_does_not_involve_start() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}, "a") is None


def test_long_cycle_and_unknown_dependencies() -> None:
    graph = {"a": ["x", "b"], "b": ["c"], "c": ["d"], "d": ["a"]}
    assert find_cycle(graph, "a") == ["a", "b", "c", "d", "a"]


def _peer(plugin_id: str, *depends_on: str, phase: Phase = Phase.ACTIVE, error: str | None = None) -> dependencies.Peer:
    return dependencies.Peer("default", plugin_id, plugin_id, depends_on, phase, error)


@pytest.mark.parametrize(
    ("depends_on", "peers", "verdict", "reason", "message"),
    [
        ((), [], admission.Verdict.GO, "", ""),
        (("db",), [_peer("db")], admission.Verdict.GO, "", ""),
        (("db",), [_peer("db", phase=Phase.DEGRADED)], admission.Verdict.GO, "", ""),
        (("db",), [], admission.Verdict.WAIT, "DependencyNotReady", "waiting for db"),
        (("db", "cache"), [_peer("db", phase=Phase.LOADED), _peer("cache")], admission.Verdict.WAIT, "", "for db"),
        (("db",), [_peer("db", phase=Phase.FAILED)], admission.Verdict.WAIT, "DependencyNotReady", "waiting for db"),
        (("db",), [_peer("db", "me")], admission.Verdict.FAIL, "CircularDependency", "me → db → me"),
        (
            ("db",),
            [_peer("db", "x"), _peer("x", "me")],
            admission.Verdict.FAIL,
            "CircularDependency",
            "me → db → x → me",
        ),
        (("me",), [], admission.Verdict.FAIL, "CircularDependency", "me → me"),
        (
            ("db",),
            [_peer("db", "x", phase=Phase.FAILED), _peer("x", "db", phase=Phase.FAILED)],
            admission.Verdict.WAIT,
            "DependencyNotReady",
            "waiting for db",
        ),
    ],
    ids=[
        "none",
        "active",
        "degraded-serves",
        "missing",
        "one-not-ready",
        "failed",
        "cycle",
        "long-cycle",
        "self",
        "a-cycle-elsewhere-is-not-ours",
    ],
)
def test_dependencies_fail_a_cycle_and_wait_for_what_does_not_serve_yet(
    depends_on: tuple[str, ...], peers: list[dependencies.Peer], verdict: admission.Verdict, reason: str, message: str
) -> None:
    peers = [*peers, _peer("me", "stale-edit")]  # its own listed body is replaced by the spec at hand
    ruling = dependencies.admit_dependencies("me", depends_on, peers)

    assert ruling.verdict is verdict
    assert reason in ruling.reason and message in ruling.message
    assert (ruling.delay > 0) is (verdict is admission.Verdict.WAIT)


def test_members_failed_for_a_cycle_that_no_longer_exists_are_retried() -> None:
    cycle = [
        _peer("a", "b", phase=Phase.FAILED, error="CircularDependency"),
        _peer("b", "a", phase=Phase.FAILED, error="CircularDependency"),
        _peer("c", phase=Phase.FAILED, error="InitFailed"),
    ]
    assert dependencies.cycle_broken(cycle) == []

    broken = [dataclasses.replace(cycle[0], depends_on=()), *cycle[1:]]  # a's spec no longer depends on b
    assert [p.plugin_id for p in dependencies.cycle_broken(broken)] == ["a", "b"]


def test_a_peer_is_read_from_a_plugin_body_without_validating_it() -> None:
    body = {
        "metadata": {"namespace": "ns", "name": "cr"},
        "spec": {"pluginId": "pid", "dependsOn": ["x"], "replicas": "not a number"},
        "status": {"phase": "Failed", "lastError": {"reason": "CircularDependency"}},
    }
    assert dependencies.Peer.of(body) == dependencies.Peer(
        "ns", "cr", "pid", ("x",), Phase.FAILED, "CircularDependency"
    )
    assert dependencies.Peer.of({"metadata": {"namespace": "ns", "name": "cr"}}) == dependencies.Peer("ns", "cr", "cr")
