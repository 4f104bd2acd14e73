"""One container's cgroup v1 groups: limits, placement before exec, accounting, kill-all and removal.

Memory is limited with swap included (`memory.memsw.limit_in_bytes` set to the same value) so swap
is no escape; CPU is a rate (CFS quota per 100 ms period from millicores), never a lifetime budget.
The process is placed by writing "0" (itself) to each group's `cgroup.procs` between fork and exec,
so every descendant is born inside. `kill_all` freezes the tree first when the freezer is available,
then SIGKILLs every member until the groups are empty — double-forked daemons included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CONTROLLERS", "CPU_PERIOD_US", "Cgroups", "cpu_quota_us"]

CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
CPU_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000  # the kernel's floor for cfs_quota_us


def cpu_quota_us(millicores: int, period_us: int = CPU_PERIOD_US) -> int:
    """CFS quota for a rate of `millicores` thousandths of a CPU per period."""
    return max(MIN_QUOTA_US, millicores * period_us // 1000)


class Cgroups:
    """The groups named `name` under each available controller's parent directory."""

    def __init__(self, parents: dict[str, Path], name: str) -> None:
        self.paths = {controller: parent / name for controller, parent in parents.items()}

    def create(self, memory: int | None, memsw: bool, pids: int | None, millicores: int | None) -> None:
        for path in self.paths.values():
            path.mkdir()
        if memory is not None and "memory" in self.paths:
            self._write("memory", "memory.limit_in_bytes", memory)
            if memsw:
                self._write("memory", "memory.memsw.limit_in_bytes", memory)
        if pids is not None and "pids" in self.paths:
            self._write("pids", "pids.max", pids)
        if millicores is not None and "cpu" in self.paths:
            self._write("cpu", "cpu.cfs_period_us", CPU_PERIOD_US)
            self._write("cpu", "cpu.cfs_quota_us", cpu_quota_us(millicores))

    def _write(self, controller: str, key: str, value: int | str) -> None:
        (self.paths[controller] / key).write_text(str(value))

    def placer(self) -> Callable[[], None]:
        """A preexec function: moves the forked child into every group before it execs (no Python
        objects allocated after fork beyond the prepared byte paths)."""
        targets = [os.fsencode(path / "cgroup.procs") for path in self.paths.values()]

        def place() -> None:
            for target in targets:
                fd = os.open(target, os.O_WRONLY)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)

        return place

    def members(self) -> list[int]:
        """Every process in the container's groups (any one group holds them all)."""
        seen: set[int] = set()
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                seen.update(int(line) for line in (path / "cgroup.procs").read_text().split())
        return sorted(seen)

    def read(self, controller: str, key: str) -> str | None:
        if controller not in self.paths:
            return None
        try:
            return (self.paths[controller] / key).read_text()
        except OSError:
            return None

    def cpu_seconds(self) -> float | None:
        usage = self.read("cpuacct", "cpuacct.usage")
        return int(usage) / 1e9 if usage else None

    def oom_kills(self) -> int:
        """OOM kills inside the memory group (`oom_kill` line of memory.oom_control, kernel ≥ 4.13)."""
        control = self.read("memory", "memory.oom_control") or ""
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def throttled(self) -> int:
        stat = self.read("cpu", "cpu.stat") or ""
        fields = dict(line.split(" ", 1) for line in stat.splitlines() if " " in line)
        return int(fields.get("nr_throttled", 0))

    def kill_all(self, timeout: float = 10.0, spare: frozenset[int] = frozenset()) -> bool:
        """SIGKILL every member but `spare`, frozen first if possible, until none is left; True when empty.

        `spare` is the sandbox's outside parent (bwrap): it must live to reap the init it forked, or the
        init would linger as a zombie of the host's PID 1; it exits by itself once the init is gone."""
        frozen = "freezer" in self.paths
        deadline = time.monotonic() + timeout
        try:
            while members := [pid for pid in self.members() if pid not in spare]:
                if frozen:  # a frozen tree cannot fork while it is being killed
                    with contextlib.suppress(OSError):
                        self._write("freezer", "freezer.state", "FROZEN")
                for pid in members:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                if frozen:
                    with contextlib.suppress(OSError):
                        self._write("freezer", "freezer.state", "THAWED")
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
        finally:
            if frozen:
                with contextlib.suppress(OSError):
                    self._write("freezer", "freezer.state", "THAWED")
        return True

    def remove(self) -> None:
        """Remove the groups (they must be empty: call `kill_all` after the tree ended)."""
        for path in self.paths.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
