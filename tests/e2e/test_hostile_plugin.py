"""A hostile plugin on `make run`'s own stack: loaded the way users load third-party code (a folder of the
plugins image, `tests/e2e/hostile`, and a Plugin manifest with small limits and one declared backend),
it attacks its sandbox at init and on request, and reports from inside what it could do. Every attack
must fail; the plugin is contained (OOM-killed → restarted with a Warning Event, CPU throttled, not
killed); two neighbour plugins holding secrets stay Active and answer correctly throughout; after the
Plugin is deleted nothing of it runs.

The tests share one arena (the neighbours, the hostile plugin and a poller of the neighbours) and run
in file order: the destructive attacks (OOM, delete) come last.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from plugin_devcluster.sandbox import SandboxContainer
from plugin_devcluster.sandbox.fence import socket_name
from plugin_devcluster.sandbox.runtime import DEFAULT_PIDS_LIMIT
from plugin_operator import naming
from plugin_operator.app import repo_root
from tests.e2e.conftest import Harness, localsql_plugin, query_id, unique, wait_for
from tests.support import stack
from tests.support.echo import EchoServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(os.environ.get("E2E_KUBECONFIG")),
        reason="attacks the embedded cluster's sandbox; a real cluster's runtime and CNI are not this project's",
    ),
]

HOSTILE = "hostile"  # the folder's plugin.yaml id: the Plugin's name must be the same
ATTACK = query_id(HOSTILE, "attack")
CAPABILITIES = "gts.hypernetix.hyperspot.ax.query_capabilities.v1"
PLUGINS_DIR = "/opt/plugins"  # where the plugins image is mounted in a runtime pod (plugin_operator.render)
MEMORY_LIMIT = 256 * 1024**2
CPU_LIMIT_MILLICORES = 500
FORK_BOMB_LIMIT = 128
#: What the sandbox binds in from the host at the host's paths (read-only): see plugin_devcluster.sandbox.
MOUNTS = [Path(p).resolve() for p in (sys.base_prefix, sys.prefix)] + [
    repo_root() / "plugin_runtime",
    repo_root() / "adapters",
]


@dataclass
class Poller:
    """Queries each neighbour every 0.3 s in a thread; every answer is kept to be judged at the end."""

    harness: Harness
    urls: dict[str, str]
    expected: dict[str, Any]
    answers: list[tuple[str, int, Any]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stopping.wait(0.3):
            for name, url in self.urls.items():
                try:
                    response = self.harness.runtime_get(url, params={"$top": "2"})
                    self.answers.append((name, response.status_code, response.json().get("value")))
                except (httpx.HTTPError, ValueError) as exc:
                    self.answers.append((name, 0, repr(exc)))


@dataclass
class Arena:
    harness: Harness
    neighbours: list[str]
    secrets: list[str]
    echo: EchoServer
    poller: Poller
    init_marker: str
    written: list[str]

    def attack(self, attack: str, arg: Any = None, *, timeout: float = 30) -> list[dict[str, Any]]:
        """One attack; the rows say what happened (and hold no secret, whatever it read)."""
        response = self.call(attack, arg, timeout=timeout)
        assert response.status_code == 200, response.text
        assert not [s for s in self.secrets if s in response.text], f"{attack} leaked a secret: {response.text}"
        return list(response.json()["value"])

    def call(self, attack: str, arg: Any = None, *, timeout: float = 30) -> httpx.Response:
        endpoint = self.harness.status(HOSTILE)["endpoint"]
        params = {"attack": attack, "arg": json.dumps(arg), "$top": "10000"}
        headers = {"Authorization": f"Bearer {self.harness.auth.execute_token}"}
        proxy = self.harness.settings.runtime_proxy
        return httpx.get(f"{endpoint}/queries/{ATTACK}", params=params, headers=headers, timeout=timeout, proxy=proxy)

    def container(self, name: str) -> SandboxContainer:
        containers = stack.kubelet(self.harness.cluster).containers()
        found = [containers[key] for key in stack.pods_of(self.harness.cluster, name)]
        assert len(found) == 1 and isinstance(found[0], SandboxContainer), found
        return found[0]

    def pods(self, name: str) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in naming.plugin_selector(name).items())
        return list(self.harness.cluster.kubectl_json("get", "pods", "-n", "default", "-l", selector)["items"])

    def restarts(self, name: str) -> int:
        return sum(s["restartCount"] for pod in self.pods(name) for s in pod["status"].get("containerStatuses", []))


def _by_target(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["target"]: row for row in rows}


def _leads_to(entry: Path, mount: Path) -> bool:
    return entry == mount or entry in mount.parents


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _host_addresses() -> list[str]:
    """The host's own non-loopback IPv4 addresses (where a listener on 0.0.0.0 would answer them)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    found = {lines[i - 1].split()[-1] for i, line in enumerate(lines) if line.strip() == "/32 host LOCAL"}
    return sorted(a for a in found if not a.startswith("127."))


