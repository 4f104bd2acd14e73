"""The sandbox's command line and generated /etc files, as pure functions of what to show and what is available.

The root is a fresh tmpfs; everything else is named here: the system directories (read-only, or the
host's `/lib -> usr/lib` style symlinks), the Python installation and the virtualenv (read-only, at
their host paths so the venv's shebangs and editable finder resolve), the runtime's packages only —
not the checkout they live in, which also holds `.run/` state, keys and the database — the pod's
mounts, generated `/etc/passwd`, `/etc/group` and `/etc/hosts`, a size-limited private `/tmp`, a
`/proc` of its own pid namespace and a minimal `/dev`. The init (one file) and the fence's socket
directory are bound under `/.sandbox`, where only root (the init) can reach the sockets.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from plugin_devcluster.containers import ContainerSpec, Endpoint

__all__ = [
    "INIT_PATH",
    "SANDBOX_FENCE",
    "View",
    "bwrap_argv",
    "etc_group",
    "etc_hosts",
    "etc_passwd",
    "hostname_aliases",
    "init_argv",
    "loopback_additions",
]

SANDBOX_DIR = "/.sandbox"
INIT_PATH = f"{SANDBOX_DIR}/init.py"
SANDBOX_FENCE = f"{SANDBOX_DIR}/fence"
# The init keeps only what it needs: setpriv's switch of uid/gid and bounding set, forwarding SIGTERM to
# the workload's uid, and (fenced) addresses on lo and listeners on privileged egress ports.
INIT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL")
FENCE_CAPS = ("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE")
ALIAS_NETWORK = ipaddress.ip_network("127.77.0.0/16")


@dataclasses.dataclass(frozen=True)
class View:
    """What the sandbox shows, in host paths.

    `system` lists top-level system entries: (path, symlink target) for a host symlink such as
    `/lib -> usr/lib`, (path, None) for a directory bound read-only. `read_only` are host paths bound
    read-only at the same path (Python, venv, runtime packages, /etc pieces). `etc` maps a target in
    /etc to a generated host file.
    """

    system: tuple[tuple[str, str | None], ...]
    read_only: tuple[str, ...]
    etc: tuple[tuple[str, str], ...]
    init_script: str
    fence_dir: str | None
    tmp_bytes: int


def init_argv(python: str, script: str, config_fd: int) -> list[str]:
    """The init's own command: isolated mode, no site-packages, config on an inherited descriptor."""
    return [python, "-I", "-S", script, str(config_fd)]


def bwrap_argv(
    bwrap: str, view: View, spec: ContainerSpec, *, net: bool, python: str, config_fd: int, info_fd: int | None = None
) -> list[str]:
    """bwrap's options then the init's command; `info_fd` gets bwrap's {"child-pid": N} (the init's host pid)."""
    argv = [bwrap, *(["--info-fd", str(info_fd)] if info_fd is not None else []), "--tmpfs", "/"]
    for path, link in view.system:
        argv += ["--symlink", link, path] if link is not None else ["--ro-bind", path, path]
    targets = [*view.read_only, *(target for target, _ in view.etc), INIT_PATH, *(m.target for m in spec.mounts)]
    for parent in _parents(targets):
        argv += ["--perms", "0755", "--dir", parent]
    for path in view.read_only:
        argv += ["--ro-bind", path, path]
    for target, source in view.etc:
        argv += ["--ro-bind", source, target]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(view.tmp_bytes), "--tmpfs", "/tmp"]
    argv += ["--ro-bind", view.init_script, INIT_PATH]
    if net and view.fence_dir is not None:
        argv += ["--ro-bind", view.fence_dir, SANDBOX_FENCE]
    for mount in spec.mounts:
        if mount.size_limit_bytes is not None:
            argv += ["--perms", "1777", "--size", str(mount.size_limit_bytes), "--tmpfs", mount.target]
        else:
            argv += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
    argv += ["--remount-ro", "/", "--chdir", "/"]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", spec.pod[:63] or "pod"]
    if net:
        argv.append("--unshare-net")
    argv += ["--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for cap in INIT_CAPS + (FENCE_CAPS if net else ()):
        argv += ["--cap-add", cap]
    return [*argv, "--", *init_argv(python, INIT_PATH, config_fd)]


def _parents(paths: list[str]) -> list[str]:
    """Every ancestor directory of `paths` (shallowest first): created 0755 so the workload's uid can
    traverse to its binds whatever the caller's umask (bwrap would create them with it)."""
    parents: set[str] = set()
    for path in paths:
        parts = [part for part in path.split("/") if part][:-1]
        parents.update("/" + "/".join(parts[: depth + 1]) for depth in range(len(parts)))
    return sorted(parents, key=lambda path: (path.count("/"), path))


def hostname_aliases(egress: tuple[Endpoint, ...]) -> dict[str, str]:
    """A loopback address (127.77.x.y) for each egress host that is a name, listed in /etc/hosts, so
    the workload resolves it without DNS and reaches the listener relaying to the real name."""
    names = sorted({endpoint.host for endpoint in egress if not _is_address(endpoint.host)})
    if len(names) > ALIAS_NETWORK.num_addresses - 2:
        raise ValueError(f"too many egress host names ({len(names)})")
    return {name: str(ALIAS_NETWORK[index + 1]) for index, name in enumerate(names)}


def loopback_additions(egress: tuple[Endpoint, ...]) -> list[str]:
    """Egress addresses the init must add to `lo` (127.0.0.0/8 and ::1 already answer there)."""
    additions: list[str] = []
    for endpoint in egress:
        host = endpoint.host
        if _is_address(host) and not ipaddress.ip_address(host).is_loopback and host not in additions:
            additions.append(host)
    return additions


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def etc_hosts(pod: str, aliases: dict[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost", f"127.0.1.1\t{pod}"]
    lines += [f"{address}\t{name}" for name, address in aliases.items()]
    return "\n".join(lines) + "\n"


def etc_passwd(uid: int, gid: int) -> str:
    return f"root:x:0:0:root:/root:/usr/sbin/nologin\nplugin:x:{uid}:{gid}:plugin:/tmp:/usr/sbin/nologin\n"


def etc_group(gid: int) -> str:
    return f"root:x:0:\nplugin:x:{gid}:\n"
