"""A pod as the kubelet runs it: its template turned into a `containers.ContainerSpec` (pure).

Everything a real kubelet would fetch is handed in (`Node`: ConfigMaps, Secrets, NetworkPolicies,
the image registry), and everything it would write is returned (`Plan.files`: ConfigMap and Secret
volumes as files under the pod's host directory), so each decision is table-tested without a cluster.

Images: the dev cluster has no registry, so `Node.images` maps a reference to a local directory. An
image *volume* mounts its directory; a *container* image found there is a site directory of Python
packages, mounted at `IMAGE_SITE` and put first on PYTHONPATH (what that image would add to the
runtime); any other container image runs this checkout's plugin-runtime (`Node.base_env`).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes.utils import parse_quantity

from plugin_devcluster import egress
from plugin_devcluster.containerlogs import LogLimits
from plugin_devcluster.containers import ContainerSpec, Mount

__all__ = ["IMAGE_SITE", "Node", "Plan", "PodConfigError", "plan"]

#: Where a container image's packages are mounted inside the container.
IMAGE_SITE = "/opt/image-site"
#: The kubelet's volumes, one directory each, under the pod's host directory.
VOLUMES_DIR = "volumes"


class PodConfigError(ValueError):
    """The pod cannot start as written; `reason` is the waiting reason `kubectl get pods` shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Node:
    """What the node can see: the namespace's objects by name, and the image registry."""

    configmaps: Mapping[str, Mapping[str, Any]]
    secrets: Mapping[str, Mapping[str, Any]]
    policies: Sequence[Mapping[str, Any]]
    images: Mapping[str, Path]
    #: The environment every container starts from (PATH to the runtime, HOME, LANG).
    base_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    log_limits: LogLimits = dataclasses.field(default_factory=LogLimits)


@dataclasses.dataclass(frozen=True)
class File:
    path: Path
    content: bytes
    mode: int


@dataclasses.dataclass(frozen=True)
class Plan:
    spec: ContainerSpec
    #: Directories to create (emptyDir and the ConfigMap/Secret volume roots), then files to write.
    directories: tuple[Path, ...]
    #: The emptyDirs among them: writable by whatever uid the container runs as (0777, as Kubernetes).
    shared: tuple[Path, ...]
    files: tuple[File, ...]
    #: What the pod asked for that the dev cluster cannot honour (posted as Warning Events).
    warnings: tuple[str, ...]


def _secret_value(node: Node, name: str, key: str) -> str:
    secret = node.secrets.get(name)
    if secret is None:
        raise PodConfigError("CreateContainerConfigError", f'secret "{name}" not found')
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode()
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    raise PodConfigError("CreateContainerConfigError", f'couldn\'t find key {key} in Secret "{name}"')


