"""Fixtures of the interop suite: an example Plugin manifest served by a real runtime, as the operator renders it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugin_operator import models, runtime_config
from tests.runtime.support import Runtime, serving

MANIFESTS = Path(__file__).resolve().parents[2] / "examples" / "manifests"

ServeExample = Callable[..., contextlib.AbstractContextManager[Runtime]]


def example_config(name: str, **settings: Any) -> dict[str, Any]:
    """The RuntimeConfig the operator renders for examples/manifests/<name>.yaml (settings overridden)."""
    manifest = yaml.safe_load((MANIFESTS / f"{name}.yaml").read_text())
    spec = models.PluginSpec.model_validate(manifest["spec"])
    spec = spec.model_copy(update={"config": {**spec.config, **settings}})
    built = runtime_config.build(plugin_id=manifest["metadata"]["name"], spec=spec)
    return built.model_dump(mode="json")


@pytest.fixture
def serve_example(tmp_path: Path) -> ServeExample:
    @contextlib.contextmanager
    def start(name: str, *, environ: Mapping[str, str] | None = None, **settings: Any) -> Iterator[Runtime]:
        with serving(tmp_path, example_config(name, **settings), dict(environ or {})) as runtime:
            yield runtime

    return start
