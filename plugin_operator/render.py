"""Desired Kubernetes objects for one plugin runtime: ConfigMap, Deployment, Service, NetworkPolicy.

Pure functions from `RenderInputs` to manifest dicts, so the Kubernetes driver only applies what
this module returns and every field (the sandbox especially) is unit-testable without a cluster.

Shape of one plugin `P` with versions `v1` (serving) and `v2` (rolling out):

    NetworkPolicy P               ingress only from hyperspot-analytics pods, egress only to spec.egress + DNS
    ConfigMap  P-v1-<hash>-config runtime.yaml (no secret values: only the env var names they arrive under)
    Deployment P-v1-<hash>        pods labelled version=v1, config hash in the pod template annotations
    ConfigMap  P-v2-<hash>-config
    Deployment P-v2-<hash>
    Service    P                  selects version=v1 until the driver promotes v2 by re-rendering it

Secrets reach the pods only as `env.valueFrom.secretKeyRef`; nothing here ever sees their values.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import re
from typing import Any

import yaml

from plugin_operator import models, runtime_config
from plugin_runtime import config, errors

__all__ = [
    "ADMIN_TOKEN_SECRET_KEY",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_PATH",
    "PLUGIN_LABEL",
    "PLUGIN_VERSION_ANNOTATION",
    "PORT",
    "SERVICE_PORT",
    "Names",
    "RenderInputs",
    "configmap",
    "deployment",
    "label_value",
    "names",
    "network_policy",
    "plugin_selector",
    "render_all",
    "scaled_to_zero",
    "service",
    "service_url",
]

#: Port of the runtime container; the Service forwards SERVICE_PORT to it.
PORT = 8080
SERVICE_PORT = 80
CONFIG_DIR = "/etc/plugin-runtime"
CONFIG_FILE = "runtime.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
#: Key of the runtime admin token inside the Secret named by `RenderInputs.admin_secret_name`.
ADMIN_TOKEN_SECRET_KEY = "token"
RUNTIME_UID = 10001

PLUGIN_LABEL = f"{models.GROUP}/plugin"
CONFIG_HASH_ANNOTATION = f"{models.GROUP}/config-hash"
#: The unabridged version: label values cannot hold `+` and stop at 63 characters.
PLUGIN_VERSION_ANNOTATION = f"{models.GROUP}/plugin-version"

_NAME = "plugin-runtime"
_PART_OF = "hyperspot-analytics"
_MAX_NAME = 63
_HASH_LENGTH = 8
#: A ConfigMap's data is capped at 1 MiB by the API server; failing here names the plugin and the cause.
_MAX_CONFIGMAP_BYTES = 1024 * 1024
#: Extra seconds beyond the runtime's own drain before the kubelet sends SIGKILL.
_SHUTDOWN_MARGIN_SECONDS = 5

_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


@dataclasses.dataclass(frozen=True)
class RenderInputs:
    """Everything one runtime version's objects depend on.

    `image` is the operator's default runtime image, used when `spec.image` is empty; `version` may
    differ from `spec.version` while an older version is still being rendered during a rollout.
    """

    plugin_id: str
    cr_name: str
    namespace: str
    uid: str
    spec: models.PluginSpec
    version: str
    image: str
    runtime_config: config.RuntimeConfig
    config_hash: str
    admin_secret_name: str
    replicas: int
    #: The Secret the driver writes with this version's keys from the operator's encrypted key store
    #: (secretRefs with source keystore); None when the Plugin references none.
    stored_keys_secret: str | None = None


@dataclasses.dataclass(frozen=True)
class Names:
    deployment: str
    configmap: str
    service: str
    network_policy: str


def names(cr_name: str, version: str) -> Names:
    """Deterministic DNS-1035 names of at most 63 characters, distinct for distinct inputs.

    Per-version names end with a short hash of (cr_name, version): both may contain dashes once
    slugged, so `prom-1` at `0` and `prom` at `1.0` would otherwise share `prom-1-0`, and `1.0+a`
    and `1.0_a` would share a slug. A Plugin name that is not a DNS-1035 label already (dots, a
    leading digit, over 63 characters) gets the same treatment for the shared objects.
    """
    readable = f"{_letter_first_slug(cr_name)}-{_slug(version)}"
    config_suffix = "-config"
    shared = _service_name(cr_name)
    return Names(
        deployment=_with_digest(readable, cr_name, version, limit=_MAX_NAME),
        configmap=_with_digest(readable, cr_name, version, limit=_MAX_NAME - len(config_suffix)) + config_suffix,
        service=shared,
        network_policy=shared,
    )


def service_url(cr_name: str, namespace: str) -> str:
    """In-cluster URL of the plugin's stable Service, whichever version it routes to."""
    return f"http://{_service_name(cr_name)}.{namespace}.svc:{SERVICE_PORT}"


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else a valid one that keeps a hash of the original."""
    if len(text) <= _MAX_NAME and _LABEL_VALUE.fullmatch(text):
        return text
    head = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[: _MAX_NAME - _HASH_LENGTH - 1].strip("-_.")
    return f"{head}-{_digest(text)}" if head else _digest(text)


def plugin_selector(cr_name: str) -> dict[str, str]:
    """Labels of every runtime object of one Plugin, whatever its version (for listing and cleanup)."""
    return {"app.kubernetes.io/name": _NAME, "app.kubernetes.io/instance": label_value(cr_name)}


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
        "metadata": _metadata(inputs, names(inputs.cr_name, inputs.version).configmap, inputs.version),
        "data": {CONFIG_FILE: document},
    }


def deployment(inputs: RenderInputs) -> dict[str, Any]:
    object_names = names(inputs.cr_name, inputs.version)
    labels = _labels(inputs, inputs.version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(inputs, object_names.deployment, inputs.version),
        "spec": {
            "replicas": inputs.replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": _version_selector(inputs.cr_name, inputs.version)},
            # A config change or Secret rotation rolls pods in place: never below the ready count.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: inputs.config_hash,
                        PLUGIN_VERSION_ANNOTATION: inputs.version,
                    },
                },
                "spec": _pod_spec(inputs, object_names.configmap),
            },
        },
    }


def service(inputs: RenderInputs, serving_version: str) -> dict[str, Any]:
    """The plugin's stable address; promotion re-renders it with the new `serving_version`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(inputs, names(inputs.cr_name, serving_version).service, serving_version),
        "spec": {
            "type": "ClusterIP",
            "selector": _version_selector(inputs.cr_name, serving_version),
            "ports": [{"name": "http", "protocol": "TCP", "port": SERVICE_PORT, "targetPort": "http"}],
        },
    }


