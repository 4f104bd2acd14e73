"""What an adapter can do with OData, in the terms of the Org.OData.Capabilities.V1 vocabulary.

The runtime renders this into `$metadata` (CSDL annotations on the entity set), so clients learn
up front which requests would be answered 501. `annotations` is keyed by the vocabulary's
qualified term names with values shaped like the terms' JSON CSDL form; `properties` lists the
declared top-level properties with their Edm types, `key` the properties identifying a row, and
`open_type` says whether rows may carry more (e.g. Prometheus labels, which are not known until a
series is read).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

VOCABULARY = "Org.OData.Capabilities.V1"

COMPARISON_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "in")
LOGICAL_OPERATORS = ("and", "or", "not")
STRING_FUNCTIONS = ("contains", "startswith", "endswith")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    filter_functions: tuple[str, ...]
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)
    open_type: bool = False
    #: Properties that identify a row (the entity type's key), when the backend has such an id.
    key: tuple[str, ...] = ()
    non_filterable: tuple[str, ...] = ()
    non_sortable: tuple[str, ...] = ()
    sortable: bool = True
    countable: bool = True
    top_supported: bool = True
    skip_supported: bool = True
    select_supported: bool = True
    #: property → one of the vocabulary's FilterExpressionType members (e.g. "SingleRange").
    expression_restrictions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Properties every request must filter on (e.g. a REST path parameter).
    required_properties: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        filter_restrictions: dict[str, Any] = {
            "Filterable": bool(self.filter_functions),
            "RequiresFilter": bool(self.required_properties),
            "RequiredProperties": list(self.required_properties),
            "NonFilterableProperties": list(self.non_filterable),
            "FilterExpressionRestrictions": [
                {"Property": name, "AllowedExpressions": allowed}
                for name, allowed in self.expression_restrictions.items()
            ],
        }
        return {
            "annotations": {
                f"{VOCABULARY}.FilterFunctions": list(self.filter_functions),
                f"{VOCABULARY}.FilterRestrictions": filter_restrictions,
                f"{VOCABULARY}.SortRestrictions": {
                    "Sortable": self.sortable,
                    "NonSortableProperties": list(self.non_sortable),
                },
                f"{VOCABULARY}.CountRestrictions": {"Countable": self.countable},
                f"{VOCABULARY}.TopSupported": self.top_supported,
                f"{VOCABULARY}.SkipSupported": self.skip_supported,
                f"{VOCABULARY}.SelectSupport": {"Supported": self.select_supported},
            },
            "properties": dict(self.properties),
            "open_type": self.open_type,
            "key": list(self.key),
        }
