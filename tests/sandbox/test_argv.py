"""The sandbox's command line, /etc files, CPU quota and missing-mechanism names, as tables (pure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from plugin_devcluster.containers import ContainerSpec, Endpoint, Mount
from plugin_devcluster.sandbox.argv import (
    INIT_PATH,
    SANDBOX_FENCE,
    View,
    bwrap_argv,
    etc_hosts,
    hostname_aliases,
    loopback_additions,
)
from plugin_devcluster.sandbox.cgroups import cpu_quota_us
from plugin_devcluster.sandbox.probe import Facilities

VIEW = View(
    system=(("/usr", None), ("/lib", "usr/lib")),
    read_only=("/opt/python", "/repo/.venv", "/repo/plugin_runtime"),
    etc=(("/etc/passwd", "/pods/p/etc/passwd"),),
    init_script="/repo/plugin_devcluster/sandbox/init.py",
    fence_dir="/pods/p/fence",
    tmp_bytes=1024,
)
SPEC = ContainerSpec(
    pod="p",
    namespace="ns",
    argv=("plugin-runtime", "--port", "8080"),
    env={"API_KEY": "s3cret\nvalue"},
    mounts=(Mount("/etc/plugin-runtime", Path("/pods/p/config")), Mount("/data", Path("/pods/p/data"), False)),
    port=8080,
    workdir=Path("/pods/p"),
)


def pairs(argv: list[str], option: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == option]


def test_binds_only_the_view_and_the_mounts_read_only_unless_asked() -> None:
    argv = bwrap_argv("bwrap", VIEW, SPEC, net=True, python="/opt/python/bin/python3", config_fd=5)
    assert argv[:3] == ["bwrap", "--tmpfs", "/"]
    assert pairs(argv, "--ro-bind") == [
        ("/usr", "/usr"),
        ("/opt/python", "/opt/python"),
        ("/repo/.venv", "/repo/.venv"),
        ("/repo/plugin_runtime", "/repo/plugin_runtime"),
        ("/pods/p/etc/passwd", "/etc/passwd"),
        ("/repo/plugin_devcluster/sandbox/init.py", INIT_PATH),
        ("/pods/p/fence", SANDBOX_FENCE),
        ("/pods/p/config", "/etc/plugin-runtime"),
    ]
    assert pairs(argv, "--bind") == [("/pods/p/data", "/data")]
    assert pairs(argv, "--symlink") == [("usr/lib", "/lib")]
    assert "/repo" not in [target for _, target in pairs(argv, "--ro-bind")]


def test_parents_of_binds_are_traversable_whatever_the_umask() -> None:
    argv = bwrap_argv("bwrap", VIEW, SPEC, net=True, python="py", config_fd=5)
    made = [argv[i + 3] for i, arg in enumerate(argv) if arg == "--perms" and argv[i + 2] == "--dir"]
    assert made == ["/.sandbox", "/etc", "/opt", "/repo"]
    assert all(argv[i + 1] == "0755" for i, arg in enumerate(argv) if arg == "--perms" and argv[i + 2] == "--dir")


@pytest.mark.parametrize(
    ("net", "unshare_net", "net_caps"),
    [(True, True, {"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}), (False, False, set())],
)
def test_namespaces_and_capabilities(net: bool, unshare_net: bool, net_caps: set[str]) -> None:
    argv = bwrap_argv("bwrap", VIEW, SPEC, net=net, python="py", config_fd=5)
    for option in (
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--as-pid-1",
        "--die-with-parent",
        "--new-session",
    ):
        assert option in argv
    assert ("--unshare-net" in argv) is unshare_net
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    added = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--cap-add"}
    assert added == {"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL"} | net_caps
    assert (SANDBOX_FENCE in argv) is net


def test_bwrap_reports_the_init_pid_on_the_info_fd_when_asked() -> None:
    argv = bwrap_argv("bwrap", VIEW, SPEC, net=True, python="py", config_fd=5, info_fd=7)
    assert argv[:5] == ["bwrap", "--info-fd", "7", "--tmpfs", "/"]


def test_a_sized_mount_is_a_private_tmpfs_of_that_size_not_the_host_directory() -> None:
    spec = dataclasses.replace(SPEC, mounts=(Mount("/scratch", Path("/pods/p/scratch"), False, 2**20),))
    argv = bwrap_argv("bwrap", VIEW, spec, net=True, python="py", config_fd=5)
    at = argv.index("/scratch")
    assert argv[at - 5 : at + 1] == ["--perms", "1777", "--size", str(2**20), "--tmpfs", "/scratch"]
    assert "/pods/p/scratch" not in argv


def test_the_command_is_the_isolated_init_and_carries_no_env_or_workload_argv() -> None:
    argv = bwrap_argv("bwrap", VIEW, SPEC, net=True, python="py", config_fd=5)
    assert argv[argv.index("--") :] == ["--", "py", "-I", "-S", INIT_PATH, "5"]
    assert not any("s3cret" in arg for arg in argv)
    assert "plugin-runtime" not in argv
    assert argv.index("--tmpfs", 3) < argv.index("/pods/p/config")  # mounts land on top of /tmp and co.


@pytest.mark.parametrize(
    ("egress", "added", "aliases"),
    [
        ((), [], {}),
        ((Endpoint("127.0.0.1", 5432), Endpoint("::1", 80)), [], {}),
        (
            (Endpoint("10.0.0.7", 9200), Endpoint("10.0.0.7", 9300), Endpoint("fd00::5", 443)),
            ["10.0.0.7", "fd00::5"],
            {},
        ),
        (
            (Endpoint("prometheus.demo", 9090), Endpoint("api.example", 443)),
            [],
            {"api.example": "127.77.0.1", "prometheus.demo": "127.77.0.2"},
        ),
    ],
)
def test_egress_addresses(egress: tuple[Endpoint, ...], added: list[str], aliases: dict[str, str]) -> None:
    assert loopback_additions(egress) == added
    assert hostname_aliases(egress) == aliases


def test_hosts_file_lists_the_aliases() -> None:
    hosts = etc_hosts("pod-a", {"api.example": "127.77.0.1"})
    assert hosts.splitlines() == [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost",
        "127.0.1.1\tpod-a",
        "127.77.0.1\tapi.example",
    ]


@pytest.mark.parametrize(
    ("millicores", "quota"), [(100, 10_000), (250, 25_000), (1000, 100_000), (2500, 250_000), (1, 1_000)]
)
def test_cpu_quota_is_per_period(millicores: int, quota: int) -> None:
    assert cpu_quota_us(millicores) == quota


@pytest.mark.parametrize(
    ("facilities", "missing"),
    [
        (
            Facilities(
                "bwrap",
                True,
                {c: Path(c) for c in ("memory", "pids", "cpu", "cpuacct", "freezer")},
                True,
                "setpriv",
                True,
            ),
            (),
        ),
        (
            Facilities(
                None,
                False,
                {c: Path(c) for c in ("memory", "pids", "cpu", "cpuacct", "freezer")},
                True,
                "setpriv",
                True,
            ),
            ("filesystem-view", "pid-namespace", "network-namespace"),
        ),
        (
            Facilities("bwrap", True, {"pids": Path("p")}, False, "setpriv", True),
            ("cgroup-memory", "cgroup-cpu", "cgroup-cpuacct", "cgroup-freezer"),
        ),
        (
            Facilities(
                "bwrap",
                True,
                {"memory": Path("m"), "pids": Path("p"), "cpu": Path("c"), "cpuacct": Path("a"), "freezer": Path("f")},
                False,
                None,
                False,
            ),
            ("swap-limit", "unprivileged-uid"),
        ),
    ],
)
def test_missing_names_each_gap(facilities: Facilities, missing: tuple[str, ...]) -> None:
    assert facilities.missing == missing
