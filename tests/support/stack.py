"""`make run`'s stack for tests: the embedded dev cluster whose kubelet runs the Kubernetes driver's
pods in the sandbox, and the operator settings that drive it.

The e2e, resilience and HA suites all start the same stack from here, so each proves its point on
the stack users run, and a change to how pods run reaches every suite at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plugin_devcluster.containers import Container
from plugin_devcluster.kubelet import Kubelet, KubeletConfig
from plugin_devcluster.local import PLUGINS_IMAGE
from plugin_devcluster.sandbox import SandboxContainer
from plugin_operator.app import repo_root
from plugin_operator.settings import OperatorSettings
from tests.support import kube


@contextlib.contextmanager
def pod_cluster(tmp: Path, plugins: Path | None = None, **kwargs: Any) -> Iterator[kube.RunningCluster]:
    """The embedded dev cluster with its kubelet (pods under `tmp`; the plugins image is the folder
    `plugins`, by default the examples'); keyword arguments go to `DevCluster`. Restart backoff is
    short so restart tests stay quick."""
    images = {PLUGINS_IMAGE: plugins or repo_root() / "examples" / "plugins"}
    pods = KubeletConfig(root=tmp / "pods", images=images, backoff_base=1.0, backoff_cap=10.0)
    with kube.dev_cluster(kubelet=pods, **kwargs) as cluster:
        yield cluster


def operator_settings(cluster: kube.RunningCluster, **values: Any) -> OperatorSettings:
    """Operator settings for `pod_cluster`: the plugins image its kubelet knows and its Service proxy
    for the operator's calls to runtimes (`values` set the rest)."""
    return OperatorSettings(plugins_image=PLUGINS_IMAGE, runtime_proxy=cluster.cluster.proxy_url, **values)


def kubelet(cluster: kube.RunningCluster) -> Kubelet:
    assert cluster.cluster is not None and cluster.cluster.kubelet is not None, "no embedded kubelet"
    return cluster.cluster.kubelet


def pods_of(cluster: kube.RunningCluster, name: str, namespace: str = "default") -> list[tuple[str, str]]:
    """The kubelet's running pods of Plugin `name` (pod names are `<name>-<version>-…`)."""
    prefix = f"{name}-"
    return [
        key
        for key in kubelet(cluster).containers()
        if key[0] == namespace and key[1].startswith(prefix) and key[1][len(prefix) : len(prefix) + 1].isdigit()
    ]


def runtime_pids(cluster: kube.RunningCluster, name: str, namespace: str = "default") -> list[int]:
    """The plugin-runtime processes of the Plugin's pods (inside their sandboxes), host pids: what the
    kubelet runs, not what any operator recorded (which is what a killed operator can leave stale)."""
    containers = kubelet(cluster).containers()
    return [pid for key in pods_of(cluster, name, namespace) for pid in _runtime_processes(containers[key])]


def _runtime_processes(container: Container) -> list[int]:
    """The container's plugin-runtime process: not the sandbox's bwrap or init around it, nor a process
    the runtime forked (which keeps its command line)."""
    members = container.members() if isinstance(container, SandboxContainer) else [container.pid]
    found: dict[int, int] = {}  # pid → parent pid
    for pid in members:
        with contextlib.suppress(OSError, StopIteration):
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]  # [interpreter,] script
            if any(part.endswith(b"plugin-runtime") for part in program):
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                found[pid] = int(next(line for line in status if line.startswith("PPid:")).split()[1])
    return [pid for pid, parent in found.items() if parent not in found]
