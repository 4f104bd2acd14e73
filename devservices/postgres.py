"""A throwaway PostgreSQL schema per test run, so parallel runs and other suites never share tables.

    with temporary_schema_url() as url:      # postgresql+psycopg://...?options=-csearch_path%3Dtest_1a2b...
        db.migrate(url)
        database = db.connect(url)

The schema is created empty (run `db.migrate(url)` yourself) and dropped, with everything in it,
on exit. If PostgreSQL cannot be reached the context manager raises `PostgresUnreachable`: a test
that needs the database fails loudly, it never skips.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

#: Override with the URL of another server (same form) to run the suites elsewhere.
URL_ENV = "PLUGIN_OPERATOR_TEST_DATABASE_URL"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PostgresUnreachable(RuntimeError):
    pass


def base_url() -> str:
    return os.environ.get(URL_ENV, DEFAULT_URL)


@contextlib.contextmanager
def temporary_schema_url(url: str | None = None) -> Iterator[str]:
    """Yield a SQLAlchemy URL whose connections use a fresh schema (via `-csearch_path`)."""
    target = sa.make_url(url or base_url())
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(target, connect_args={"connect_timeout": 5}, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as err:
        admin.dispose()
        raise PostgresUnreachable(
            f"PostgreSQL is required at {target.render_as_string(hide_password=True)} "
            f"(set {URL_ENV} to use another server): {str(err.orig).strip().splitlines()[0]}"
        ) from err
    try:
        yield target.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
