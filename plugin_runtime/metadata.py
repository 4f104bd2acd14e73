"""The OData `$metadata` document (CSDL JSON, OData 4.01) of the queries a runtime serves. Pure.

Each query is an entity set named `QueryDefinition.entity_set` (the name `@odata.context` uses),
typed by an entity type built from the adapter's `capabilities()`:

    {"properties": {"host": "Edm.String", ...},     declared properties and their Edm types
     "open_type": true,                              rows may carry undeclared properties
     "key": ["host", "timestamp"],                   optional
     "annotations": {"Org.OData.Capabilities.V1.FilterFunctions": [...], ...}}

The annotations (Org.OData.Capabilities.V1 terms in their CSDL JSON form) are put on the entity
set, property paths typed as such (`{"$PropertyPath": "host"}`). `csdl_xml` renders the same
document as CSDL XML. A plugin without `capabilities()` gets an open type with no annotations: the
document then promises nothing the plugin might answer 501 to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from plugin_runtime import interface

__all__ = ["CAPABILITIES_VOCABULARY", "CONTAINER", "NAMESPACE", "document", "entity_type_name"]

NAMESPACE = "HyperSpot.Analytics"
CONTAINER = "Queries"
CAPABILITIES_VOCABULARY = "Org.OData.Capabilities.V1"
_CAPABILITIES_URL = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.json"
#: Record members of the Capabilities terms whose values are property paths (Edm.PropertyPath).
PATH_MEMBERS = frozenset({"NonFilterableProperties", "RequiredProperties", "NonSortableProperties", "Property"})


def entity_type_name(entity_set: str) -> str:
    """`cpu_usage` → `CpuUsageRow`: the type of one row of the set, in the usual CSDL casing.

    The suffix keeps type names apart from the container's name, which shares their namespace.
    """
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", entity_set) if part)
    return f"{name}Row" if name[:1].isalpha() else f"Row{name}"


def _entity_type(capabilities: Mapping[str, Any] | None, declared_key: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row type. Its key is the adapter's, else the query's own `options.key` (rows such as
    Prometheus samples have no identity the adapter knows; the query's author may): a key property
    the adapter does not declare is declared as a string."""
    capabilities = capabilities or {"open_type": True}
    key = list(capabilities.get("key") or declared_key)
    body: dict[str, Any] = {"$Kind": "EntityType"}
    if capabilities.get("open_type"):
        body["$OpenType"] = True
    if key:
        body["$Key"] = key
    properties = {name: "Edm.String" for name in key} | dict(capabilities.get("properties") or {})
    for name, edm_type in properties.items():
        # CSDL JSON properties are non-nullable by default; analytics rows routinely hold nulls.
        body[name] = {"$Type": edm_type} if name in key else {"$Type": edm_type, "$Nullable": True}
    return body


def _typed(value: Any, member: str | None = None) -> Any:
    """An annotation value in CSDL JSON: the property-path members of the Capabilities terms, given
    by adapters as plain names, become `{"$PropertyPath": name}` (strings would be Edm.String)."""
    if isinstance(value, Mapping):
        return {key: _typed(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item, member) for item in value]
    if isinstance(value, str) and member in PATH_MEMBERS:
        return {"$PropertyPath": value}
    return value


def _annotations(capabilities: Mapping[str, Any] | None) -> dict[str, Any]:
    if capabilities is None:
        return {}
    return {f"@{term}": _typed(value) for term, value in dict(capabilities.get("annotations") or {}).items()}


def document(entries: Iterable[tuple[interface.QueryDefinition, Mapping[str, Any] | None]]) -> dict[str, Any]:
    """CSDL JSON for (query, capabilities) pairs; a set already described by an earlier query is kept."""
    schema: dict[str, Any] = {}
    container: dict[str, Any] = {"$Kind": "EntityContainer"}
    for query, capabilities in entries:
        entity_set = query.entity_set
        if entity_set in container:
            continue
        type_name = entity_type_name(entity_set)
        declared_key = tuple(str(name) for name in query.options.get("key") or ())
        schema[type_name] = _entity_type(capabilities, declared_key)
        container[entity_set] = {
            "$Collection": True,
            "$Type": f"{NAMESPACE}.{type_name}",
            "@Org.OData.Core.V1.Description": query.description or query.name,
            **_annotations(capabilities),
        }
    schema[CONTAINER] = container
    return {
        "$Version": "4.01",
        "$Reference": {
            _CAPABILITIES_URL: {"$Include": [{"$Namespace": CAPABILITIES_VOCABULARY, "$Alias": "Capabilities"}]},
            "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.json": {
                "$Include": [{"$Namespace": "Org.OData.Core.V1", "$Alias": "Core"}]
            },
        },
        "$EntityContainer": f"{NAMESPACE}.{CONTAINER}",
        NAMESPACE: schema,
    }
