"""API keys in the operator's encrypted key store, end to end.

An admin stores a key through the API; a Plugin referencing it (`source: keystore`) gets its runtime
started with the value in its environment; a new value rolls the runtime; a Fernet key rotation
(the documented three steps, with the `rotate-keys` command) keeps it decryptable. Every use is
audited, and the value shows up nowhere but in the runtime process's environment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_operator import db, keystore, runtime_config
from tests.e2e.conftest import Harness, localsql_plugin, unique, wait_for

VARIABLE = runtime_config.secret_env_var("api_key")


def _put_key(harness: Harness, plugin_id: str, value: str) -> httpx.Response:
    assert harness.process is not None
    return httpx.put(
        f"{harness.process.api_url}/api/analytics/v1/plugins/{plugin_id}/keys/api_key",
        json={"value": value},
        headers={"Authorization": f"Bearer {harness.auth.admin_token}"},
        timeout=10,
    )


def _environ(pid: int) -> dict[str, str] | None:
    """A live process's initial environment, from /proc (None once it has exited)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None
    if state == "Z" or not raw:
        return None
    return dict(entry.split("=", 1) for entry in raw.decode(errors="replace").split("\0") if "=" in entry)


def _serving_environ(harness: Harness, name: str, *, not_pid: int | None = None) -> tuple[int, dict[str, str]]:
    """The one live runtime of the Plugin (after any drain), and its environment."""

    def single() -> tuple[int, dict[str, str]] | None:
        live = [(pid, env) for pid in harness.runtime_pids(name) if (env := _environ(pid)) is not None]
        if len(live) != 1 or live[0][0] == not_pid:
            return None
        return live[0]

    return wait_for(single, timeout=30, what=f"one live runtime of {name} other than pid {not_pid}")


def _rolled(harness: Harness, name: str, previous: dict[str, Any]) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (s := harness.status(name)).get("configHash") not in (None, previous["configHash"])
            and s.get("phase") == "Active"
            and s
        ),
        timeout=40,
        what=f"{name} to roll to a new config hash",
    )


def _restart_operator(harness: Harness, keys: list[str]) -> None:
    harness.stop_operator()
    harness.fernet_keys = keys
    harness.start_operator()


