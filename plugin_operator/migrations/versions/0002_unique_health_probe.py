"""One plugin_health row per probe: a unique index on (plugin_id, checked_at).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Recording stays idempotent under concurrency: a second writer of the same probe result violates the
index, its transaction is re-run, and it finds the stored row. Duplicates written before this
revision are removed first (the lowest id of each probe is kept).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM plugin_health WHERE id NOT IN (SELECT MIN(id) FROM plugin_health GROUP BY plugin_id, checked_at)"
    )
    op.create_index("uq_plugin_health_probe", "plugin_health", ["plugin_id", "checked_at"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_plugin_health_probe", table_name="plugin_health")
