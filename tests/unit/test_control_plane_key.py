"""The control-plane key file: created once, and the same key for replicas that start together."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from plugin_operator import control_plane


def _load(path: str) -> str:
    return control_plane.load_or_create(Path(path))


def test_replicas_starting_together_read_one_key(tmp_path: Path) -> None:
    path = tmp_path / "state" / "control-plane.pem"
    with multiprocessing.get_context("fork").Pool(6) as pool:
        keys = pool.map(_load, [str(path)] * 24)
    assert len(set(keys)) == 1
    assert keys[0].startswith("-----BEGIN")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["control-plane.pem"], "no temporary file is left behind"


def test_an_existing_key_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "control-plane.pem"
    first = control_plane.load_or_create(path)
    assert control_plane.load_or_create(path) == first
