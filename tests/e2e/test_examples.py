"""Every example in examples/manifests does what its comments say, through kubectl and the operator."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from plugin_operator import models
from plugin_operator.app import repo_root
from tests.e2e.conftest import Harness, wait_for

EXAMPLES = repo_root() / "examples" / "manifests"
VALID = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.startswith("invalid"))


def _load(path: Path) -> dict:
    return dict(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_examples_load_and_reach_a_serving_phase(harness: Harness, path: Path) -> None:
    manifest = _load(path)
    models.PluginSpec.model_validate(manifest["spec"])
    name = manifest["metadata"]["name"]
    harness.cluster.kubectl_ok("apply", "-f", str(path))
    status = wait_for(
        lambda: (s := harness.status(name)).get("phase") in ("Active", "Degraded") and s,
        timeout=40,
        what=f"example {name} to serve",
    )
    assert status["servingVersion"] == manifest["spec"]["version"]
    declared = {q["id"] for q in manifest["spec"].get("queries", [])}
    assert declared <= {e["id"] for e in status["registeredEntities"]}


def test_local_examples_answer_queries(harness: Harness) -> None:
    for path in (EXAMPLES / "sample-metrics.yaml", EXAMPLES / "hello-world.yaml"):
        manifest = _load(path)
        name = manifest["metadata"]["name"]
        harness.cluster.kubectl_ok("apply", "-f", str(path))
        harness.wait_phase(name, "Active", timeout=40)
        endpoint = harness.status(name)["endpoint"]
        response = harness.runtime_get(
            f"{endpoint}/queries/{manifest['spec']['queries'][0]['id']}", params={"$top": "2"}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["value"]) == 2


def test_invalid_example_is_rejected_by_kubectl_with_the_documented_message(harness: Harness) -> None:
    result = harness.cluster.kubectl("apply", "-f", str(EXAMPLES / "invalid-plugin.yaml"))
    assert result.returncode != 0
    assert "spec.queries[0].id" in result.stderr and "spec.contractFormat" in result.stderr
    with pytest.raises(pydantic.ValidationError):
        models.PluginSpec.model_validate(_load(EXAMPLES / "invalid-plugin.yaml")["spec"])


def test_secret_in_config_example_fails_in_the_operator(harness: Harness) -> None:
    harness.cluster.kubectl_ok("apply", "-f", str(EXAMPLES / "invalid-secret-in-config.yaml"))
    harness.wait_phase("invalid-secret-in-config", "Failed")
    ready = harness.condition("invalid-secret-in-config", "Ready")
    assert ready["reason"] == "InvalidSpec" and "look like secrets" in ready["message"]
    assert "do-not-put-keys-here" not in str(harness.status("invalid-secret-in-config"))
