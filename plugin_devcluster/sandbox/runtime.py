"""`SandboxRuntime`: runs each `ContainerSpec` as a bubblewrap sandbox in its own cgroups and network fence.

`start` creates the container's cgroups (limits set before anything runs), the egress connectors and
the ingress socket, writes the init's configuration (argv, env) to a memfd, then starts bwrap with the
child placed in the cgroups between fork and exec. Mechanisms the probe found missing are skipped —
never silently: `isolation()` names them — down to a plain process started by the same init with the
same uid drop. Nothing secret is on a command line or in a log: env travels only in the memfd.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from plugin_devcluster import containerlogs
from plugin_devcluster.containers import ContainerSpec, Isolation
from plugin_devcluster.sandbox import argv as plan
from plugin_devcluster.sandbox.cgroups import Cgroups
from plugin_devcluster.sandbox.fence import Connectors, socket_name
from plugin_devcluster.sandbox.init import Acceptor
from plugin_devcluster.sandbox.probe import Facilities, detect
from plugin_devcluster.sandbox.process import SandboxContainer

__all__ = ["SandboxRuntime"]

INIT_SCRIPT = Path(__file__).with_name("init.py")
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_SHARED = ("/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/localtime")
RUNTIME_PACKAGES = ("plugin_runtime", "adapters")
DEFAULT_TMP_BYTES = 64 * 1024 * 1024
# Pods rarely say how many processes they may have (Kubernetes sets it per node: podPidsLimit); a
# fork bomb must not take the host's pid space, so a pod without a limit gets this one.
DEFAULT_PIDS_LIMIT = 1024
BWRAP_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


class SandboxRuntime:
    """The embedded kubelet's container runtime (`containers.ContainerRuntime`)."""

    def __init__(
        self,
        probe: Callable[[], Facilities] = detect,
        packages: tuple[str, ...] = RUNTIME_PACKAGES,
        tmp_bytes: int = DEFAULT_TMP_BYTES,
        default_pids_limit: int = DEFAULT_PIDS_LIMIT,
    ) -> None:
        self._probe = probe
        self._default_pids_limit = default_pids_limit
        self._packages = packages
        self._tmp_bytes = tmp_bytes
        self._facilities: Facilities | None = None
        self._lock = threading.Lock()
        self._acceptor = Acceptor()  # every container's egress sockets, one thread

    def facilities(self) -> Facilities:
        with self._lock:
            if self._facilities is None:
                self._facilities = self._probe()
            return self._facilities

    def isolation(self) -> Isolation:
        return Isolation(missing=self.facilities().missing)

    def start(self, spec: ContainerSpec) -> SandboxContainer:
        found = self.facilities()
        if spec.uid == 0 or spec.gid == 0:
            raise ValueError("the sandbox never runs a workload as root (uid/gid 0): give it its own uid")
        longest = spec.workdir / "fence" / socket_name(max(len(spec.egress) - 1, 0))
        if len(os.fsencode(longest)) > MAX_SOCKET_PATH:
            raise ValueError(f"workdir {spec.workdir} is too deep for Unix sockets ({MAX_SOCKET_PATH} bytes at most)")
        spec.workdir.mkdir(parents=True, exist_ok=True)
        fenced = bool(found.bwrap) and found.network_namespace
        groups = Cgroups(found.cgroups, _group_name(spec))
        connectors: Connectors | None = None
        with contextlib.ExitStack() as transient, contextlib.ExitStack() as on_failure:
            on_failure.callback(groups.remove)
            pids = spec.pids_limit if spec.pids_limit is not None else self._default_pids_limit
            groups.create(spec.memory_limit_bytes, found.memsw, pids, spec.cpu_limit_millicores)
            if fenced:
                connectors = Connectors(self._acceptor, spec.workdir / "fence", spec.egress)
                on_failure.callback(connectors.close)
            ingress = transient.enter_context(_ingress_listener(spec.workdir / "ingress.sock"))
            config_fd = os.memfd_create("sandbox-init", 0)
            transient.callback(os.close, config_fd)
            os.write(config_fd, json.dumps(self._init_config(spec, found, fenced, ingress.fileno())).encode())
            os.lseek(config_fd, 0, os.SEEK_SET)
            info = os.pipe() if found.bwrap else None
            if info is not None:
                transient.callback(_close_quietly, info[1])
                on_failure.callback(_close_quietly, info[0])
            # stdout and stderr go through a pipe to a rotating file (as a CRI shim writes the log the
            # kubelet rotates): a file the process appended to itself could only grow.
            output, output_writer = os.pipe()
            on_failure.callback(_close_quietly, output)
            transient.callback(_close_quietly, output_writer)
            process = subprocess.Popen(
                self._command(spec, found, fenced, config_fd, info[1] if info else None),
                env=BWRAP_ENV,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=output_writer,
                stderr=subprocess.STDOUT,
                pass_fds=(config_fd, ingress.fileno(), *([info[1]] if info else [])),
                start_new_session=True,
                preexec_fn=groups.placer() if groups.paths else None,
            )
            on_failure.pop_all()
        containerlogs.retire(spec.workdir)  # a restart: the last container's log is the previous one now
        log = containerlogs.RotatingLog(spec.workdir, spec.log_limits)
        logger = threading.Thread(target=containerlogs.pump, args=(output, log), name=f"log {spec.pod}", daemon=True)
        logger.start()
        init_pid = _read_child_pid(info[0]) if info else None
        return SandboxContainer(
            process, init_pid or process.pid, spec.workdir / "ingress.sock", groups, connectors, logger
        )

    def _command(
        self, spec: ContainerSpec, found: Facilities, fenced: bool, config_fd: int, info_fd: int | None
    ) -> list[str]:
        if not found.bwrap:
            return plan.init_argv(sys.executable, str(INIT_SCRIPT), config_fd)
        view = plan.View(
            system=_system_entries(),
            read_only=self._read_only(),
            etc=_write_etc(spec),
            init_script=str(INIT_SCRIPT),
            fence_dir=str(spec.workdir / "fence") if fenced else None,
            tmp_bytes=self._tmp_bytes,
        )
        return plan.bwrap_argv(
            found.bwrap, view, spec, net=fenced, python=sys.executable, config_fd=config_fd, info_fd=info_fd
        )

    def _read_only(self) -> tuple[str, ...]:
        paths = [sys.base_prefix, sys.prefix, *(_package_dir(name) for name in self._packages)]
        paths += [path for path in ETC_SHARED if os.path.exists(path)]
        return tuple(dict.fromkeys(paths))  # as the venv names them: its shebangs and pyvenv.cfg use these paths

    def _init_config(self, spec: ContainerSpec, found: Facilities, fenced: bool, ingress_fd: int) -> dict[str, object]:
        env = {"PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", **spec.env}
        aliases = plan.hostname_aliases(spec.egress)
        egress = [
            {"host": aliases.get(e.host, e.host), "port": e.port, "socket": f"{plan.SANDBOX_FENCE}/{socket_name(i)}"}
            for i, e in enumerate(spec.egress)
        ]
        return {
            "argv": list(spec.argv),
            "env": env,
            "cwd": "/" if found.bwrap else str(spec.workdir),
            "uid": spec.uid,
            "gid": spec.gid,
            "setpriv": found.setpriv if found.privileged else None,
            "port": spec.port,
            "ingress_fd": ingress_fd,
            "fence": fenced,
            "addresses": plan.loopback_additions(spec.egress),
            "egress": egress,
        }


