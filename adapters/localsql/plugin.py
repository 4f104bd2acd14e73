"""The built-in local datasource plugin: OData queries over one SQL table, no external calls.

By default the table lives in a private in-memory SQLite database filled from the bundled
`sample_data.csv` (server metrics); `settings.database_url` points it at any SQLAlchemy database
instead. The plugin creates and fills the table only when it does not exist: from
`settings.columns` + `settings.seed`, else from the bundled sample. An existing table is used as
it is (its columns are reflected).

    settings:
      database_url: sqlite://            # default: in-memory, private to this plugin instance
                                         # (a secret named database_url takes precedence)
      table: server_metrics
      columns: {host: string, cpu: number, at: datetime}    # with seed
      seed: [{host: web-1, cpu: 12.5, at: "2024-03-01T00:00:00Z"}]
      key: [host, at]                    # primary key: also the tie-breaker of paging
      page_size: 1000                    # server page size: rows per response, then @odata.nextLink
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import resources
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.pool import StaticPool

from adapters._common import capabilities as caps
from adapters.localsql import dataset, translate
from plugin_runtime import errors, interface, odata

__all__ = ["LocalSqlPlugin"]

VERSION = "0.1.0"
_IN_MEMORY = ("sqlite://", "sqlite:///:memory:")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = "sqlite://"
    table: str = Field(default="server_metrics", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    columns: dict[str, dataset.ColumnType] | None = None
    seed: list[dict[str, Any]] | None = None
    key: tuple[str, ...] = ()
    page_size: int = Field(default=1000, ge=1, le=odata.MAX_TOP)


class _Database:
    """An engine, serialised when it is one in-memory SQLite connection shared by worker threads."""

    def __init__(self, url: str) -> None:
        self._lock: AbstractContextManager[Any]
        if url in _IN_MEMORY:
            self.engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
            self._lock = threading.Lock()
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
            self._lock = nullcontext()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._lock, self.engine.connect() as connection:
            yield connection

    def close(self) -> None:
        self.engine.dispose()


def _settings(raw: Any) -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise errors.InvalidInput(f"settings of the localsql plugin: {problems}") from None


def _prepare(database: _Database, settings: Settings) -> sa.Table:
    """Reflect the table, or create and fill it when it does not exist yet."""
    with database.connect() as connection:
        if sa.inspect(connection).has_table(settings.table):
            return sa.Table(settings.table, sa.MetaData(), autoload_with=connection)
    if settings.seed is not None:
        if settings.columns is None:
            raise errors.InvalidInput("settings.columns is required with settings.seed (name → type)")
        columns, key = settings.columns, settings.key
        rows = [
            {name: dataset.to_storage(kind, row.get(name)) for name, kind in columns.items()} for row in settings.seed
        ]
    else:
        columns, key = dataset.SAMPLE_COLUMNS, settings.key or dataset.SAMPLE_KEY
        text = resources.files("adapters.localsql").joinpath("sample_data.csv").read_text(encoding="utf-8")
        rows = dataset.parse_csv(text, columns)
    table = dataset.table(settings.table, columns, key=tuple(key))
    with database.connect() as connection, connection.begin():
        table.create(connection)
        if rows:
            connection.execute(table.insert(), rows)
    return table


class LocalSqlPlugin:
    """Serves every configured query from the one table (a query's `entity_set` option names its set)."""

    def __init__(self) -> None:
        self._database: _Database | None = None
        self._table: sa.Table | None = None
        self._settings = Settings()
        self._queries: dict[str, interface.QueryDefinition] = {}

    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata(
            id="localsql",
            name="Local SQL datasource",
            version=VERSION,
            author="HyperSpot",
            description="OData queries over a local SQL table (in-memory sample data by default)",
            contract_format=interface.ContractFormat.ODATA,
        )

    def init(self, config: interface.PluginConfig) -> None:
        settings = _settings(config.settings)
        # A URL carrying a password belongs in the secrets (the runtime scrubs those from logs).
        try:
            database = _Database(config.secrets.get("database_url", settings.database_url))
        except sa.exc.SQLAlchemyError as exc:
            raise errors.InvalidInput(f"database_url of the localsql plugin: {exc}") from None
        try:
            table = _prepare(database, settings)
        except BaseException as exc:
            database.close()
            if isinstance(exc, sa.exc.SQLAlchemyError):
                reason = getattr(exc, "orig", None) or exc
                raise errors.InvalidInput(f"database of the localsql plugin: {type(exc).__name__}: {reason}") from None
            raise
        self.shutdown()
        self._database, self._table, self._settings = database, table, settings
        self._queries = {query.id: query for query in config.queries}

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def _ready(self, query_id: str) -> tuple[_Database, sa.Table, interface.QueryDefinition]:
        if self._database is None or self._table is None:
            raise errors.PluginUnavailable("the localsql plugin is not initialised")
        query = self._queries.get(query_id)
        if query is None:
            raise errors.NotFound(f"the localsql plugin serves no query {query_id!r}")
        return self._database, self._table, query

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        database, table, query = self._ready(query_id)
        plan = translate.plan(table, params, page_size=self._settings.page_size)
        try:
            with database.connect() as connection:
                fetched = connection.execute(plan.page).mappings().all()
                total = connection.execute(plan.count).scalar_one() if plan.count is not None else None
        except sa.exc.OperationalError as exc:
            raise errors.PluginUnavailable(f"the localsql database is unavailable: {type(exc.orig).__name__}") from None
        except sa.exc.DBAPIError as exc:  # e.g. a type mismatch the database refuses
            raise errors.InvalidQuery(f"the database rejected the query: {type(exc.orig).__name__}") from None
        rows = tuple(
            {name: dataset.from_storage(value) for name, value in row.items()} for row in fetched[: plan.limit]
        )
        return interface.QueryResult(
            rows=rows, entity_set=query.entity_set, count=total, has_more=len(fetched) > plan.limit
        )

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        database, table, _ = self._ready(query_id)
        plan = translate.plan(table, params, page_size=self._settings.page_size)
        compiled = plan.page.compile(dialect=database.engine.dialect)
        query: dict[str, Any] = {"sql": str(compiled), "params": dict(compiled.params)}
        if plan.count is not None:
            query["count_sql"] = str(plan.count.compile(dialect=database.engine.dialect))
        endpoint = database.engine.url.render_as_string(hide_password=True)
        return interface.Translation(language="sql", query=query, endpoint=f"{endpoint}#{table.name}")

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        if self._table is None:
            raise errors.PluginUnavailable("the localsql plugin is not initialised")
        described = caps.Capabilities(
            filter_functions=translate.FILTER_FUNCTIONS,
            properties={column.name: dataset.edm_type(column) for column in self._table.c},
        ).to_dict()
        described["key"] = [column.name for column in self._table.primary_key.columns]
        return described

    def health_check(self) -> interface.HealthStatus:
        if self._database is None:
            return interface.HealthStatus(interface.HealthState.UNKNOWN, message="not initialised")
        started = time.perf_counter()
        try:
            with self._database.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            state, message = interface.HealthState.HEALTHY, None
        except sa.exc.SQLAlchemyError as exc:
            state, message = interface.HealthState.UNHEALTHY, f"{type(exc).__name__}"
        elapsed = (time.perf_counter() - started) * 1000
        dependency = interface.DependencyHealth(
            name=f"database ({self._database.engine.dialect.name})",
            status=state,
            response_time_ms=elapsed,
            message=message,
        )
        return interface.HealthStatus(state, dependencies=(dependency,), message=message)

    def shutdown(self) -> None:
        if self._database is not None:
            self._database.close()
        self._database = self._table = None
