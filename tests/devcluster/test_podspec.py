"""Turning a pod into what the container runtime runs (`podspec`, `egress`): pure, table-tested."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugin_devcluster import egress, podspec
from plugin_devcluster.containers import Endpoint, Mount

GOLDEN = Path(__file__).parents[1] / "render" / "golden" / "prometheus-adapter.yaml"
ROOT = Path("/pods/analytics/p")


def golden_pod() -> dict[str, Any]:
    """The first Deployment of the rendered golden objects, as a pod its ReplicaSet would create."""
    deployment = next(o for o in yaml.safe_load_all(GOLDEN.read_text()) if o and o["kind"] == "Deployment")
    template = deployment["spec"]["template"]
    return {"metadata": {**template["metadata"], "name": "p", "namespace": "analytics"}, "spec": template["spec"]}


CONFIGMAP = golden_pod()["spec"]["volumes"][0]["configMap"]["name"]


def node(**changes: Any) -> podspec.Node:
    secret = lambda **data: {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}  # noqa: E731
    values: dict[str, Any] = {
        "configmaps": {CONFIGMAP: {"data": {"runtime.yaml": "plugins: []\n"}}},
        "secrets": {
            "prometheus-credentials": secret(**{"prom-api-key": "k1"}),
            "prometheus-basic": secret(**{"basic-auth-pw": "pw"}),
            "prometheus-adapter-runtime-admin": secret(token="admin"),
        },
        "policies": [],
        "images": {},
        "base_env": {"PATH": "/venv/bin"},
    }
    values.update(changes)
    return podspec.Node(**values)


def test_the_rendered_runtime_pod_becomes_a_container_spec() -> None:
    plan = podspec.plan(golden_pod(), node(), root=ROOT)
    spec = plan.spec
    assert spec.argv == (
        "plugin-runtime",
        "--config",
        "/etc/plugin-runtime/runtime.yaml",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    )
    assert spec.env == {
        "PATH": "/venv/bin",
        "PLUGIN_SECRET_API_KEY": "k1",
        "PLUGIN_SECRET_BASIC_PASSWORD": "pw",
        "PLUGIN_RUNTIME_ADMIN_TOKEN": "admin",
    }
    assert spec.mounts == (
        Mount("/etc/plugin-runtime", ROOT / "volumes" / "config", True),
        Mount("/tmp", ROOT / "volumes" / "tmp", False, size_limit_bytes=64 * 2**20),  # emptyDir sizeLimit: 64Mi
    )
    assert (spec.port, spec.uid, spec.gid) == (8080, 10001, 10001)
    assert (spec.memory_limit_bytes, spec.cpu_limit_millicores) == (512 * 2**20, 1000)
    assert [(f.path, f.content, f.mode) for f in plan.files] == [
        (ROOT / "volumes" / "config" / "runtime.yaml", b"plugins: []\n", 0o444)
    ]
    # The sized emptyDir is a tmpfs inside the sandbox: no host directory to create or share.
    assert ROOT / "volumes" / "tmp" not in plan.directories and plan.shared == ()


def test_an_empty_dir_without_size_limit_is_a_shared_host_directory() -> None:
    pod = golden_pod()
    pod["spec"]["volumes"][1]["emptyDir"] = {}
    plan = podspec.plan(pod, node(), root=ROOT)
    assert Mount("/tmp", ROOT / "volumes" / "tmp", False) in plan.spec.mounts
    assert ROOT / "volumes" / "tmp" in plan.directories and plan.shared == (ROOT / "volumes" / "tmp",)


@pytest.mark.parametrize(
    ("quantity", "field", "expected"),
    [
        ({"memory": "384Mi"}, "memory_limit_bytes", 384 * 2**20),
        ({"memory": "1G"}, "memory_limit_bytes", 10**9),
        ({"memory": "128974848"}, "memory_limit_bytes", 128974848),
        ({"cpu": "750m"}, "cpu_limit_millicores", 750),
        ({"cpu": "0.5"}, "cpu_limit_millicores", 500),
        ({"cpu": "2"}, "cpu_limit_millicores", 2000),
    ],
)
def test_limits_are_parsed_as_kubernetes_quantities(quantity: dict[str, str], field: str, expected: int) -> None:
    pod = golden_pod()
    pod["spec"]["containers"][0]["resources"] = {"limits": quantity}
    assert getattr(podspec.plan(pod, node(), root=ROOT).spec, field) == expected


def test_the_container_security_context_wins_over_the_pods() -> None:
    pod = golden_pod()
    pod["spec"]["containers"][0]["securityContext"].update(runAsUser=2000, runAsGroup=3000)
    assert (podspec.plan(pod, node(), root=ROOT).spec.uid, podspec.plan(pod, node(), root=ROOT).spec.gid) == (
        2000,
        3000,
    )


def test_image_volumes_and_container_images_come_from_the_dev_registry() -> None:
    pod = golden_pod()
    container = pod["spec"]["containers"][0]
    pod["spec"]["volumes"].append({"name": "plugins", "image": {"reference": "reg/plugins:1"}})
    container["volumeMounts"].append({"name": "plugins", "mountPath": "/plugins", "readOnly": True})
    container["image"] = "reg/acme:2"
    images = {"reg/plugins:1": Path("/images/plugins"), "reg/acme:2": Path("/images/acme")}
    spec = podspec.plan(pod, node(images=images), root=ROOT).spec
    assert Mount("/plugins", Path("/images/plugins"), True) in spec.mounts
    assert Mount(podspec.IMAGE_SITE, Path("/images/acme"), True) in spec.mounts
    assert spec.env["PYTHONPATH"] == podspec.IMAGE_SITE


def test_secret_volumes_are_decoded_files() -> None:
    pod = golden_pod()
    pod["spec"]["volumes"].append({"name": "creds", "secret": {"secretName": "prometheus-basic", "defaultMode": 0o400}})
    pod["spec"]["containers"][0]["volumeMounts"].append({"name": "creds", "mountPath": "/creds"})
    plan = podspec.plan(pod, node(), root=ROOT)
    assert podspec.File(ROOT / "volumes" / "creds" / "basic-auth-pw", b"pw", 0o400) in plan.files
    assert Mount("/creds", ROOT / "volumes" / "creds", True) in plan.spec.mounts


def _broken(change: str) -> dict[str, Any]:
    pod = golden_pod()
    container = pod["spec"]["containers"][0]
    if change == "secret":
        container["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "absent"
    elif change == "key":
        container["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "absent"
    elif change == "configmap":
        pod["spec"]["volumes"][0]["configMap"]["name"] = "absent"
    elif change == "image":
        pod["spec"]["volumes"].append({"name": "x", "image": {"reference": "reg/absent:1"}})
    elif change == "two containers":
        pod["spec"]["containers"].append(copy.deepcopy(container))
    elif change == "subPath":
        container["volumeMounts"][0]["subPath"] = "runtime.yaml"
    return pod


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        ("secret", "CreateContainerConfigError", 'secret "absent" not found'),
        ("key", "CreateContainerConfigError", 'couldn\'t find key absent in Secret "prometheus-credentials"'),
        ("configmap", "CreateContainerConfigError", 'configmap "absent" not found'),
        ("image", "ErrImagePull", "reg/absent:1 is not in the dev image registry"),
        ("two containers", "CreateContainerConfigError", "exactly one container"),
        ("subPath", "CreateContainerConfigError", "subPath is not supported"),
    ],
)
def test_what_cannot_start_says_why(change: str, reason: str, message: str) -> None:
    with pytest.raises(podspec.PodConfigError, match=message) as failure:
        podspec.plan(_broken(change), node(), root=ROOT)
    assert failure.value.reason == reason


def policy(*rules: dict[str, Any], selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "np"},
        "spec": {
            "podSelector": {"matchLabels": selector or {"app": "a"}},
            "policyTypes": ["Ingress", "Egress"],
            "egress": list(rules),
        },
    }


DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def tcp(cidr: str, *ports: int) -> dict[str, Any]:
    return {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": p} for p in ports]}


@pytest.mark.parametrize(
    ("policies", "endpoints", "warning"),
    [
        ([policy(DNS)], [], None),
        ([policy(DNS, tcp("10.0.0.5/32", 9090, 9091))], [("10.0.0.5", 9090), ("10.0.0.5", 9091)], None),
        ([policy(tcp("10.0.12.0/24", 9090))], [], "wider than one host"),
        ([policy({"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}]})], [], "without ports"),
        ([policy({**tcp("10.0.0.5/32"), "ports": [{"protocol": "UDP", "port": 514}]})], [], "UDP/514"),
        (
            [policy({"to": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}], "ports": [{"port": 9090}]})],
            [],
            "selector peers",
        ),
        ([policy(tcp("10.0.0.5/32", 1), selector={"app": "other"})], [], None),
        ([policy(tcp("10.0.0.5/32", 1)), policy(tcp("10.0.0.6/32", 2))], [("10.0.0.5", 1), ("10.0.0.6", 2)], None),
    ],
)
def test_egress_is_what_the_policies_allow_and_the_fence_can_hold(
    policies: list[dict[str, Any]], endpoints: list[tuple[str, int]], warning: str | None
) -> None:
    allowed = egress.egress(policies, {"app": "a"})
    assert allowed.endpoints == tuple(Endpoint(h, p) for h, p in endpoints)
    if warning is None:
        assert allowed.warnings == ()
    else:
        assert len(allowed.warnings) == 1 and warning in allowed.warnings[0]


def test_the_golden_policy_keeps_its_single_hosts_and_reports_the_rest() -> None:
    [rendered] = [o for o in yaml.safe_load_all(GOLDEN.read_text()) if o and o["kind"] == "NetworkPolicy"]
    allowed = egress.egress([rendered], golden_pod()["metadata"]["labels"])
    assert allowed.endpoints == ()
    assert [w.split(": ", 1)[1][:20] for w in allowed.warnings] == ["cidr 10.0.12.0/24 is", "pod/namespace select"]
