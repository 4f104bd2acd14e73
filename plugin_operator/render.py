"""Kubernetes objects of one plugin runtime instance, as pure functions of `RenderInputs`.

`desired` composes these into everything applied for a Plugin version (and hashes them into the
instance identity); the Kubernetes driver only applies what it is handed, so every field (the
sandbox especially) is unit-testable without a cluster and nothing else builds a manifest.

Shape of one plugin `P` serving instance `v1·a` while `v2·b` rolls out:

    NetworkPolicy P                 ingress only from the operator's pods (its namespace) and the configured
                                    executor namespaces/pods; egress only to spec.egress + DNS
    Secret     P-runtime-admin      the token the operator uses on the runtimes' admin endpoints
    ConfigMap  P-v1-<h>-config      runtime.yaml (no secret values: only the env var names they arrive under)
    Secret     P-v1-<h>-keys        values of keystore secretRefs (only when the Plugin has some)
    Deployment P-v1-<h>             pods labelled instance=a, the identity in the pod template annotations
    Service    P-v1-<h>             this instance's own address (the gate probes it before promotion)
    …the same four for v2·b…
    Service    P                    the plugin's stable address: selects instance a until v2·b is promoted

Secrets reach the pods only as `env.valueFrom.secretKeyRef`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import yaml

from plugin_operator import models, naming, network_rules, runtime_config
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_runtime import config, errors

__all__ = [
    "ADMIN_TOKEN_SECRET_KEY",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_PATH",
    "PLUGINS_DIR",
    "PLUGIN_LABEL",
    "PLUGIN_VERSION_ANNOTATION",
    "PORT",
    "RenderInputs",
    "admin_secret",
    "configmap",
    "deployment",
    "instance_service",
    "network_policy",
    "scaled_to_zero",
    "service",
    "stored_keys_secret",
]

#: Port of the runtime container; the Services forward naming.SERVICE_PORT to it.
PORT = 8080
CONFIG_DIR = "/etc/plugin-runtime"
CONFIG_FILE = "runtime.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
#: Where the plugins image (an OCI image volume holding plugin folders) is mounted, read-only.
PLUGINS_DIR = "/opt/plugins"
#: Key of the runtime admin token inside the admin Secret.
ADMIN_TOKEN_SECRET_KEY = "token"
RUNTIME_UID = 10001

PLUGIN_LABEL = f"{models.GROUP}/plugin"
CONFIG_HASH_ANNOTATION = f"{models.GROUP}/config-hash"
#: The unabridged version: label values cannot hold `+` and stop at 63 characters.
PLUGIN_VERSION_ANNOTATION = f"{models.GROUP}/plugin-version"

_NAME = naming.RUNTIME_NAME
_PART_OF = "hyperspot-analytics"
#: A ConfigMap's data is capped at 1 MiB by the API server; failing here names the plugin and the cause.
_MAX_CONFIGMAP_BYTES = 1024 * 1024
#: Extra seconds beyond the runtime's own drain before the kubelet sends SIGKILL.
_SHUTDOWN_MARGIN_SECONDS = 5


@dataclasses.dataclass(frozen=True)
class RenderInputs:
    """Everything one runtime instance's objects depend on.

    `image` is the operator's default runtime image, used when `spec.image` is empty; `identity` is
    the instance identity `desired` computes from these objects (empty while it renders them to hash).
    """

    plugin_id: str
    cr_name: str
    namespace: str
    uid: str
    spec: models.PluginSpec
    version: str
    image: str
    runtime_config: config.RuntimeConfig
    replicas: int
    identity: str = ""
    #: An OCI image whose root holds plugin folders, mounted read-only at PLUGINS_DIR (`path:` plugins).
    plugins_image: str | None = None
    ingress: network_rules.IngressPeers = dataclasses.field(default_factory=network_rules.IngressPeers)
    #: The operator's liveness/readiness timings (part of the pod template, so of the identity).
    probes: RuntimeProbes = dataclasses.field(default_factory=RuntimeProbes)

    @property
    def names(self) -> naming.Names:
        return naming.names(self.cr_name, self.version, naming.instance_label(self.identity))


def configmap(inputs: RenderInputs) -> dict[str, Any]:
    document = yaml.safe_dump(inputs.runtime_config.model_dump(mode="json"), sort_keys=True)
    size = len(document.encode("utf-8"))
    if size > _MAX_CONFIGMAP_BYTES:
        raise errors.InvalidInput(
            f"the runtime config of plugin {inputs.plugin_id!r} is {size} bytes, over the 1 MiB a ConfigMap "
            "holds: shrink spec.config or spec.queries",
            plugin_id=inputs.plugin_id,
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(inputs, inputs.names.configmap, instance=True),
        "data": {CONFIG_FILE: document},
    }


def deployment(inputs: RenderInputs) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(inputs, inputs.names.deployment, instance=True),
        "spec": {
            "replicas": inputs.replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": _instance_selector(inputs)},
            # A Secret rotation the kubelet picks up rolls pods in place: never below the ready count.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": _labels(inputs, instance=True),
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: inputs.identity,
                        PLUGIN_VERSION_ANNOTATION: inputs.version,
                    },
                },
                "spec": _pod_spec(inputs),
            },
        },
    }


def instance_service(inputs: RenderInputs) -> dict[str, Any]:
    """This instance's own address: the gate probes and smoke-queries it before it is promoted.

    It routes to pods that are not Ready too (`publishNotReadyAddresses`): a runtime whose plugin
    failed to load, or whose backend is down, answers 503 to the readiness probe, and the operator
    must still reach it to learn why (InitFailed, Degraded). The stable Service routes Ready pods only.
    """
    service = _service(inputs, inputs.names.deployment)
    service["spec"]["publishNotReadyAddresses"] = True
    return service


def service(inputs: RenderInputs) -> dict[str, Any]:
    """The plugin's stable address, routed to the instance `inputs` describes (promotion re-applies it)."""
    return _service(inputs, inputs.names.service)


