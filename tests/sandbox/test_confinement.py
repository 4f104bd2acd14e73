"""The workload runs unprivileged in its own filesystem view and pid namespace, and sees no secret."""

from __future__ import annotations

import json
import os
from pathlib import Path

from plugin_devcluster.containers import Mount, Termination
from tests.sandbox.conftest import Start, finished

REPO = Path(__file__).resolve().parents[2]


def report(start: Start, code: str, **fields: object) -> dict[str, object]:
    container = start("import json, os\n" + code + "\nprint(json.dumps(out))", **fields)
    termination, log = finished(container)
    assert termination is Termination.COMPLETED, log
    result: dict[str, object] = json.loads(log.strip().splitlines()[-1])
    return result


def test_runs_as_its_uid_without_capabilities(start: Start) -> None:
    out = report(
        start,
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "out = {'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],\n"
        "       'caps': [status[k].strip() for k in ('CapEff', 'CapPrm', 'CapInh', 'CapBnd', 'CapAmb')],\n"
        "       'nnp': status['NoNewPrivs'].strip()}",
    )
    assert out["ids"] == [10001, 10001, 10001, []]
    assert out["caps"] == ["0000000000000000"] * 5
    assert out["nnp"] == "1"


def test_sees_no_state_keys_or_checkout(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "fernet.key").write_text("secret-key")
    (state / "fernet.key").chmod(0o600)
    hidden = tmp_path / "elsewhere.key"
    hidden.write_text("other-secret")
    probe = {
        "readable_mounted_key": "/state/fernet.key",
        "hidden_key": str(hidden),
        "run_dir": str(REPO / ".run"),
        "repo_pyproject": str(REPO / "pyproject.toml"),
        "operator_package": str(REPO / "plugin_operator"),
        "runtime_package": str(REPO / "plugin_runtime" / "__init__.py"),
    }
    out = report(
        start,
        f"probe = {probe!r}\n"
        "def readable(p):\n"
        "    try:\n"
        "        open(p).read(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "out = {k: [os.path.exists(p), readable(p)] for k, p in probe.items()}",
        mounts=(Mount("/state", state),),
    )
    assert out["readable_mounted_key"] == [True, False]  # visible through the mount, unreadable by uid 10001
    assert out["hidden_key"] == [False, False]
    assert out["run_dir"] == [False, False]
    assert out["repo_pyproject"] == [False, False]
    assert out["operator_package"] == [False, False]
    assert out["runtime_package"] == [True, True]  # the positive control: the runtime's code is there


def test_cannot_write_outside_tmp(start: Start, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o777)
    data.chmod(0o777)
    targets = ["/x", "/etc/x", "/usr/x", f"{os.path.dirname(os.__file__)}/x", "/data/x", "/tmp/x"]
    out = report(
        start,
        f"targets = {targets!r}\n"
        "def writes(p):\n"
        "    try:\n"
        "        open(p, 'w').write('x'); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "out = {p: writes(p) for p in targets}",
        mounts=(Mount("/data", data, read_only=True),),
    )
    assert out == {target: target == "/tmp/x" for target in targets}
    assert not (data / "x").exists()


def test_tmp_is_private_and_size_limited(start: Start) -> None:
    out = report(
        start,
        "def fill():\n"
        "    written = 0\n"
        "    try:\n"
        "        with open('/tmp/fill', 'wb') as f:\n"
        "            for _ in range(200):\n"
        "                f.write(b'x' * 1024**2); f.flush(); written += 1\n"
        "    except OSError as e:\n"
        "        return [written, type(e).__name__]\n"
        "    return [written, None]\n"
        "out = {'before': sorted(os.listdir('/tmp')), 'fill': fill()}",
        memory_limit_bytes=512 * 1024**2,
    )
    assert out["before"] == []
    written, error = out["fill"]  # type: ignore[misc]
    assert error == "OSError" and written <= 64


def test_a_sized_empty_dir_mounted_over_tmp_keeps_the_limit_and_writes_nothing_on_the_host(
    start: Start, tmp_path: Path
) -> None:
    """What the kubelet hands over for the runtime's `/tmp` (an emptyDir with sizeLimit 64Mi)."""
    host_dir = tmp_path / "emptydir"
    host_dir.mkdir()
    out = report(
        start,
        "def fill():\n"
        "    written = 0\n"
        "    try:\n"
        "        with open('/tmp/fill', 'wb') as f:\n"
        "            for _ in range(64):\n"
        "                f.write(b'x' * 1024**2); f.flush(); written += 1\n"
        "    except OSError as e:\n"
        "        return [written, e.strerror]\n"
        "    return [written, None]\n"
        "out = {'fill': fill()}",
        mounts=(Mount("/tmp", host_dir, False, size_limit_bytes=8 * 1024**2),),
        memory_limit_bytes=512 * 1024**2,
    )
    written, error = out["fill"]  # type: ignore[misc]
    assert error == "No space left on device" and written <= 8
    assert list(host_dir.iterdir()) == []


def test_proc_shows_only_its_own_processes(start: Start) -> None:
    host_pid = os.getpid()
    out = report(
        start,
        "def environ():\n"
        "    try:\n"
        "        return open('/proc/1/environ', 'rb').read().decode(errors='replace')\n"
        "    except OSError as e:\n"
        "        return type(e).__name__\n"
        "def signal_host():\n"
        "    try:\n"
        f"        os.kill({host_pid}, 0); return 'reached'\n"
        "    except OSError as e:\n"
        "        return type(e).__name__\n"
        "out = {'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n"
        "       'environ': environ(), 'kill': signal_host()}",
    )
    assert len(out["pids"]) <= 3, out["pids"]  # init, the workload (and setpriv's exec of it)
    assert out["environ"] == "PermissionError"
    assert out["kill"] == "ProcessLookupError"


def test_env_with_newlines_arrives_intact_and_never_on_a_command_line(start: Start) -> None:
    secret = "line-one\nline-two\n  with spaces \t and 'quotes' $HOME"
    container = start(
        "import os, time, hashlib\n"
        "print(hashlib.sha256(os.environ['API_KEY'].encode()).hexdigest(), flush=True)\n"
        "time.sleep(30)",
        env={"API_KEY": secret},
    )
    import hashlib
    import time

    expected = hashlib.sha256(secret.encode()).hexdigest()
    deadline = time.monotonic() + 20
    while expected not in container.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert expected in container.log_path.read_text()
    members = container.members()
    assert len(members) >= 3  # bwrap, init, workload
    for pid in members:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"line-one" not in cmdline and b"line-two" not in cmdline
    container.stop(1)
    assert "line-one" not in container.log_path.read_text()
    assert json.dumps(secret) not in container.log_path.read_text()
