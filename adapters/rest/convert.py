"""REST API answers → OData rows, through JSONPath selectors (jsonpath-ng, with its filter extension). Pure.

`rows` selects the items (`$.data.items` or `$.data.items[*]`: a single array match is the list of
items); `fields` maps each row property to a selector relative to one item (`attributes.name`);
without `fields` every item must be an object and is a row as it is (keys that are not OData
identifiers renamed as plugin_runtime.names says: `@ts` → `ts`); `total` selects the number of
rows the API has in all, when it says so.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as jsonpath_parse

from plugin_runtime import errors, names


@functools.lru_cache(maxsize=256)
def selector(text: str) -> JSONPath:
    """A compiled JSONPath; ValueError when the text is not one (it fails the plugin's init)."""
    try:
        return jsonpath_parse(text)
    except JSONPathError as exc:
        raise ValueError(f"{text!r} is not a JSONPath expression: {exc}") from None


def items(body: Any, rows: str) -> list[Any]:
    matches = [match.value for match in selector(rows).find(body)]
    if len(matches) == 1 and isinstance(matches[0], list):
        return matches[0]
    return matches


def rows(body: Any, *, rows_path: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for item in items(body, rows_path):
        if fields:
            row = {}
            for name, path in fields.items():
                found = selector(path).find(item)
                row[name] = found[0].value if found else None
            out.append(row)
        elif isinstance(item, Mapping):
            out.append({names.property_name(str(key)): value for key, value in item.items()})
        else:
            raise errors.BackendError(
                f"the REST API answered an item that is not an object at {rows_path}: map it with 'fields'"
            )
    return out


def total(body: Any, path: str) -> int:
    found = selector(path).find(body)
    try:
        return int(found[0].value)
    except (IndexError, TypeError, ValueError):
        raise errors.BackendError(f"the REST API answered no total at {path}") from None
