"""Alembic environment: always online, on the connection `plugin_operator.db.migrate` hands over.

There is no alembic.ini and no URL here on purpose: the caller owns the engine (and its search_path
or SQLite file), so tests and the operator migrate exactly the database they then use.
"""

from __future__ import annotations

from alembic import context

from plugin_operator.db import tables

#: Any constant: serializes concurrent `migrate()` calls (e.g. two operator replicas starting).
_MIGRATION_LOCK_KEY = 0x706C7567696E


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; use plugin_operator.db.migrate(url)")
    connection = context.config.attributes["connection"]
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
    context.configure(
        connection=connection,
        target_metadata=tables.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
