"""The CSDL JSON builder (pure): names, types and where capability annotations go."""

from __future__ import annotations

from plugin_runtime import interface, metadata


def query(query_id: str, **options: object) -> interface.QueryDefinition:
    return interface.QueryDefinition(
        id=query_id,
        name="n",
        category="c",
        api_endpoint="/x",
        capabilities_id="c",
        returns_schema_id="r",
        options=options,
    )


GTS = "gts.hypernetix.hyperspot.ax.query.v1~acme.monitoring._.{}.v1"


def test_entity_set_names_come_from_the_query() -> None:
    assert query(GTS.format("cpu_usage")).entity_set == "cpu_usage"
    assert query(GTS.format("cpu_usage"), entity_set="Metrics").entity_set == "Metrics"
    assert query("not-a-gts-id").entity_set == "not_a_gts_id"


def test_entity_type_names() -> None:
    assert metadata.entity_type_name("cpu_usage") == "CpuUsageRow"
    assert metadata.entity_type_name("Queries") == "QueriesRow"  # never the container's own name
    assert metadata.entity_type_name("5xx-errors") == "Row5xxErrors"


def test_document_puts_annotations_on_the_set_and_properties_on_the_type() -> None:
    capabilities = {
        "properties": {"host": "Edm.String", "value": "Edm.Double"},
        "key": ["host"],
        "annotations": {"Org.OData.Capabilities.V1.SortRestrictions": {"Sortable": False}},
    }
    doc = metadata.document([(query(GTS.format("load")), capabilities), (query(GTS.format("load")), None)])
    schema = doc["HyperSpot.Analytics"]
    assert schema["LoadRow"] == {
        "$Kind": "EntityType",
        "$Key": ["host"],
        "host": {"$Type": "Edm.String"},
        "value": {"$Type": "Edm.Double", "$Nullable": True},
    }
    entity_set = schema["Queries"]["load"]
    assert entity_set["@Org.OData.Capabilities.V1.SortRestrictions"] == {"Sortable": False}
    assert entity_set["$Type"] == "HyperSpot.Analytics.LoadRow"
    assert list(schema) == ["LoadRow", "Queries"]  # the second query of the same set adds nothing
    assert doc["$EntityContainer"] == "HyperSpot.Analytics.Queries"
