"""The spec's plugins and plugin_health tables, the GTS registry, the audit log and encrypted API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written from `plugin_operator.db.tables` and frozen here: a migration never imports the live
metadata, so later edits to the tables need a new revision (a test fails until there is one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMPTZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plugins",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("contract_format", sa.String(length=50), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("config", JSON, nullable=True),
        sa.Column("registered_at", TIMESTAMPTZ, nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=True),
        sa.Column("registered_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("namespace", sa.String(length=253), nullable=True),
        sa.Column("cr_name", sa.String(length=253), nullable=True),
        sa.Column("uid", sa.String(length=64), nullable=True),
        sa.Column("phase", sa.String(length=32), nullable=True),
        sa.Column("serving_version", sa.String(length=50), nullable=True),
        sa.Column("endpoint", sa.String(length=1024), nullable=True),
        sa.Column("removed_at", TIMESTAMPTZ, nullable=True),
        sa.Column("status", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugins")),
    )
    op.create_index("idx_plugins_enabled", "plugins", ["enabled"], unique=False)

    op.create_table(
        "plugin_health",
        sa.Column("id", BIGINT_ID, sa.Identity(always=False), nullable=False),
        sa.Column("plugin_id", sa.String(length=255), nullable=False),
        sa.Column("checked_at", TIMESTAMPTZ, nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("response_time_ms", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("metrics", JSON, nullable=True),
        sa.ForeignKeyConstraint(["plugin_id"], ["plugins.id"], name=op.f("fk_plugin_health_plugin_id_plugins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_health")),
    )
    op.create_index("idx_plugin_health_plugin_id", "plugin_health", ["plugin_id"], unique=False)
    op.create_index("idx_plugin_health_checked_at", "plugin_health", [sa.text("checked_at DESC")], unique=False)

    op.create_table(
        "gts_entities",
        sa.Column("id", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_plugin_id", sa.String(length=255), nullable=False),
        sa.Column("owner_uid", sa.String(length=64), nullable=True),
        sa.Column("owner_version", sa.String(length=50), nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMPTZ, nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=False),
        sa.Column("deprecated_at", TIMESTAMPTZ, nullable=True),
        sa.CheckConstraint("kind IN ('query', 'datasource')", name=op.f("ck_gts_entities_kind_allowed")),
        sa.CheckConstraint("state IN ('active', 'deprecated', 'deleted')", name=op.f("ck_gts_entities_state_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gts_entities")),
    )
    op.create_index("idx_gts_entities_owner_plugin_id", "gts_entities", ["owner_plugin_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, sa.Identity(always=False), nullable=False),
        sa.Column("at", TIMESTAMPTZ, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", JSON, nullable=True),
        sa.CheckConstraint("outcome IN ('success', 'denied', 'failed')", name=op.f("ck_audit_log_outcome_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("idx_audit_log_at", "audit_log", ["at"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("plugin_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMPTZ, nullable=False),
        sa.Column("rotated_at", TIMESTAMPTZ, nullable=True),
        sa.Column("last_used_at", TIMESTAMPTZ, nullable=True),
        sa.ForeignKeyConstraint(["plugin_id"], ["plugins.id"], name=op.f("fk_api_keys_plugin_id_plugins")),
        sa.PrimaryKeyConstraint("plugin_id", "name", name=op.f("pk_api_keys")),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("idx_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("idx_gts_entities_owner_plugin_id", table_name="gts_entities")
    op.drop_table("gts_entities")
    op.drop_index("idx_plugin_health_checked_at", table_name="plugin_health")
    op.drop_index("idx_plugin_health_plugin_id", table_name="plugin_health")
    op.drop_table("plugin_health")
    op.drop_index("idx_plugins_enabled", table_name="plugins")
    op.drop_table("plugins")
