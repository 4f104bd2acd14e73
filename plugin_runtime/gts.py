"""GTS identifier validation: one validator for the CRD schema, the operator, the runtime and the API.

The rules are the identifier format of the Global Type System specification ("Parsing and
Validation"): a chain of `~`-separated elements whose first element is absolute (`gts.` prefix) and
whose later elements are relative; every element has four lowercase segments and a version; a type
identifier ends with `~`; an instance identifier is chained (a type chain plus one relative
element); a combined anonymous instance ends with a lowercase UUID (8-4-4-4-12 hex digits, any
version, as the spec's grammar writes it) after the type chain.

Chains carry inheritance (the spec's "Chained identifiers"): `gts.A~B~x` is an instance of `B`,
which derives from `A`, so by transitivity it is an instance of `A` too. `parse_instance(of_type=…)`
therefore accepts instances of types derived from the requested one: a plugin may register a query
whose type refines the platform's query type, and it is still a query.

The same rules are expressed twice on purpose: as a parser (precise error messages) and as a single
regular expression (`INSTANCE_ID_PATTERN`, `TYPE_ID_PATTERN`) that the generated CRD schema carries
so that `kubectl apply` rejects a bad id before the operator ever sees it. A table-driven test checks
that the two agree.
"""

from __future__ import annotations

import dataclasses
import enum
import re

MAX_LENGTH = 1024

_SEGMENT = r"[a-z_][a-z0-9_]*"
_VERSION = r"v(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))?"
_RELATIVE = rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}\.{_VERSION}"
_ABSOLUTE = rf"gts\.{_RELATIVE}"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

#: Pattern of a type identifier (`gts.a.b.c.d.v1~` or a chain of types, always ending with `~`).
TYPE_ID_PATTERN = rf"^{_ABSOLUTE}~(?:{_RELATIVE}~)*$"
#: Pattern of an instance identifier: a type chain followed by a relative element or a UUID.
INSTANCE_ID_PATTERN = rf"^{_ABSOLUTE}~(?:{_RELATIVE}~)*(?:{_RELATIVE}|{_UUID})$"

_SEGMENT_RE = re.compile(rf"^{_SEGMENT}$")
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_UUID_RE = re.compile(rf"^{_UUID}$")


class GtsKind(enum.StrEnum):
    TYPE = "type"
    INSTANCE = "instance"


class InvalidGtsId(ValueError):
    """A string is not a GTS identifier of the expected kind; the message says which rule it breaks."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 120 else value[:117] + "..."
        super().__init__(f"invalid GTS identifier {shown!r}: {reason}")


@dataclasses.dataclass(frozen=True)
class GtsId:
    """A parsed identifier: `elements` are the chain's elements without the `gts.` prefix or `~`."""

    raw: str
    kind: GtsKind
    elements: tuple[str, ...]
    anonymous: bool

    @property
    def type_id(self) -> str:
        """The type this id is (for a type) or that it is an instance of (for an instance)."""
        if self.kind is GtsKind.TYPE:
            return self.raw
        return "gts." + "~".join(self.elements[:-1]) + "~"

    @property
    def vendor(self) -> str:
        return self.elements[0].split(".")[0]

    def conforms_to(self, type_id: str) -> bool:
        """True when this id is `type_id` itself, derives from it, or is an instance of either.

        Chains inherit left to right, so conformance is a prefix test on whole chain elements: the
        type id ends with `~`, which keeps `…query.v1~` from matching `…query.v10~`.
        """
        own = self.type_id
        return own == type_id or (type_id.endswith("~") and own.startswith(type_id))


def _check_element(element: str, *, position: int, raw: str) -> None:
    parts = element.split(".")
    # Four segments then a version, which itself may contain one dot (v1.2).
    if len(parts) not in (5, 6):
        raise InvalidGtsId(
            raw,
            f"element {position + 1} {element!r} must be <vendor>.<package>.<namespace>.<type>.v<MAJOR>[.<MINOR>]",
        )
    segments, version = parts[:4], ".".join(parts[4:])
    for segment in segments:
        if not _SEGMENT_RE.match(segment):
            raise InvalidGtsId(
                raw,
                f"segment {segment!r} in element {position + 1} must match [a-z_][a-z0-9_]*"
                " (lowercase ASCII, digits, underscore, not starting with a digit)",
            )
    if not _VERSION_RE.match(version):
        raise InvalidGtsId(
            raw,
            f"version {version!r} in element {position + 1} must be v<MAJOR>[.<MINOR>] without leading zeros",
        )


def parse(value: str) -> GtsId:
    """Parse any GTS identifier (type or instance); raise `InvalidGtsId` naming the broken rule."""
    if not isinstance(value, str) or not value:
        raise InvalidGtsId(str(value), "empty identifier")
    if len(value) > MAX_LENGTH:
        raise InvalidGtsId(value, f"longer than {MAX_LENGTH} characters")
    if value.startswith("gts://"):
        raise InvalidGtsId(value, "the gts:// prefix belongs to JSON Schema $id/$ref values, not identifiers")
    if not value.startswith("gts."):
        raise InvalidGtsId(value, "must start with 'gts.'")
    is_type = value.endswith("~")
    body = value[len("gts.") : -1 if is_type else None]
    elements = body.split("~")
    anonymous = False
    if not is_type and len(elements) >= 2 and _UUID_RE.match(elements[-1]):
        anonymous = True
    for position, element in enumerate(elements):
        if anonymous and position == len(elements) - 1:
            continue
        if element.startswith("gts."):
            raise InvalidGtsId(value, f"element {position + 1} must be relative (only the first has 'gts.')")
        if not element:
            raise InvalidGtsId(value, f"element {position + 1} is empty ('~~' or a stray '~')")
        _check_element(element, position=position, raw=value)
    if not is_type and len(elements) < 2:
        raise InvalidGtsId(
            value, "an instance identifier must be chained: <type id>~<instance element> (or end with '~' for a type)"
        )
    return GtsId(
        raw=value,
        kind=GtsKind.TYPE if is_type else GtsKind.INSTANCE,
        elements=tuple(elements),
        anonymous=anonymous,
    )


def parse_type(value: str) -> GtsId:
    parsed = parse(value)
    if parsed.kind is not GtsKind.TYPE:
        raise InvalidGtsId(value, "expected a type identifier (ending with '~')")
    return parsed


def parse_instance(value: str, *, of_type: str | None = None) -> GtsId:
    """Parse an instance id; with `of_type`, also require it to conform to that type (or one derived from it)."""
    parsed = parse(value)
    if parsed.kind is not GtsKind.INSTANCE:
        raise InvalidGtsId(value, "expected an instance identifier, got a type identifier (ending with '~')")
    if of_type is not None and not parsed.conforms_to(of_type):
        raise InvalidGtsId(
            value, f"expected an instance of {of_type} or of a type derived from it, not of {parsed.type_id}"
        )
    return parsed


QUERY_TYPE = "gts.hypernetix.hyperspot.ax.query.v1~"
DATASOURCE_TYPE = "gts.hypernetix.hyperspot.ax.datasource.v1~"
