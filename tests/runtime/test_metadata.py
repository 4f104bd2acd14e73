"""The CSDL JSON builder (pure): names, types and where capability annotations go."""

from __future__ import annotations

from plugin_runtime import csdl_xml, interface, metadata


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


def test_property_paths_are_typed_in_both_forms() -> None:
    query = interface.QueryDefinition(
        id="gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.logs.v1",
        name="Logs",
        category="tests",
        api_endpoint="/logs",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.log.v1~",
    )
    capabilities = {
        "properties": {"_id": "Edm.String", "message": "Edm.String", "ts": "Edm.DateTimeOffset"},
        "key": ["_id"],
        "annotations": {
            "Org.OData.Capabilities.V1.SortRestrictions": {"Sortable": True, "NonSortableProperties": ["message"]},
            "Org.OData.Capabilities.V1.FilterRestrictions": {
                "FilterExpressionRestrictions": [{"Property": "ts", "AllowedExpressions": "SingleRange"}]
            },
        },
    }
    document = metadata.document([(query, capabilities)])
    logs = document["HyperSpot.Analytics"]["Queries"]["logs"]
    sort = logs["@Org.OData.Capabilities.V1.SortRestrictions"]
    assert sort == {"Sortable": True, "NonSortableProperties": [{"$PropertyPath": "message"}]}
    restriction = logs["@Org.OData.Capabilities.V1.FilterRestrictions"]["FilterExpressionRestrictions"][0]
    assert restriction == {"Property": {"$PropertyPath": "ts"}, "AllowedExpressions": "SingleRange"}
    text = csdl_xml.render(document).decode()
    assert '<PropertyValue Property="NonSortableProperties"><Collection><PropertyPath>message</PropertyPath>' in text
    assert '<PropertyValue Property="Property" PropertyPath="ts" />' in text
    assert '<PropertyValue Property="AllowedExpressions" String="SingleRange" />' in text
    assert '<Key><PropertyRef Name="_id" /></Key>' in text


def test_a_query_may_declare_the_key_its_adapter_does_not_know() -> None:
    query = interface.QueryDefinition(
        id="gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.cpu.v1",
        name="CPU",
        category="tests",
        api_endpoint="/cpu",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.cpu.v1~",
        options={"key": ["instance", "timestamp"]},
    )
    capabilities = {"properties": {"timestamp": "Edm.DateTimeOffset", "value": "Edm.Double"}, "open_type": True}
    row = metadata.document([(query, capabilities)])["HyperSpot.Analytics"]["CpuRow"]
    assert row["$Key"] == ["instance", "timestamp"]
    assert row["instance"] == {"$Type": "Edm.String"} and row["timestamp"] == {"$Type": "Edm.DateTimeOffset"}
    assert row["value"] == {"$Type": "Edm.Double", "$Nullable": True}
    adapter_key = metadata.document([(query, {**capabilities, "key": ["value"]})])["HyperSpot.Analytics"]["CpuRow"]
    assert adapter_key["$Key"] == ["value"]  # the adapter's own key wins
    text = csdl_xml.render(metadata.document([(query, capabilities)])).decode()
    assert '<Key><PropertyRef Name="instance" /><PropertyRef Name="timestamp" /></Key>' in text
