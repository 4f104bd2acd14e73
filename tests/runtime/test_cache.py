"""The result cache through a real runtime, the built-in REST adapter and a real backend that counts
what it is asked: coalescing, TTLs, tenant and role isolation, refresh, invalidation, headers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from plugin_runtime import cache, config, errors, execution, interface, odata
from tests.adapters import servers

from .conftest import Serve
from .support import Runtime

HMAC_KEY = "hmac-key-for-cache-tests-0123456789"
ADMIN = "admin-token-for-cache-tests"
ENV = {"JWT_KEY": HMAC_KEY, "PLUGIN_RUNTIME_ADMIN_TOKEN": ADMIN}
_Q = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.{}.v1"
ROWS, SHORT, UNCACHED = _Q.format("tenant_rows"), _Q.format("tenant_rows_short"), _Q.format("tenant_rows_live")
ROWS_BY_TENANT = {
    "acme": [{"tenant": "acme", "name": "acme-1"}, {"tenant": "acme", "name": "acme-2"}],
    "globex": [{"tenant": "globex", "name": "globex-1"}],
}


def token(subject: str = "alice", tenant: str | None = "acme", roles: tuple[str, ...] = ("viewer",)) -> dict[str, str]:
    now = int(time.time())
    # Every caller may query (the execute role); the other roles are what the cache must keep apart.
    roles = (config.EXECUTE_ROLE, *roles)
    claims: dict[str, Any] = {"sub": subject, "iss": "idp", "iat": now, "exp": now + 300, "roles": list(roles)}
    if tenant is not None:
        claims["tenant"] = tenant
    return {"Authorization": "Bearer " + jwt.encode(claims, HMAC_KEY, algorithm="HS256")}


class Backend:
    """A JSON API answering each tenant's rows, after `delay` seconds (so concurrent callers overlap)."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.lock = threading.Lock()
        self.calls: list[str | None] = []

    def __call__(self, request: servers.Request) -> servers.Reply:
        tenant = request.args.get("tenant")
        with self.lock:
            self.calls.append(tenant)
        time.sleep(self.delay)
        return servers.Reply(200, {"items": ROWS_BY_TENANT.get(tenant or "", [])})


def query(query_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": query_id,
        "name": name,
        "category": "tests",
        "api_endpoint": f"/tests/{name}",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.row.v1~",
        "options": {"url": "{base_url}/rows?tenant={filter.tenant}", "rows": "$.items[*]"},
        **fields,
    }


def runtime_config(url: str, *, ttl: float = 300.0, scope: str = "tenant") -> dict[str, Any]:
    return {
        "watch_interval_seconds": None,
        "auth": {"mode": "jwt", "public_key_env": "JWT_KEY", "issuer": "idp"},
        "plugins": [
            {
                "id": "tenant-api",
                "version": "1.0.0",
                "adapter": "rest",
                "settings": {"base_url": url, "retry_count": 0},
                "cache": {"ttl_seconds": ttl, "max_entries": 100, "scope": scope},
                "processing": [{"where": "tenant eq {tenant}"}],  # every caller sees only its tenant's rows
                "queries": [
                    query(ROWS, "rows"),
                    query(SHORT, "short", cache={"ttl_seconds": 1.0}),
                    query(UNCACHED, "live", cache={"enabled": False}),
                ],
            }
        ],
    }


@pytest.fixture
def backend() -> Iterator[tuple[Backend, servers.Server]]:
    handler = Backend()
    with servers.serving(handler) as server:
        yield handler, server


def get(runtime: Runtime, query_id: str, headers: dict[str, str], **params: str) -> Any:
    response = runtime.get(f"/queries/{query_id}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response


def metric(runtime: Runtime, name: str) -> float:
    text = runtime.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_concurrent_and_repeated_callers_share_one_backend_call(
    serve: Serve, backend: tuple[Backend, servers.Server]
) -> None:
    api, server = backend
    api.delay = 0.5
    with serve(runtime_config(server.url), environ=ENV) as runtime:
        headers = token()
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: get(runtime, ROWS, headers).json()["value"], range(20)))
        repeated = [get(runtime, ROWS, headers) for _ in range(5)]
        assert api.calls == ["acme"]
        assert all(value == ROWS_BY_TENANT["acme"] for value in answers)
        assert all(response.json()["value"] == ROWS_BY_TENANT["acme"] for response in repeated)
        last = repeated[-1]
        assert last.headers["cache-control"].startswith("private, max-age=")
        assert 290 <= int(last.headers["cache-control"].rsplit("=", 1)[1]) <= 300
        assert int(last.headers["age"]) >= 0
        outcome = 'plugin_runtime_cache_requests_total{{outcome="{1}",plugin="tenant-api",query="{0}"}}'
        assert metric(runtime, outcome.format(ROWS, "miss")) == 1
        assert metric(runtime, outcome.format(ROWS, "hit")) + metric(runtime, outcome.format(ROWS, "coalesced")) == 24
        assert metric(runtime, 'plugin_runtime_cache_entries{plugin="tenant-api"}') == 1
        assert 'plugin_runtime_cache_evictions_total{plugin="tenant-api"} 0.0' in runtime.get("/metrics").text
        document = runtime.get(
            "/plugins/tenant-api/health", headers=headers
        ).json()  # the detailed document needs a token
        assert document["queries_executed"] == 25  # answers from the cache count as executed queries
        assert document["cache"]["misses"] == 1
        assert document["cache"]["hits"] + document["cache"]["coalesced"] == 24
        assert document["cache"]["entries"] == 1 and document["cache"]["scope"] == "tenant"


