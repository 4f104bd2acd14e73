"""Fixtures of the runtime suite: a private copy of the test plugins, and a server factory."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from .support import TEST_PLUGINS, Runtime, serving

Serve = Callable[..., contextlib.AbstractContextManager[Runtime]]


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    """A copy of tests/runtime/plugins a test may change (hot reload) without touching the repo."""
    target = tmp_path / "plugins"
    shutil.copytree(TEST_PLUGINS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """`with serve(config, environ={...}) as runtime:` — a real runtime; config paths relative to tmp_path."""

    def start(
        config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
    ) -> contextlib.AbstractContextManager[Runtime]:
        return serving(tmp_path, config, environ or {})

    return start
