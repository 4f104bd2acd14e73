"""`bench.load` at a small size: a failing plugin under load leaves its neighbours' queries and the
health history intact (the benchmark prints the full-size figures; here only behaviour is asserted)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bench import load
from devservices import postgres
from plugin_operator import db

FAILING_REQUESTS = 46


@pytest.fixture(scope="module")
def health_database() -> Iterator[db.Database]:
    with postgres.temporary_schema_url() as url:
        db.migrate(url)
        database = db.connect(url)
        try:
            yield database
        finally:
            database.dispose()


def test_a_failing_plugin_under_load_harms_neither_its_neighbours_nor_the_health_history(
    health_database: db.Database,
) -> None:
    with load.running_runtime(load.runtime_config()) as url:
        result = load.measure(
            url,
            health_database,
            clients=12,
            good_requests=240,
            failing_clients=4,
            failing_requests=FAILING_REQUESTS,
            rounds=2,
        )
        # The runtime still serves all of it afterwards; only the failing plugin reports itself failing.
        assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
        circuits = {p["plugin_id"]: p["circuit"] for p in httpx.get(f"{url}/health", timeout=5).json()["plugins"]}
        assert {plugin_id: circuits[plugin_id] for plugin_id in load.GOOD} == dict.fromkeys(load.GOOD, "closed")

    for phase in (result.baseline, result.loaded):
        assert sum(phase[plugin_id].requests for plugin_id in load.GOOD) == 240
        for plugin_id in load.GOOD:
            assert phase[plugin_id].statuses == {200: 80}, f"{plugin_id} lost requests to its neighbour"
    assert result.baseline[load.FAILING].requests == 0
    failing = result.loaded[load.FAILING]
    assert 0 < failing.requests <= FAILING_REQUESTS and failing.success_rate == 0
    assert set(failing.statuses) <= {500, 502, 503, 504} and 503 in failing.statuses, failing.statuses

    # Every probe is one row: none lost among the concurrent writers, none doubled by the re-recording.
    assert all(made > 0 for made in result.probes.values())
    assert result.health_rows == result.probes
    rows = sum(result.probes.values())
    assert load.describe(result)[-1].startswith(f"load health rows: expected {rows}, written {rows} (exact;")
