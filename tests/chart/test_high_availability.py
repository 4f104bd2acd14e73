"""The chart runs the operator highly available: replicas, rolling one at a time, spread, protected."""

from __future__ import annotations

from typing import Any

from plugin_operator.lease import Timing

from . import helm


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_two_replicas_roll_one_at_a_time_by_default(minimal: dict[str, Any]) -> None:
    deployment = _one(helm.render_chart(minimal), "Deployment")

    assert deployment["spec"]["replicas"] == 2
    # A surge pod comes up (as a standby) before an old one goes: the API never loses a replica.
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def test_replicas_prefer_different_nodes_unless_affinity_is_given(minimal: dict[str, Any]) -> None:
    pod = _one(helm.render_chart(minimal), "Deployment")["spec"]["template"]["spec"]
    [term] = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == pod_labels(minimal)

    own: dict[str, Any] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
    }
    pod = _one(helm.render_chart({**minimal, "affinity": own}), "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"] == own


def pod_labels(minimal: dict[str, Any]) -> dict[str, str]:
    deployment = _one(helm.render_chart(minimal), "Deployment")
    return dict(deployment["spec"]["selector"]["matchLabels"])


def test_a_disruption_budget_keeps_one_replica_through_drains(minimal: dict[str, Any]) -> None:
    budget = _one(helm.render_chart(minimal), "PodDisruptionBudget")
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": pod_labels(minimal)}}

    disabled = helm.render_chart({**minimal, "podDisruptionBudget": {"enabled": False}, "replicaCount": 1})
    assert not [o for o in disabled if o["kind"] == "PodDisruptionBudget"]


def test_default_lease_timings_are_ones_the_operator_accepts(minimal: dict[str, Any]) -> None:
    """renew deadline < lease duration, or a leader could still reconcile after a standby took over."""
    election = helm.default_values()["leaderElection"]
    timing = Timing(
        duration=election["leaseDurationSeconds"],
        renew_deadline=election["renewDeadlineSeconds"],
        retry_period=election["retryPeriodSeconds"],
    )
    assert timing == Timing()  # the chart and a bare `plugin-operator run` behave alike
