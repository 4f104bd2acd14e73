"""Alembic migrations of the operator's database; run them with `plugin_operator.db.migrate(url)`."""
