"""The schema: the spec's `plugins` and `plugin_health` tables plus what the operator needs around them.

Types are portable on purpose: PostgreSQL (psycopg 3) in production, SQLite as the embedded
default. JSON is JSONB on PostgreSQL; timestamps are timezone-aware everywhere (SQLite stores them
naive, `UtcDateTime` gives them back in UTC). The Alembic migrations create exactly this metadata;
a test compares the two.

Deviations from the spec's DDL, each for a reason: `plugins.enabled` and `plugin_health.plugin_id`
are NOT NULL (a health row without a plugin, or a plugin neither enabled nor disabled, means
nothing); `plugin_health` has a surrogate `id` so rows can be deduplicated and pruned.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from plugin_operator.db import records

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(column_0_label)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: SQLite only auto-increments an INTEGER PRIMARY KEY, so the identity column is INTEGER there.
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator[datetime.datetime]):
    """TIMESTAMPTZ that always returns aware UTC datetimes; a naive value is taken to be UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: sa.Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)

    def process_result_value(self, value: datetime.datetime | None, dialect: sa.Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


def _one_of(column: str, choices: Any) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{member.value}'" for member in choices)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


plugins = sa.Table(
    "plugins",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("author", sa.String(255)),
    sa.Column("description", sa.Text()),
    sa.Column("contract_format", sa.String(50)),
    sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("config", JSON),
    sa.Column("registered_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime()),
    sa.Column("registered_by", sa.String(255)),
    sa.Column("updated_by", sa.String(255)),
    # Operator columns: where the Plugin CR lives and what it last reported.
    sa.Column("namespace", sa.String(253)),
    sa.Column("cr_name", sa.String(253)),
    sa.Column("uid", sa.String(64)),
    sa.Column("phase", sa.String(32)),
    sa.Column("serving_version", sa.String(50)),
    sa.Column("endpoint", sa.String(1024)),
    sa.Column("removed_at", UtcDateTime()),
    sa.Column("status", JSON),
    sa.Index("idx_plugins_enabled", "enabled"),
)

plugin_health = sa.Table(
    "plugin_health",
    metadata,
    sa.Column("id", BIGINT_ID, sa.Identity(), primary_key=True),
    sa.Column("plugin_id", sa.String(255), sa.ForeignKey("plugins.id"), nullable=False),
    sa.Column("checked_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(50)),
    sa.Column("response_time_ms", sa.Integer()),
    sa.Column("error_message", sa.Text()),
    sa.Column("metrics", JSON),
    sa.Index("idx_plugin_health_plugin_id", "plugin_id"),
    sa.Index("idx_plugin_health_checked_at", sa.text("checked_at DESC")),
    # One row per probe: concurrent writers of the same result lose the race and re-read it.
    sa.Index("uq_plugin_health_probe", "plugin_id", "checked_at", unique=True),
)

gts_entities = sa.Table(
    "gts_entities",
    metadata,
    sa.Column("id", sa.String(1024), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("owner_plugin_id", sa.String(255), nullable=False),
    sa.Column("owner_uid", sa.String(64)),
    sa.Column("owner_version", sa.String(50)),
    sa.Column("body", JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("deprecated_at", UtcDateTime()),
    _one_of("kind", records.EntityKind),
    _one_of("state", records.EntityState),
    sa.Index("idx_gts_entities_owner_plugin_id", "owner_plugin_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BIGINT_ID, sa.Identity(), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(1024), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", JSON),
    _one_of("outcome", records.Outcome),
    sa.Index("idx_audit_log_at", "at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("plugin_id", sa.String(255), sa.ForeignKey("plugins.id"), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("ciphertext", sa.Text(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("rotated_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
)