def _service(inputs: RenderInputs, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(inputs, name, instance=name != inputs.names.service),
        "spec": {
            "type": "ClusterIP",
            "selector": _instance_selector(inputs),
            "ports": [{"name": "http", "protocol": "TCP", "port": naming.SERVICE_PORT, "targetPort": "http"}],
        },
    }


def admin_secret(inputs: RenderInputs, token: str) -> dict[str, Any]:
    """The runtime admin token (shared by the plugin's instances; minted once by the driver)."""
    return _secret(inputs, inputs.names.admin_secret, {ADMIN_TOKEN_SECRET_KEY: token}, instance=False)


def stored_keys_secret(inputs: RenderInputs, values: Mapping[str, str]) -> dict[str, Any]:
    """Decrypted key-store values (secretRef name → value) for this instance's pods."""
    return _secret(inputs, inputs.names.stored_keys, dict(values), instance=True)


def _secret(inputs: RenderInputs, name: str, data: dict[str, str], *, instance: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(inputs, name, instance=instance),
        "type": "Opaque",
        "stringData": data,
    }


def network_policy(inputs: RenderInputs) -> dict[str, Any]:
    """Callers: the operator and the configured executors (each pinned to a namespace by name).
    Destinations: spec.egress and DNS."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(inputs, inputs.names.network_policy, instance=False),
        "spec": {
            "podSelector": {"matchLabels": naming.plugin_selector(inputs.cr_name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [network_rules.ingress(inputs.ingress, port=PORT)],
            "egress": network_rules.egress(inputs.spec.egress),
        },
    }


def scaled_to_zero(deployment_manifest: dict[str, Any]) -> dict[str, Any]:
    """The same Deployment with no pods: an Inactive plugin after its drain period (objects are kept)."""
    drained = copy.deepcopy(deployment_manifest)
    drained["spec"]["replicas"] = 0
    return drained


def _pod_spec(inputs: RenderInputs) -> dict[str, Any]:
    grace = math.ceil(inputs.runtime_config.drain_seconds) + _SHUTDOWN_MARGIN_SECONDS
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": inputs.names.configmap, "defaultMode": 0o444}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if inputs.plugins_image is not None:
        # Plugin code as data (like Crossplane packages): the standard runtime image, the plugin
        # folders from an OCI image volume (Kubernetes 1.33+, ImageVolume), never writable.
        volumes.append({"name": "plugins", "image": {"reference": inputs.plugins_image, "pullPolicy": "IfNotPresent"}})
    return {
        # The runtime never talks to the Kubernetes API: no token in the sandbox.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": grace,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(inputs)],
        "volumes": volumes,
    }


def _container(inputs: RenderInputs) -> dict[str, Any]:
    resources, probes = inputs.spec.resources, inputs.probes
    mounts = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if inputs.plugins_image is not None:
        mounts.append({"name": "plugins", "mountPath": PLUGINS_DIR, "readOnly": True})
    return {
        "name": _NAME,
        "image": inputs.spec.image or inputs.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["plugin-runtime"],
        "args": [
            "--config",
            CONFIG_PATH,
            "--host",
            "0.0.0.0",
            "--port",
            str(PORT),
            # The mount, named where it is made (the config says the same): a pod reads its code from here.
            *(["--plugins-dir", PLUGINS_DIR] if inputs.plugins_image is not None else []),
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": _env(inputs),
        "resources": {
            part: quantities
            for part, quantities in (
                ("requests", _quantities(resources.requests)),
                ("limits", _quantities(resources.limits)),
            )
            if quantities
        },
        "startupProbe": _probe("/health/live", period=2, failures=30),
        "livenessProbe": _probe(
            "/health/live", period=probes.liveness_period_seconds, failures=probes.liveness_failure_threshold
        ),
        "readinessProbe": _probe(
            "/health/ready", period=probes.readiness_period_seconds, failures=probes.readiness_failure_threshold
        ),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }


def _env(inputs: RenderInputs) -> list[dict[str, Any]]:
    secrets = []
    for ref in inputs.spec.secret_refs:
        variable = runtime_config.secret_env_var(ref.name)
        if ref.source == "keystore":
            secrets.append(_secret_env(variable, inputs.names.stored_keys, ref.name))
        else:
            assert ref.secret_name is not None and ref.key is not None  # the model requires both for Secrets
            secrets.append(_secret_env(variable, ref.secret_name, ref.key))
    admin = _secret_env(inputs.runtime_config.admin_token_env, inputs.names.admin_secret, ADMIN_TOKEN_SECRET_KEY)
    return [*secrets, admin]


def _secret_env(variable: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def _quantities(quantities: models.ResourceList) -> dict[str, str]:
    return {name: value for name, value in (("cpu", quantities.cpu), ("memory", quantities.memory)) if value}


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _metadata(inputs: RenderInputs, name: str, *, instance: bool) -> dict[str, Any]:
    """Owned by the Plugin (garbage-collected with it); per-instance objects carry the instance label."""
    return {
        "name": name,
        "namespace": inputs.namespace,
        "labels": _labels(inputs, instance=instance),
        "annotations": {PLUGIN_VERSION_ANNOTATION: inputs.version},
        "ownerReferences": [
            {
                "apiVersion": models.API_VERSION,
                "kind": models.KIND,
                "name": inputs.cr_name,
                "uid": inputs.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def _labels(inputs: RenderInputs, *, instance: bool) -> dict[str, str]:
    labels = {
        **naming.plugin_selector(inputs.cr_name),
        "app.kubernetes.io/version": naming.label_value(inputs.version),
        "app.kubernetes.io/component": _NAME,
        "app.kubernetes.io/part-of": _PART_OF,
        "app.kubernetes.io/managed-by": "plugin-operator",
        PLUGIN_LABEL: naming.label_value(inputs.plugin_id),
    }
    if instance:
        labels[naming.INSTANCE_LABEL] = naming.instance_label(inputs.identity)
    return labels


def _instance_selector(inputs: RenderInputs) -> dict[str, str]:
    return {
        **naming.plugin_selector(inputs.cr_name),
        "app.kubernetes.io/version": naming.label_value(inputs.version),
        naming.INSTANCE_LABEL: naming.instance_label(inputs.identity),
    }