def _marked(marker: str) -> list[int]:
    """Host pids whose command line carries `marker` (this test's own process never does)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def _secret_values(harness: Harness, names: list[str]) -> list[str]:
    """Every Secret value the neighbours' runtimes are given (their admin tokens, stored keys, secrets)."""
    values = []
    for item in harness.cluster.kubectl_json("get", "secrets", "-n", "default")["items"]:
        if any(item["metadata"]["name"].startswith(name) for name in names):
            values += [base64.b64decode(v).decode() for v in (item.get("data") or {}).values()]
    return [v.strip() for v in values if len(v.strip()) >= 8]


def _sensitive_paths(harness: Harness, state: Path) -> list[str]:
    return [
        str(state),
        str(state / "fernet.key"),
        str(state / "plugins.db"),
        str(state / "control-plane.pem"),
        str(repo_root() / ".run"),
        str(repo_root() / ".run" / "fernet.key"),
        str(harness.cluster.kubeconfig_path),
        str(Path.home() / ".kube" / "config"),
        str(stack.kubelet(harness.cluster).config.root),
        "/etc/shadow",
    ]


@pytest.fixture(scope="module")
def arena(harness: Harness) -> Iterator[Arena]:
    assert harness.cluster.cluster is not None, "the hostile suite attacks the embedded cluster's sandbox"
    assert not harness.isolation_missing(), f"this machine cannot isolate pods: {harness.isolation_missing()}"
    # The operator's state as `make run` keeps it: the Fernet key and a database file in the state dir.
    state = harness.settings.state_dir
    planted = [state / "fernet.key", state / "plugins.db"]
    planted[0].write_text(harness.fernet_keys[0])
    planted[1].write_text(f"SQLite format 3 plugins-db-{uuid.uuid4().hex}")
    for path in planted:
        path.chmod(0o600)

    secret_value, stored_value = f"neighbour-secret-{uuid.uuid4().hex}", f"stored-key-{uuid.uuid4().hex}"
    with_secret, with_key = unique("neighbour-secret"), unique("neighbour-key")
    harness.cluster.kubectl_ok("create", "secret", "generic", with_secret, f"--from-literal=token={secret_value}")
    harness.apply(
        localsql_plugin(
            with_secret,
            secretRefs=[{"name": "api_key", "source": "secret", "secretName": with_secret, "key": "token"}],
        )
    )
    harness.apply(localsql_plugin(with_key, secretRefs=[{"name": "api_key", "source": "keystore"}]))
    assert harness.process is not None  # the key is stored as an admin would, through the API
    url = f"{harness.process.api_url}/api/analytics/v1/plugins/{with_key}/keys/api_key"

    def store() -> bool:
        """PUT the key; 409 until the operator has recorded the Plugin (it says to retry shortly)."""
        headers = {"Authorization": f"Bearer {harness.auth.admin_token}"}
        put = httpx.put(url, json={"value": stored_value}, headers=headers, timeout=10)
        assert put.status_code in (204, 409), put.text
        return put.status_code == 204

    wait_for(store, timeout=30, what=f"the stored key of {with_key}")
    neighbours = [with_secret, with_key]
    for name in neighbours:
        harness.wait_phase(name, "Active", timeout=90)

    echo = EchoServer(read=16)
    init_marker = f"hostile-init-daemon-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    written = [
        f"{PLUGINS_DIR}/hostile/injected.py",
        str(repo_root() / f"injected-{tag}"),
        str(state / f"injected-{tag}"),
    ]
    secrets = [
        secret_value,
        stored_value,
        *harness.fernet_keys,
        harness.auth.admin_token,
        *_secret_values(harness, neighbours),
    ]
    manifest = {
        "apiVersion": "analytics.hyperspot.io/v1alpha1",
        "kind": "Plugin",
        "metadata": {"name": HOSTILE, "namespace": "default"},
        "spec": {
            "version": "1.0.0",
            "contractFormat": "custom",
            "path": "hostile",
            "resources": {"limits": {"cpu": f"{CPU_LIMIT_MILLICORES}m", "memory": "256Mi"}},
            "egress": [{"cidr": "127.0.0.1/32", "ports": [echo.port]}],
            "config": {
                "init_read": _sensitive_paths(harness, state),
                "init_write": written,
                "init_connect": [_host_port(harness.process.api_url), f"127.0.0.1:{echo.port}"],
                "init_marker": init_marker,
            },
            "queries": [
                {
                    "id": ATTACK,
                    "name": "Attack",
                    "category": "e2e",
                    "apiEndpoint": "/e2e/hostile",
                    "capabilitiesId": f"{CAPABILITIES}~hyperspot.e2e.hostile.default.v1",
                    "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.e2e.hostile.rows.v1~",
                }
            ],
        },
    }
    urls = {name: f"{harness.status(name)['endpoint']}/queries/{query_id(name)}" for name in neighbours}
    expected = {name: harness.runtime_get(url, params={"$top": "2"}).json()["value"] for name, url in urls.items()}
    poller = Poller(harness, urls, expected)
    polling = threading.Thread(target=poller.run, daemon=True)
    polling.start()
    harness.apply(manifest)
    harness.wait_phase(HOSTILE, "Active", timeout=90)
    try:
        yield Arena(harness, neighbours, secrets, echo, poller, init_marker, written)
    finally:
        poller.stopping.set()
        polling.join(timeout=10)
        echo.close()
        for name in [*neighbours, HOSTILE]:
            harness.cluster.kubectl("delete", "plugin", name, "--wait=false")
        for path in planted:
            path.unlink()


