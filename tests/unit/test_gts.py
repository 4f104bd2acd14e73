"""The one GTS validator: the parser and the CRD regex must agree on every case."""

import re

import pytest

from plugin_runtime import gts

VALID_INSTANCES = [
    "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1",
    "gts.hypernetix.hyperspot.ax.datasource.v1~acme.sales._.revenue.v2.3",
    "gts.x.pkg.ns.type.v0~a.b.c.d.v10.5",
    "gts.a.b.c.d.v1~e.f.g.h.v2~i.j.k.l.v3",
    "gts.x.pkg.ns.type.v1~7a1d2f34-5678-4abc-9def-0123456789ab",
    "gts._x.p_1.ns.t_y.v1~_.a.b.c.v1",
]
VALID_TYPES = [
    "gts.hypernetix.hyperspot.ax.schema.v1~prometheus.metrics._.timeseries.v1~",
    "gts.hypernetix.hyperspot.ax.query.v1~",
    "gts.a.b.c.d.v1.0~",
]
INVALID = [
    ("", "empty"),
    ("gts.x.pkg.ns.type.v1", "must be chained"),
    ("gts://gts.x.pkg.ns.type.v1~a.b.c.d.v1", "gts://"),
    ("x.pkg.ns.type.v1~a.b.c.d.v1", "must start with"),
    ("gts.X.pkg.ns.type.v1~a.b.c.d.v1", "segment"),
    ("gts.1x.pkg.ns.type.v1~a.b.c.d.v1", "segment"),
    ("gts.x.pkg.ns.type.v01~a.b.c.d.v1", "version"),
    ("gts.x.pkg.ns.type.v1.01~a.b.c.d.v1", "version"),
    ("gts.x.pkg.ns.type.v1.2.3~a.b.c.d.v1", "element"),
    ("gts.x.pkg.ns.type.V1~a.b.c.d.v1", "version"),
    ("gts.x.pkg.ns.type.v1~gts.a.b.c.d.v1", "relative"),
    ("gts.x.pkg.ns.type.v1~~a.b.c.d.v1", "empty"),
    ("gts.x.pkg.type.v1~a.b.c.d.v1", "element"),
    ("gts.x.pkg.ns.type.v1~7A1D2F34-5678-4ABC-9DEF-0123456789AB", "element"),
    ("gts.hypernetix.hyperspot.ax.schema.v1~prometheus.timeseries.v1~", "element"),
    ("gts.x.pkg.ns.type.v1~a-b.c.d.e.v1", "segment"),
    ("gts.x.pkg.ns.type.v1~" + "a" * 1020 + ".b.c.d.v1", "longer than"),
]


@pytest.mark.parametrize("value", VALID_INSTANCES)
def test_valid_instances_parse_and_match_the_crd_pattern(value: str) -> None:
    assert gts.parse_instance(value).kind is gts.GtsKind.INSTANCE
    assert re.match(gts.INSTANCE_ID_PATTERN, value)
    assert not re.match(gts.TYPE_ID_PATTERN, value)


@pytest.mark.parametrize("value", VALID_TYPES)
def test_valid_types_parse_and_match_the_crd_pattern(value: str) -> None:
    assert gts.parse_type(value).kind is gts.GtsKind.TYPE
    assert re.match(gts.TYPE_ID_PATTERN, value)
    assert not re.match(gts.INSTANCE_ID_PATTERN, value)


@pytest.mark.parametrize(("value", "reason"), INVALID)
def test_invalid_ids_are_rejected_by_parser_and_pattern_alike(value: str, reason: str) -> None:
    with pytest.raises(gts.InvalidGtsId, match=reason):
        gts.parse(value)
    if len(value) > gts.MAX_LENGTH:  # the CRD carries maxLength beside the pattern
        return
    assert not re.match(gts.INSTANCE_ID_PATTERN, value)
    assert not re.match(gts.TYPE_ID_PATTERN, value)


def test_instance_of_a_given_type() -> None:
    query = "gts.hypernetix.hyperspot.ax.query.v1~prometheus.monitoring._.cpu_usage.v1"
    assert gts.parse_instance(query, of_type=gts.QUERY_TYPE).type_id == gts.QUERY_TYPE
    with pytest.raises(gts.InvalidGtsId, match="expected an instance of"):
        gts.parse_instance(query, of_type=gts.DATASOURCE_TYPE)


def test_type_where_instance_expected() -> None:
    with pytest.raises(gts.InvalidGtsId, match="expected an instance"):
        gts.parse_instance("gts.hypernetix.hyperspot.ax.query.v1~")
    with pytest.raises(gts.InvalidGtsId, match="expected a type"):
        gts.parse_type("gts.hypernetix.hyperspot.ax.query.v1~a.b.c.d.v1")
