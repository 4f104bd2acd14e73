"""The protobuf bodies of kubectl's typed `create` commands, decoded for the kinds made that way in a dev loop.

`kubectl create namespace|secret generic|configmap` send `application/vnd.kubernetes.protobuf`, not
JSON, and client-go does not fall back to JSON when refused. The envelope is the 4-byte magic
`k8s\\0` and a `runtime.Unknown` message whose `raw` field holds the object; the objects are decoded
with the field numbers of k8s.io/api's generated.proto, limited to the fields those commands fill.
Other kinds are refused with a 415 that tells how to send them as JSON instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Union

from plugin_devcluster import statuses

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
_VARINT, _LENGTH_DELIMITED = 0, 2

# A message schema maps field numbers to (JSON name, field type); a field type is "string", "bytes"
# (base64 in JSON), "bool", a nested schema, ("map", value type) or ("repeated", item type).
FieldType = Union[str, "Schema", tuple[str, "FieldType"]]
Schema = dict[int, tuple[str, FieldType]]

_OWNER_REFERENCE: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", _OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))})},
    ("v1", "ConfigMap"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    ("v1", "Secret"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
}
_TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META), 2: ("raw", "raw")}


class DecodeError(ValueError):
    """Bytes that are not a protobuf message of the expected shape."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise DecodeError("truncated varint")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position, shift = position + 1, shift + 7
        if not byte & 0x80:
            return value, position


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message; only the wire types the decoded kinds use."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise DecodeError("truncated field")
            yield number, data[position : position + length]
            position += length
        else:
            raise DecodeError(f"unexpected wire type {wire_type} of field {number}")


def _value(field_type: FieldType, raw: int | bytes) -> Any:
    if field_type == "bool":
        return bool(raw)
    if not isinstance(raw, bytes):
        raise DecodeError(f"a varint where {field_type} was expected")
    if field_type == "string":
        return raw.decode("utf-8")
    if field_type == "bytes":
        return base64.b64encode(raw).decode()
    if field_type == "raw":
        return raw
    if isinstance(field_type, dict):
        return decode_message(raw, field_type)
    raise DecodeError(f"unsupported field type {field_type!r}")


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    """A message as its JSON form; fields outside the schema are skipped."""
    out: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            continue
        name, field_type = schema[number]
        if isinstance(field_type, tuple) and field_type[0] == "map":
            entry = dict(_fields(raw if isinstance(raw, bytes) else b""))
            out.setdefault(name, {})[_value("string", entry.get(1, b""))] = _value(field_type[1], entry.get(2, b""))
        elif isinstance(field_type, tuple):
            out.setdefault(name, []).append(_value(field_type[1], raw))
        elif (value := _value(field_type, raw)) != "":  # JSON would omit the empty strings protobuf keeps
            out[name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body carries, as JSON would have carried it."""
    if not body.startswith(_MAGIC):
        raise statuses.bad_request("the protobuf body lacks the k8s envelope")
    try:
        envelope = decode_message(body[len(_MAGIC) :], _UNKNOWN)
        type_meta = envelope.get("typeMeta", {})
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        if (api_version, kind) not in KINDS:
            raise statuses.unsupported_media_type(f"{MEDIA_TYPE} of {kind or 'an unknown kind'}")
        obj = decode_message(envelope.get("raw", b""), KINDS[api_version, kind])
    except DecodeError as exc:
        raise statuses.bad_request(f"the protobuf body cannot be decoded: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
