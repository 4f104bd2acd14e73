"""Engines, migrations and the translation of driver failures into the plugin error tree.

Callers (kopf handlers, the REST API) must be able to tell "the database is down, retry with
backoff" from "this write lost a race, run it again" from a bug, without importing a driver:
`DatabaseUnavailable` and `ConcurrentUpdate` say exactly that, and the URL in their messages never
carries a password. Engines are created with `hide_parameters=True` so no bound value (a config,
a ciphertext) ever reaches an exception message or the SQL log.
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from plugin_runtime import errors

MIGRATIONS = pathlib.Path(__file__).resolve().parent.parent / "migrations"
#: Seconds a PostgreSQL connection attempt may take before the database counts as unavailable.
CONNECT_TIMEOUT = 5
#: Seconds a SQLite writer waits for another writer's lock.
SQLITE_BUSY_TIMEOUT = 30
#: PostgreSQL SQLSTATE classes meaning "transaction lost a race, run it again" (serialization, deadlock).
_RETRYABLE_SQLSTATE_CLASSES = ("40",)
_UNIQUE_VIOLATION = "23505"


class DatabaseUnavailable(errors.PluginUnavailable):
    """The database cannot be reached (down, refusing, timing out); the caller should retry later."""

    slug, title = "database-unavailable", "Database Unavailable"


class ConcurrentUpdate(errors.Conflict):
    """A transaction kept losing races against concurrent writers of the same rows."""

    slug, title = "concurrent-update", "Concurrent Update"


class RaceLost(Exception):
    """Internal signal: the transaction collided with a concurrent one and may simply be re-run."""


def create_engine(url: str | sa.URL) -> sa.Engine:
    """An engine for PostgreSQL (psycopg 3) or SQLite with the settings both need to behave the same.

    SQLite gets enforced foreign keys and `BEGIN IMMEDIATE` transactions, so a read-then-write
    unit of work (the registry's) is serialized the way row locks serialize it on PostgreSQL.
    """
    parsed = sa.make_url(url)
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
    engine = sa.create_engine(parsed, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        _make_sqlite_transactional(engine)
    return engine


def _make_sqlite_transactional(engine: sa.Engine) -> None:
    # The recipe from SQLAlchemy's pysqlite documentation ("Serializable isolation / Savepoints").
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def safe_url(engine_or_url: sa.Engine | str | sa.URL) -> str:
    url = engine_or_url.url if isinstance(engine_or_url, sa.Engine) else sa.make_url(engine_or_url)
    return url.render_as_string(hide_password=True)


def _sqlstate(err: sa.exc.DBAPIError) -> str | None:
    return getattr(err.orig, "sqlstate", None)


def _is_unique_violation(err: sa.exc.IntegrityError) -> bool:
    if _sqlstate(err) == _UNIQUE_VIOLATION:
        return True
    return getattr(err.orig, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")


def _first_line(err: sa.exc.DBAPIError) -> str:
    return str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else type(err.orig).__name__


@contextlib.contextmanager
def translated_errors(url: str) -> Iterator[None]:
    """Turn driver exceptions into `DatabaseUnavailable`, `RaceLost` or `InvalidInput`; let bugs through."""
    try:
        yield
    except sa.exc.IntegrityError as err:
        if _is_unique_violation(err):
            raise RaceLost(str(err.orig)) from err
        raise
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as err:
        state = _sqlstate(err)
        if state is not None and state.startswith(_RETRYABLE_SQLSTATE_CLASSES):
            raise RaceLost(str(err.orig)) from err
        raise DatabaseUnavailable(f"database unavailable at {url}: {_first_line(err)}", retry_after=5.0) from err
    except sa.exc.TimeoutError as err:
        raise DatabaseUnavailable(f"database unavailable at {url}: connection pool exhausted", retry_after=5.0) from err
    except sa.exc.DataError as err:
        raise errors.InvalidInput(f"value rejected by the database: {_first_line(err)}") from err


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic configuration bound to an open connection: no alembic.ini, no URL interpolation."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(url: str, *, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` (idempotent; concurrent callers are serialized by a lock)."""
    _alembic(url, command.upgrade, revision)


def downgrade(url: str, *, revision: str = "base") -> None:
    """Run `alembic downgrade <revision>`; `base` drops every table this package created."""
    _alembic(url, command.downgrade, revision)


def _alembic(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    """One Alembic command in one transaction on a short-lived engine, errors without the password."""
    engine = create_engine(url)
    try:
        with translated_errors(safe_url(engine)), engine.begin() as connection:
            step(alembic_config(connection), revision)
    finally:
        engine.dispose()
