"""The Alembic migrations build exactly the ORM metadata, and can be undone and redone."""

from __future__ import annotations

import pathlib

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from devservices import postgres
from plugin_operator import db

EXPECTED_TABLES = {"plugins", "plugin_health", "gts_entities", "audit_log", "api_keys"}
SPEC_INDEXES = {
    "plugins": {"idx_plugins_enabled"},
    "plugin_health": {"idx_plugin_health_plugin_id", "idx_plugin_health_checked_at"},
}


def _schema_diff(url: str) -> list[object]:
    engine = db.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, db.tables.metadata))
    finally:
        engine.dispose()


def _inspect(url: str) -> tuple[set[str], dict[str, set[str]], dict[str, str]]:
    engine = db.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        names = set(inspector.get_table_names()) - {"alembic_version"}
        indexes = {name: {index["name"] for index in inspector.get_indexes(name)} for name in names}
        with engine.connect() as connection:
            definitions = dict(
                connection.execute(
                    sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
                ).all()
            )
        return names, indexes, definitions
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_postgresql_matches_the_metadata() -> None:
    with postgres.temporary_schema_url() as url:
        db.migrate(url)
        names, indexes, definitions = _inspect(url)
        assert names == EXPECTED_TABLES
        for table, expected in SPEC_INDEXES.items():
            assert expected <= indexes[table]
        assert "checked_at DESC" in definitions["idx_plugin_health_checked_at"]
        assert _schema_diff(url) == []

        db.downgrade(url)
        assert _inspect(url)[0] == set()

        db.migrate(url)
        assert _inspect(url)[0] == EXPECTED_TABLES
        assert _schema_diff(url) == []


def test_migrate_is_idempotent_and_keeps_data(pg_url: str) -> None:
    database = db.connect(pg_url)
    try:
        database.upsert_plugin(db.PluginRecord(id="kept", name="Kept", version="1"), actor="test")
        db.migrate(pg_url)
        assert database.get_plugin("kept") is not None
    finally:
        database.dispose()


def test_sqlite_file_is_migrated_by_the_same_revisions(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    db.migrate(url)
    assert _sqlite_tables(url) == EXPECTED_TABLES
    db.downgrade(url)
    assert _sqlite_tables(url) == set()
    db.migrate(url)
    assert _sqlite_tables(url) == EXPECTED_TABLES


def _sqlite_tables(url: str) -> set[str]:
    engine = db.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