def test_an_answer_expires_after_its_ttl(serve: Serve, backend: tuple[Backend, servers.Server]) -> None:
    api, server = backend
    with serve(runtime_config(server.url), environ=ENV) as runtime:
        headers = token()
        first = get(runtime, SHORT, headers)
        get(runtime, SHORT, headers)
        assert len(api.calls) == 1 and first.headers["cache-control"] == "private, max-age=1"
        time.sleep(1.2)  # the query's own TTL is 1 s
        get(runtime, SHORT, headers)
        assert len(api.calls) == 2


def test_tenants_and_roles_never_share_an_entry(serve: Serve, backend: tuple[Backend, servers.Server]) -> None:
    api, server = backend
    with serve(runtime_config(server.url), environ=ENV) as runtime:
        acme = get(runtime, ROWS, token(tenant="acme")).json()["value"]
        globex = get(runtime, ROWS, token(subject="bob", tenant="globex")).json()["value"]
        assert acme == ROWS_BY_TENANT["acme"] and globex == ROWS_BY_TENANT["globex"]
        assert api.calls == ["acme", "globex"]
        # Same tenant, another user with the same roles: shared; other roles: never served the viewer's entry.
        assert get(runtime, ROWS, token(subject="carol", tenant="acme")).json()["value"] == acme
        assert api.calls == ["acme", "globex"]
        get(runtime, ROWS, token(tenant="acme", roles=("viewer", "admin")))
        assert api.calls == ["acme", "globex", "acme"]
        # A caller without a tenant is refused by the tenant filter, not served anyone's cached rows.
        refused = runtime.get(f"/queries/{ROWS}", headers=token(tenant=None))
        assert refused.status_code == 403 and "tenant" in refused.json()["detail"]


def test_scope_caller_keeps_each_subject_apart(serve: Serve, backend: tuple[Backend, servers.Server]) -> None:
    api, server = backend
    with serve(runtime_config(server.url, scope="caller"), environ=ENV) as runtime:
        get(runtime, ROWS, token(subject="alice"))
        get(runtime, ROWS, token(subject="alice"))  # a new token of the same caller: same entry
        get(runtime, ROWS, token(subject="carol"))
        assert api.calls == ["acme", "acme"]


def test_options_are_part_of_the_key_in_a_normal_form(serve: Serve, backend: tuple[Backend, servers.Server]) -> None:
    api, server = backend
    with serve(runtime_config(server.url), environ=ENV) as runtime:
        headers = token()
        assert get(runtime, ROWS, headers, **{"$top": "1"}).json()["value"] == ROWS_BY_TENANT["acme"][:1]
        assert get(runtime, ROWS, headers, **{"$top": "2"}).json()["value"] == ROWS_BY_TENANT["acme"]
        assert get(runtime, ROWS, headers, **{"$top": "1", "$count": "true"}).json()["@odata.count"] == 2
        assert len(api.calls) == 3
        get(runtime, ROWS, headers, **{"$filter": "tenant eq 'acme'"})
        get(runtime, ROWS, headers, **{"$filter": "(tenant  eq   'acme')"})  # the same filter, spelled otherwise
        assert len(api.calls) == 4


def test_no_cache_refreshes_and_uncached_queries_say_no_store(
    serve: Serve, backend: tuple[Backend, servers.Server]
) -> None:
    api, server = backend
    with serve(runtime_config(server.url), environ=ENV) as runtime:
        headers = token()
        get(runtime, ROWS, headers)
        refreshed = get(runtime, ROWS, {**headers, "Cache-Control": "no-cache"})
        assert len(api.calls) == 2 and refreshed.headers["age"] == "0"
        get(runtime, ROWS, headers)
        assert len(api.calls) == 2  # the refreshed answer was stored
        live = [get(runtime, UNCACHED, headers) for _ in range(2)]
        assert len(api.calls) == 4 and live[1].headers["cache-control"] == "no-store"


