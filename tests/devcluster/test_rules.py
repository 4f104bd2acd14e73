"""The pure parts of the dev cluster, as tables: selectors, URL parsing, patches, ages, JSONPath, schemas."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from plugin_devcluster import catalogue, objects, protobuf, selectors, statuses, tables, wire
from plugin_operator import crd
from tests.devcluster.conftest import plugin, query

LABELS = {"app": "web", "tier": "gold"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app=web,tier=gold", True),
        ("app=web,tier=silver", False),
        ("tier in (gold, silver)", True),
        ("tier in (silver)", False),
        ("tier notin (silver)", True),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app in (web),!missing,tier", True),
    ],
)
def test_label_selectors(selector: str, matches: bool) -> None:
    parsed = selectors.Selector.from_params({"labelSelector": selector})

    assert parsed.matches({"metadata": {"labels": LABELS}}) is matches


@pytest.mark.parametrize("selector", ["app in (a", "a)=b", "=x", "a in b"])
def test_malformed_label_selectors(selector: str) -> None:
    with pytest.raises(selectors.SelectorError):
        selectors.parse_labels(selector)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("involvedObject.name=metrics", True),
        ("involvedObject.name=metrics,involvedObject.uid=u1", True),
        ("involvedObject.uid=u2", False),
        ("type!=Normal", True),
        ("metadata.namespace=default", True),
        ("count=2", True),
        ("missing.field=", True),
    ],
)
def test_field_selectors(selector: str, matches: bool) -> None:
    event = {
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"name": "metrics", "uid": "u1"},
        "type": "Warning",
        "count": 2,
    }

    assert selectors.Selector.from_params({"fieldSelector": selector}).matches(event) is matches


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/api", None),
        ("/api/v1", None),
        ("/apis/apps/v1", None),
        ("/api/v1/namespaces", wire.Target("", "v1", "namespaces")),
        ("/api/v1/namespaces/default", wire.Target("", "v1", "namespaces", name="default")),
        (
            "/api/v1/namespaces/default/status",
            wire.Target("", "v1", "namespaces", name="default", subresource="status"),
        ),
        ("/api/v1/namespaces/default/events", wire.Target("", "v1", "events", namespace="default")),
        ("/api/v1/namespaces/ns/secrets/s", wire.Target("", "v1", "secrets", namespace="ns", name="s")),
        (
            "/apis/analytics.hyperspot.io/v1alpha1/namespaces/ns/plugins/p/status",
            wire.Target("analytics.hyperspot.io", "v1alpha1", "plugins", "ns", "p", "status"),
        ),
        ("/apis/apps/v1/deployments", wire.Target("apps", "v1", "deployments")),
    ],
)
def test_resource_paths(path: str, target: wire.Target | None) -> None:
    assert wire.parse_path(path) == target


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}}, {"a": 1, "b": {"d": 3, "e": 4}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"b": 1}}, {"a": "scalar"}, {"a": "scalar"}),
        ({"a": "scalar"}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ],
)
def test_merge_patch(target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]) -> None:
    assert wire.patched(target, patch, "application/merge-patch+json", what="x") == result


def test_strategic_merge_patch_merges_keyed_lists_in_the_given_order() -> None:
    current = {
        "containers": [{"name": "a", "image": "a:1", "ports": [80]}, {"name": "b", "image": "b:1"}],
        "finalizers": ["x", "y"],
    }
    patch = {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "a:2"}, {"name": "c", "image": "c:1"}, {"name": "b", "$patch": "delete"}],
        "$deleteFromPrimitiveList/finalizers": ["x"],
    }

    merged = wire.patched(current, patch, "application/strategic-merge-patch+json", what="x")

    assert merged == {
        "containers": [{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:2", "ports": [80]}],
        "finalizers": ["y"],
    }


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], "application/json-patch+json", 422),
        ([{"op": "remove", "path": "/missing"}], "application/json-patch+json", 422),
        ({"a": 1}, "application/json-patch+json", 400),
        ([1], "application/merge-patch+json", 400),
        ({"a": 1}, "application/apply-patch+yaml", 415),
    ],
)
def test_unusable_patches(body: Any, content_type: str, code: int) -> None:
    with pytest.raises(statuses.ApiError) as failure:
        wire.patched({"a": 1}, body, content_type, what="x")

    assert failure.value.code == code


@pytest.mark.parametrize(
    ("seconds", "age"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, age: str) -> None:
    assert tables.human_duration(seconds) == age


def test_cells_follow_the_column_type() -> None:
    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    obj = {
        "metadata": {"creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"enabled": False, "replicas": 2, "ports": [{"port": 80}], "map": {"a": 1}},
    }

    def cell(path: str, type_: str) -> Any:
        return tables.cell(catalogue.Column("c", type_, path), obj, now)

    assert cell(".metadata.creationTimestamp", "date") == "60m"
    assert cell(".spec.enabled", "boolean") is False
    assert cell(".spec.enabled", "string") == "false"
    assert cell(".spec.replicas", "integer") == 2
    assert cell(".spec.ports[0].port", "string") == "80"
    assert cell(".spec.map", "string") == '{"a":1}'
    assert cell(".status.phase", "string") is None


PLUGIN_TYPE = catalogue.from_crd(crd.crd())[0]


def test_the_plugin_resource_is_described_by_the_generated_crd() -> None:
    assert (PLUGIN_TYPE.key, PLUGIN_TYPE.kind, PLUGIN_TYPE.singular_name) == (
        "analytics.hyperspot.io/v1alpha1/plugins",
        "Plugin",
        "plugin",
    )
    assert PLUGIN_TYPE.short_names == ("plg",) and PLUGIN_TYPE.status_subresource
    assert [c.name for c in PLUGIN_TYPE.columns] == ["Phase", "Health", "Version", "Enabled", "Age"]


def test_admission_prunes_defaults_and_keeps_nullable_nulls() -> None:
    body = plugin("p", queries=[query(adapterId=None)], displayName=None, extra=1)
    body["status"] = {"phase": "Active", "kopf": {"progress": {}}}

    admitted, warnings = objects.admitted(PLUGIN_TYPE, body, strict=False)

    assert warnings == ['unknown field "spec.extra"', 'unknown field "status.kopf"']
    assert admitted["spec"]["enabled"] is True and admitted["spec"]["replicas"] == 1
    assert admitted["spec"]["queries"][0]["adapterId"] is None  # nullable: kept
    assert admitted["spec"]["queries"][0]["contractFormat"] == "custom"  # nested default
    assert admitted["spec"]["displayName"] is None
    assert admitted["status"] == {"phase": "Active"}


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        ({"version": None}, ("spec.version", "FieldValueRequired", "Required value")),
        (
            {"replicas": "two"},
            (
                "spec.replicas",
                "FieldValueTypeInvalid",
                'Invalid value: "two": spec.replicas in body must be of type integer: "two"',
            ),
        ),
        (
            {"contractFormat": "soap"},
            (
                "spec.contractFormat",
                "FieldValueNotSupported",
                'Unsupported value: "soap": supported values: "native", "odata", '
                '"prometheus", "elasticsearch", "graphql", "custom"',
            ),
        ),
        (
            {"replicas": -1},
            (
                "spec.replicas",
                "FieldValueInvalid",
                "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            ),
        ),
        (
            {"displayName": "x" * 256},
            ("spec.displayName", "FieldValueTooLong", "Too long: may not be more than 255 bytes"),
        ),
        (
            {"dependsOn": ["a"] * 33},
            ("spec.dependsOn", "FieldValueTooMany", "Too many: 33: must have at most 32 items"),
        ),
    ],
)
def test_schema_violations_read_like_the_api_server(spec: dict[str, Any], cause: tuple[str, str, str]) -> None:
    body = plugin("p", **spec)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}

    with pytest.raises(statuses.ApiError) as failure:
        objects.admitted(PLUGIN_TYPE, body, strict=False)

    assert failure.value.code == 422
    assert [tuple(c.values()) for c in failure.value.details["causes"]] == [(cause[1], cause[2], cause[0])]
    assert failure.value.message == f'Plugin.analytics.hyperspot.io "p" is invalid: {cause[0]}: {cause[2]}'


def test_names_must_be_dns_subdomains() -> None:
    with pytest.raises(statuses.ApiError) as failure:
        objects.created(
            PLUGIN_TYPE,
            plugin("Not_Valid"),
            namespace="default",
            uid="u",
            now=datetime.datetime.now(datetime.UTC),
            name_suffix="",
        )

    assert failure.value.details["causes"][0]["field"] == "metadata.name"


def _field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited protobuf field (payloads here are shorter than 128 bytes)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return bytes([number << 3 | 2, len(data)]) + data


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + _field(1, _field(1, api_version) + _field(2, kind)) + _field(2, raw)


def test_protobuf_secrets_decode_to_their_json_form() -> None:
    meta = _field(1, "token") + _field(3, "") + _field(11, _field(1, "app") + _field(2, "web")) + _field(14, "x/y")
    raw = _field(1, meta) + _field(2, _field(1, "api_key") + _field(2, b"s3cr3t")) + bytes([5 << 3, 1])

    decoded = protobuf.decode(_envelope("v1", "Secret", raw))

    assert decoded == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token", "labels": {"app": "web"}, "finalizers": ["x/y"]},
        "data": {"api_key": "czNjcjN0"},
        "immutable": True,
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not protobuf", 400),
        (_envelope("v1", "Secret", b"\x0a\x05ab"), 400),  # a field longer than the message
        (_envelope("v1", "Secret", bytes([1 << 3 | 5, 0, 0, 0, 0])), 400),  # fixed32: no such field
        (_envelope("apps/v1", "Deployment", b""), 415),
    ],
)
def test_undecodable_protobuf_bodies(body: bytes, code: int) -> None:
    with pytest.raises(statuses.ApiError) as failure:
        protobuf.decode(body)

    assert failure.value.code == code
