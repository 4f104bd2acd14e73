"""Shared runtimes: which Plugins share (dedicated for plugin code and secrets), pool membership and its
bound, moving between pools on a spec change, the member table through rollouts, and the pool objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
import yaml

from plugin_operator import desired, models, pool_render, pooling, render
from plugin_operator.pooling import Member, Pool
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_operator.runtime_spec import RuntimeMode
from plugin_runtime import config, errors

SHARED = RuntimeMode.SHARED
DEDICATED = RuntimeMode.DEDICATED
TARGET = desired.Target(image="runtime:1", kubernetes=True, default_runtime=SHARED)


def spec(**changes: Any) -> models.PluginSpec:
    base: dict[str, Any] = {"version": "1.0.0", "contractFormat": "native", "adapter": "localsql"}
    return models.PluginSpec.model_validate({**base, **changes})


def member(name: str, target: desired.Target = TARGET, **changes: Any) -> desired.Instance:
    return desired.instance(
        namespace="team-a", cr_name=name, uid=f"uid-{name}", plugin_id=name, spec=spec(**changes), target=target
    )


SECRET = [{"name": "token", "secretName": "s", "key": "k"}]


@pytest.mark.parametrize(
    ("changes", "default", "expected"),
    [
        ({}, SHARED, SHARED),  # a built-in adapter without secrets: the operator's default
        ({}, DEDICATED, DEDICATED),
        ({"runtime": "shared"}, DEDICATED, SHARED),  # the Plugin's own choice wins
        ({"runtime": "dedicated"}, SHARED, DEDICATED),
        ({"secretRefs": SECRET}, SHARED, DEDICATED),  # secrets stay in a process of their own
        ({"image": "acme/runtime:2"}, SHARED, DEDICATED),  # an image is code of its own
        ({"adapter": "acme-rows"}, SHARED, DEDICATED),  # third-party entry point
        ({"adapter": None, "path": "hello-world"}, SHARED, DEDICATED),  # plugin folder
        ({"adapter": "prometheus", "contractFormat": "prometheus"}, SHARED, SHARED),
    ],
)
def test_who_shares_a_runtime(changes: dict[str, Any], default: RuntimeMode, expected: RuntimeMode) -> None:
    assert pooling.mode(spec(**changes), default) is expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"adapter": "acme-rows"}, "built-in adapters only"),
        ({"adapter": None, "path": "hello-world"}, "built-in adapters only"),
        ({"secretRefs": SECRET}, "secrets stay in a process of their own"),
        ({"image": "acme/runtime:2"}, "use runtime: dedicated"),
    ],
)
def test_asking_to_share_what_may_not_is_an_invalid_spec(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        spec(runtime="shared", **changes)


def test_only_the_kubernetes_target_pools_and_a_member_carries_its_seat() -> None:
    seat = member("a").seat
    assert seat is not None and seat.adapter == "localsql" and member("b").seat == seat  # one class
    assert member("a", desired.Target(image="runtime:1", default_runtime=SHARED)).seat is None  # local driver
    assert member("a", runtime="dedicated").seat is None


@pytest.mark.parametrize(
    ("changes", "same_class"),
    [
        ({"config": {"table": "other"}}, True),  # what the member runs, not what its process is given
        ({"queries": []}, True),
        ({"sandbox": {"timeout": "5s"}}, True),
        ({"replicas": 2}, False),
        ({"resources": {"limits": {"memory": "1Gi"}}}, False),
        ({"egress": [{"cidr": "10.0.0.0/8", "ports": [443]}]}, False),
        ({"adapter": "rest", "contractFormat": "custom"}, False),
    ],
)
def test_the_class_is_what_the_process_is_given(changes: dict[str, Any], same_class: bool) -> None:
    assert (pooling.class_of(spec(**changes)) == pooling.class_of(spec())) is same_class


def test_what_the_operator_gives_every_runtime_is_part_of_the_class() -> None:
    """A new runtime image or control-plane key cannot be given to a running pool: its members move to
    pools of the new class (a rollout each), and the old pools drain away."""
    base = member("a").seat
    upgraded = member("a", dataclasses.replace(TARGET, image="runtime:2")).seat
    rekeyed = member("a", dataclasses.replace(TARGET, auth=config.IncomingAuth(mode="jwt", public_key="pem"))).seat
    assert base is not None and upgraded is not None and rekeyed is not None
    assert len({base.class_id, upgraded.class_id, rekeyed.class_id}) == 3
    # The external URL is each member's own: not part of the class.
    linked = member("a", dataclasses.replace(TARGET, external_url="https://x.example/{name}")).seat
    assert linked == base


def test_the_operators_probe_settings_reach_the_pool_and_a_change_moves_its_members(
    validate: Callable[[dict[str, Any]], None],
) -> None:
    """A running pool's pod template is never rewritten (members come and go without restarts), so new
    probe timings are a new class: members move to a pool rendered with them, like a new image."""
    probes = RuntimeProbes(liveness_period_seconds=2, liveness_failure_threshold=4)
    base, quick = member("a"), member("a", dataclasses.replace(TARGET, probes=probes))
    assert base.seat is not None and quick.seat is not None
    assert quick.seat.class_id != base.seat.class_id and quick.identity != base.identity

    deployment = pool_render.deployment(quick.inputs, "pool-localsql-y-0", quick.seat.class_id)
    validate(deployment)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert (container["livenessProbe"]["periodSeconds"], container["livenessProbe"]["failureThreshold"]) == (2, 4)
    assert (
        container["readinessProbe"]
        == render.deployment(base.inputs)["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    )


def test_a_member_change_is_a_new_identity_and_a_description_is_not() -> None:
    base = member("a")
    assert member("a", config={"table": "other"}).identity != base.identity
    assert member("a", description="words").identity == base.identity
    assert member("a", replicas=2).identity != base.identity  # another class: another pool


def _pools(*members: tuple[str, str, int]) -> list[Pool]:
    """(pool name, class, member count) → observed pools with members m0…"""
    return [Pool(name, class_id, frozenset(f"{name}/m{i}" for i in range(count))) for name, class_id, count in members]


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ([], "pool-localsql-c1-0"),  # the first member makes the first pool
        (_pools(("pool-localsql-c1-0", "c1", 2)), "pool-localsql-c1-0"),  # room left
        (_pools(("pool-localsql-c1-0", "c1", 3)), "pool-localsql-c1-1"),  # full: the next pool
        (_pools(("pool-localsql-c1-0", "c1", 3), ("pool-localsql-c1-1", "c1", 1)), "pool-localsql-c1-1"),
        (_pools(("pool-localsql-c1-0", "c1", 3), ("pool-localsql-c1-2", "c1", 3)), "pool-localsql-c1-1"),  # a gap
        (_pools(("pool-localsql-c1-1", "c1", 1), ("pool-localsql-c1-0", "c1", 1)), "pool-localsql-c1-0"),  # lowest
        (_pools(("pool-localsql-c2-0", "c2", 1)), "pool-localsql-c1-0"),  # another class is no room
        (_pools(("pool-localsql-c1-10", "c1", 3), ("pool-localsql-c1-9", "c1", 1)), "pool-localsql-c1-9"),
    ],
)
def test_a_new_member_joins_the_first_pool_of_its_class_with_room(pools: list[Pool], expected: str) -> None:
    assert pooling.place("ns.new", "localsql", "c1", pools, size=3) == expected


def test_a_member_stays_in_its_pool_even_when_it_is_full_and_an_earlier_one_has_room() -> None:
    pools = [
        Pool("pool-localsql-c1-0", "c1", frozenset({"ns.a"})),
        Pool("pool-localsql-c1-1", "c1", frozenset({"ns.me", "ns.b", "ns.c"})),
    ]
    assert pooling.place("ns.me", "localsql", "c1", pools, size=3) == "pool-localsql-c1-1"


def test_a_class_change_moves_the_member_to_a_pool_of_its_new_class() -> None:
    old, new = pooling.class_of(spec()), pooling.class_of(spec(replicas=2))
    pools = [Pool(pooling.pool_name("localsql", old, 0), old, frozenset({"ns.me"}))]
    assert pooling.place("ns.me", "localsql", new, pools, size=10) == pooling.pool_name("localsql", new, 0)


def test_the_pool_size_bounds_membership_over_many_placements() -> None:
    pools: dict[str, set[str]] = {}
    for index in range(25):
        observed = [Pool(name, "c1", frozenset(keys)) for name, keys in pools.items()]
        pools.setdefault(pooling.place(f"ns.p{index}", "rest", "c1", observed, size=10), set()).add(f"ns.p{index}")
    assert sorted(len(keys) for keys in pools.values()) == [5, 10, 10]
    assert sorted(pools) == [f"pool-rest-c1-{i}" for i in range(3)]


A = {"id": "a", "version": "1"}
A2 = {"id": "a", "version": "2"}
B = {"id": "b", "version": "1"}


@pytest.mark.parametrize(
    ("before", "step", "after"),
    [
        # join: a new member; the same instance again (idempotent); a new instance keeps the previous entry
        ({}, ("join", "a", "i1", A), {"a": Member("i1", A)}),
        ({"a": Member("i1", A)}, ("join", "a", "i1", A), {"a": Member("i1", A)}),
        ({"a": Member("i1", A)}, ("join", "a", "i2", A2), {"a": Member("i2", A2, "i1", A)}),
        ({"a": Member("i2", A2, "i1", A)}, ("join", "a", "i2", A2), {"a": Member("i2", A2, "i1", A)}),
        # leave: drained previous entry; rolled-back new entry; the only entry; an instance it does not run
        ({"a": Member("i2", A2, "i1", A)}, ("leave", "a", "i1"), {"a": Member("i2", A2)}),
        ({"a": Member("i2", A2, "i1", A)}, ("leave", "a", "i2"), {"a": Member("i1", A)}),
        ({"a": Member("i1", A), "b": Member("j1", B)}, ("leave", "a", "i1"), {"b": Member("j1", B)}),
        ({"a": Member("i1", A)}, ("leave", "a", "i9"), {"a": Member("i1", A)}),
        ({"a": Member("i1", A)}, ("leave", "b", "j1"), {"a": Member("i1", A)}),
    ],
)
def test_the_member_table_through_rollouts(
    before: dict[str, Member], step: tuple[Any, ...], after: dict[str, Member]
) -> None:
    if step[0] == "join":
        assert pooling.join(before, step[1], step[2], step[3]) == after
    else:
        assert pooling.leave(before, step[1], step[2]) == after


def test_the_member_table_survives_its_json_form() -> None:
    entry = Member("i2", A2, "i1", A)
    assert Member.from_json(entry.to_json()) == entry
    assert Member.from_json(Member("i1", A).to_json()) == Member("i1", A)


def _table(*instances: desired.Instance) -> dict[str, Member]:
    table: dict[str, Member] = {}
    for instance in instances:
        table = pooling.join(table, instance.key, instance.instance_id, instance.member_entry())
    return table


def test_the_pool_configmap_hosts_every_member_and_stores_the_table(validate: Callable[[dict[str, Any]], None]) -> None:
    a, b = member("a"), member("b", config={"table": "other"})
    settings = pool_render.runtime_settings(a.inputs)
    cm = pool_render.configmap("team-a", "pool-localsql-x-0", "x", settings, _table(b, a))
    validate(cm)
    hosted = config.RuntimeConfig.model_validate(yaml.safe_load(cm["data"][render.CONFIG_FILE]))  # JSON is YAML
    assert [p.id for p in hosted.plugins] == ["a", "b"] and hosted.plugins[1].settings == {"table": "other"}
    assert hosted.external_url is None and hosted.watch_interval_seconds is None
    assert hosted.auth == a.runtime_config.auth and hosted.admin_token_env == a.runtime_config.admin_token_env
    assert pool_render.members_of(cm) == _table(a, b)
    assert pool_render.settings_of(cm) == settings  # what a restarted operator reads back
    assert "ownerReferences" not in cm["metadata"]  # a pool belongs to no single Plugin


def test_a_member_leaving_changes_only_the_plugins_of_the_config() -> None:
    a, b = member("a"), member("b")
    settings = pool_render.runtime_settings(a.inputs)
    both = pool_render.configmap("team-a", "pool-localsql-x-0", "x", settings, _table(a, b))
    left = pool_render.configmap("team-a", "pool-localsql-x-0", "x", settings, _table(b))
    hosted = yaml.safe_load(left["data"][render.CONFIG_FILE])
    assert [p["id"] for p in hosted["plugins"]] == ["b"]
    assert pool_render.settings_of(left) == pool_render.settings_of(both)
    assert pool_render.members_of(left) == _table(b)


def test_the_pool_runs_in_the_same_sandbox_and_its_template_never_changes_with_membership(
    validate: Callable[[dict[str, Any]], None],
) -> None:
    a, b = member("a"), member("b", config={"table": "other"})
    pool = "pool-localsql-x-0"
    deployment = pool_render.deployment(a.inputs, pool, "x")
    validate(deployment)
    assert deployment == pool_render.deployment(b.inputs, pool, "x")  # any member renders the same pool
    dedicated = render.deployment(a.inputs)["spec"]["template"]["spec"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == dedicated["securityContext"]
    assert pod["containers"][0]["securityContext"] == dedicated["containers"][0]["securityContext"]
    assert pod["containers"][0]["resources"] == dedicated["containers"][0]["resources"]
    assert pod["volumes"][0]["configMap"]["name"] == f"{pool}-config"
    [admin] = pod["containers"][0]["env"]  # the admin token only: members carry no secrets
    assert admin["valueFrom"]["secretKeyRef"]["name"] == f"{pool}-admin"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "app.kubernetes.io/instance" not in labels  # no Plugin's cleanup selects the pool


def test_each_member_keeps_a_stable_service_owned_by_its_plugin_routed_to_the_pool(
    validate: Callable[[dict[str, Any]], None],
) -> None:
    a, pool = member("a"), "pool-localsql-x-0"
    service = pool_render.member_service(a.inputs, pool)
    validate(service)
    assert service["metadata"]["name"] == "a" and service["metadata"]["ownerReferences"][0]["uid"] == "uid-a"
    assert service["spec"]["selector"] == pool_render.selector(pool)
    policy = pool_render.network_policy(a.inputs, pool, "x")
    validate(policy)
    assert policy["spec"]["podSelector"] == {"matchLabels": pool_render.selector(pool)}
    assert policy["spec"]["ingress"] == render.network_policy(a.inputs)["spec"]["ingress"]
    for obj in (pool_render.service(a.inputs, pool, "x"), pool_render.admin_secret(a.inputs, pool, "x", "t")):
        validate(obj)
        assert obj["metadata"]["labels"].items() >= pool_render.POOLED_SELECTOR.items()


def test_a_pool_also_fills_up_in_bytes_so_its_configmap_stays_under_the_api_servers_limit() -> None:
    full = pooling.MAX_TABLE_BYTES - 100
    pools = [Pool("pool-rest-c1-0", "c1", frozenset({"ns.a"}), table_bytes=full)]
    assert pooling.place("ns.new", "rest", "c1", pools, size=10, entry=99) == "pool-rest-c1-0"
    assert pooling.place("ns.new", "rest", "c1", pools, size=10, entry=101) == "pool-rest-c1-1"
    table = _table(member("a"), member("b"))
    assert pooling.table_bytes(table) == sum(pooling.entry_bytes(m.plugin) for m in table.values())
    rolling = pooling.join(table, "team-a.a", "new-instance", {**table["team-a.a"].plugin, "version": "2.0.0"})
    assert pooling.table_bytes(rolling) > pooling.table_bytes(table)  # the previous entry counts while kept


def test_a_member_too_big_to_share_runs_dedicated_or_says_why() -> None:
    big = {"table": "x" * (pooling.MAX_TABLE_BYTES // 4)}
    assert member("a", config=big).seat is None  # the default: its own runtime
    with pytest.raises(errors.InvalidInput, match="too many to share a runtime"):
        member("a", config=big, runtime="shared")
    # A whole pool of the largest shareable entries still fits one ConfigMap (runtime config + table).
    largest = member("a", config={"table": "x" * (pooling.MAX_TABLE_BYTES // 4 - 1000)})
    assert largest.seat is not None
    members = {f"team-a.m{i}": Member(f"i{i}", largest.member_entry()) for i in range(4)}
    cm = pool_render.configmap(
        "team-a", "pool-localsql-x-0", "x", pool_render.runtime_settings(largest.inputs), members
    )
    assert sum(len(v.encode()) for v in cm["data"].values()) < 1024 * 1024
