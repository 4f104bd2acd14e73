"""The backend-auth example manifests are valid Plugins whose rendered runtime config initialises
their adapters with the referenced Secrets (PEM placeholders swapped for a test CA's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.prometheus.plugin import PrometheusPlugin
from adapters.rest.plugin import RestPlugin
from plugin_operator import models, runtime_config
from plugin_operator.app import repo_root
from plugin_runtime import interface
from tests.adapters import pki

EXAMPLES = repo_root() / "examples" / "manifests" / "auth"
ADAPTERS = {"prometheus": PrometheusPlugin, "rest": RestPlugin}


def documents(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    docs = list(yaml.safe_load_all(path.read_text()))
    secrets = {doc["metadata"]["name"]: doc["stringData"] for doc in docs if doc["kind"] == "Secret"}
    (plugin,) = [doc for doc in docs if doc["kind"] == "Plugin"]
    return secrets, plugin


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_auth_examples_initialise_their_adapter(path: Path) -> None:
    authority = pki.authority()
    pems = {"tls.crt": authority.client.cert, "tls.key": authority.client.key}
    secrets, plugin = documents(path)
    spec = models.PluginSpec.model_validate(plugin["spec"])
    (entry,) = runtime_config.build(plugin_id=plugin["metadata"]["name"], spec=spec).plugins
    values = {
        ref.name: pems.get(ref.key or "", secrets[ref.secret_name or ""][ref.key or ""]) for ref in spec.secret_refs
    }
    settings = dict(entry.settings)
    if "ca_certificate" in settings:
        settings["ca_certificate"] = authority.ca.cert
    adapter = ADAPTERS[entry.adapter or ""]()
    adapter.init(
        interface.PluginConfig(settings=settings, queries=tuple(q.definition() for q in entry.queries), secrets=values)
    )
    adapter.shutdown()
    assert set(entry.secret_env) == {ref.name for ref in spec.secret_refs}
