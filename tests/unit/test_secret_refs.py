"""secretRefs point at a Kubernetes Secret's key or at the operator's key store, never at both."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import jsonschema
import pydantic
import pytest
import yaml

from plugin_operator import db, keystore, models, runtime_config
from plugin_operator.drivers.base import Driver
from plugin_operator.reconciler import Reconciler
from plugin_operator.runtime_client import RuntimeClient
from plugin_operator.settings import OperatorSettings

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


# The operator resolving keystore refs (SQLite for the key store, a recording stand-in for Kubernetes) ----


class _StatusRecorder:
    """The only Kubernetes call a reconcile that fails on its spec makes: the status patch."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def patch_plugin_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.statuses.append(status)
        return {}


def _keystore_plugin(name: str) -> dict[str, Any]:
    spec = {
        "version": "1.0.0",
        "contractFormat": "native",
        "adapter": "localsql",
        "secretRefs": [{"name": "api_key", "source": "keystore"}],
    }
    return {"metadata": {"namespace": "default", "name": name, "uid": f"uid-{name}", "generation": 1}, "spec": spec}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[db.Database]:
    url = f"sqlite:///{tmp_path / 'operator.db'}"
    db.migrate(url)
    database = db.connect(url)
    yield database
    database.dispose()


def _reconcile(database: db.Database, keys: keystore.Keystore | None, body: dict[str, Any]) -> tuple[dict, Mock]:
    kube = _StatusRecorder()
    driver = Mock(spec=Driver)
    reconciler = Reconciler(
        kube=kube,  # type: ignore[arg-type]
        database=database,
        keys=keys,
        driver=driver,
        client=Mock(spec=RuntimeClient),
        settings=OperatorSettings(),
        emit=lambda *_: None,
    )
    asyncio.run(reconciler.reconcile_locked(body))
    return kube.statuses[-1], driver


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_without_fernet_keys_a_keystore_ref_fails_naming_the_variable(database: db.Database) -> None:
    status, driver = _reconcile(database, None, _keystore_plugin("nokeys"))

    assert status["phase"] == "Failed"
    assert _ready(status)["reason"] == "InvalidSpec"
    assert _ready(status)["message"] == (
        "secretRefs[api_key]: the operator has no key store: "
        "set PLUGIN_OPERATOR_FERNET_KEYS to comma-separated Fernet keys"
    )
    driver.start.assert_not_called()


def test_a_missing_stored_key_fails_saying_which_put_stores_it(database: db.Database) -> None:
    keys = keystore.Keystore(database, [keystore.generate_key()])

    status, driver = _reconcile(database, keys, _keystore_plugin("absent"))

    assert _ready(status)["message"] == (
        "secretRefs[api_key]: no stored key api_key for plugin absent; "
        "PUT /api/analytics/v1/plugins/absent/keys/api_key"
    )
    driver.start.assert_not_called()
    # The plugin is recorded anyway, so that PUT finds a row to hang the key off.
    assert database.get_plugin("absent") is not None
    (use,), _ = database.list_audit(action="api_key.use")
    assert (use.actor, use.target, use.outcome) == ("system:plugin-operator", "absent/api_key", db.Outcome.FAILED)


def test_a_key_no_configured_fernet_key_decrypts_fails_without_showing_it(database: db.Database) -> None:
    value = "sk-undecryptable-never-shown"
    body = _keystore_plugin("stale")
    _reconcile(database, None, body)  # records the plugin row
    keystore.Keystore(database, [keystore.generate_key()]).store("stale", "api_key", value)

    status, driver = _reconcile(database, keystore.Keystore(database, [keystore.generate_key()]), body)

    assert _ready(status)["reason"] == "InvalidSpec"
    assert "encrypted under key" in _ready(status)["message"]
    assert value not in json.dumps(status)
    driver.start.assert_not_called()