def test_it_runs_as_an_unprivileged_uid_and_its_init_attacks_failed(arena: Arena) -> None:
    (identity,) = arena.attack("identity")
    assert int(identity["outcome"]) != 0  # not root
    rows = arena.attack("init")
    reads = [r for r in rows if r["target"] in _sensitive_paths(arena.harness, arena.harness.settings.state_dir)]
    assert reads and {r["outcome"] for r in reads} == {"FileNotFoundError"}, [
        r for r in reads if r["outcome"] != "FileNotFoundError"
    ]
    writes = [r for r in rows if r["target"] in arena.written]
    assert writes and all(r["outcome"] in ("OSError", "FileNotFoundError", "PermissionError") for r in writes), writes
    connects = _by_target([r for r in rows if ":" in r["target"] and not r["target"].startswith("/")])
    assert connects[f"127.0.0.1:{arena.echo.port}"]["detail"].startswith("echo:")  # its declared backend
    api = _host_port(arena.harness.process.api_url) if arena.harness.process else ""
    assert connects[api]["outcome"] == "ConnectionRefusedError", connects[api]
    assert not [path for path in arena.written[1:] if Path(path).exists()]
    assert not any(
        (Path(d) / "hostile" / "injected.py").exists()
        for d in stack.kubelet(arena.harness.cluster).config.images.values()
    )


def test_the_operators_state_and_the_neighbours_files_are_not_there(arena: Arena) -> None:
    harness = arena.harness
    neighbour_files = [str(p) for name in arena.neighbours for p in harness.runtime_files(name)]
    assert neighbour_files, "the neighbours' pods keep their volumes on the host"
    targets = [*_sensitive_paths(harness, harness.settings.state_dir), *neighbour_files]
    rows = _by_target(arena.attack("read", targets))
    for target in targets:
        assert rows[target]["outcome"] == "FileNotFoundError", rows[target]
    # Of the checkout and root's home it sees only the way to its read-only mounts (the runtime's
    # packages, the virtualenv, the Python installation): never .run, .git, tests or anything else.
    for listing in arena.attack("read", [str(repo_root()), "/root", str(Path(sys.prefix).parent)]):
        assert listing["outcome"] == "listed", listing
        entries = [Path(listing["target"]) / entry for entry in listing["detail"].split(",")]
        assert all(any(_leads_to(entry, mount) for mount in MOUNTS) for entry in entries), listing