def test_a_new_config_or_rotated_key_starts_with_an_empty_cache(
    serve: Serve, backend: tuple[Backend, servers.Server], tmp_path: Path
) -> None:
    api, server = backend
    keyed = runtime_config(server.url)
    keyed["plugins"][0]["secret_env"] = {"api_key": "PLUGIN_SECRET_API_KEY"}
    with serve(keyed, environ={**ENV, "PLUGIN_SECRET_API_KEY": "key-1"}) as runtime:
        headers = token()
        get(runtime, ROWS, headers)
        get(runtime, ROWS, headers)
        assert len(api.calls) == 1
        reload = {"Authorization": f"Bearer {ADMIN}"}
        assert runtime.post("/admin/reload", headers=reload).status_code == 200
        get(runtime, ROWS, headers)
        assert len(api.calls) == 1  # nothing changed: the same instance, the same cache
        keyed["plugins"][0]["cache"]["ttl_seconds"] = 120.0
        runtime.rewrite_config(keyed)
        assert runtime.post("/admin/reload", headers=reload).status_code == 200
        get(runtime, ROWS, headers)
        assert len(api.calls) == 2
        runtime.host.environ["PLUGIN_SECRET_API_KEY"] = "key-2"  # type: ignore[index]  # the key is rotated
        assert runtime.post("/admin/reload", headers=reload).status_code == 200
        get(runtime, ROWS, headers)
        assert len(api.calls) == 3
        assert server.requests[-1].headers["x-api-key"] == "key-2"


def _result(n: int, size: int = 1) -> interface.QueryResult:
    return interface.QueryResult(tuple({"n": n, "pad": "x" * size} for _ in range(1)), "rows")


def test_the_cache_is_bounded_by_entries_and_bytes_least_recently_used_first() -> None:
    now = [0.0]
    bounded = cache.ResultCache(max_entries=2, max_bytes=10_000, clock=lambda: now[0])
    bounded.store(("a",), _result(1), ttl=10)
    bounded.store(("b",), _result(2), ttl=10)
    assert bounded.lookup(("a",)) is not None  # a is now the most recently used
    bounded.store(("c",), _result(3), ttl=10)
    assert bounded.lookup(("b",)) is None and bounded.lookup(("a",)) is not None
    assert bounded.stats.evictions == 1 and bounded.stats.entries == 2
    small = cache.ResultCache(max_entries=100, max_bytes=400, clock=lambda: now[0])
    for n in range(5):
        small.store((n,), _result(n, size=100), ttl=10)
    assert small.stats.bytes <= 400 and small.stats.evictions >= 2 and small.lookup((4,)) is not None
    small.store(("huge",), _result(9, size=1000), ttl=10)  # bigger than the whole cache: not stored
    assert small.lookup(("huge",)) is None and small.lookup((4,)) is not None
    now[0] = 10.0
    assert small.lookup((4,)) is None  # expired


def test_keys_separate_tenants_roles_and_options() -> None:
    params = odata.parse_params({"$top": "3"})
    alice = interface.SecurityCtx("alice", tenant="acme", roles=frozenset({"viewer"}))
    key = cache.key("q", params, alice, scope="tenant")
    assert key == cache.key("q", params, interface.SecurityCtx("bob", "acme", frozenset({"viewer"})), scope="tenant")
    assert key != cache.key("q", params, interface.SecurityCtx("alice", "globex", alice.roles), scope="tenant")
    assert key != cache.key("q", params, interface.SecurityCtx("alice", "acme", frozenset()), scope="tenant")
    assert key != cache.key("q", odata.parse_params({"$top": "3", "step": "1m"}), alice, scope="tenant")
    assert key != cache.key("q", params, alice, scope="caller")


def test_plugins_with_caller_specific_results_are_cached_only_per_caller() -> None:
    class PerUser:
        caller_specific_results = True

    spec = config.RuntimePlugin(id="p", version="1", adapter="rest", cache=config.CacheConfig())
    assert execution.cache_note(PerUser(), spec) is not None
    assert (
        execution.cache_note(PerUser(), spec.model_copy(update={"cache": config.CacheConfig(scope="caller")})) is None
    )
    assert execution.cache_note(object(), spec) is None


async def test_a_caller_going_away_does_not_fail_those_waiting_with_it_and_errors_are_not_kept() -> None:
    store = cache.ResultCache(max_entries=10, max_bytes=100_000)
    release = asyncio.Event()
    calls = 0

    async def produce() -> interface.QueryResult:
        nonlocal calls
        calls += 1
        await release.wait()
        return _result(calls)

    first = asyncio.ensure_future(store.fetch(("k",), produce, ttl=60))
    second = asyncio.ensure_future(store.fetch(("k",), produce, ttl=60))
    await asyncio.sleep(0)
    first.cancel()  # the first caller disconnects
    release.set()
    result, freshness = await second
    assert calls == 1 and freshness.outcome == "coalesced" and result.rows[0]["n"] == 1
    assert store.lookup(("k",)) is not None  # stored although the caller that started it is gone

    async def failing() -> interface.QueryResult:
        raise errors.BackendTimeout("slow")

    for _ in range(2):
        with pytest.raises(errors.BackendTimeout):
            await store.fetch(("bad",), failing, ttl=60)
    assert store.lookup(("bad",)) is None and store.stats.misses == 3