def _env(container: Mapping[str, Any], node: Node) -> dict[str, str]:
    env = dict(node.base_env)
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        source = entry.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[entry["name"]] = _secret_value(node, ref["name"], ref["key"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = (node.configmaps.get(ref["name"]) or {}).get("data") or {}
            if ref["key"] not in data:
                raise PodConfigError("CreateContainerConfigError", f'configmap "{ref["name"]}" has no key {ref["key"]}')
            env[entry["name"]] = data[ref["key"]]
        else:
            raise PodConfigError("CreateContainerConfigError", f"env {entry['name']}: unsupported valueFrom")
    return env


def _size_limit(volume: Mapping[str, Any]) -> int | None:
    """An emptyDir's `sizeLimit` in bytes (enforced as a tmpfs of that size: see `Mount`)."""
    limit = (volume.get("emptyDir") or {}).get("sizeLimit")
    return None if limit is None else int(parse_quantity(limit))


def _volume(volume: Mapping[str, Any], node: Node, root: Path) -> tuple[Path, bool, list[Path], list[File]]:
    """(host path, read-only, directories, files) of one pod volume."""
    name = volume["name"]
    here = root / VOLUMES_DIR / name
    if "image" in volume:
        reference = volume["image"]["reference"]
        if reference not in node.images:
            raise PodConfigError("ErrImagePull", f"image volume {name}: {reference} is not in the dev image registry")
        return node.images[reference], True, [], []
    if "emptyDir" in volume:  # with a sizeLimit, a tmpfs inside the sandbox: no host directory
        return here, False, [here] if _size_limit(volume) is None else [], []
    if "configMap" in volume or "secret" in volume:
        is_secret = "secret" in volume
        source = volume["secret" if is_secret else "configMap"]
        object_name = source["secretName"] if is_secret else source["name"]
        found = (node.secrets if is_secret else node.configmaps).get(object_name)
        if found is None:
            kind = "secret" if is_secret else "configmap"
            raise PodConfigError("CreateContainerConfigError", f'volume {name}: {kind} "{object_name}" not found')
        mode = int(source.get("defaultMode", 0o644))
        if is_secret:
            entries = {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}
            entries.update({k: str(v).encode() for k, v in (found.get("stringData") or {}).items()})
        else:
            entries = {k: str(v).encode() for k, v in (found.get("data") or {}).items()}
        files = [File(here / key, content, mode) for key, content in sorted(entries.items())]
        return here, True, [here], files
    raise PodConfigError("CreateContainerConfigError", f"volume {name}: only configMap, secret, emptyDir and image")


def _limits(container: Mapping[str, Any]) -> tuple[int | None, int | None]:
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = int(parse_quantity(limits["memory"])) if "memory" in limits else None
    cpu = int(parse_quantity(limits["cpu"]) * 1000) if "cpu" in limits else None
    return memory, cpu


def _identity(pod_spec: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int, int]:
    pod_context = pod_spec.get("securityContext") or {}
    context = {**pod_context, **(container.get("securityContext") or {})}
    return int(context.get("runAsUser", 10001)), int(context.get("runAsGroup", 10001))


def _port(container: Mapping[str, Any]) -> int:
    ports = container.get("ports") or []
    if not ports:
        raise PodConfigError("CreateContainerConfigError", "the container declares no containerPort")
    return int(ports[0]["containerPort"])


def plan(pod: Mapping[str, Any], node: Node, *, root: Path) -> Plan:
    """How to run `pod` (a Pod object) with its host directory at `root`; PodConfigError when it cannot."""
    meta, pod_spec = pod["metadata"], pod["spec"]
    containers = pod_spec.get("containers") or []
    if len(containers) != 1:
        raise PodConfigError("CreateContainerConfigError", "the dev cluster runs pods of exactly one container")
    [container] = containers
    if not container.get("command"):
        raise PodConfigError("CreateContainerConfigError", "the container needs a command (no image entrypoints here)")
    env = _env(container, node)
    directories: list[Path] = [root]
    files: list[File] = []
    shared: list[Path] = []
    volumes: dict[str, tuple[Path, bool, int | None]] = {}
    for volume in pod_spec.get("volumes") or []:
        source, read_only, dirs, new_files = _volume(volume, node, root)
        volumes[volume["name"]] = (source, read_only, _size_limit(volume))
        shared += [source] if "emptyDir" in volume and _size_limit(volume) is None else []
        directories += dirs
        files += new_files
    mounts = []
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in volumes:
            raise PodConfigError("CreateContainerConfigError", f"volumeMount {mount['name']}: no such volume")
        if mount.get("subPath"):
            raise PodConfigError("CreateContainerConfigError", f"volumeMount {mount['name']}: subPath is not supported")
        source, read_only, size_limit = volumes[mount["name"]]
        mounts.append(Mount(mount["mountPath"], source, read_only or bool(mount.get("readOnly")), size_limit))
    site = node.images.get(container.get("image", ""))
    if site is not None:
        mounts.append(Mount(IMAGE_SITE, site, True))
        env["PYTHONPATH"] = ":".join(p for p in (IMAGE_SITE, env.get("PYTHONPATH")) if p)
    memory, cpu = _limits(container)
    uid, gid = _identity(pod_spec, container)
    allowed = egress.egress(node.policies, meta.get("labels") or {})
    spec = ContainerSpec(
        pod=meta["name"],
        namespace=meta["namespace"],
        argv=(*map(str, container["command"]), *map(str, container.get("args") or [])),
        env=env,
        mounts=tuple(mounts),
        port=_port(container),
        workdir=root,
        uid=uid,
        gid=gid,
        memory_limit_bytes=memory,
        cpu_limit_millicores=cpu,
        egress=allowed.endpoints,
        log_limits=node.log_limits,
    )
    return Plan(spec, tuple(directories), tuple(shared), tuple(files), allowed.warnings)
