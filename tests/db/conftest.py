"""Fixtures of the persistence suite: the real PostgreSQL (one migrated schema per run), SQLite files,
and a clock the tests move by hand.

PostgreSQL is required: if it is unreachable the session fixture raises and every test using it
errors out loudly. Tables are emptied before each test rather than re-migrated, which keeps the
suite fast.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from devservices import postgres
from plugin_operator import db

START = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


class ManualClock:
    """Returns the same instant until a test advances it."""

    def __init__(self, now: datetime.datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> datetime.datetime:
        self.now += datetime.timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres.temporary_schema_url() as url:
        db.migrate(url)
        yield url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _empty_tables(url: str) -> None:
    engine = db.create_engine(url)
    try:
        with engine.begin() as connection:
            names = ", ".join(table.name for table in db.tables.metadata.sorted_tables)
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def database(pg_url: str, clock: ManualClock) -> Iterator[db.Database]:
    """The PostgreSQL repository, on empty tables."""
    _empty_tables(pg_url)
    database = db.connect(pg_url, clock=clock)
    yield database
    database.dispose()


def sqlite_database(directory: pathlib.Path, clock: ManualClock) -> db.Database:
    url = f"sqlite:///{directory / 'operator.db'}"
    db.migrate(url)
    return db.connect(url, clock=clock)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_database(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: pathlib.Path, clock: ManualClock
) -> Iterator[db.Database]:
    """The repository on PostgreSQL, then on the embedded SQLite default: what both must do alike."""
    if request.param == "postgresql":
        _empty_tables(pg_url)
        database = db.connect(pg_url, clock=clock)
    else:
        database = sqlite_database(tmp_path, clock)
    yield database
    database.dispose()
