"""Golden manifests of every object applied for two representative plugins: a reviewable diff of every rendering change.

Regenerate after an intended change with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py`
and review the diff of tests/render/golden/ like code.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import re
from typing import Any

import pytest
import yaml

from plugin_operator import desired, models, render
from plugin_operator.drivers import kubernetes as kubernetes_driver

from . import samples

GOLDEN = pathlib.Path(__file__).parent / "golden"


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's runtime.yaml) as literal blocks, so diffs read line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_ReadableDumper.add_representer(str, _str)


#: A plugins-folder plugin with a key-store secret: the objects only such plugins add (the plugins
#: image volume, the stored-keys Secret).
FOLDER_SPEC = {
    "version": "0.3.0",
    "contractFormat": "native",
    "path": "hello-world",
    "config": {"greeting": "hi"},
    "secretRefs": [{"name": "api_token", "source": "keystore"}],
}
FOLDER_TARGET = desired.Target(
    image="ghcr.io/hypernetix/hyperspot-plugin-runtime:0.1.0",
    plugins_dir=render.PLUGINS_DIR,
    plugins_image="ghcr.io/hypernetix/hyperspot-plugins:2024.11",
    kubernetes=True,
)
CASES = {
    "prometheus-adapter": lambda: samples.make_instance(),
    "folder-plugin": lambda: samples.make_instance(
        models.PluginSpec.model_validate(FOLDER_SPEC),
        cr_name="hello",
        target=FOLDER_TARGET,
        secret_versions={"keystore:api_token": "3f2a"},
        secrets={"PLUGIN_SECRET_API_TOKEN": "<stored api_token>"},
    ),
}


def applied(instance: desired.Instance) -> list[dict[str, Any]]:
    """Every object the Kubernetes driver applies for an instance: at start, at promotion, when suspended."""
    return [*instance.objects(admin_token="<admin token>"), instance.stable_service(), instance.suspended()]


def _rendered(case: str) -> str:
    return yaml.dump_all(applied(CASES[case]()), Dumper=_ReadableDumper, sort_keys=True, width=120)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendering_matches_the_golden_file(case: str) -> None:
    rendered = _rendered(case)
    golden = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")

    assert rendered == golden.read_text(encoding="utf-8"), "rendering changed: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_files_hold_valid_kubernetes_objects(validate, case: str) -> None:
    objects = list(yaml.safe_load_all((GOLDEN / f"{case}.yaml").read_text(encoding="utf-8")))

    for obj in objects:
        validate(obj)
    kinds = [obj["kind"] for obj in objects]
    stored_keys = ["Secret"] if case == "folder-plugin" else []
    assert kinds == [
        "NetworkPolicy",
        "Secret",
        *stored_keys,
        "ConfigMap",
        "Deployment",
        "Service",
        "Service",
        "Deployment",  # suspended: the same Deployment with no replicas
    ]
    assert objects[-1]["spec"]["replicas"] == 0 and objects[-1]["metadata"] == objects[-4]["metadata"]


def test_golden_files_are_every_object_the_driver_applies() -> None:
    """The golden cases render through the same `Instance` methods the Kubernetes driver calls."""
    source = inspect.getsource(kubernetes_driver.KubernetesDriver)
    applied_calls = set(re.findall(r"instance\.(objects|stable_service|suspended)\(", source))

    assert applied_calls == {"objects", "stable_service", "suspended"}
    assert "render." not in source.replace("render.ADMIN_TOKEN_SECRET_KEY", "")
