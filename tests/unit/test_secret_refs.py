"""secretRefs point at a Kubernetes Secret's key or at the operator's key store, never at both."""

from pathlib import Path

import jsonschema
import pydantic
import pytest
import yaml

from plugin_operator import models, runtime_config

ROOT = Path(__file__).resolve().parents[2]


def _ref_schema() -> dict:
    document = yaml.safe_load((ROOT / "crds" / "plugins.yaml").read_text())
    spec = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["secretRefs"]["items"]


def test_a_secret_ref_defaults_to_a_kubernetes_secret() -> None:
    ref = models.SecretRef.model_validate({"name": "api_key", "secretName": "prom-creds", "key": "token"})
    assert (ref.source, ref.secret_name, ref.key) == ("secret", "prom-creds", "token")


def test_a_keystore_ref_needs_only_a_name() -> None:
    ref = models.SecretRef.model_validate({"name": "api_key", "source": "keystore"})
    assert (ref.source, ref.secret_name, ref.key) == ("keystore", None, None)
    jsonschema.validate({"name": "api_key", "source": "keystore"}, _ref_schema())


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"name": "api_key"}, "source secret needs both secretName and key"),
        ({"name": "api_key", "secretName": "prom-creds"}, "source secret needs both secretName and key"),
        ({"name": "api_key", "source": "secret", "key": "token"}, "source secret needs both secretName and key"),
        ({"name": "api_key", "source": "keystore", "key": "token"}, "source keystore takes no secretName or key"),
        ({"name": "api_key", "source": "keystore", "secretName": "s"}, "PUT /api/analytics/v1/plugins/<id>/keys/"),
    ],
)
def test_where_the_value_lives_must_be_unambiguous(ref: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        models.SecretRef.model_validate(ref)


def test_unknown_sources_are_refused_by_model_and_crd() -> None:
    bad = {"name": "api_key", "source": "vault"}
    with pytest.raises(pydantic.ValidationError, match="source"):
        models.SecretRef.model_validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _ref_schema())


def test_the_crd_states_the_rule_for_the_api_server() -> None:
    (validation,) = _ref_schema()["x-kubernetes-validations"]
    assert "keystore" in validation["rule"] and "has(self.secretName)" in validation["rule"]
    assert "secretName" not in _ref_schema().get("required", [])


def test_a_keystore_value_reaches_the_runtime_under_the_same_variable_as_a_secret() -> None:
    spec = models.PluginSpec.model_validate(
        {
            "version": "1.0.0",
            "contractFormat": "native",
            "adapter": "localsql",
            "secretRefs": [
                {"name": "api_key", "source": "keystore"},
                {"name": "basic_password", "secretName": "creds", "key": "password"},
            ],
        }
    )
    config = runtime_config.build(plugin_id="p", spec=spec)
    assert config.plugins[0].secret_env == {
        "api_key": "PLUGIN_SECRET_API_KEY",
        "basic_password": "PLUGIN_SECRET_BASIC_PASSWORD",
    }