def network_policy(inputs: RenderInputs) -> dict[str, Any]:
    """Callers: hyperspot-analytics pods that are not plugin runtimes. Destinations: spec.egress and DNS."""
    analytics_callers = {
        "namespaceSelector": {},
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/part-of": _PART_OF},
            "matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": [_NAME]},
            ],
        },
    }
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(inputs, names(inputs.cr_name, inputs.version).network_policy, inputs.version),
        "spec": {
            "podSelector": {"matchLabels": plugin_selector(inputs.cr_name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [analytics_callers], "ports": [{"protocol": "TCP", "port": PORT}]}],
            "egress": [dns, *(_egress_rule(rule) for rule in inputs.spec.egress)],
        },
    }


def render_all(inputs: RenderInputs, serving_version: str) -> list[dict[str, Any]]:
    """Every object, in apply order: the NetworkPolicy first so no pod ever runs unconfined."""
    return [network_policy(inputs), configmap(inputs), deployment(inputs), service(inputs, serving_version)]


def scaled_to_zero(deployment_manifest: dict[str, Any]) -> dict[str, Any]:
    """The same Deployment with no pods: an Inactive plugin after its drain period (objects are kept)."""
    drained = copy.deepcopy(deployment_manifest)
    drained["spec"]["replicas"] = 0
    return drained


