"""The built-in adapters are found like any third-party plugin: through their entry points."""

from __future__ import annotations

from importlib import metadata

import pytest

from plugin_runtime import interface

GROUP = "hyperspot.analytics.plugins"
ADAPTERS = {
    "prometheus": interface.ContractFormat.PROMETHEUS,
    "elasticsearch": interface.ContractFormat.ELASTICSEARCH,
    "odata": interface.ContractFormat.ODATA,
    "rest": interface.ContractFormat.CUSTOM,
    "graphql": interface.ContractFormat.GRAPHQL,
}


@pytest.mark.parametrize(("name", "contract_format"), sorted(ADAPTERS.items()))
def test_each_adapter_loads_and_meets_the_plugin_contract(name: str, contract_format: interface.ContractFormat) -> None:
    (entry_point,) = metadata.entry_points(group=GROUP, name=name)
    plugin = entry_point.load()()
    assert isinstance(plugin, interface.QueryPlugin)
    assert isinstance(plugin, interface.TranslatingPlugin)
    described = plugin.metadata()
    assert (described.id, described.version, described.author, described.contract_format) == (
        name,
        metadata.version("hyperspot-analytics-plugins"),
        "HyperSpot",
        contract_format,
    )
    assert plugin.health_check().status is interface.HealthState.UNKNOWN  # not initialised yet
    capabilities = plugin.capabilities()
    assert capabilities["annotations"]["Org.OData.Capabilities.V1.TopSupported"] is True
    assert plugin.before_jwt_sign(interface.SecurityCtx(subject="s"), {"sub": "s"}) == {"sub": "s", "adapter": name}
    plugin.shutdown()