def _group_name(spec: ContainerSpec) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{spec.namespace}_{spec.pod}")[:200] + f"_{uuid.uuid4().hex[:8]}"


def _package_dir(name: str) -> str:
    """Where `name` imports from (the editable finder maps each package to its own directory)."""
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not importable here")
    return str(Path(next(iter(found.submodule_search_locations))).resolve())


def _system_entries() -> tuple[tuple[str, str | None], ...]:
    entries: list[tuple[str, str | None]] = []
    for name in SYSTEM:
        host = Path("/") / name
        if host.is_symlink():
            entries.append((str(host), os.readlink(host)))
        elif host.is_dir():
            entries.append((str(host), None))
    return tuple(entries)


def _write_etc(spec: ContainerSpec) -> tuple[tuple[str, str], ...]:
    etc = spec.workdir / "etc"
    etc.mkdir(exist_ok=True)
    files = {
        "passwd": plan.etc_passwd(spec.uid, spec.gid),
        "group": plan.etc_group(spec.gid),
        "hosts": plan.etc_hosts(spec.pod, plan.hostname_aliases(spec.egress)),
    }
    for name, text in files.items():
        (etc / name).write_text(text)
    return tuple((f"/etc/{name}", str(etc / name)) for name in files)


def _ingress_listener(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(128)
    return listener


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _read_child_pid(read_end: int) -> int | None:
    """bwrap writes {"child-pid": N} on its info fd once the sandbox exists (EOF if it failed)."""
    with os.fdopen(read_end, "rb") as handle:
        data = handle.read()
    with contextlib.suppress(ValueError, TypeError):
        return int(json.loads(data)["child-pid"])
    return None
