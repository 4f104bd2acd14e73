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
# The GTS specification's own examples (sections 2.1, 2.2, 3.7 and its examples/ folder).
SPEC_INSTANCES = [
    "gts.x.core.events.topic.v1~ven.app._.custom_event_topic.v1.2",
    "gts.x.core.events.topic.v1~x.commerce.orders.orders.v1.0",
    "gts.x.core.modules.module.v1~x.webstore._.catalog.v1",
    "gts.x.infra.compute.vm_state.v1~x.infra._.migrating.v1",
    "gts.x.core.events.type.v1~x.commerce.orders.order_placed.v1.0~7a1d2f34-5678-49ab-9012-abcdef123456",
    "gts.x.core.events.type.v1~00000000-0000-0000-0000-000000000000",
]
SPEC_TYPES = [
    "gts.x.core.events.type.v1~",
    "gts.x.core.events.type.v1.2~",
    "gts.x.idp.users.user.v1.0~",
    "gts.x.core.events.type.v1~ven.app._.custom_event.v1~",
    "gts.x.core.events.type.v1~x.commerce.orders.order_placed.v1.1~",
    "gts.x.core.events.type.v1~x.core.audit.type.v1~x.core.iam.settings_changed.v1~",
    "gts.x.infra.compute.vm.v1~nutanix.ahv._.vm.v1~",
]
VALID_INSTANCES += SPEC_INSTANCES
VALID_TYPES = [
    *SPEC_TYPES,
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
    # An instance name that is not a GTS segment (the spec's VM examples name files, not ids).
    ("gts.x.infra.compute.vm.v1~nutanix.ahv._.vm.v1~db-server-01", "element"),
    # Identifiers are lowercase and carry no surrounding white space (grammar note 5).
    (" gts.x.core.events.type.v1~", "must start with"),
    ("gts.x.core.events.type.v1~a.b.c.d.v1 ", "version"),
    # The UUID tail stands alone after the type chain; it is not a chain element of its own type.
    ("gts.x.core.events.type.v1~7a1d2f34-5678-49ab-9012-abcdef123456~", "element"),
    ("gts.x.core.events.type.v1~7a1d2f34-5678-49ab-9012-abcdef12345", "element"),
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


@pytest.mark.parametrize(
    "value",
    [
        # A query whose type derives from the platform's query type (chaining, spec section 2.2).
        "gts.hypernetix.hyperspot.ax.query.v1~vendor.app.derived.event.v2~vendor.app._.event.v2.0",
        # A combined anonymous instance of a derived query type (spec section 3.7).
        "gts.hypernetix.hyperspot.ax.query.v1~x.commerce.orders.order_placed.v1.0~7a1d2f34-5678-49ab-9012-abcdef123456",
        # Deeper derivation still conforms by transitivity.
        "gts.hypernetix.hyperspot.ax.query.v1~a.b.c.d.v1~e.f.g.h.v2~i.j._.k.v3",
    ],
)
def test_instances_of_derived_types_conform_to_the_base_type(value: str) -> None:
    parsed = gts.parse_instance(value, of_type=gts.QUERY_TYPE)
    assert parsed.conforms_to(gts.QUERY_TYPE)
    assert parsed.type_id != gts.QUERY_TYPE
    with pytest.raises(gts.InvalidGtsId, match="expected an instance of"):
        gts.parse_instance(value, of_type=gts.DATASOURCE_TYPE)


def test_conformance_is_by_whole_chain_elements() -> None:
    # v1 is not a prefix of v10: the trailing '~' of the type id keeps elements whole.
    v10 = gts.parse_instance("gts.hypernetix.hyperspot.ax.query.v10~a.b.c.d.v1")
    assert not v10.conforms_to(gts.QUERY_TYPE)
    # A base type does not conform to a type derived from it (inheritance is one-way).
    base = gts.parse_instance("gts.hypernetix.hyperspot.ax.query.v1~a.b.c.d.v1")
    assert not base.conforms_to("gts.hypernetix.hyperspot.ax.query.v1~a.b.c.d.v1~")
    with pytest.raises(gts.InvalidGtsId, match="expected an instance of"):
        gts.parse_instance("gts.hypernetix.hyperspot.ax.query.v10~a.b.c.d.v1", of_type=gts.QUERY_TYPE)


def test_type_where_instance_expected() -> None:
    with pytest.raises(gts.InvalidGtsId, match="expected an instance"):
        gts.parse_instance("gts.hypernetix.hyperspot.ax.query.v1~")
    with pytest.raises(gts.InvalidGtsId, match="expected a type"):
        gts.parse_type("gts.hypernetix.hyperspot.ax.query.v1~a.b.c.d.v1")
