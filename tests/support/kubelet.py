"""Plays the parts of a cluster the dev cluster does not run yet, for the Kubernetes-path e2e tests:
the Deployment controller and kubelet (a plugin-runtime process per Deployment, started from its pod
template), kube-proxy and cluster DNS (an HTTP proxy that sends `http://<service>.<ns>.svc/…` to the
process behind the Service's selector).

It interprets what the operator applied, nothing else: the container's command and args (the config
path and listen address remapped to a temporary directory and a free loopback port), its env
(`secretKeyRef`s resolved from the cluster's Secrets), its ConfigMap volumes and OCI image volumes.
Images are a registry the test fills (`images`: reference → local directory): an image volume mounts
its directory; a container image's directory is a site directory added to the runtime's PYTHONPATH
(the packages baked into that image); every container otherwise runs this checkout's runtime. Not
emulated: more than one process per Deployment (status reports `replicas` available once the one
process is live), resource limits, NetworkPolicies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
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
    template: str
    labels: dict[str, str]
    directory: Path
    ready: bool = False


class PodRunner:
    """Runs the plugin runtimes of one namespace's Deployments until `stop()`."""

    def __init__(self, kube: Kube, *, url: str, namespace: str, workdir: Path) -> None:
        self.kube, self.url, self.namespace, self.workdir = kube, url, namespace, workdir
        #: The image registry: reference → the directory holding the image's content.
        self.images: dict[str, Path] = {}
        self.pods: dict[str, Pod] = {}
        self.http = httpx.Client(timeout=30, trust_env=False)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-runner", daemon=True)
        self._proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._proxy_thread = threading.Thread(target=self._proxy.serve_forever, name="svc-proxy", daemon=True)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    def start(self) -> None:
        self._thread.start()
        self._proxy_thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        self._proxy.shutdown()
        with self._lock:
            for name in list(self.pods):
                self._kill(name)
        self.http.close()

    def pids(self) -> list[int]:
        with self._lock:
            return [pod.process.pid for pod in self.pods.values()]

    # The controller ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sync()
            except Exception as exc:  # keep running: the API server may be briefly busy
                print(f"pod runner: {exc!r}", file=sys.stderr)
            self._stopping.wait(0.2)

    def sync(self) -> None:
        selector = {"app.kubernetes.io/name": naming.RUNTIME_NAME}
        deployments = self.kube.list("apps/v1", "Deployment", self.namespace, selector)
        with self._lock:
            for name in set(self.pods) - {d["metadata"]["name"] for d in deployments}:
                self._kill(name)
            for deployment in deployments:
                self._sync_one(deployment)

    def _sync_one(self, deployment: dict[str, Any]) -> None:
        name, replicas = deployment["metadata"]["name"], deployment["spec"].get("replicas", 1)
        template = json.dumps(deployment["spec"]["template"], sort_keys=True)
        pod = self.pods.get(name)
        if pod is not None and (pod.template != template or replicas == 0 or pod.process.poll() is not None):
            self._kill(name)
            pod = None
        if pod is None and replicas > 0:
            pod = self.pods[name] = self._run(name, deployment["spec"]["template"], template)
        if pod is not None and not pod.ready:
            pod.ready = _live(pod.port)  # like a readiness gate: checked until it first passes
        available = replicas if pod is not None and pod.ready else 0
        if (deployment.get("status") or {}).get("availableReplicas", 0) != available:
            status = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
            path = f"{self.url}/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}/status"
            headers = {"Content-Type": "application/merge-patch+json"}
            httpx.patch(path, json={"status": status}, headers=headers, timeout=10).raise_for_status()

    def _run(self, name: str, template: dict[str, Any], fingerprint: str) -> Pod:
        spec = template["spec"]
        [container] = spec["containers"]
        directory = self.workdir / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        mounts = self._volumes(spec, container, directory)
        port = _free_port()
        args = [_remap(arg, mounts) for arg in container.get("args", [])]
        args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
        command = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:], *args]
        env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
        env.update(self._env(container))
        site = self.images.get(container["image"])
        if site is not None:  # the packages this image carries, importable as if installed in it
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
        log = open(directory / "runtime.log", "ab")  # noqa: SIM115  (closed with the process)
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        log.close()
        return Pod(process, port, fingerprint, dict(template["metadata"].get("labels") or {}), directory)

    def _volumes(self, spec: dict[str, Any], container: dict[str, Any], directory: Path) -> dict[str, Path]:
        """ConfigMap, emptyDir and image volumes as directories; mountPath → local directory."""
        local: dict[str, Path] = {}
        for volume in spec.get("volumes", []):
            if "image" in volume:
                reference = volume["image"]["reference"]
                if reference not in self.images:
                    raise RuntimeError(f"image {reference} of {directory.name} not found (ErrImagePull)")
                local[volume["name"]] = self.images[reference]
                continue
            path = directory / volume["name"]
            path.mkdir()
            if "configMap" in volume:
                configmap = self.kube.get("v1", "ConfigMap", self.namespace, volume["configMap"]["name"])
                if configmap is None:
                    raise RuntimeError(f"ConfigMap {volume['configMap']['name']} of {directory.name} not found")
                for key, value in (configmap.get("data") or {}).items():
                    (path / key).write_text(value)
            local[volume["name"]] = path
        return {m["mountPath"]: local[m["name"]] for m in container.get("volumeMounts", []) if m["name"] in local}

    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
                continue
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = self.kube.read_secret_key(self.namespace, ref["name"], ref["key"]).value
        return env

    def _kill(self, name: str) -> None:
        pod = self.pods.pop(name)
        if pod.process.poll() is None:
            os.killpg(pod.process.pid, signal.SIGKILL)
        pod.process.wait(10)

    # kube-proxy and DNS ----------------------------------------------------------------------------

    def port_of(self, host: str) -> int | None:
        """The port of the process behind `<service>.<namespace>.svc`, if any."""
        service_name, _, rest = host.partition(".")
        if rest != f"{self.namespace}.svc":
            return None
        service = self.kube.get("v1", "Service", self.namespace, service_name)
        if service is None:
            return None
        selector = service["spec"].get("selector") or {}
        with self._lock:
            for pod in self.pods.values():
                if selector.items() <= pod.labels.items() and pod.process.poll() is None:
                    return pod.port
        return None


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


def _proxy_handler(runner: PodRunner) -> type[http.server.BaseHTTPRequestHandler]:
    class Proxy(http.server.BaseHTTPRequestHandler):
        """An HTTP forward proxy: absolute `http://<service>.<ns>.svc:80/…` URLs to the selected pod."""

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _forward(self) -> None:
            url = httpx.URL(self.path)
            port = runner.port_of(url.host)
            if port is None:
                self.send_error(502, f"no running pod behind {url.host}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection", "connection")
            }
            try:
                response = runner.http.request(
                    self.command,
                    url.copy_with(scheme="http", host="127.0.0.1", port=port),
                    headers=headers,
                    content=self.rfile.read(length) if length else None,
                )
            except httpx.HTTPError as exc:
                self.send_error(502, f"pod unreachable: {type(exc).__name__}")
                return
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # the caller gave up (a probe timed out): drop the answer
                self.wfile.write(response.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Proxy


def wait_until(check: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
