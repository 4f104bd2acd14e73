"""What this machine lets the sandbox use, found once by trying each mechanism for real.

`detect` runs bwrap (with and without a network namespace) and creates a throw-away cgroup in each v1
hierarchy; whatever fails is named in `Facilities.missing` and `SandboxRuntime` runs without it. The
runtime takes the probe as a parameter, so tests simulate a laptop without bwrap or with read-only
cgroups by pointing it at paths that do not work.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from plugin_devcluster.sandbox.cgroups import CONTROLLERS

__all__ = ["Facilities", "detect"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "plugin-sandbox"


@dataclasses.dataclass(frozen=True)
class Facilities:
    """The mechanisms available: absent ones are None/False and named by `missing`."""

    bwrap: str | None
    network_namespace: bool
    cgroups: dict[str, Path]  # controller -> parent directory for the containers' cgroups
    memsw: bool
    setpriv: str | None
    privileged: bool

    @property
    def missing(self) -> tuple[str, ...]:
        gaps: list[str] = []
        if not self.bwrap:
            gaps += ["filesystem-view", "pid-namespace"]
        if not self.network_namespace:
            gaps.append("network-namespace")
        gaps += [f"cgroup-{name}" for name in CONTROLLERS if name not in self.cgroups]
        if "memory" in self.cgroups and not self.memsw:
            gaps.append("swap-limit")
        if not (self.privileged and self.setpriv):
            gaps.append("unprivileged-uid")
        return tuple(gaps)


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _bwrap_probe(bwrap: str, *extra: str) -> list[str]:
    system = [arg for name in ("usr", "bin", "lib", "lib64") for arg in _system_bind(name)]
    return [bwrap, *system, "--proc", "/proc", "--dev", "/dev", "--unshare-pid", *extra, "--", "true"]


def _system_bind(name: str) -> list[str]:
    host = Path("/") / name
    if host.is_symlink():
        return ["--symlink", os.readlink(host), str(host)]
    return ["--ro-bind", str(host), str(host)] if host.is_dir() else []


def _cgroup_parent(root: Path, controller: str) -> Path | None:
    """The parent cgroup for containers if a child group can be created under it (then removed again);
    a directory that is no cgroup file system (no `cgroup.procs` appears in it) does not count."""
    parent = root / controller / PARENT
    try:
        parent.mkdir(exist_ok=True)
        trial = parent / f"probe-{uuid.uuid4().hex[:8]}"
        trial.mkdir()
        is_cgroup = (trial / "cgroup.procs").exists()
        trial.rmdir()
    except OSError:
        return None
    return parent if is_cgroup else None


def detect(bwrap: str = "bwrap", cgroup_root: Path = CGROUP_ROOT, setpriv: str = "setpriv") -> Facilities:
    found = shutil.which(bwrap)
    works = bool(found) and _runs(_bwrap_probe(str(found)))
    net = works and _runs(_bwrap_probe(str(found), "--unshare-net"))
    groups = {name: parent for name in CONTROLLERS if (parent := _cgroup_parent(cgroup_root, name)) is not None}
    memsw = "memory" in groups and (groups["memory"] / "memory.memsw.limit_in_bytes").exists()
    return Facilities(
        bwrap=str(found) if works else None,
        network_namespace=net,
        cgroups=groups,
        memsw=memsw,
        setpriv=shutil.which(setpriv),
        privileged=os.geteuid() == 0,
    )
