"""`Database`: the engine plus one synchronous method per use case, each its own transaction.

Synchronous on purpose: kopf handlers call it through `asyncio.to_thread`, the REST API from its
worker threads. `run` is the seam for anything that must be atomic across tables (the registry,
the keystore): it hands a `Transaction` to a function, commits, then logs the audit entries, and
re-runs the function when it lost a race to a concurrent writer.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, Unpack

import sqlalchemy as sa

from plugin_operator.db import audit, engine, health, plugins, records
from plugin_operator.db.audit import AuditFilters, Entry
from plugin_operator.db.transaction import Transaction

T = TypeVar("T")
Clock = Callable[[], datetime.datetime]

#: How often a unit of work is run when it keeps colliding with concurrent writers.
ATTEMPTS = 3


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Database:
    def __init__(self, sa_engine: sa.Engine, *, clock: Clock = utc_now) -> None:
        self._engine = sa_engine
        self._clock = clock
        self.url = engine.safe_url(sa_engine)

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    def ping(self) -> None:
        """Raise `DatabaseUnavailable` unless a round trip to the database succeeds."""
        with engine.translated_errors(self.url), self._engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self._engine.dispose()

    def run(self, work: Callable[[Transaction], T], *, attempts: int = ATTEMPTS) -> T:
        """Run `work` in one transaction; re-run it (up to `attempts` times) when it lost a race.

        Exceptions raised by `work` roll the transaction back and propagate unchanged.
        """
        attempt = 1
        while True:
            try:
                with engine.translated_errors(self.url), self._engine.begin() as connection:
                    tx = Transaction(connection=connection, now=self._clock())
                    result = work(tx)
            except engine.RaceLost as race:
                if attempt >= attempts:
                    raise engine.ConcurrentUpdate(
                        f"gave up after {attempts} attempts: concurrent writers keep changing the same rows"
                    ) from race
                attempt += 1
                continue
            tx.log_audit()
            return result

    # Plugins -----------------------------------------------------------------------------------

    def upsert_plugin(self, row: records.PluginRecord, actor: str) -> records.PluginRecord:
        return self.run(lambda tx: plugins.upsert(tx, row, actor=actor))

    def get_plugin(self, plugin_id: str) -> records.PluginRecord | None:
        return self.run(lambda tx: plugins.get(tx, plugin_id))

    def list_plugins(self, **filters: Unpack[plugins.PluginFilters]) -> tuple[list[records.PluginRecord], int]:
        return self.run(lambda tx: plugins.list_(tx, **filters))

    def mark_plugin_removed(self, plugin_id: str, actor: str) -> records.PluginRecord:
        return self.run(lambda tx: plugins.mark_removed(tx, plugin_id, actor=actor))

    def update_plugin_status(
        self,
        plugin_id: str,
        *,
        phase: str | None,
        serving_version: str | None,
        endpoint: str | None,
        status_json: Mapping[str, Any] | None,
    ) -> records.PluginRecord:
        return self.run(
            lambda tx: plugins.update_status(
                tx, plugin_id, phase=phase, serving_version=serving_version, endpoint=endpoint, status=status_json
            )
        )

    def save_status(
        self,
        plugin_id: str,
        uid: str,
        *,
        phase: str | None,
        serving_version: str | None,
        endpoint: str | None,
        status_json: Mapping[str, Any] | None,
        probes: Sequence[health.Probe] = (),
    ) -> bool:
        """A reconcile's outcome in one transaction: the probes' health rows and the observed status,
        written only if the row is the Plugin's (`uid`; another Plugin's row is left alone: False)."""

        def work(tx: Transaction) -> bool:
            record = plugins.get(tx, plugin_id)
            if record is None or record.uid != uid:
                return False
            for probe in probes:
                health.record(tx, plugin_id, **probe)
            plugins.update_status(
                tx, plugin_id, phase=phase, serving_version=serving_version, endpoint=endpoint, status=status_json
            )
            return True

        return self.run(work)

    # Health ------------------------------------------------------------------------------------

    def record_health(self, plugin_id: str, **probe: Unpack[health.Probe]) -> records.HealthRecord:
        return self.run(lambda tx: health.record(tx, plugin_id, **probe))

    def latest_health(self, plugin_id: str) -> records.HealthRecord | None:
        return self.run(lambda tx: health.latest(tx, plugin_id))

    def health_history(
        self, plugin_id: str, *, since: datetime.datetime | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[records.HealthRecord], int]:
        """A page of the plugin's probe results, newest first, and how many match in total."""
        return self.run(lambda tx: health.history(tx, plugin_id, since=since, limit=limit, offset=offset))

    def prune_health(self, older_than: datetime.datetime) -> int:
        return self.run(lambda tx: health.prune(tx, older_than=older_than))

    # Audit -------------------------------------------------------------------------------------

    def audit(self, **entry: Unpack[Entry]) -> records.AuditRecord:
        """Append to the audit log (and, once committed, to the `audit` logger). Never pass secrets."""
        return self.run(lambda tx: audit.record(tx, **entry))

    def list_audit(self, **filters: Unpack[AuditFilters]) -> tuple[list[records.AuditRecord], int]:
        return self.run(lambda tx: audit.list_(tx, **filters))


def connect(url: str | sa.URL, *, clock: Clock = utc_now) -> Database:
    """A `Database` for `url` (`postgresql+psycopg://...` or `sqlite:///path`); connects lazily.

    Call `migrate(url)` first, and `Database.ping()` to find out whether the database is reachable.
    """
    return Database(engine.create_engine(url), clock=clock)