def _pod_spec(inputs: RenderInputs, configmap_name: str) -> dict[str, Any]:
    grace = math.ceil(inputs.runtime_config.drain_seconds) + _SHUTDOWN_MARGIN_SECONDS
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
        "volumes": [
            {"name": "config", "configMap": {"name": configmap_name, "defaultMode": 0o444}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }


def _container(inputs: RenderInputs) -> dict[str, Any]:
    resources = inputs.spec.resources
    return {
        "name": _NAME,
        "image": inputs.spec.image or inputs.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["plugin-runtime"],
        "args": ["--config", CONFIG_PATH, "--host", "0.0.0.0", "--port", str(PORT)],
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
        "livenessProbe": _probe("/health/live", period=10, failures=3),
        "readinessProbe": _probe("/health", period=5, failures=2),
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
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _env(inputs: RenderInputs) -> list[dict[str, Any]]:
    secrets = []
    for ref in inputs.spec.secret_refs:
        variable = runtime_config.secret_env_var(ref.name)
        if ref.source == "keystore":
            if inputs.stored_keys_secret is None:
                raise errors.InvalidInput(
                    f"secretRefs[{ref.name}] comes from the key store, but no stored-keys Secret was given to render"
                )
            secrets.append(_secret_env(variable, inputs.stored_keys_secret, ref.name))
        else:
            assert ref.secret_name is not None and ref.key is not None  # the model requires both for Secrets
            secrets.append(_secret_env(variable, ref.secret_name, ref.key))
    admin = _secret_env(inputs.runtime_config.admin_token_env, inputs.admin_secret_name, ADMIN_TOKEN_SECRET_KEY)
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


def _egress_rule(rule: models.EgressRule) -> dict[str, Any]:
    peers: list[dict[str, Any]] = []
    if rule.cidr is not None:
        peers.append({"ipBlock": {"cidr": rule.cidr}})
    if rule.namespace is not None or rule.pod_labels:
        peer: dict[str, Any] = {}
        if rule.namespace is not None:
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": rule.namespace}}
        if rule.pod_labels:
            peer["podSelector"] = {"matchLabels": dict(rule.pod_labels)}
        peers.append(peer)
    egress: dict[str, Any] = {"to": peers}
    if rule.ports:
        egress["ports"] = [{"protocol": "TCP", "port": port} for port in rule.ports]
    return egress


def _metadata(inputs: RenderInputs, name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": inputs.namespace,
        "labels": _labels(inputs, version),
        "annotations": {PLUGIN_VERSION_ANNOTATION: version},
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


def _labels(inputs: RenderInputs, version: str) -> dict[str, str]:
    return {
        **plugin_selector(inputs.cr_name),
        "app.kubernetes.io/version": label_value(version),
        "app.kubernetes.io/component": _NAME,
        "app.kubernetes.io/part-of": _PART_OF,
        "app.kubernetes.io/managed-by": "plugin-operator",
        PLUGIN_LABEL: label_value(inputs.plugin_id),
    }


def _version_selector(cr_name: str, version: str) -> dict[str, str]:
    return {**plugin_selector(cr_name), "app.kubernetes.io/version": label_value(version)}


def _service_name(cr_name: str) -> str:
    if len(cr_name) <= _MAX_NAME and _DNS_1035_LABEL.fullmatch(cr_name):
        return cr_name
    return _with_digest(_letter_first_slug(cr_name), cr_name, limit=_MAX_NAME)


def _letter_first_slug(text: str) -> str:
    slug = _slug(text)
    return slug if slug[:1].isalpha() else f"p-{slug}".rstrip("-")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _with_digest(prefix: str, *key: str, limit: int) -> str:
    """`prefix` cut to fit `limit` with `-<hash of key>` appended."""
    return f"{prefix[: limit - _HASH_LENGTH - 1].rstrip('-')}-{_digest(*key)}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:_HASH_LENGTH]