def test_no_other_process_is_visible_or_signalable(arena: Arena) -> None:
    harness = arena.harness
    visible = arena.attack("processes")
    assert visible and len(visible) <= 5, visible  # its sandbox's init and the runtime (and this walk's children)
    for row in visible:
        assert not any(name in row["cmdline"] for name in [*arena.neighbours, "pytest", "kopf"]), row
    pid_one = _by_target(arena.attack("read", ["/proc/1/environ"]))["/proc/1/environ"]
    assert pid_one["outcome"] == "PermissionError", pid_one  # its own sandbox's init (root) at that: not the host's
    own = {row["target"]: row["detail"] for row in arena.attack("environ")}
    assert not [k for k in own if k.startswith(("PLUGIN_OPERATOR_", "KUBECONFIG", "DATABASE"))], sorted(own)

    neighbour_pids = [pid for name in arena.neighbours for pid in harness.runtime_pids(name)]
    assert len(neighbour_pids) == 2
    killed = _by_target(arena.attack("kill", [*neighbour_pids, 1, -1]))
    for pid in neighbour_pids:
        assert killed[str(pid)]["outcome"] == "ProcessLookupError", killed
    assert killed["1"]["outcome"] == "PermissionError"  # its sandbox's init is root's
    # kill(-1) reached only what shares its namespace and uid (its init's daemon), never a neighbour:
    assert killed["-1"]["outcome"] == "signalled"
    wait_for(lambda: not _marked(arena.init_marker), timeout=10, what="its own init daemon to be gone")
    assert arena.attack("identity")  # and the runtime itself goes on
    assert sorted(pid for name in arena.neighbours for pid in harness.runtime_pids(name)) == sorted(neighbour_pids)


def test_it_writes_only_its_private_tmp(arena: Arena) -> None:
    harness = arena.harness
    tag = uuid.uuid4().hex[:6]
    host_targets = [
        str(repo_root() / f"injected-{tag}"),
        str(repo_root() / "plugin_runtime" / f"injected_{tag}.py"),
        str(harness.settings.state_dir / f"injected-{tag}"),
        f"{sys.prefix}/injected-{tag}",  # the virtualenv
    ]
    sandbox_only = [f"{PLUGINS_DIR}/hostile/injected_{tag}.py", f"/etc/injected-{tag}", f"/usr/injected-{tag}"]
    rows = _by_target(arena.attack("write", [*host_targets, *sandbox_only, f"/tmp/ok-{tag}"]))
    assert rows[f"/tmp/ok-{tag}"]["outcome"] == "written"
    for target in [*host_targets, *sandbox_only]:
        assert rows[target]["outcome"] in ("OSError", "PermissionError", "FileNotFoundError"), rows[target]
    for target in host_targets:
        assert not Path(target).exists(), target
    image = stack.kubelet(harness.cluster).config.images
    assert not any((Path(folder) / "hostile" / f"injected_{tag}.py").exists() for folder in image.values())


def test_only_its_declared_backend_is_reachable(arena: Arena) -> None:
    harness = arena.harness
    assert harness.process is not None and harness.cluster.cluster is not None
    database = urlsplit(harness.settings.database_url.replace("postgresql+psycopg", "postgresql"))
    neighbour = arena.container(arena.neighbours[0])
    service = urlsplit(harness.status(arena.neighbours[0])["endpoint"])
    undeclared = EchoServer()
    denied = [
        _host_port(harness.process.api_url),  # the operator API
        _host_port(harness.cluster.url),  # the Kubernetes API
        f"{database.hostname}:{database.port or 5432}",  # PostgreSQL
        "127.0.0.1:5432",
        _host_port(harness.cluster.cluster.proxy_url),  # the Service proxy
        f"127.0.0.1:{undeclared.port}",  # a host port nobody declared
        f"unix:{neighbour.ingress}",  # the neighbour runtime's own socket
        f"unix:/.sandbox/fence/{socket_name(0)}",  # its own fence's host side (root's only)
        *(f"{address}:{port}" for address in _host_addresses() for port in (harness.settings.api_port, 5432)),
    ]
    try:
        rows = _by_target(arena.attack("connect", [*denied, f"{service.hostname}:{service.port or 80}"]))
    finally:
        undeclared.close()
    assert len(denied) > 9, denied  # the host's own address is attacked too
    for target in denied:  # refused on its own lo, absent, root's, or no route out of its namespace
        assert rows[target]["outcome"] in (
            "ConnectionRefusedError",
            "FileNotFoundError",
            "PermissionError",
            "OSError",
        ), rows[target]
    assert rows[f"{service.hostname}:{service.port or 80}"]["outcome"] == "gaierror"  # no cluster DNS inside
    allowed = _by_target(arena.attack("connect", [f"127.0.0.1:{arena.echo.port}"]))
    assert allowed[f"127.0.0.1:{arena.echo.port}"]["detail"] == "echo:GET / HTTP/1.0\r\n"  # the first 16 bytes


