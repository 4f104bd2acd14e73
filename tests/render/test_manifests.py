"""The runtime's Kubernetes objects: valid for Kubernetes 1.33, sandboxed, owned, labelled, secret-free."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
import yaml

from plugin_operator import naming, render, runtime_config
from plugin_runtime import config, errors

from . import samples

Validate = Callable[[dict[str, Any]], None]

STANDARD_LABELS = {
    "app.kubernetes.io/name": "plugin-runtime",
    "app.kubernetes.io/instance": "prometheus-adapter",
    "app.kubernetes.io/component": "plugin-runtime",
    "app.kubernetes.io/part-of": "hyperspot-analytics",
    "app.kubernetes.io/managed-by": "plugin-operator",
    "analytics.hyperspot.io/plugin": "prometheus-adapter",
}


def _applied(inputs: render.RenderInputs) -> list[dict[str, Any]]:
    """Every object the Kubernetes driver applies for these inputs, in its order."""
    return [
        render.network_policy(inputs),
        render.admin_secret(inputs, "token"),
        render.configmap(inputs),
        render.deployment(inputs),
        render.instance_service(inputs),
        render.service(inputs),
    ]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in _container(deployment)["env"]}


def test_the_validator_rejects_what_the_api_server_would(validate: Validate, inputs: render.RenderInputs) -> None:
    broken = render.deployment(inputs)
    _container(broken)["securityContext"]["runAsUser"] = "nobody"

    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_every_object_is_valid_kubernetes(validate: Validate, inputs: render.RenderInputs) -> None:
    objects = _applied(inputs)

    assert [obj["kind"] for obj in objects] == [
        "NetworkPolicy",
        "Secret",
        "ConfigMap",
        "Deployment",
        "Service",
        "Service",
    ]
    for obj in [*objects, render.scaled_to_zero(render.deployment(inputs))]:
        validate(obj)


@pytest.mark.parametrize(("cr_name", "version"), [("a" * 253, "1.0.0+" + "b" * 44), ("team.prometheus", "1.0_rc+7")])
def test_awkward_names_and_versions_still_validate(validate: Validate, cr_name: str, version: str) -> None:
    objects = _applied(samples.make_inputs(cr_name=cr_name, version=version))

    for obj in objects:
        validate(obj)
        assert len(obj["metadata"]["name"]) <= 63
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63


def test_objects_are_owned_by_the_plugin(inputs: render.RenderInputs) -> None:
    for obj in _applied(inputs):
        assert obj["metadata"]["namespace"] == "analytics"
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "analytics.hyperspot.io/v1alpha1",
                "kind": "Plugin",
                "name": "prometheus-adapter",
                "uid": inputs.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_objects_carry_the_standard_labels(inputs: render.RenderInputs) -> None:
    deployment = render.deployment(inputs)
    for obj in [*_applied(inputs), deployment["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert {key: labels[key] for key in STANDARD_LABELS} == STANDARD_LABELS
        assert labels["app.kubernetes.io/version"] == "1.4.2"


def test_deployment_runs_the_runtime_on_port_8080(inputs: render.RenderInputs) -> None:
    deployment = render.deployment(inputs)
    container = _container(deployment)

    assert deployment["metadata"]["name"] == inputs.names.deployment
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "ghcr.io/hypernetix/hyperspot-plugin-runtime:0.1.0"
    assert [*container["command"], *container["args"]] == [
        "plugin-runtime",
        "--config",
        "/etc/plugin-runtime/runtime.yaml",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_the_spec_image_overrides_the_operator_default() -> None:
    inputs = samples.make_inputs(samples.make_spec(image="registry.example.com/team/runtime:7"))

    assert _container(render.deployment(inputs))["image"] == "registry.example.com/team/runtime:7"


def test_deployment_selects_only_its_own_pods(inputs: render.RenderInputs) -> None:
    deployment = render.deployment(inputs)
    selector = deployment["spec"]["selector"]["matchLabels"]

    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/version"] == "1.4.2"


def test_resources_come_from_the_spec(inputs: render.RenderInputs) -> None:
    assert _container(render.deployment(inputs))["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_resources_left_out_are_not_rendered() -> None:
    spec = samples.make_spec(resources={"requests": {"memory": "64Mi"}, "limits": {}})

    assert _container(render.deployment(samples.make_inputs(spec)))["resources"] == {"requests": {"memory": "64Mi"}}


# kubelet carries no token: its probes use the runtime's open up/down endpoints.
def test_probes_hit_the_runtime_health_endpoints(inputs: render.RenderInputs) -> None:
    container = _container(render.deployment(inputs))

    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}


def test_probe_timings_default_to_kubernetes_usual_ones(inputs: render.RenderInputs) -> None:
    """A hung runtime is restarted after 3 × 10 s; the operator's settings change this (test_identity)."""
    container = _container(render.deployment(inputs))

    timings = {
        kind: (container[kind]["periodSeconds"], container[kind]["failureThreshold"], container[kind]["timeoutSeconds"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert timings == {"startupProbe": (2, 30, 2), "livenessProbe": (10, 3, 2), "readinessProbe": (5, 2, 2)}


def test_pod_is_sandboxed(inputs: render.RenderInputs) -> None:
    pod = render.deployment(inputs)["spec"]["template"]["spec"]
    security = _container(render.deployment(inputs))["securityContext"]

    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_only_tmp_and_the_read_only_config_are_mounted(inputs: render.RenderInputs) -> None:
    deployment = render.deployment(inputs)
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in _container(deployment)["volumeMounts"]}

    assert set(mounts) == {"/etc/plugin-runtime", "/tmp"}
    assert mounts["/etc/plugin-runtime"]["readOnly"] is True
    config_volume = volumes[mounts["/etc/plugin-runtime"]["name"]]
    assert config_volume["configMap"]["name"] == render.configmap(inputs)["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_secrets_arrive_only_through_secret_key_refs(inputs: render.RenderInputs) -> None:
    env = _env(render.deployment(inputs))

    assert env == {
        "PLUGIN_SECRET_API_KEY": {
            "name": "PLUGIN_SECRET_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "prometheus-credentials", "key": "prom-api-key"}},
        },
        "PLUGIN_SECRET_BASIC_PASSWORD": {
            "name": "PLUGIN_SECRET_BASIC_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "prometheus-basic", "key": "basic-auth-pw"}},
        },
        runtime_config.ADMIN_TOKEN_ENV: {
            "name": runtime_config.ADMIN_TOKEN_ENV,
            "valueFrom": {
                "secretKeyRef": {"name": "prometheus-adapter-runtime-admin", "key": render.ADMIN_TOKEN_SECRET_KEY}
            },
        },
    }


def test_secret_references_appear_nowhere_else_even_with_a_large_config() -> None:
    large = {f"setting_{i:04d}": {"url": f"https://backend-{i}.example.com", "labels": ["a", "b"]} for i in range(2000)}
    inputs = samples.make_inputs(samples.make_spec(config=large))
    objects = [obj for obj in _applied(inputs) if obj["kind"] != "Secret"]
    secret_names = {ref.secret_name for ref in inputs.spec.secret_refs} | {inputs.names.admin_secret}

    assert all("value" not in entry for entry in _env(render.deployment(inputs)).values())
    for obj in objects:
        for path, value in samples.leaves(obj):
            if isinstance(value, str) and any(name in value for name in secret_names):
                assert path[-3:] == ("valueFrom", "secretKeyRef", "name"), (obj["kind"], path)


def test_only_the_operators_own_secrets_are_rendered_and_they_hold_what_they_are_given(
    inputs: render.RenderInputs,
) -> None:
    admin = render.admin_secret(inputs, "the-token")
    keys = render.stored_keys_secret(inputs, {"api_key": "line1\nline2"})

    assert (admin["metadata"]["name"], admin["stringData"]) == (inputs.names.admin_secret, {"token": "the-token"})
    assert (keys["metadata"]["name"], keys["stringData"]) == (inputs.names.stored_keys, {"api_key": "line1\nline2"})
    assert (
        naming.INSTANCE_LABEL in keys["metadata"]["labels"] and naming.INSTANCE_LABEL not in admin["metadata"]["labels"]
    )


def test_configmap_holds_the_runtime_config_the_runtime_loads(inputs: render.RenderInputs) -> None:
    configmap = render.configmap(inputs)

    assert configmap["metadata"]["name"] == inputs.names.configmap
    assert list(configmap["data"]) == ["runtime.yaml"]
    loaded = config.RuntimeConfig.model_validate(yaml.safe_load(configmap["data"]["runtime.yaml"]))
    assert loaded == inputs.runtime_config


def test_an_oversized_config_is_refused_with_the_plugin_named() -> None:
    with pytest.raises(errors.InvalidInput, match=r"prometheus-adapter.*1 MiB"):
        samples.make_inputs(samples.make_spec(config={"blob": "x" * (1024 * 1024)}))


def test_the_identity_annotation_names_the_instance(inputs: render.RenderInputs) -> None:
    template = render.deployment(inputs)["spec"]["template"]["metadata"]

    assert template["annotations"]["analytics.hyperspot.io/config-hash"] == inputs.identity
    assert template["labels"][naming.INSTANCE_LABEL] == inputs.identity[:10]


def test_the_stable_service_routes_port_80_to_its_instance_only() -> None:
    old, new = samples.make_inputs(version="1.4.1"), samples.make_inputs(version="1.4.2")
    service = render.service(old)
    selector = service["spec"]["selector"]

    assert service["metadata"]["name"] == "prometheus-adapter"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}]
    assert selector.items() <= render.deployment(old)["spec"]["template"]["metadata"]["labels"].items()
    assert not selector.items() <= render.deployment(new)["spec"]["template"]["metadata"]["labels"].items()


def test_each_instance_has_a_service_of_its_own(inputs: render.RenderInputs) -> None:
    own = render.instance_service(inputs)

    assert own["metadata"]["name"] == inputs.names.deployment
    assert own["spec"]["selector"] == render.deployment(inputs)["spec"]["selector"]["matchLabels"]


def test_service_url_names_the_service_in_its_namespace() -> None:
    long_name = "team." + "p" * 100

    assert naming.service_url("prometheus-adapter", "analytics") == "http://prometheus-adapter.analytics.svc:80"
    assert naming.service_url(long_name, "ns") == f"http://{naming.names(long_name, '1.0.0').service}.ns.svc:80"


def test_promotion_only_switches_the_service_selector() -> None:
    old, new = samples.make_inputs(version="1.4.1"), samples.make_inputs(version="1.4.2")
    before, after = render.service(old), render.service(new)

    assert before["metadata"]["name"] == after["metadata"]["name"]
    assert before["spec"]["selector"]["app.kubernetes.io/version"] == "1.4.1"
    assert after["spec"]["selector"]["app.kubernetes.io/version"] == "1.4.2"
    del before["spec"]["selector"], after["spec"]["selector"]
    assert before["spec"] == after["spec"]


def test_scaled_to_zero_keeps_everything_but_the_pods(inputs: render.RenderInputs) -> None:
    deployment = render.deployment(inputs)
    drained = render.scaled_to_zero(deployment)

    assert drained["spec"]["replicas"] == 0
    assert deployment["spec"]["replicas"] == 2
    assert {**drained["spec"], "replicas": 2} == deployment["spec"]


def test_replicas_input_is_rendered_as_is() -> None:
    assert render.deployment(samples.make_inputs(replicas=0))["spec"]["replicas"] == 0
