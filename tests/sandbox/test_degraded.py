"""Missing mechanisms are named in `isolation().missing` and the container still runs with the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugin_devcluster.containers import ContainerSpec, Termination
from plugin_devcluster.sandbox import SandboxRuntime
from plugin_devcluster.sandbox.probe import detect
from tests.sandbox.conftest import Start, finished

IDENTITY = (
    "import json, os\n"
    "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
    "print(json.dumps([os.getuid(), status['CapEff'].strip(), os.path.exists('/proc/1/environ')]))"
)


def identity(start: Start, runtime: SandboxRuntime) -> list[object]:
    termination, log = finished(start(IDENTITY, rt=runtime))
    assert termination is Termination.COMPLETED, log
    result: list[object] = json.loads(log.strip().splitlines()[-1])
    return result


def test_without_bwrap_the_workload_still_runs_unprivileged(start: Start) -> None:
    runtime = SandboxRuntime(probe=lambda: detect(bwrap="/nonexistent/bwrap"))
    missing = runtime.isolation().missing
    assert {"filesystem-view", "pid-namespace", "network-namespace"} <= set(missing)
    assert not any(gap.startswith("cgroup-") for gap in missing)
    assert identity(start, runtime)[:2] == [10001, "0000000000000000"]


def test_without_cgroups_the_workload_still_runs(start: Start, tmp_path: Path) -> None:
    not_cgroups = tmp_path / "cgroup"  # a plain directory: groups made in it have no cgroup.procs
    for controller in ("memory", "pids", "cpu", "cpuacct", "freezer"):
        (not_cgroups / controller).mkdir(parents=True)
    runtime = SandboxRuntime(probe=lambda: detect(cgroup_root=not_cgroups))
    missing = runtime.isolation().missing
    assert set(missing) == {"cgroup-memory", "cgroup-pids", "cgroup-cpu", "cgroup-cpuacct", "cgroup-freezer"}
    assert identity(start, runtime)[:2] == [10001, "0000000000000000"]


def test_with_nothing_but_a_process_it_still_runs_and_says_so(start: Start, tmp_path: Path) -> None:
    runtime = SandboxRuntime(probe=lambda: detect(bwrap="/nonexistent/bwrap", cgroup_root=tmp_path / "absent"))
    assert not runtime.isolation().complete
    assert {"filesystem-view", "network-namespace", "cgroup-memory", "cgroup-pids"} <= set(runtime.isolation().missing)
    container = start(IDENTITY + "\nimport time; time.sleep(600)", rt=runtime)
    container.stop(1)
    assert container.poll() is not None


def test_the_real_probe_reports_this_machine_complete(runtime: SandboxRuntime) -> None:
    assert runtime.isolation().missing == ()
    assert runtime.facilities().memsw


def test_a_workdir_too_deep_for_unix_sockets_is_refused_before_anything_runs(
    runtime: SandboxRuntime, tmp_path: Path
) -> None:
    workdir = tmp_path / ("d" * 120)
    spec = ContainerSpec(pod="p", namespace="n", argv=("true",), env={}, mounts=(), port=1, workdir=workdir)
    with pytest.raises(ValueError, match="too deep for Unix sockets"):
        runtime.start(spec)
    assert not workdir.exists()


def test_a_root_workload_is_refused(runtime: SandboxRuntime, tmp_path: Path) -> None:
    for uid, gid in ((0, 10001), (10001, 0)):
        spec = ContainerSpec(
            pod="p", namespace="n", argv=("true",), env={}, mounts=(), port=1, workdir=tmp_path / "p", uid=uid, gid=gid
        )
        with pytest.raises(ValueError, match="never runs a workload as root"):
            runtime.start(spec)
