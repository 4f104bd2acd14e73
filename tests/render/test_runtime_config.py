"""PluginSpec → RuntimeConfig (the identity that rolls runtimes is tested in test_identity)."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest
import yaml

from plugin_operator import desired, runtime_config, settings
from plugin_runtime import config, interface

from . import samples


def test_secret_env_var_names_are_upper_case_and_prefixed() -> None:
    assert runtime_config.secret_env_var("api_key") == "PLUGIN_SECRET_API_KEY"
    assert runtime_config.secret_env_var("bearer_token") == "PLUGIN_SECRET_BEARER_TOKEN"


def test_build_hosts_exactly_the_one_plugin() -> None:
    built = runtime_config.build(plugin_id="prometheus-adapter", spec=samples.make_spec())

    assert built.admin_token_env == runtime_config.ADMIN_TOKEN_ENV
    [plugin] = built.plugins
    assert (plugin.id, plugin.version, plugin.adapter) == ("prometheus-adapter", "1.4.2", "prometheus")
    assert plugin.path is None
    assert (plugin.name, plugin.author, plugin.description) == (None, None, None)  # the catalogue's, not the runtime's
    assert plugin.contract_format is interface.ContractFormat.PROMETHEUS
    assert plugin.settings == samples.SPEC["config"]
    assert plugin.enabled is True
    assert (plugin.auto_register_queries, plugin.auto_register_datasources) == (True, True)


def test_build_maps_the_sandbox_to_seconds_and_the_breaker() -> None:
    [plugin] = runtime_config.build(plugin_id="p", spec=samples.make_spec()).plugins

    assert plugin.timeout_seconds == 90.0
    assert plugin.max_concurrent_queries == 8
    assert plugin.breaker == config.BreakerConfig(failure_threshold=3, error_rate_threshold=0.5, cooldown_seconds=0.25)


def test_build_names_secrets_by_environment_variable_only() -> None:
    [plugin] = runtime_config.build(plugin_id="p", spec=samples.make_spec()).plugins

    assert plugin.secret_env == {"api_key": "PLUGIN_SECRET_API_KEY", "basic_password": "PLUGIN_SECRET_BASIC_PASSWORD"}
    dumped = str(plugin.model_dump())
    for ref in samples.SPEC["secretRefs"]:
        assert ref["secretName"] not in dumped
        assert ref["key"] not in dumped


def test_build_turns_query_specs_into_snake_case_query_configs() -> None:
    [plugin] = runtime_config.build(plugin_id="p", spec=samples.make_spec()).plugins

    cpu, memory = plugin.queries
    source = samples.SPEC["queries"][0]
    assert cpu == config.QueryConfig(
        id=source["id"],
        name=source["name"],
        category=source["category"],
        api_endpoint=source["apiEndpoint"],
        capabilities_id=source["capabilitiesId"],
        returns_schema_id=source["returnsSchemaId"],
        description="",
        options=source["options"],
    )
    assert (memory.description, memory.options) == ("Resident memory per instance", {})


@pytest.mark.parametrize(
    ("override", "spec_enabled", "expected"),
    [(None, True, True), (None, False, False), (False, True, False), (True, False, True)],
)
def test_enabled_override_wins_over_the_spec(override: bool | None, spec_enabled: bool, expected: bool) -> None:
    spec = samples.make_spec(enabled=spec_enabled)

    [plugin] = runtime_config.build(plugin_id="p", spec=spec, enabled=override).plugins

    assert plugin.enabled is expected


def test_built_config_survives_the_runtime_loader(tmp_path: pathlib.Path) -> None:
    built = runtime_config.build(plugin_id="prometheus-adapter", spec=samples.make_spec())
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump(built.model_dump(mode="json")))

    assert config.load(path) == built


def test_the_runtimes_external_url_is_the_plugins_service_or_the_operators_template() -> None:
    kubernetes = samples.make_instance()
    assert kubernetes.runtime_config.external_url == "http://prometheus-adapter.analytics.svc:80"
    local = samples.make_instance(target=desired.Target(image="img"))
    assert local.runtime_config.external_url is None  # the local driver writes its stable address in

    template = "https://analytics.example.com/{namespace}/{name}/{plugin_id}"
    public = samples.make_instance(target=dataclasses.replace(samples.TARGET, external_url=template))
    assert public.runtime_config.external_url == (
        "https://analytics.example.com/analytics/prometheus-adapter/prometheus-adapter"
    )
    assert public.identity != kubernetes.identity  # another base for links is another runtime config


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("https://analytics.example.com/plugins/{namespace}/{name}", True),
        ("http://gw:8080", True),
        ("analytics.example.com/{name}", False),  # no scheme
        ("https://analytics.example.com/{secret}", False),  # an unknown field
        ("https://analytics.example.com/?p={name}", False),  # a query
    ],
)
def test_the_external_url_template_is_checked_when_the_operator_starts(
    monkeypatch: pytest.MonkeyPatch, value: str, accepted: bool
) -> None:
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL", value)
    if accepted:
        assert settings.OperatorSettings.from_env().runtime_external_url == value
    else:
        with pytest.raises(ValueError, match="PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL"):
            settings.OperatorSettings.from_env()
