"""`make run` keeps its dev keys in the state directory: a restart renders the same runtimes (no rollout)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from plugin_devcluster import devkeys
from plugin_operator import control_plane, desired, keystore, models
from plugin_operator.security import TokenVerifier
from plugin_operator.settings import OperatorSettings
from plugin_runtime import tokens

SPEC = models.PluginSpec.model_validate({"version": "1", "contractFormat": "native", "adapter": "localsql"})


def _identity(state: Path) -> str:
    """The identity the operator gives a Plugin's runtime after a start of `make run` on `state`."""
    auth = devkeys.dev_auth(state)
    key = control_plane.load_or_create(state / control_plane.KEY_FILE)
    settings = OperatorSettings(state_dir=state, runtime_auth=auth.runtime_auth, control_plane_key=key)
    target = desired.target(settings)
    return desired.instance(namespace="n", cr_name="p", uid="u", plugin_id="p", spec=SPEC, target=target).identity


def test_a_restart_renders_the_same_runtimes(tmp_path: Path) -> None:
    first = _identity(tmp_path)
    assert _identity(tmp_path) == first, "the same state directory: the runtimes are adopted, not rolled"
    assert _identity(tmp_path / "other") != first, "new keys would roll every runtime"


def test_the_keys_are_private_files_created_once(tmp_path: Path) -> None:
    first = devkeys.dev_auth(tmp_path)
    for name in (devkeys.API_SECRET_FILE, devkeys.EXECUTOR_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary file is left"
    second = devkeys.dev_auth(tmp_path)
    assert second.settings.secret == first.settings.secret
    assert second.executor_public_key == first.executor_public_key
    # Tokens exported from the last run's banner still work after a restart.
    assert TokenVerifier(second.settings).verify(first.admin_token).subject == "dev-admin"
    incoming = tokens.IncomingAuth(second.runtime_auth, environ={})
    assert incoming.authenticate(f"Bearer {first.execute_token}").subject == "dev-executor"


def test_key_material_stays_out_of_reprs(tmp_path: Path) -> None:
    auth = devkeys.dev_auth(tmp_path)
    assert auth.settings.secret is not None
    for text in (repr(auth), str(auth), repr(auth.settings)):
        assert auth.settings.secret not in text
        assert "PRIVATE KEY" not in text


def test_the_dev_fernet_key_is_kept_unless_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keystore.ENV_VAR, raising=False)
    keys, origin = devkeys.dev_fernet_keys(tmp_path)
    assert "generated in" in origin and keys[0] not in origin
    assert stat.S_IMODE((tmp_path / devkeys.FERNET_KEY_FILE).stat().st_mode) == 0o600
    again, origin = devkeys.dev_fernet_keys(tmp_path)
    assert (again, "kept in" in origin) == (keys, True)
    configured = keystore.generate_key()
    monkeypatch.setenv(keystore.ENV_VAR, configured)
    assert devkeys.dev_fernet_keys(tmp_path)[0] == [configured]
