"""OData options → one REST call through a URL template. Pure.

A template such as `{base_url}/items?limit={$top}&offset={$skip}&q={filter.name}` names what the
API can do: `{$top}`, `{$skip}`, `{$orderby}` take the paging and sorting options, `{filter.<p>}`
the value of `p eq <literal>` from $filter, `{option.<n>}` the custom query option `n`. A query
parameter whose placeholders have no value is left out; a path placeholder must have one.

So $filter may only be an `and` of `eq` comparisons on the template's filter properties: anything
else is valid OData the API cannot be asked, answered 501, never dropped. Without `{$top}` the API
returns every row and paging, sorting and counting happen in memory.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote

from odata_query import ast

from adapters._common import conjunction, literals
from plugin_runtime import errors, odata

ADAPTER = "rest"
TOP, SKIP, ORDERBY = "$top", "$skip", "$orderby"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAMED = re.compile(r"^(filter|option)\.([A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)$")
_BASE = "{base_url}"


@dataclasses.dataclass(frozen=True)
class Template:
    """A compiled URL template: the path and the query parameters, each with its placeholders."""

    path: str
    query: tuple[tuple[str, str], ...]
    placeholders: frozenset[str]

    @property
    def pages(self) -> bool:
        return TOP in self.placeholders

    def named(self, kind: str) -> tuple[str, ...]:
        return tuple(sorted(m.group(2) for p in self.placeholders if (m := _NAMED.match(p)) and m.group(1) == kind))

    @property
    def path_placeholders(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))


def compile_template(text: str) -> Template:
    """Check and split a URL template; ValueError says what is wrong (it fails the plugin's init)."""
    if text.startswith(_BASE):
        text = text[len(_BASE) :]
    if not text.startswith("/"):
        raise ValueError("must start with {base_url}/ or /")
    if _BASE in text:
        raise ValueError("{base_url} may only start the template")
    path, _, query_text = text.partition("?")
    if "#" in text:
        raise ValueError("must not have a fragment")
    query = tuple(parse_qsl(query_text, keep_blank_values=True))
    placeholders = frozenset(_PLACEHOLDER.findall(path)) | frozenset(
        name for _, value in query for name in _PLACEHOLDER.findall(value)
    )
    for name in placeholders:
        if name not in (TOP, SKIP, ORDERBY) and not _NAMED.match(name):
            raise ValueError(
                f"unknown placeholder {{{name}}}: use {{$top}}, {{$skip}}, {{$orderby}},"
                " {filter.<property>} or {option.<name>}"
            )
    if any(_PLACEHOLDER.search(key) for key, _ in query):
        raise ValueError("placeholders may stand in query values, not in parameter names")
    if SKIP in placeholders and TOP not in placeholders:
        raise ValueError("{$skip} needs {$top}: an API that skips must also be told how many rows to return")
    return Template(path=path, query=query, placeholders=placeholders)


@dataclasses.dataclass(frozen=True)
class RestCall:
    """The request to send; with server paging, `size` rows are wanted and `probe` asked one more."""

    path: str
    params: tuple[tuple[str, str], ...]
    size: int | None
    probe: bool


def _text(literal: ast._Node) -> str:
    if isinstance(literal, ast.Boolean):
        return "true" if literal.py_val else "false"
    return str(literals.value(literal))


def bindings(tree: ast._Node | None, *, template: Template, source: str | None) -> dict[str, str]:
    """`prop eq literal` conditions of an `and` chain → {prop: text}; anything else is 501."""
    allowed = template.named("filter")
    hint = (
        f"this API filters only by {', '.join(allowed)} with eq joined by and"
        if allowed
        else "this API takes no filter"
    )
    found: dict[str, str] = {}
    for node in conjunction.terms(tree):
        parts = literals.comparison(node) if isinstance(node, ast.Compare) else None
        if parts is None:
            raise odata.unsupported(conjunction.construct(node), source=source, adapter=ADAPTER, hint=hint)
        path, operator, literal = parts
        if not isinstance(operator, ast.Eq) or path not in allowed or isinstance(literal, (ast.Null, ast.List)):
            raise odata.unsupported(f"{path} {literals.keyword(operator)}", source=source, adapter=ADAPTER, hint=hint)
        value = _text(literal)
        if found.get(path, value) != value:
            raise odata.unsupported(f"{path} eq", source=source, adapter=ADAPTER, hint=f"{path} can take one value")
        found[path] = value
    return found


def _fill(text: str, values: Mapping[str, str], *, encode: bool) -> tuple[str, list[str]]:
    """The text with its placeholders filled, and the placeholders that had no value."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            missing.append(match.group(1))
            return ""
        return quote(value, safe="") if encode else value

    return _PLACEHOLDER.sub(one, text), missing


def _need(placeholder: str) -> str:
    named = _NAMED.match(placeholder)
    if named is None:
        return placeholder
    return f"{named.group(2)} eq … in $filter" if named.group(1) == "filter" else f"the query option {named.group(2)}"


def plan(
    template: Template,
    tree: ast._Node | None,
    *,
    source: str | None,
    orderby: Sequence[odata.OrderBy] = (),
    top: int | None = None,
    skip: int = 0,
    count: bool = False,
    custom: Mapping[str, str] | None = None,
    page_size: int = 1000,
    has_total: bool = False,
) -> RestCall:
    """The call for these options. `has_total`: the response reports a total (no probe row needed)."""
    values = {f"filter.{name}": value for name, value in bindings(tree, template=template, source=source).items()}
    values.update({f"option.{name}": value for name, value in (custom or {}).items()})
    size: int | None = None
    probe = False
    if template.pages:
        size = top if top is not None else page_size
        probe = not has_total
        values[TOP] = str(size + 1 if probe else size)
        values[SKIP] = str(skip)
        if orderby and ORDERBY not in template.placeholders:
            raise odata.unsupported("$orderby", source=None, adapter=ADAPTER, hint="this API pages but cannot sort")
        if count and not has_total:
            raise odata.unsupported("$count", source=None, adapter=ADAPTER, hint="this API pages but reports no total")
    if orderby:
        values[ORDERBY] = ",".join(f"{o.property} {'desc' if o.descending else 'asc'}" for o in orderby)
    path, missing = _fill(template.path, values, encode=True)
    if missing:
        option = "$filter" if missing[0].startswith("filter.") else missing[0].removeprefix("option.")
        raise errors.InvalidQuery(f"this query needs {' and '.join(_need(name) for name in missing)}", option=option)
    params = []
    for key, value in template.query:
        filled, missing = _fill(value, values, encode=False)
        if not missing:  # a parameter without all its values is left out
            params.append((key, filled))
    return RestCall(path=path, params=tuple(params), size=size, probe=probe)
