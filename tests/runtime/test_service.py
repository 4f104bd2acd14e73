"""The OData v4 service shape over real HTTP: service documents, entity sets, CSDL XML and JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .conftest import Serve
from .support import GOOD_QUERY
from .test_server import ENV, assert_problem, config

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_service_documents_list_the_entity_sets_of_the_runtime_and_of_each_plugin(
    serve: Serve, plugins_dir: Path
) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        root = runtime.get("/odata").json()
        assert root["@odata.context"] == f"{runtime.url}/odata/$metadata"
        assert {"name": "good_items", "kind": "EntitySet", "url": "good_items"} in root["value"]
        names = {entry["name"] for entry in root["value"]}
        good = runtime.get("/plugins/good/odata/").json()
        assert [entry["name"] for entry in good["value"]] == ["good_items"]
        assert good["@odata.context"] == f"{runtime.url}/plugins/good/odata/$metadata"
        assert names >= {"good_items"} and len(names) == len(root["value"])
        assert_problem(runtime.get("/plugins/nope/odata"), 404, "not-found")


def test_an_entity_set_answers_like_its_query(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        params = {"$top": "4", "$skip": "2", "$orderby": "n desc", "$count": "true", "$select": "n"}
        by_set = runtime.get("/odata/good_items", params=params).json()
        by_plugin = runtime.get("/plugins/good/odata/good_items", params=params).json()
        by_id = runtime.get(f"/queries/{GOOD_QUERY}", params=params).json()
        assert by_set["value"] == by_plugin["value"] == by_id["value"] == [{"n": n} for n in (22, 21, 20, 19)]
        assert by_set["@odata.count"] == 25
        assert runtime.get("/odata/good_items", params={"$top": "1"}).headers["odata-version"] == "4.0"
        assert by_set["@odata.context"] == f"{runtime.url}/odata/$metadata#good_items"
        assert by_plugin["@odata.context"] == f"{runtime.url}/plugins/good/odata/$metadata#good_items"
        assert_problem(runtime.get("/odata/nothing_here"), 404, "not-found")
        assert_problem(runtime.get("/odata/good_items(3)"), 501, "not-supported")


def test_metadata_is_csdl_xml_by_default_and_json_on_request(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        for path in ("/odata/$metadata", "/plugins/good/odata/$metadata", "/$metadata"):
            response = runtime.get(path)
            assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
            tree = ET.fromstring(response.content)
            schema = tree.find("{http://docs.oasis-open.org/odata/ns/edmx}DataServices/" + EDM + "Schema")
            assert schema is not None
            entity_type = schema.find(f"{EDM}EntityType[@Name='GoodItemsRow']")
            assert entity_type is not None and entity_type.get("OpenType") == "true"
            assert [ref.get("Name") for ref in entity_type.iter(f"{EDM}PropertyRef")] == ["n"]
            types = {p.get("Name"): p.get("Type") for p in entity_type.iter(f"{EDM}Property")}
            assert types == {"n": "Edm.Int64", "version": "Edm.String"}
            entity_set = schema.find(f"{EDM}EntityContainer/{EDM}EntitySet[@Name='good_items']")
            assert entity_set is not None and entity_set.get("EntityType") == "HyperSpot.Analytics.GoodItemsRow"
            terms = {a.get("Term"): a.get("Bool") for a in entity_set.iter(f"{EDM}Annotation")}
            assert terms["Org.OData.Capabilities.V1.TopSupported"] == "true"
        as_json = runtime.get("/odata/$metadata", params={"$format": "json"}).json()
        by_accept = runtime.get("/odata/$metadata", headers={"Accept": "application/json"}).json()
        assert as_json == by_accept
        container = as_json["HyperSpot.Analytics"]["Queries"]
        assert container["good_items"]["@Org.OData.Capabilities.V1.TopSupported"] is True
        assert_problem(runtime.get("/odata/$metadata", params={"$format": "atom"}), 400, "invalid-query")


def test_xml_and_json_metadata_describe_the_same_sets_and_annotations(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        as_json = runtime.get("/odata/$metadata", params={"$format": "json"}).json()["HyperSpot.Analytics"]
        tree = ET.fromstring(runtime.get("/odata/$metadata").content)
        xml_sets = {
            s.get("Name"): sorted(a.get("Term") for a in s.findall(f"{EDM}Annotation"))
            for s in tree.iter(f"{EDM}EntitySet")
        }
        json_sets = {
            name: sorted(key[1:] for key in body if key.startswith("@"))
            for name, body in as_json["Queries"].items()
            if not name.startswith("$")
        }
        assert xml_sets == json_sets


def test_problem_documents_stay_the_error_format(serve: Serve, plugins_dir: Path) -> None:
    with serve(config(plugins_dir), environ=ENV) as runtime:
        response = runtime.get("/odata/good_items", params={"$top": "-1"})
        body = assert_problem(response, 400, "invalid-query")
        assert body["option"] == "$top"
