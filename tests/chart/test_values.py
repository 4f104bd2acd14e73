"""values.yaml and values.schema.json: defaults plus an identity provider install; mistakes are refused."""

from __future__ import annotations

import tomllib
from typing import Any

import jsonschema
import pytest

from . import helm


def test_defaults_need_only_an_identity_provider(minimal: dict[str, Any]) -> None:
    helm.validate_values(helm.merged(helm.default_values(), minimal))


def test_defaults_alone_are_refused_because_the_api_would_have_no_token_verifier() -> None:
    with pytest.raises(jsonschema.ValidationError) as caught:
        helm.validate_values(helm.default_values())

    assert list(caught.value.absolute_path) == ["jwt"]


@pytest.mark.parametrize(
    "jwt",
    [
        {"publicKey": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"},
        {"jwksUrl": "https://idp.example.com/jwks"},
        {"secret": {"existingSecret": "api-jwt", "key": "hs256"}},
    ],
    ids=["public-key", "jwks", "shared-secret"],
)
def test_each_token_verifier_is_enough(jwt: dict[str, Any]) -> None:
    helm.validate_values(helm.merged(helm.default_values(), {"jwt": jwt}))


@pytest.mark.parametrize(
    "overrides",
    [
        {"imagee": {"tag": "1"}},
        {"image": {"tag": "latest image"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"logLevel": "TRACE"},
        {"watchNamespaces": ["Team_A"]},
        {"watchNamespaces": ["a", "a"]},
        {"database": {"existingSecret": ""}},
        {"fernet": {"existingSecret": "Bad Name"}},
        {"jwt": {"jwksUrl": "ftp://idp.example.com/jwks"}},
        {"jwt": {"publicKey": "not a pem"}},
        {"service": {"port": 0}},
        {"metrics": {"serviceMonitor": {"enabled": "yes"}}},
        {"metrics": {"serviceMonitor": {"interval": "often"}}},
        {"runtimeProbes": {"livenessPeriodSeconds": 0}},
        {"runtimeProbes": {"livenessFailureThreshold": "3"}},
        {"runtimeProbes": {"readinessPeriodSeconds": 2.5}},
        {"runtimeProbes": {"startupPeriodSeconds": 2}},
    ],
)
def test_mistakes_are_refused(minimal: dict[str, Any], overrides: dict[str, Any]) -> None:
    values = helm.merged(helm.merged(helm.default_values(), minimal), overrides)

    with pytest.raises(jsonschema.ValidationError):
        helm.validate_values(values)


def test_the_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(helm.values_schema())


def test_default_images_follow_the_chart_and_package_version() -> None:
    chart, values = helm.chart_metadata(), helm.default_values()
    project = tomllib.loads((helm.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    assert chart["appVersion"] == project["version"]
    assert values["image"]["tag"] == values["runtimeImage"]["tag"] == chart["appVersion"]
