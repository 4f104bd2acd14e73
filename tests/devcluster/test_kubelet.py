"""The dev cluster's controllers, kubelet and Service proxy together, in real sandboxes (SandboxRuntime):
Deployments get ReplicaSets and Pods with status, containers restart with back-off and Events,
probes gate readiness and restart on liveness failure, deletion kills the process tree, Services route
to ready pods, and the objects survive a restart of the cluster."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_devcluster import DevCluster, write_kubeconfig
from plugin_devcluster.containers import Container
from plugin_devcluster.kubelet import KubeletConfig
from plugin_devcluster.sandbox import SandboxContainer
from plugin_operator.kube import Kube
from tests.support.waiting import wait_for

SERVER = str(Path(__file__).with_name("podserver.py"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


SERVER_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "podserver", "namespace": "default"},
    "data": {"podserver.py": Path(SERVER).read_text()},
}


def deployment(name: str, *, replicas: int = 1, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The test server from a ConfigMap volume; `/steer` an emptyDir the test steers it through."""
    labels = {"app": name}
    probe = {"periodSeconds": 1, "timeoutSeconds": 1}
    container = {
        "name": "server",
        "image": "example.com/podserver:1",
        "command": [sys.executable, "/app/podserver.py"],
        "args": ["--host", "0.0.0.0", "--port", "8080"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "volumeMounts": [{"name": "app", "mountPath": "/app"}, {"name": "steer", "mountPath": "/steer"}],
        "env": [{"name": k, "value": v} for k, v in {"STEER_DIR": "/steer", **(env or {})}.items()],
        "startupProbe": {"httpGet": {"path": "/health/live", "port": "http"}, **probe, "failureThreshold": 20},
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, **probe, "failureThreshold": 1},
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": "http"}, **probe, "failureThreshold": 2},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [container],
                    "volumes": [
                        {"name": "app", "configMap": {"name": "podserver"}},
                        {"name": "steer", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


class Running:
    def __init__(self, cluster: DevCluster, kube: Kube) -> None:
        self.cluster, self.kube = cluster, kube

    def pods(self, name: str) -> list[dict[str, Any]]:
        return self.kube.list("v1", "Pod", "default", {"app": name})

    def ready_pods(self, name: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.pods(name)
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions", [])
            )
        ]

    def containers(self, name: str) -> list[Container]:
        assert self.cluster.kubelet is not None
        return [c for (_, pod), c in self.cluster.kubelet.containers().items() if pod.startswith(name + "-")]

    def pids(self, name: str) -> list[int]:
        return [c.pid for c in self.containers(name)]

    def steer(self, name: str) -> list[Path]:
        """The host directories of the `/steer` emptyDir of the Deployment's pods."""
        assert self.cluster.kubelet is not None
        found = [self.cluster.kubelet.directory("default", p["metadata"]["name"]) for p in self.pods(name)]
        return [folder / "volumes" / "steer" for folder in found if folder is not None]

    def events(self, pod: str) -> list[tuple[str, str]]:
        items = self.kube.list("v1", "Event", "default", {})
        return [(e["type"], e["reason"]) for e in items if e["involvedObject"]["name"] == pod]

    def get(self, url: str) -> httpx.Response:
        return httpx.get(url, proxy=self.cluster.proxy_url, timeout=5, trust_env=False)


def start(tmp: Path, state_file: Path | None = None) -> tuple[DevCluster, Kube]:
    config = KubeletConfig(root=tmp / "pods", backoff_base=0.5, backoff_cap=2.0, tick=0.1)
    cluster = DevCluster.start_in_thread(kubelet=config, state_file=state_file)
    kube = Kube.from_config(str(write_kubeconfig(cluster.url, tmp / f"kubeconfig-{cluster.port}")))
    kube.apply(SERVER_CONFIGMAP)
    return cluster, kube


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    cluster, kube = start(tmp_path)
    try:
        yield Running(cluster, kube)
    finally:
        kube.close()
        cluster.stop()


def test_a_deployment_gets_a_replicaset_ready_pods_and_status(running: Running) -> None:
    running.kube.apply(deployment("web", replicas=2))
    wait_for(lambda: len(running.ready_pods("web")) == 2, what="two ready pods")
    status = wait_for(
        lambda: (
            (running.kube.get("apps/v1", "Deployment", "default", "web") or {})
            .get("status", {})
            .get("availableReplicas")
            == 2
            and running.kube.get("apps/v1", "Deployment", "default", "web")
        ),
        what="the Deployment available",
    )["status"]
    assert status["readyReplicas"] == 2 and status["replicas"] == 2
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Available": "True", "Progressing": "True"}
    [rs] = running.kube.list("apps/v1", "ReplicaSet", "default", {"app": "web"})
    assert rs["status"]["readyReplicas"] == 2
    pod = running.ready_pods("web")[0]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    # What the container runtime cannot isolate here is said on every pod, never silently.
    assert running.cluster.kubelet is not None
    missing = running.cluster.kubelet.isolation.missing
    isolated = next(c for c in pod["status"]["conditions"] if c["type"] == "devcluster.hyperspot.io/Isolated")
    assert isolated["status"] == ("False" if missing else "True")
    assert all(m in isolated["message"] for m in missing)
    kinds = running.events(pod["metadata"]["name"])
    assert ("Normal", "Scheduled") in kinds and ("Normal", "Started") in kinds
    assert (("Warning", "IsolationIncomplete") in kinds) == bool(missing)


def test_replicas_scale_down_to_zero_and_back(running: Running) -> None:
    running.kube.apply(deployment("scale", replicas=2))
    wait_for(lambda: len(running.ready_pods("scale")) == 2, what="two ready pods")
    pids = running.pids("scale")
    running.kube.patch("apps/v1", "Deployment", "default", "scale", {"spec": {"replicas": 0}})
    wait_for(lambda: not running.pods("scale") and not any(alive(p) for p in pids), what="every pod gone")
    running.kube.patch("apps/v1", "Deployment", "default", "scale", {"spec": {"replicas": 1}})
    wait_for(lambda: len(running.ready_pods("scale")) == 1, what="one ready pod again")


def test_a_template_change_rolls_to_a_new_replicaset(running: Running) -> None:
    running.kube.apply(deployment("roll", env={"GREETING": "one"}))
    running.kube.apply(service("roll"))
    wait_for(lambda: running.ready_pods("roll"), what="a ready pod")
    assert running.get("http://roll.default.svc/x").text == "one /x"
    running.kube.apply(deployment("roll", env={"GREETING": "two"}))

    def rolled() -> bool:
        sets = running.kube.list("apps/v1", "ReplicaSet", "default", {"app": "roll"})
        return (
            len(sets) == 2
            and sorted(rs["spec"]["replicas"] for rs in sets) == [0, 1]
            and len(running.pods("roll")) == 1
        )

    wait_for(rolled, what="the old ReplicaSet scaled to zero")
    assert running.get("http://roll.default.svc.cluster.local:80/y").text == "two /y"


def test_a_crashing_container_restarts_with_backoff_and_events(running: Running) -> None:
    running.kube.apply(deployment("crash", env={"CRASH_AFTER": "0.3"}))

    def restarted_twice() -> dict[str, Any] | None:
        pods = running.pods("crash")
        statuses = pods[0].get("status", {}).get("containerStatuses", []) if pods else []
        return pods[0] if statuses and statuses[0]["restartCount"] >= 2 else None

    pod = wait_for(restarted_twice, what="two restarts")
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["reason"] == "Error" and last["exitCode"] == 3
    assert ("Warning", "BackOff") in running.events(pod["metadata"]["name"])


def test_liveness_failure_restarts_and_readiness_gates_the_service(running: Running) -> None:
    running.kube.apply(deployment("probe"))
    running.kube.apply(service("probe"))
    wait_for(lambda: running.ready_pods("probe"), what="a ready pod")
    [steer] = running.steer("probe")
    (steer / "ready-fail").touch()
    wait_for(lambda: not running.ready_pods("probe"), what="the pod not ready")
    answer = running.get("http://probe.default.svc/")
    assert answer.status_code == 503 and "no ready pod" in answer.text
    (steer / "ready-fail").unlink()
    wait_for(lambda: running.ready_pods("probe"), what="ready again")
    [before] = running.pids("probe")
    (steer / "live-fail").touch()
    pod = wait_for(
        lambda: next(
            (p for p in running.pods("probe") if p["status"]["containerStatuses"][0]["restartCount"] >= 1), None
        ),
        what="a restart",
    )
    assert not alive(before)
    kinds = running.events(pod["metadata"]["name"])
    assert ("Warning", "Unhealthy") in kinds and ("Normal", "Killing") in kinds
    (steer / "live-fail").unlink()  # the emptyDir outlives the container, as in Kubernetes
    wait_for(lambda: running.ready_pods("probe"), what="ready after the restart")


def test_deleting_the_deployment_kills_the_whole_process_tree(running: Running) -> None:
    running.kube.apply(deployment("tree", env={"CHILD": "1"}))
    wait_for(lambda: running.ready_pods("tree"), what="a ready pod")
    [container] = running.containers("tree")
    assert isinstance(container, SandboxContainer)
    [steer] = running.steer("tree")
    wait_for(lambda: (steer / "child.pid").exists(), what="the child forked")
    tree = [container.pid, *container.members()]  # bwrap, the init, the server and its child
    assert len(tree) >= 3 and all(alive(p) for p in tree)
    running.kube.delete("apps/v1", "Deployment", "default", "tree")
    wait_for(lambda: not any(alive(p) for p in tree), what="every process of the pod gone")
    assert running.kube.list("apps/v1", "ReplicaSet", "default", {"app": "tree"}) == []
    assert running.pods("tree") == []


def test_the_proxy_answers_502_for_what_is_not_a_service(running: Running) -> None:
    assert running.get("http://example.com/").status_code == 502
    assert running.get("http://missing.default.svc/").status_code == 502


def test_objects_survive_a_restart_and_pods_run_again(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    cluster, kube = start(tmp_path, state)
    try:
        kube.apply(deployment("kept"))
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "default"},
                "data": {"k": "v"},
            }
        )
        wait_for(lambda: Running(cluster, kube).ready_pods("kept"), what="a ready pod")
        pids = Running(cluster, kube).pids("kept")
    finally:
        kube.close()
        cluster.stop()
    assert not any(alive(p) for p in pids)
    assert state.stat().st_mode & 0o777 == 0o600
    cluster, kube = start(tmp_path, state)
    try:
        assert (kube.get("v1", "ConfigMap", "default", "c") or {}).get("data") == {"k": "v"}
        wait_for(lambda: Running(cluster, kube).ready_pods("kept"), what="the restored Deployment's pod ready")
    finally:
        kube.close()
        cluster.stop()
