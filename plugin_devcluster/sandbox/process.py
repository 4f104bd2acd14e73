"""One running sandbox (`containers.Container`): its state, why it ended, and a stop that leaves no survivor.

Stopping sends SIGTERM to the sandbox's PID 1 (the init forwards it to the workload), waits the grace
period, then kills every process in the container's cgroups — frozen first — so a double-forked daemon
dies too; the pid namespace ends with its init as a second net. Once the tree is gone the cgroups, the
egress connectors and the ingress socket are removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from plugin_devcluster import containerlogs
from plugin_devcluster.containers import Termination
from plugin_devcluster.sandbox.cgroups import Cgroups
from plugin_devcluster.sandbox.fence import Connectors

__all__ = ["SandboxContainer"]

SIGKILL_STATUS = 128 + signal.SIGKILL
REAP_SECONDS = 5.0
#: How long a stopped container's last output may take to reach its log.
LOG_DRAIN_SECONDS = 2.0


class SandboxContainer:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        init_pid: int,
        ingress: Path,
        cgroups: Cgroups,
        connectors: Connectors | None,
        logger: threading.Thread | None = None,
    ) -> None:
        """`logger` copies the container's output into its log (`containerlogs.pump`); it ends with the tree."""
        self._process = process
        self._init_pid = init_pid
        self._ingress = ingress
        self.cgroups = cgroups
        self._connectors = connectors
        self._logger = logger
        self._lock = threading.Lock()
        self._termination: Termination | None = None
        self._exit_code: int | None = None
        self._killed = False
        self._cpu_seconds: float | None = None  # the total, kept once the cgroups are gone

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def init_pid(self) -> int:
        """The sandbox's PID 1 as the host sees it (the bwrap child), or `pid` without bwrap."""
        return self._init_pid

    @property
    def ingress(self) -> Path:
        return self._ingress

    @property
    def log_path(self) -> Path:
        """The container's stdout and stderr (the newest part: `containerlogs` rotates it)."""
        return self._ingress.with_name(containerlogs.CURRENT)

    def members(self) -> list[int]:
        """Host pids of every process of the container (from its cgroups)."""
        return self.cgroups.members()

    def poll(self) -> Termination | None:
        if self._process.poll() is None:
            return None
        self._finish()
        return self._termination

    def exit_code(self) -> int | None:
        self.poll()
        return self._exit_code

    def wait(self, timeout: float | None = None) -> Termination:
        """Block until the container stopped (TimeoutExpired after `timeout`)."""
        self._process.wait(timeout)
        self._finish()
        assert self._termination is not None
        return self._termination

    def stop(self, grace_seconds: float) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._init_pid, signal.SIGTERM)
            try:
                self._process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                self._killed = True
                self._kill_everything()
        self._finish()

    def cpu_seconds(self) -> float:
        if self._cpu_seconds is not None:
            return self._cpu_seconds
        used = self.cgroups.cpu_seconds()
        if used is not None:
            return used
        try:  # no cpuacct: the init's own and its reaped children's time
            fields = Path(f"/proc/{self._init_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def _kill_everything(self) -> None:
        """Kill the tree below the outside parent first (it reaps the init and exits), then the rest."""
        if self.cgroups.paths:
            self.cgroups.kill_all(spare=frozenset({self._process.pid}))
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._init_pid, signal.SIGKILL)
        try:
            self._process.wait(REAP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self.cgroups.paths:
            self.cgroups.kill_all()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def _finish(self) -> None:
        with self._lock:
            if self._termination is not None:
                return
            code = self._process.returncode
            oom = self.cgroups.oom_kills() > 0
            self._kill_everything()  # leftovers that escaped the init (none with a pid namespace)
            self._cpu_seconds = self.cgroups.cpu_seconds()
            self.cgroups.remove()
            if self._connectors is not None:
                self._connectors.close()
            self._ingress.unlink(missing_ok=True)
            if self._logger is not None:  # the tree is gone, so its last output is in the pipe: drain it
                self._logger.join(LOG_DRAIN_SECONDS)
            self._exit_code = 128 - code if code < 0 else code
            self._termination = _termination(self._exit_code, oom=oom, killed=self._killed)


def _termination(code: int, *, oom: bool, killed: bool) -> Termination:
    if oom and code != 0:
        return Termination.OOM_KILLED
    if code == 0:
        return Termination.COMPLETED
    if killed or code == SIGKILL_STATUS:
        return Termination.KILLED
    return Termination.ERROR
