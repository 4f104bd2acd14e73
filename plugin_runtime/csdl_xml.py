"""CSDL XML (OData v4 `$metadata`, `application/xml`) from the CSDL JSON document of `metadata`. Pure.

Most OData v4 clients (Excel/Power BI, Olingo, python-odata) read only the XML form, so `$metadata`
answers it by default; both forms come from the one JSON document, so they cannot disagree.
Annotation values keep their CSDL JSON types: `{"$PropertyPath": "p"}` becomes `<PropertyPath>`,
booleans `Bool`, strings `String`, numbers `Int`/`Float`, lists `<Collection>`, objects `<Record>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

__all__ = ["render"]

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


def _value_element(parent: ET.Element, value: Any) -> None:
    """Append the element form of one annotation value (a collection item or a nested record)."""
    if isinstance(value, Mapping) and "$PropertyPath" in value:
        ET.SubElement(parent, "PropertyPath").text = str(value["$PropertyPath"])
    elif isinstance(value, Mapping):
        _record(parent, value)
    elif isinstance(value, list):
        collection = ET.SubElement(parent, "Collection")
        for item in value:
            _value_element(collection, item)
    elif isinstance(value, bool):
        ET.SubElement(parent, "Bool").text = "true" if value else "false"
    elif isinstance(value, int):
        ET.SubElement(parent, "Int").text = str(value)
    elif isinstance(value, float):
        ET.SubElement(parent, "Float").text = repr(value)
    else:
        ET.SubElement(parent, "String").text = str(value)


def _inline(element: ET.Element, value: Any) -> bool:
    """Put a scalar value as an attribute (Bool="true"); False when it needs child elements."""
    if isinstance(value, Mapping) and "$PropertyPath" in value:
        element.set("PropertyPath", str(value["$PropertyPath"]))
    elif isinstance(value, bool):
        element.set("Bool", "true" if value else "false")
    elif isinstance(value, int):
        element.set("Int", str(value))
    elif isinstance(value, float):
        element.set("Float", repr(value))
    elif isinstance(value, str):
        element.set("String", value)
    else:
        return False
    return True


def _record(parent: ET.Element, value: Mapping[str, Any]) -> None:
    record = ET.SubElement(parent, "Record")
    for name, item in value.items():
        member = ET.SubElement(record, "PropertyValue", Property=name)
        if not _inline(member, item):
            _value_element(member, item)


def _annotate(element: ET.Element, members: Mapping[str, Any]) -> None:
    for key, value in members.items():
        if not key.startswith("@"):
            continue
        annotation = ET.SubElement(element, "Annotation", Term=key[1:])
        if not _inline(annotation, value):
            _value_element(annotation, value)


def _entity_type(schema: ET.Element, name: str, body: Mapping[str, Any]) -> None:
    entity = ET.SubElement(schema, "EntityType", Name=name)
    if body.get("$OpenType"):
        entity.set("OpenType", "true")
    if body.get("$Key"):
        key = ET.SubElement(entity, "Key")
        for property_name in body["$Key"]:
            ET.SubElement(key, "PropertyRef", Name=str(property_name))
    for property_name, spec in body.items():
        if property_name.startswith(("$", "@")):
            continue
        prop = ET.SubElement(entity, "Property", Name=property_name, Type=spec["$Type"])
        # CSDL XML properties are nullable by default, CSDL JSON ones are not: say it either way.
        prop.set("Nullable", "true" if spec.get("$Nullable") else "false")
    _annotate(entity, body)


def render(document: Mapping[str, Any]) -> bytes:
    """The CSDL XML text of a CSDL JSON document as `metadata.document` builds it."""
    edmx = ET.Element("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": EDMX})
    for url, reference in document.get("$Reference", {}).items():
        ref = ET.SubElement(edmx, "edmx:Reference", Uri=url.replace(".json", ".xml"))
        for include in reference.get("$Include", []):
            ET.SubElement(ref, "edmx:Include", Namespace=include["$Namespace"], Alias=include["$Alias"])
    services = ET.SubElement(edmx, "edmx:DataServices")
    for namespace, members in document.items():
        if namespace.startswith("$"):
            continue
        schema = ET.SubElement(services, "Schema", {"xmlns": EDM, "Namespace": namespace})
        for name, body in members.items():
            if body.get("$Kind") == "EntityType":
                _entity_type(schema, name, body)
            elif body.get("$Kind") == "EntityContainer":
                container = ET.SubElement(schema, "EntityContainer", Name=name)
                for set_name, set_body in body.items():
                    if set_name.startswith("$"):
                        continue
                    entity_set = ET.SubElement(container, "EntitySet", Name=set_name, EntityType=set_body["$Type"])
                    _annotate(entity_set, set_body)
    xml: bytes = ET.tostring(edmx, encoding="utf-8", xml_declaration=True)
    return xml
