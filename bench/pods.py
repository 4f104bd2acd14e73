"""The kubelet and kube-proxy of the operator scale benchmark: plugin-runtime processes for the
Deployments the Kubernetes driver applies, and Service addresses routed to them.

Until the embedded dev cluster runs pods itself (the `kubelet` work of issue #14), this plays the
part from what the operator applied, nothing else: each runtime Deployment with replicas runs one
`plugin-runtime` process started from its pod template (the ConfigMap volume written to a directory,
`secretKeyRef` env resolved from the cluster's Secrets, the listen address remapped to a free
loopback port), reported available once `/health/live` answers; a deleted Deployment's process is
killed. `transport()` is an httpx transport sending `http://<service>.<namespace>.svc/…` to the
process behind the Service's selector, which is how the operator's runtime client reaches runtimes.
Not sandboxed and not resource-limited: the figure it yields is the operator's and the runtimes'
own cost, without the container runtime's.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from plugin_operator import naming
from plugin_operator.kube import Kube

_INHERITED = ("PATH", "HOME", "LANG", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Pod:
    process: subprocess.Popen[bytes]
    port: int
    labels: dict[str, str]
    ready: bool = False


class Pods:
    """Runs the runtime Deployments of one namespace until `stop()`."""

    def __init__(self, kube: Kube, *, url: str, namespace: str, workdir: Path) -> None:
        """`url`: the dev cluster's API (the Deployment status subresource is written there)."""
        self.kube, self.url, self.namespace, self.workdir = kube, url, namespace, workdir
        self.pods: dict[str, Pod] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-pods", daemon=True)
        self._services: dict[str, dict[str, str]] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        with self._lock:
            for name in list(self.pods):
                self._kill(name)

    def pids(self) -> list[int]:
        with self._lock:
            return [pod.process.pid for pod in self.pods.values() if pod.process.poll() is None]

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._sync()
            except Exception as exc:  # keep running: the API server may be briefly busy
                print(f"bench pods: {exc!r}", file=sys.stderr)
            self._stopping.wait(0.2)

    def _sync(self) -> None:
        selector = {"app.kubernetes.io/name": naming.RUNTIME_NAME}
        deployments = self.kube.list("apps/v1", "Deployment", self.namespace, selector)
        with self._lock:
            for name in set(self.pods) - {d["metadata"]["name"] for d in deployments}:
                self._kill(name)
        for deployment in deployments:
            self._sync_one(deployment)

    def _sync_one(self, deployment: dict[str, Any]) -> None:
        name, replicas = deployment["metadata"]["name"], deployment["spec"].get("replicas", 1)
        with self._lock:
            pod = self.pods.get(name)
            if pod is not None and (replicas == 0 or pod.process.poll() is not None):
                self._kill(name)
                pod = None
            if pod is None and replicas > 0:
                pod = self.pods[name] = self._run(name, deployment["spec"]["template"])
        if pod is not None and not pod.ready:
            pod.ready = _live(pod.port)
        available = replicas if pod is not None and pod.ready else 0
        if (deployment.get("status") or {}).get("availableReplicas", 0) != available:
            status = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
            path = f"{self.url}/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}/status"
            headers = {"Content-Type": "application/merge-patch+json"}
            httpx.patch(path, json={"status": status}, headers=headers, timeout=10).raise_for_status()

    def _run(self, name: str, template: dict[str, Any]) -> Pod:
        spec = template["spec"]
        [container] = spec["containers"]
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        mounts: dict[str, Path] = {}
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                configmap = self.kube.get("v1", "ConfigMap", self.namespace, volume["configMap"]["name"]) or {}
                for key, value in (configmap.get("data") or {}).items():
                    (directory / key).write_text(value)
                mounts[volume["name"]] = directory
        by_path = {m["mountPath"]: mounts[m["name"]] for m in container.get("volumeMounts", []) if m["name"] in mounts}
        args = [_remap(arg, by_path) for arg in container.get("args", [])]
        port = _free_port()
        args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
        command = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:], *args]
        env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
        for entry in container.get("env", []):
            ref = entry["valueFrom"]["secretKeyRef"]
            secret = self.kube.get("v1", "Secret", self.namespace, ref["name"]) or {}
            env[entry["name"]] = base64.b64decode((secret.get("data") or {})[ref["key"]]).decode()
        with open(directory / "runtime.log", "ab") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        return Pod(process, port, dict(template["metadata"].get("labels") or {}))

    def _kill(self, name: str) -> None:
        pod = self.pods.pop(name)
        if pod.process.poll() is None:
            os.killpg(pod.process.pid, signal.SIGKILL)
        pod.process.wait(10)

    def port_of(self, host: str) -> int | None:
        """The port of the process behind `<service>.<namespace>.svc`, if any."""
        service_name, _, rest = host.partition(".")
        if rest != f"{self.namespace}.svc":
            return None
        selector = self._services.get(service_name)
        if selector is None:
            service = self.kube.get("v1", "Service", self.namespace, service_name)
            if service is None:
                return None
            selector = self._services[service_name] = dict(service["spec"].get("selector") or {})
        with self._lock:
            for pod in self.pods.values():
                if selector.items() <= pod.labels.items() and pod.process.poll() is None:
                    return pod.port
        return None

    def transport(self) -> httpx.AsyncBaseTransport:
        return _ServiceTransport(self)


class _ServiceTransport(httpx.AsyncBaseTransport):
    """kube-proxy and cluster DNS for the operator's runtime client."""

    def __init__(self, pods: Pods) -> None:
        self._pods = pods
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = self._pods.port_of(request.url.host)
        if port is None:
            raise httpx.ConnectError(f"no running pod behind {request.url.host}", request=request)
        request.url = request.url.copy_with(host="127.0.0.1", port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _remap(arg: str, mounts: dict[str, Path]) -> str:
    for mount_path, local in mounts.items():
        if arg == mount_path or arg.startswith(mount_path + "/"):
            return str(local) + arg[len(mount_path) :]
    return arg


def _live(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def pss_mib(pids: list[int]) -> float:
    """Proportional set size of these processes in MiB (shared pages split among their sharers)."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024
