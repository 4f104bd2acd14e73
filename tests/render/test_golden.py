"""Golden manifests of the representative plugin: a reviewable diff for every change to rendering.

Regenerate after an intended change with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py`
and review the diff of tests/render/golden/ like code.
"""

from __future__ import annotations

import os
import pathlib

import yaml

from plugin_operator import render

from . import samples

GOLDEN = pathlib.Path(__file__).parent / "golden" / "prometheus-adapter.yaml"


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's runtime.yaml) as literal blocks, so diffs read line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_ReadableDumper.add_representer(str, _str)


def _rendered() -> str:
    objects = render.render_all(samples.make_inputs(), serving_version="1.4.1")
    return yaml.dump_all(objects, Dumper=_ReadableDumper, sort_keys=True, width=120)


def test_rendering_matches_the_golden_file() -> None:
    rendered = _rendered()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(rendered, encoding="utf-8")

    assert rendered == GOLDEN.read_text(encoding="utf-8"), "rendering changed: review, then UPDATE_GOLDEN=1"


def test_golden_file_holds_valid_kubernetes_objects(validate) -> None:
    objects = list(yaml.safe_load_all(GOLDEN.read_text(encoding="utf-8")))

    assert [obj["kind"] for obj in objects] == ["NetworkPolicy", "ConfigMap", "Deployment", "Service"]
    for obj in objects:
        validate(obj)
