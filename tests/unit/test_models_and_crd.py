"""The Plugin model is the single source of truth; the checked-in CRD must be generated from it."""

from pathlib import Path

import jsonschema
import pydantic
import pytest
import yaml

from plugin_operator import crd, models

ROOT = Path(__file__).resolve().parents[2]
QUERY = "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1"


def _spec(**overrides):
    spec = {
        "version": "1.0.0",
        "contractFormat": "prometheus",
        "adapter": "prometheus",
        "config": {"base_url": "http://prometheus:9090", "timeout": "30s"},
        "queries": [
            {
                "id": QUERY,
                "name": "CPU usage",
                "category": "monitoring",
                "apiEndpoint": "/metrics/cpu",
                "capabilitiesId": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~prometheus.default._.standard.v1",
                "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~prometheus.metrics._.timeseries.v1~",
            }
        ],
        "datasources": [
            {
                "id": "gts.hypernetix.hyperspot.ax.datasource.v1~prometheus.monitoring._.cpu_api.v1",
                "queryId": QUERY,
                "name": "API CPU",
                "params": {"$filter": "job eq 'api'"},
            }
        ],
    }
    spec.update(overrides)
    return spec


def _openapi_schema() -> dict:
    document = yaml.safe_load((ROOT / "crds" / "plugins.yaml").read_text())
    return document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_checked_in_crd_matches_the_models() -> None:
    assert (ROOT / "crds" / "plugins.yaml").read_text() == crd.render(), "run `make crd`"


def test_chart_ships_the_same_crd() -> None:
    chart_crd = ROOT / "charts" / "plugin-operator" / "crds" / "plugins.yaml"
    assert chart_crd.read_text() == (ROOT / "crds" / "plugins.yaml").read_text(), "run `make crd`"


def test_crd_names_and_columns() -> None:
    document = crd.crd()
    names = document["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"], names["shortNames"]) == (
        "Plugin",
        "plugins",
        "plugin",
        ["plg"],
    )
    version = document["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Phase", "Health", "Version", "Enabled", "Age"]


def test_a_good_spec_is_accepted_by_model_and_crd_schema() -> None:
    spec = models.PluginSpec.model_validate(_spec())
    assert spec.queries[0].api_endpoint == "/metrics/cpu"
    jsonschema.validate(_spec(), _openapi_schema())


def test_queries_of_derived_and_anonymous_types_are_accepted_by_model_and_crd_schema() -> None:
    derived = "gts.hypernetix.hyperspot.ax.query.v1~vendor.app.derived.event.v2~vendor.app._.event.v2.0"
    anonymous = (
        "gts.hypernetix.hyperspot.ax.query.v1~x.commerce.orders.order_placed.v1.0~7a1d2f34-5678-49ab-9012-abcdef123456"
    )
    base = _spec()
    queries = [
        {**base["queries"][0], "id": derived, "apiEndpoint": "/events/derived"},
        {**base["queries"][0], "id": anonymous, "apiEndpoint": "/orders/placed"},
    ]
    datasources = [{**base["datasources"][0], "queryId": anonymous}]
    document = _spec(queries=queries, datasources=datasources)
    spec = models.PluginSpec.model_validate(document)
    assert [query.id for query in spec.queries] == [derived, anonymous]
    assert spec.datasources[0].query_id == anonymous
    jsonschema.validate(document, _openapi_schema())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"contractFormat": "soap"}, "contractFormat"),
        ({"version": ""}, "version"),
        ({"replicas": 99}, "replicas"),
        ({"queries": [{**_spec()["queries"][0], "id": "gts.hypernetix.hyperspot.ax.query.v1"}]}, "queries"),
        (
            {
                "queries": [
                    {**_spec()["queries"][0], "returnsSchemaId": "gts.hypernetix.hyperspot.ax.schema.v1~x.y.z.w.v1"}
                ]
            },
            "returnsSchemaId",
        ),
        ({"resources": {"limits": {"cpu": "lots"}}}, "cpu"),
        ({"unknownField": 1}, "unknownField"),
    ],
)
def test_bad_specs_are_rejected_by_both(overrides: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        models.PluginSpec.model_validate(_spec(**overrides))
    if message != "unknownField":  # structural schemas prune unknown fields instead of rejecting them
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(_spec(**overrides), _openapi_schema())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"queries": _spec()["queries"] * 2}, "declared more than once"),
        ({"config": {"api_key": "s3cr3t"}}, "look like secrets"),
        ({"datasources": [{**_spec()["datasources"][0], "id": QUERY}]}, "datasource"),
        # A type derived from the datasource type is not a query, however it is chained.
        (
            {
                "datasources": [
                    {
                        **_spec()["datasources"][0],
                        "queryId": "gts.hypernetix.hyperspot.ax.datasource.v1~a.b._.c.v1~d.e._.f.v1",
                    }
                ]
            },
            "expected an instance of gts.hypernetix.hyperspot.ax.query.v1~",
        ),
        ({"egress": [{"ports": [443]}]}, "needs cidr"),
    ],
)
def test_semantic_rules_only_the_model_knows(overrides: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        models.PluginSpec.model_validate(_spec(**overrides))


def test_every_field_is_documented_for_kubectl_explain() -> None:
    root = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    missing: list[str] = []

    def walk(node: dict, path: str) -> None:
        for name, sub in (node.get("properties") or {}).items():
            if not sub.get("description"):
                missing.append(f"{path}.{name}")
            walk(sub, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(root["spec"], "spec")
    walk(root["status"], "status")
    assert missing == []
