"""A database that is down surfaces as `DatabaseUnavailable` (503, retry later), never as a driver error."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator

import pytest

from plugin_operator import db, registry
from plugin_runtime import errors

PASSWORD = "hunter2-do-not-print"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, never listening, so connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_ping_and_every_operation_raise_database_unavailable(closed_port: int) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{closed_port}/test"
    database = db.connect(url)

    with pytest.raises(db.DatabaseUnavailable) as raised:
        database.ping()
    with pytest.raises(db.DatabaseUnavailable):
        database.list_plugins()
    with pytest.raises(db.DatabaseUnavailable):
        registry.Registry(database).register("prom", "uid", "1", [], [], adopt=False)
    with pytest.raises(db.DatabaseUnavailable):
        db.migrate(url)

    unavailable = raised.value
    assert isinstance(unavailable, errors.PluginUnavailable)
    assert unavailable.status == 503
    assert unavailable.retry_after is not None
    assert f"127.0.0.1:{closed_port}" in unavailable.detail
    assert "refused" in unavailable.detail.lower()
    assert PASSWORD not in unavailable.detail
    assert PASSWORD not in repr(database)
    assert unavailable.to_problem()["type"].endswith("/database-unavailable")


def test_ping_succeeds_on_a_reachable_database(any_database: db.Database) -> None:
    any_database.ping()


def test_unopenable_sqlite_file_is_unavailable(tmp_path: pathlib.Path) -> None:
    database = db.connect(f"sqlite:///{tmp_path}/missing-dir/operator.db")

    with pytest.raises(db.DatabaseUnavailable, match="unable to open"):
        database.ping()
