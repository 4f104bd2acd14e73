"""Backend field names → OData property names. Pure.

OData property names are identifiers (`[A-Za-z_][A-Za-z0-9_]*`), so a field such as Elasticsearch's
`@timestamp`, a dotted `host.name` or `user-agent` cannot be named in `$filter`, `$orderby` or
`$select` as it is. The one mapping, used alike by filters, sorting, selection, rows and `$metadata`:

    drop leading '@'            @timestamp → timestamp
    other characters → '_'      host.name → host_name, user-agent → user_agent
    a leading digit gets '_'    2xx → _2xx

Adapters that map fields refuse (at init) two fields that would get one name.
"""

from __future__ import annotations

import re

__all__ = ["is_identifier", "property_name"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INVALID = re.compile(r"[^A-Za-z0-9_]")


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name))


def property_name(field: str) -> str:
    """The OData property name of a backend field (itself when it already is an identifier)."""
    if is_identifier(field):
        return field
    name = _INVALID.sub("_", field.lstrip("@"))
    return name if name[:1].isalpha() or name[:1] == "_" else "_" + name
