"""Persistence of the operator: SQLAlchemy tables, Alembic migrations and the repository.

    from plugin_operator import db

    db.migrate(url)                      # alembic upgrade head (PostgreSQL or SQLite)
    database = db.connect(url)           # lazy; database.ping() raises db.DatabaseUnavailable
    database.upsert_plugin(db.PluginRecord(id="prom", name="Prometheus", version="1.0.0"), actor="operator")

Every `Database` method is one transaction. Anything that must span several tables atomically goes
through `Database.run(work)`, where `work` composes the functions of the noun modules (`plugins`,
`health`, `entities`, `api_keys`, `audit`) over one `Transaction`; the GTS registry
(`plugin_operator.registry`) and the keystore (`plugin_operator.keystore`) are built that way.
SQL lives in this package only.

Errors: `DatabaseUnavailable` (503, retry with backoff), `ConcurrentUpdate` (409, a write kept
losing races), `plugin_runtime.errors.NotFound` / `InvalidInput` for unknown ids and bad values.
"""

from plugin_operator.db import api_keys, audit, entities, health, plugins, tables
from plugin_operator.db.engine import ConcurrentUpdate, DatabaseUnavailable, create_engine, downgrade, migrate
from plugin_operator.db.records import (
    ApiKeyRecord,
    AuditRecord,
    EntityKind,
    EntityRecord,
    EntityState,
    HealthRecord,
    Outcome,
    PluginRecord,
)
from plugin_operator.db.repository import Clock, Database, connect, utc_now
from plugin_operator.db.transaction import Transaction

__all__ = [
    "ApiKeyRecord",
    "AuditRecord",
    "Clock",
    "ConcurrentUpdate",
    "Database",
    "DatabaseUnavailable",
    "EntityKind",
    "EntityRecord",
    "EntityState",
    "HealthRecord",
    "Outcome",
    "PluginRecord",
    "Transaction",
    "api_keys",
    "audit",
    "connect",
    "create_engine",
    "downgrade",
    "entities",
    "health",
    "migrate",
    "plugins",
    "tables",
    "utc_now",
]
