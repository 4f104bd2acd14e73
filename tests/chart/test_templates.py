"""The chart's rendered objects: valid Kubernetes, consistently labelled, wired together, locked down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plugin_operator.runtime_probes import RuntimeProbes
from plugin_operator.settings import OperatorSettings

from . import helm

Validate = Callable[[dict[str, Any]], None]

PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
VARIANTS: dict[str, dict[str, Any]] = {
    "cluster-wide": {},
    "namespaced": {"watchNamespaces": ["analytics", "team-b"]},
    "public-key-and-extras": {
        "jwt": {"jwksUrl": "", "publicKey": PEM, "issuer": "https://idp.example.com"},
        "imagePullSecrets": [{"name": "registry"}],
        "podAnnotations": {"example.com/scrape": "true"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "analytics", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    }
                ]
            }
        },
        "service": {"type": "LoadBalancer", "port": 8443},
        "resources": {},
        "runtimeAuth": {"jwksUrl": "https://idp.example.com/jwks", "audience": "query-executor"},
    },
    "shared-secret-and-monitor": {
        "jwt": {"jwksUrl": "", "secret": {"existingSecret": "api-jwt", "key": "hs256"}},
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
            "grafanaDashboard": {"enabled": True},
        },
    },
}


def _render(minimal: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    return helm.render_chart(helm.merged(minimal, VARIANTS[variant]))


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [obj] = [obj for obj in objects if obj["kind"] == kind]
    return obj


def _env(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [container] = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return {entry["name"]: entry for entry in container["env"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_is_valid_kubernetes(minimal: dict[str, Any], validate: Validate, variant: str) -> None:
    for obj in _render(minimal, variant):
        if obj["kind"] in ("ServiceMonitor", "PrometheusRule"):
            continue  # Prometheus Operator CRDs: kubernetes-validate has no schema; checked below and by promtool
        validate(obj)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_carries_the_same_labels(minimal: dict[str, Any], variant: str) -> None:
    objects = _render(minimal, variant)
    expected = {
        "app.kubernetes.io/name": "plugin-operator",
        "app.kubernetes.io/instance": helm.RELEASE,
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/component": "operator",
        "app.kubernetes.io/part-of": "hyperspot-analytics",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": "plugin-operator-0.1.0",
    }

    for obj in [*objects, _one(objects, "Deployment")["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert {key: labels.get(key) for key in expected} == expected, obj.get("kind")


def test_labels_and_names_are_written_once_in_the_helpers() -> None:
    """Every template takes its labels from `_helpers.tpl`, so a new template cannot drift from them."""
    templates = sorted((helm.CHART / "templates").glob("*.yaml"))

    assert (helm.CHART / "templates" / "_helpers.tpl").is_file()
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert "app.kubernetes.io/" not in text, f"{template.name} spells out labels: include the helpers"
        assert "metadata:" not in text or 'include "plugin-operator.labels"' in text, template.name


def test_default_install_renders_the_expected_objects(minimal: dict[str, Any]) -> None:
    kinds = sorted(obj["kind"] for obj in _render(minimal, "cluster-wide"))

    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]


def test_operator_pod_is_locked_down_like_the_runtimes(minimal: dict[str, Any]) -> None:
    deployment = _one(_render(minimal, "cluster-wide"), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    security = container["securityContext"]

    assert pod["serviceAccountName"] == helm.RELEASE
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (security["runAsNonRoot"], security["runAsUser"]) == (True, 10001)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert [mount["mountPath"] for mount in container["volumeMounts"]] == ["/tmp"]


def test_operator_serves_its_api_and_probes_on_port_8000(minimal: dict[str, Any]) -> None:
    [container] = _one(_render(minimal, "cluster-wide"), "Deployment")["spec"]["template"]["spec"]["containers"]

    assert container["image"] == "ghcr.io/hyperspot/plugin-operator:0.1.0"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_settings_reach_the_operator_as_environment(minimal: dict[str, Any]) -> None:
    env = _env(_render(minimal, "namespaced"))

    assert {name: entry.get("value") for name, entry in env.items() if "value" in entry} == {
        "PLUGIN_OPERATOR_DRIVER": "kubernetes",
        "PLUGIN_OPERATOR_API_HOST": "0.0.0.0",
        "PLUGIN_OPERATOR_API_PORT": "8000",
        "PLUGIN_OPERATOR_STATE_DIR": "/tmp/plugin-operator",
        "PLUGIN_OPERATOR_NAMESPACES": "analytics,team-b",
        "PLUGIN_OPERATOR_RUNTIME_IMAGE": "ghcr.io/hyperspot/plugin-runtime:0.1.0",
        "PLUGIN_OPERATOR_LOG_LEVEL": "INFO",
        "PLUGIN_OPERATOR_JWT_AUDIENCE": "hyperspot-analytics",
        "PLUGIN_OPERATOR_JWKS_URL": minimal["jwt"]["jwksUrl"],
        "PLUGIN_OPERATOR_LEASE_NAME": helm.RELEASE,
        "PLUGIN_OPERATOR_LEASE_NAMESPACE": helm.NAMESPACE,
        "PLUGIN_OPERATOR_LEASE_DURATION": "15",
        "PLUGIN_OPERATOR_LEASE_RENEW_DEADLINE": "10",
        "PLUGIN_OPERATOR_LEASE_RETRY_PERIOD": "2",
        "PLUGIN_OPERATOR_EXECUTOR_NAMESPACES": "",
        "PLUGIN_OPERATOR_EXECUTOR_POD_LABELS": "",
        "PLUGIN_OPERATOR_RUNTIME_LIVENESS_PERIOD_SECONDS": "10",
        "PLUGIN_OPERATOR_RUNTIME_LIVENESS_FAILURE_THRESHOLD": "3",
        "PLUGIN_OPERATOR_RUNTIME_READINESS_PERIOD_SECONDS": "5",
        "PLUGIN_OPERATOR_RUNTIME_READINESS_FAILURE_THRESHOLD": "2",
    }
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # Runtime auth stays on (no RUNTIME_AUTH=none) and the operator knows its own namespace.
    assert env["PLUGIN_OPERATOR_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_runtime_auth_is_on_unless_explicitly_allowed_off_and_executors_reach_the_operator(
    minimal: dict[str, Any],
) -> None:
    overrides = {
        "runtimeAuth": {"allowAnonymous": True},
        "executors": {"namespaces": ["query", "bi"], "podLabels": ["app=query-executor"]},
    }
    env = _env(helm.render_chart(helm.merged(minimal, overrides)))
    assert "PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL" not in env  # unset: each plugin's Service URL
    assert env["PLUGIN_OPERATOR_RUNTIME_AUTH"]["value"] == "none"
    assert env["PLUGIN_OPERATOR_EXECUTOR_NAMESPACES"]["value"] == "query,bi"
    assert env["PLUGIN_OPERATOR_EXECUTOR_POD_LABELS"]["value"] == "app=query-executor"


def test_credentials_come_only_from_existing_secrets(minimal: dict[str, Any]) -> None:
    env = _env(_render(minimal, "shared-secret-and-monitor"))

    secret_refs = {
        name: entry["valueFrom"]["secretKeyRef"]
        for name, entry in env.items()
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert secret_refs == {
        "PLUGIN_OPERATOR_DATABASE_URL": {"name": "plugin-operator-database", "key": "url"},
        "PLUGIN_OPERATOR_FERNET_KEYS": {"name": "plugin-operator-fernet", "key": "keys"},
        "PLUGIN_OPERATOR_JWT_SECRET": {"name": "api-jwt", "key": "hs256"},
        "PLUGIN_OPERATOR_CONTROL_PLANE_KEY": {"name": "plugin-operator-control-plane", "key": "key.pem"},
    }
    assert "PLUGIN_OPERATOR_JWKS_URL" not in env


def test_a_pem_public_key_survives_quoting(minimal: dict[str, Any]) -> None:
    env = _env(_render(minimal, "public-key-and-extras"))

    assert env["PLUGIN_OPERATOR_JWT_PUBLIC_KEY"]["value"] == PEM
    assert env["PLUGIN_OPERATOR_JWT_ISSUER"]["value"] == "https://idp.example.com"
    assert env["PLUGIN_OPERATOR_NAMESPACES"]["value"] == ""


def test_optional_pod_settings_are_passed_through(minimal: dict[str, Any]) -> None:
    pod = _one(_render(minimal, "public-key-and-extras"), "Deployment")["spec"]["template"]
    extras = VARIANTS["public-key-and-extras"]

    assert pod["metadata"]["annotations"] == extras["podAnnotations"]
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity"):
        assert pod["spec"][key] == extras[key]


def test_service_exposes_the_operator_pods(minimal: dict[str, Any]) -> None:
    objects = _render(minimal, "public-key-and-extras")
    service, deployment = _one(objects, "Service"), _one(objects, "Deployment")

    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 8443, "targetPort": "http"}]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_service_monitor_scrapes_the_api_service(minimal: dict[str, Any]) -> None:
    objects = _render(minimal, "shared-secret-and-monitor")
    monitor, service = _one(objects, "ServiceMonitor"), _one(objects, "Service")

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [helm.NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert {port["name"] for port in service["spec"]["ports"]} == {"http"}


def test_no_service_monitor_unless_enabled(minimal: dict[str, Any]) -> None:
    assert "ServiceMonitor" not in {obj["kind"] for obj in _render(minimal, "cluster-wide")}


def test_runtime_auth_reaches_the_operator_only_when_set(minimal: dict[str, Any]) -> None:
    configured = _env(_render(minimal, "public-key-and-extras"))
    assert configured["PLUGIN_OPERATOR_RUNTIME_JWKS_URL"]["value"] == "https://idp.example.com/jwks"
    assert configured["PLUGIN_OPERATOR_RUNTIME_JWT_AUDIENCE"]["value"] == "query-executor"
    assert "PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY" not in configured
    assert not any(
        name.startswith("PLUGIN_OPERATOR_RUNTIME_JWT") or name == "PLUGIN_OPERATOR_RUNTIME_JWKS_URL"
        for name in _env(_render(minimal, "cluster-wide"))
    )


def test_the_runtimes_link_base_reaches_the_operator(minimal: dict[str, Any]) -> None:
    base = "https://analytics.example.com/plugins/{namespace}/{name}"
    env = _env(helm.render_chart(helm.merged(minimal, {"runtimeExternalUrl": base})))
    assert env["PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL"]["value"] == base


def test_the_runtime_probe_timings_reach_the_operator_and_default_to_its_own(
    minimal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart sets is what the operator reads (`OperatorSettings.from_env`), and the chart's
    defaults are the operator's: installing the chart rolls no runtime a bare `plugin-operator run` made."""
    quick = {"livenessPeriodSeconds": 2, "livenessFailureThreshold": 4, "readinessPeriodSeconds": 3}
    env = _env(helm.render_chart(helm.merged(minimal, {"runtimeProbes": quick})))
    for name, entry in env.items():
        if name.startswith("PLUGIN_OPERATOR_RUNTIME_LIVENESS") or name.startswith("PLUGIN_OPERATOR_RUNTIME_READINESS"):
            monkeypatch.setenv(name, entry["value"])
    assert OperatorSettings.from_env().runtime_probes == RuntimeProbes(
        liveness_period_seconds=2,
        liveness_failure_threshold=4,
        readiness_period_seconds=3,
        readiness_failure_threshold=2,
    )

    defaults = helm.default_values()["runtimeProbes"]
    assert (
        RuntimeProbes(
            liveness_period_seconds=defaults["livenessPeriodSeconds"],
            liveness_failure_threshold=defaults["livenessFailureThreshold"],
            readiness_period_seconds=defaults["readinessPeriodSeconds"],
            readiness_failure_threshold=defaults["readinessFailureThreshold"],
        )
        == RuntimeProbes()
    )