def test_a_fork_bomb_stops_at_the_pids_limit(arena: Arena) -> None:
    container = arena.container(HOSTILE)
    assert container.cgroups.read("pids", "pids.max") == f"{DEFAULT_PIDS_LIMIT}\n"  # what every pod gets
    # Lowered for this pod, as a node's podPidsLimit would be, so the bomb stays small on a shared machine
    # (the machine's own task budget is not this pod's to exhaust).
    pids_max = container.cgroups.paths["pids"] / "pids.max"
    pids_max.write_text(str(FORK_BOMB_LIMIT))
    refused = _pids_refused(container)
    try:
        (row,) = arena.attack("fork_bomb", 100_000, timeout=60)
    finally:
        pids_max.write_text(str(DEFAULT_PIDS_LIMIT))
    assert row["outcome"] == "BlockingIOError", row  # fork: EAGAIN
    assert 0 < int(row["detail"]) < FORK_BOMB_LIMIT, row
    assert _pids_refused(container) > refused  # and it was this pod's pids cgroup that refused
    assert arena.container(HOSTILE) is container and arena.restarts(HOSTILE) == 0  # contained, not restarted
    assert len(container.members()) < 10  # the runtime reaped them and goes on
    assert arena.attack("identity")


def _pids_refused(container: SandboxContainer) -> int:
    """How often the pod's pids cgroup refused a fork (`pids.events`: `max N`)."""
    return int((container.cgroups.read("pids", "pids.events") or "max 0").split()[1])


def test_a_cpu_burner_is_throttled_not_killed_and_has_no_cpu_time_budget(arena: Arena) -> None:
    container = arena.container(HOSTILE)
    (pid,) = arena.harness.runtime_pids(HOSTILE)
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert next(line for line in limits.splitlines() if line.startswith("Max cpu time")).split()[3:5] == [
        "unlimited",
        "unlimited",
    ], limits
    assert container.cgroups.read("cpu", "cpu.cfs_quota_us") == f"{CPU_LIMIT_MILLICORES * 100}\n"

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    throttled, began = container.cgroups.throttled(), cpu_seconds()
    (started,) = arena.attack("burn", 120)  # longer than the wait below (the OOM test ends it)
    assert int(started["detail"]) != pid  # its own pid namespace's number for the same process
    wait_for(lambda: cpu_seconds() - began > 10.5, timeout=100, what="10 s of the runtime's CPU at its quota")
    assert container.cgroups.throttled() > throttled
    assert arena.harness.runtime_pids(HOSTILE) == [pid] and arena.restarts(HOSTILE) == 0
    assert arena.attack("identity")  # still answering under throttling


def test_ten_gigabytes_are_oom_killed_and_the_pod_restarts_with_a_warning(arena: Arena) -> None:
    harness = arena.harness
    with contextlib.suppress(httpx.HTTPError):
        response = arena.call("allocate", 10 * 1024**3, timeout=60)
        assert response.status_code != 200, response.text
    pod = wait_for(
        lambda: next((p for p in arena.pods(HOSTILE) if p["status"]["containerStatuses"][0]["restartCount"]), None),
        timeout=60,
        what="the hostile pod to restart",
    )
    terminated = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert terminated["reason"] == "OOMKilled", terminated
    warnings = [e for e in harness.events(pod["metadata"]["name"]) if e["type"] == "Warning"]
    assert "OOMKilled" in {e["reason"] for e in warnings}, warnings
    wait_for(lambda: arena.call("identity").status_code == 200, timeout=60, what="the hostile runtime back")
    harness.wait_phase(HOSTILE, "Active", timeout=60)


def test_nothing_of_it_runs_after_its_plugin_is_deleted(arena: Arena) -> None:
    marker = f"hostile-daemon-{uuid.uuid4().hex[:8]}"
    assert arena.attack("daemon", marker)
    (daemon,) = wait_for(lambda: _marked(marker), timeout=10, what="the daemon to run")
    assert daemon in arena.container(HOSTILE).members()  # it ran inside the sandbox's cgroup
    assert _marked(arena.init_marker)  # the one its init spawned again after the OOM restart
    arena.harness.delete(HOSTILE)
    wait_for(lambda: arena.harness.get(HOSTILE) is None, timeout=60, what="the hostile Plugin to go")
    wait_for(lambda: not arena.harness.runtime_pids(HOSTILE), timeout=30, what="its pods to stop")
    wait_for(lambda: not _marked(marker) and not _marked(arena.init_marker), timeout=30, what="its daemons to die")


def test_the_neighbours_answered_correctly_throughout(arena: Arena) -> None:
    answers = list(arena.poller.answers)
    assert len(answers) > 40, f"only {len(answers)} polls"
    wrong = [(name, code, rows) for name, code, rows in answers if code != 200 or rows != arena.poller.expected[name]]
    assert not wrong, wrong[:5]
    for name in arena.neighbours:
        assert arena.harness.status(name)["phase"] == "Active"
        assert arena.restarts(name) == 0
