"""What the embedded kubelet asks of a container runtime, and what it gets back.

The kubelet (`kubelet`) turns a pod template into a `ContainerSpec` — volumes already materialised
as host directories, env resolved, limits parsed, egress taken from the NetworkPolicies that select
the pod — and hands it to the runtime (`sandbox`), which runs it as an isolated process tree. The
two meet only here, so the kubelet's decisions are testable without a sandbox and the sandbox
without a cluster.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Protocol

from plugin_devcluster.containerlogs import LogLimits

__all__ = ["Container", "ContainerRuntime", "ContainerSpec", "Endpoint", "Isolation", "Mount", "Termination"]


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host directory (or file) seen at `target` inside the container.

    With `size_limit_bytes` (an emptyDir with a `sizeLimit`) the container gets a private tmpfs of
    that size at `target` instead of `source`: writes past it fail with ENOSPC, and its pages count
    against the pod's memory limit (as an emptyDir with `medium: Memory`). A real kubelet evicts a
    pod whose disk-backed emptyDir outgrows its limit; the embedded one cannot watch disk usage, so it
    enforces the limit this way rather than not at all.
    """

    target: str
    source: Path
    read_only: bool = True
    size_limit_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One destination the container may connect to (from an egress rule: a single address and port)."""

    host: str
    port: int


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """One container of one pod, ready to run.

    `argv` and `mounts` use the paths the container sees; `port` is the port the process listens on
    inside the container (its `containerPort`), reached from outside only through `Container.ingress`.
    Its stdout and stderr go to `workdir` as `containerlogs` lays them out (rotated per `log_limits`).
    """

    pod: str
    namespace: str
    argv: tuple[str, ...]
    env: dict[str, str] = dataclasses.field(repr=False)
    mounts: tuple[Mount, ...]
    port: int
    workdir: Path
    uid: int = 10001
    gid: int = 10001
    memory_limit_bytes: int | None = None
    cpu_limit_millicores: int | None = None
    pids_limit: int | None = None
    egress: tuple[Endpoint, ...] = ()
    #: How the runtime bounds the log it writes to `workdir` (`containerlogs`: `kubectl logs` reads it).
    log_limits: LogLimits = dataclasses.field(default_factory=LogLimits)


class Termination(enum.StrEnum):
    """Why a container stopped, in the words `kubectl describe pod` uses."""

    COMPLETED = "Completed"
    ERROR = "Error"
    OOM_KILLED = "OOMKilled"
    KILLED = "Killed"


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Which isolation mechanisms a runtime applies here; `missing` names each one it could not."""

    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


class Container(Protocol):
    @property
    def pid(self) -> int:
        """The process the runtime started (the root of the container's process tree)."""

    @property
    def ingress(self) -> Path:
        """A Unix socket: each connection to it reaches the container's `port` (how probes and
        Services get in; the container has no other way in)."""

    def poll(self) -> Termination | None:
        """None while it runs; once it stopped, why."""

    def exit_code(self) -> int | None:
        """The exit status once stopped."""

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL after the grace period: every process of the tree, no survivor."""

    def cpu_seconds(self) -> float:
        """CPU time the whole tree used so far (user + system)."""


class ContainerRuntime(Protocol):
    def isolation(self) -> Isolation:
        """What this machine allows (checked once): the kubelet reports what is missing, never silently."""

    def start(self, spec: ContainerSpec) -> Container:
        """Run the container; returns once its process exists (readiness is the kubelet's business)."""