def test_stored_key_reaches_the_runtime_rolls_on_change_survives_rotation_and_never_leaks(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    name = unique("keystore")
    first, second = f"sk-first-{uuid.uuid4().hex}", f"sk-second-{uuid.uuid4().hex}"
    responses: list[str] = []
    caplog.set_level(logging.INFO)  # the operator runs in this process: its log lines are captured too

    # Referenced before it is stored: the Plugin fails and says how to store it.
    harness.apply(localsql_plugin(name, secretRefs=[{"name": "api_key", "source": "keystore"}]))
    harness.wait_phase(name, "Failed")
    ready = harness.condition(name, "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert ready["message"] == (
        f"secretRefs[api_key]: no stored key api_key for plugin {name}; "
        f"PUT /api/analytics/v1/plugins/{name}/keys/api_key"
    )
    assert not harness.runtime_pids(name)

    # Stored through the API: the annotation makes the operator reconcile, the runtime gets the value.
    stored = _put_key(harness, name, first)
    assert stored.status_code == 204, stored.text
    active = harness.wait_phase(name, "Active")
    first_pid, env = _serving_environ(harness, name)
    assert env[VARIABLE] == first
    assert not any(key in "\n".join(env.values()) for key in harness.fernet_keys), "runtimes never see Fernet keys"
    assert harness.query(name).status_code == 200

    # A new value rolls the runtime: new config hash, new process, new value.
    responses.append(_put_key(harness, name, second).text)
    rolled = _rolled(harness, name, active)
    second_pid, env = _serving_environ(harness, name, not_pid=first_pid)
    assert env[VARIABLE] == second

    # Rotation: 1. deploy new,old  2. rotate-keys  3. deploy new alone. The value still decrypts.
    old_key, new_key = harness.fernet_keys[0], keystore.generate_key()
    _restart_operator(harness, [new_key, old_key])
    rotation = subprocess.run(
        [str(Path(sys.executable).with_name("plugin-operator")), "rotate-keys"],
        env={
            **os.environ,
            keystore.ENV_VAR: f"{new_key},{old_key}",
            "PLUGIN_OPERATOR_DATABASE_URL": harness.settings.database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotation.returncode == 0, rotation.stderr
    match = re.search(r"re-encrypted (\d+) stored API key\(s\) under key (\w+)", rotation.stdout)
    assert match and int(match[1]) >= 1 and match[2] == keystore.key_id(new_key), rotation.stdout
    row = harness.database.run(lambda tx: db.api_keys.get(tx, name, "api_key"))
    assert row is not None and row.key_id == keystore.key_id(new_key)
    _restart_operator(harness, [new_key])
    _rolled(harness, name, rolled)  # re-encryption is a new ciphertext: the runtime rolls, same value
    _, env = _serving_environ(harness, name, not_pid=second_pid)
    assert env[VARIABLE] == second
    assert harness.query(name).status_code == 200

    # Every use is audited as the operator's, the failed one too; the rotation by the command.
    uses, _ = harness.database.list_audit(target=f"{name}/api_key", action="api_key.use", limit=500)
    assert {entry.actor for entry in uses} == {harness.settings.actor}
    outcomes = [entry.outcome.value for entry in uses]
    assert "failed" in outcomes and outcomes.count("success") >= 3
    rotations, _ = harness.database.list_audit(action="api_key.rotate", actor="system:rotate-keys")
    assert rotations and rotations[0].detail["key_id"] == keystore.key_id(new_key)

    # The values appear nowhere else: CR, Events, database rows, API responses, runtime files and logs.
    responses += [
        harness.api("GET", f"/plugins/{name}").text,
        harness.api("GET", f"/plugins/{name}/health").text,
        harness.api("GET", f"/plugins/{name}/keys").text,
        harness.api("GET", "/plugins?limit=500").text,
    ]
    surfaces = [
        harness.cluster.kubectl_ok("get", "plugin", name, "-o", "json"),
        json.dumps(harness.events(name)),
        json.dumps(harness.database.get_plugin(name).__dict__, default=str),
        json.dumps([entry.__dict__ for entry in harness.database.list_audit(limit=500)[0]], default=str),
        caplog.text,
        *responses,
    ]
    runtime_files = harness.runtime_files(name)
    assert any(p.name == "container.log" for p in runtime_files)
    surfaces += [p.read_text(errors="replace") for p in runtime_files]
    for text in surfaces:
        assert first not in text and second not in text


def _rotate_keys(url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLUGIN_OPERATOR_DATABASE_URL": url, keystore.ENV_VAR: keys}
    command = [str(Path(sys.executable).with_name("plugin-operator")), "rotate-keys"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_rotate_keys_changes_nothing_when_it_cannot_decrypt_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'operator.db'}"
    db.migrate(url)
    database = db.connect(url)
    try:
        database.upsert_plugin(db.PluginRecord(id="prom", name="prom", version="1.0.0"), actor="test")
        lost_key, value = keystore.generate_key(), f"sk-{uuid.uuid4().hex}"
        keystore.Keystore(database, [lost_key]).store("prom", "api_key", value)
        before = database.run(lambda tx: db.api_keys.get(tx, "prom", "api_key"))

        unset = _rotate_keys(url, "")
        without_old = _rotate_keys(url, keystore.generate_key())

        after = database.run(lambda tx: db.api_keys.get(tx, "prom", "api_key"))
    finally:
        database.dispose()
    assert unset.returncode == 1 and keystore.ENV_VAR in unset.stderr
    assert without_old.returncode == 1 and "rotation aborted" in without_old.stderr
    assert before is not None and after is not None and after.ciphertext == before.ciphertext
    for result in (unset, without_old):
        assert value not in result.stdout + result.stderr and lost_key not in result.stdout + result.stderr
