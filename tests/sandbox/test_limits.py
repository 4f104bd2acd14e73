"""Resource limits as cgroups: pids, memory (OOM → OOMKilled), CPU as a rate; stop leaves nothing behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

from plugin_devcluster.containers import Termination
from plugin_devcluster.sandbox import SandboxContainer
from plugin_devcluster.sandbox.runtime import DEFAULT_PIDS_LIMIT
from tests.sandbox.conftest import Start, finished


def wait_for(container: SandboxContainer, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = container.log_path.read_text()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {container.log_path.read_text()!r}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_fork_bomb_is_stopped_by_the_pids_limit(start: Start) -> None:
    container = start(
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    for _ in range(100000):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        children += 1\n"
        "except OSError as e:\n"
        "    print('stopped after', children, type(e).__name__, flush=True)\n"
        "time.sleep(60)",
        pids_limit=32,
    )
    log = wait_for(container, "stopped after")
    children = int(log.split("stopped after")[1].split()[0])
    assert children < 32
    assert len(container.members()) <= 32
    assert os.fork  # the host still forks: this test process goes on
    container.stop(0)
    assert container.members() == []


def test_limits_are_written_before_it_runs_swap_included(start: Start) -> None:
    container = start(
        "import time; print('up', flush=True); time.sleep(60)",
        memory_limit_bytes=100 * 1024**2,
        pids_limit=50,
        cpu_limit_millicores=250,
    )
    wait_for(container, "up")
    read = container.cgroups.read
    assert read("memory", "memory.limit_in_bytes") == f"{100 * 1024**2}\n"
    assert read("memory", "memory.memsw.limit_in_bytes") == f"{100 * 1024**2}\n"
    assert read("pids", "pids.max") == "50\n"
    assert (read("cpu", "cpu.cfs_quota_us"), read("cpu", "cpu.cfs_period_us")) == ("25000\n", "100000\n")
    assert container.pid in container.members()  # bwrap itself was placed before it exec'd


def test_a_pod_without_a_pids_limit_gets_the_default(start: Start) -> None:
    container = start("import time; print('up', flush=True); time.sleep(60)")
    wait_for(container, "up")
    assert container.cgroups.read("pids", "pids.max") == f"{DEFAULT_PIDS_LIMIT}\n"


def test_ten_gigabytes_are_oom_killed(start: Start) -> None:
    container = start("block = b'x' * (10 * 1024**3)\nprint('allocated')", memory_limit_bytes=128 * 1024**2)
    termination, log = finished(container)
    assert termination is Termination.OOM_KILLED
    assert "allocated" not in log
    assert container.exit_code() == 137


def test_a_forked_tree_shares_one_memory_limit(start: Start) -> None:
    limit = 128 * 1024**2
    container = start(
        "import os, signal, time\n"
        "pids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'x' * (60 * 1024**2); time.sleep(60); os._exit(0)\n"
        "    pids.append(pid)\n"
        "time.sleep(3)\n"
        "killed = [os.waitpid(p, os.WNOHANG)[1] for p in pids]\n"
        "print('children', sum(os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL for s in killed), flush=True)\n"
        "time.sleep(60)",
        memory_limit_bytes=limit,
    )
    log = wait_for(container, "children")
    assert int(log.split("children")[1].split()[0]) >= 1  # 4 × 60 MiB cannot fit in 128 MiB together
    assert int(container.cgroups.read("memory", "memory.memsw.max_usage_in_bytes") or 0) <= limit
    assert container.cgroups.oom_kills() >= 1


def test_cpu_quota_is_a_rate_not_a_budget(start: Start) -> None:
    container = start("print('burning', flush=True)\nwhile True: pass", cpu_limit_millicores=100)
    wait_for(container, "burning")
    time.sleep(4)
    workload = [pid for pid in container.members() if os.stat(f"/proc/{pid}").st_uid == 10001]
    assert len(workload) == 1
    limits = Path(f"/proc/{workload[0]}/limits").read_text()
    cpu_line = next(line for line in limits.splitlines() if line.startswith("Max cpu time"))
    assert cpu_line.split()[3:5] == ["unlimited", "unlimited"]
    stat = container.cgroups.read("cpu", "cpu.stat") or ""
    assert container.cgroups.throttled() > 0, stat
    used = container.cpu_seconds()
    assert 0.05 < used < 1.5  # ~0.1 CPU over ~4 s of wall time (plus start-up)
    assert container.poll() is None


def test_unthrottled_burner_outlives_any_lifetime_cpu_budget(start: Start) -> None:
    container = start("print('burning', flush=True)\nwhile True: pass", cpu_limit_millicores=1000)
    wait_for(container, "burning")
    deadline = time.monotonic() + 30
    while container.cpu_seconds() < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert container.cpu_seconds() >= 6  # well past an RLIMIT_CPU of a few seconds, were there one
    assert container.poll() is None


def test_stop_kills_double_forked_daemons_and_removes_the_cgroups(start: Start) -> None:
    container = start(
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "print('daemonised', flush=True)\n"
        "time.sleep(600)"
    )
    wait_for(container, "daemonised")
    time.sleep(0.2)
    members = container.members()
    assert len(members) >= 4  # bwrap, init, workload, daemon
    groups = list(container.cgroups.paths.values())
    assert all(path.is_dir() for path in groups)
    container.stop(2)
    assert [pid for pid in members if alive(pid)] == []
    assert [path for path in groups if path.exists()] == []
    assert container.poll() is not None
    assert container.cpu_seconds() > 0  # the total outlives the cgroups


def test_stop_kills_a_workload_ignoring_sigterm(start: Start) -> None:
    container = start(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)"
    )
    wait_for(container, "ready")
    members = container.members()
    started = time.monotonic()
    container.stop(0.5)
    assert time.monotonic() - started < 10
    assert container.poll() is Termination.KILLED
    assert [pid for pid in members if alive(pid)] == []


def test_sigterm_reaches_the_workload(start: Start) -> None:
    container = start(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('terminated', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\ntime.sleep(600)"
    )
    wait_for(container, "ready")
    container.stop(10)
    assert container.poll() is Termination.COMPLETED
    assert "terminated" in container.log_path.read_text()
