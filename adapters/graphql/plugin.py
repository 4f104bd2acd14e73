"""GraphQL adapter: OData queries over a GraphQL API (entry point `graphql`, contract format `graphql`).

The adapter introspects the API's schema once per init (on first use), builds each request's
document with graphql-core and validates it against that schema before sending (see translate.py).

Settings (`PluginConfig.settings`):
    base_url       the GraphQL endpoint, e.g. https://api.example.com/graphql (POSTed to)
    timeout        budget of one call including retries: "30s", "1m30s", "250ms" or seconds (30s)
    retry_count    extra attempts on connection failures and HTTP 429/502/503/504 (3)
    retry_backoff  first wait between attempts, doubling, with jitter (200ms)
    page_size      the server page size: rows per response; longer results get @odata.nextLink (1000)
    verify_tls     verify the server certificate (true)
    schema_sdl     the API's schema as SDL, for APIs that turn introspection off (default: introspect)
Secrets (`PluginConfig.secrets`): `bearer_token`, or `basic_username` + `basic_password`, or
`api_key` (sent as `Authorization: ApiKey <key>`).

Query options (`QueryDefinition.options`):
    field             the Query field, e.g. "servers" (required); it returns a list of objects, or
                      an object whose `items` member is that list
    items             the list member of the field's object, e.g. "nodes"
    total             the member of that object holding the total count, e.g. "totalCount"
    select            default selection (leaf fields); default: every leaf field of the item type
    filter_input      the argument taking a filter input object, e.g. "where"
    filter_arguments  property → argument for `eq` filters, e.g. {region: region}
    orderby_argument  the argument taking [{property: ASC|DESC}], e.g. "orderBy"
    top_argument      the argument limiting rows, e.g. "first" or "limit"
    skip_argument     the argument skipping rows, e.g. "offset"

Health: `{ __typename }` answered → healthy. Errors: an unsupported construct → 501 naming it; a
property the item type lacks or a literal its input type refuses → 400; GraphQL `errors` → 502 with
their messages; unreachable → 503; slower than `timeout` → 504.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pydantic
from graphql import (
    GraphQLError,
    GraphQLOutputType,
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from adapters._common import capabilities as caps
from adapters._common import plugin as base
from adapters._common import settings as settings_mod
from adapters.graphql import convert, translate
from adapters.graphql import fields as fields_mod
from adapters.graphql.translate import GraphQLRequest
from plugin_runtime import errors, interface, odata

_NAME = r"^[_A-Za-z][_0-9A-Za-z]*$"
_EDM = {"Int": "Edm.Int32", "Float": "Edm.Double", "String": "Edm.String", "ID": "Edm.String", "Boolean": "Edm.Boolean"}


def _edm_type(graphql_type: GraphQLOutputType) -> str:
    """Built-in scalars by their Edm twins; lists (JSON arrays) Edm.Untyped; enums and custom scalars strings."""
    if is_list_type(get_nullable_type(graphql_type)):
        return "Edm.Untyped"
    return _EDM.get(get_named_type(graphql_type).name, "Edm.String")


class Settings(settings_mod.HttpSettings):
    #: The API's schema as SDL, for APIs that turn introspection off; without it the schema is introspected.
    schema_sdl: str | None = None

    @pydantic.field_validator("schema_sdl")
    @classmethod
    def _parses(cls, sdl: str | None) -> str | None:
        if sdl is not None:
            try:
                build_schema(sdl)
            except GraphQLError as exc:
                raise ValueError(f"not a GraphQL schema: {exc.message}") from None
        return sdl


class QueryOptions(settings_mod.QueryOptions):
    field: str = pydantic.Field(pattern=_NAME)
    items: str | None = pydantic.Field(None, pattern=_NAME)
    total: str | None = pydantic.Field(None, pattern=_NAME)
    select: tuple[str, ...] = ()
    filter_input: str | None = pydantic.Field(None, pattern=_NAME)
    filter_arguments: dict[str, str] = pydantic.Field(default_factory=dict)
    orderby_argument: str | None = pydantic.Field(None, pattern=_NAME)
    top_argument: str | None = pydantic.Field(None, pattern=_NAME)
    skip_argument: str | None = pydantic.Field(None, pattern=_NAME)

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> QueryOptions:
        if self.total and not self.items:
            raise ValueError("'total' needs 'items' (the list beside the count)")
        if self.skip_argument and not self.top_argument:
            raise ValueError("'skip_argument' needs 'top_argument'")
        return self

    def spec(self) -> translate.FieldSpec:
        return translate.FieldSpec(
            field=self.field,
            items=self.items,
            total=self.total,
            select=self.select,
            filter_input=self.filter_input,
            filter_arguments=tuple(self.filter_arguments.items()),
            orderby_argument=self.orderby_argument,
            top_argument=self.top_argument,
            skip_argument=self.skip_argument,
        )


class GraphQLPlugin(base.HttpAdapter[Settings, QueryOptions]):
    ADAPTER: ClassVar[str] = translate.ADAPTER
    BACKEND: ClassVar[str] = "GraphQL API"
    DESCRIPTION: ClassVar[str] = "OData queries over a GraphQL API, validated against its introspected schema"
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat] = interface.ContractFormat.GRAPHQL
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]] = Settings
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]] = QueryOptions
    HEALTH_PATH: ClassVar[str] = ""
    _schema_cache: GraphQLSchema | None = None

    def init(self, config: interface.PluginConfig) -> None:
        super().init(config)
        self._schema_cache = None  # a reload may point at another API: introspect again

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        request: GraphQLRequest = self._odata_translation(query_id, params)
        body = {"query": request.document, "variables": dict(request.variables)}
        return interface.Translation(language="graphql", query=body, endpoint=self._config.base_url)

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        definition, _ = self._query(query_id)
        request: GraphQLRequest = self._odata_translation(query_id, params)
        body = self._post({"query": request.document, "variables": dict(request.variables)})
        result = convert.page(body, request)
        return result.result(definition, params)

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        """With a query id: the item type's leaf fields as properties, and what its arguments allow."""
        if query_id is None:
            return caps.Capabilities(filter_functions=(), open_type=True).to_dict()
        options = self._query(query_id)[1]
        spec = options.spec()
        schema = self._schema()
        fields = fields_mod.leaf_fields(schema, spec)
        properties = {name: _edm_type(f.type) for name, f in fields.items()}
        functions: tuple[str, ...] = ()
        if spec.filter_input:
            functions = caps.COMPARISON_OPERATORS + caps.LOGICAL_OPERATORS + caps.STRING_FUNCTIONS
        elif spec.filter_arguments:
            functions = ("eq", "and")
        pages = spec.top_argument is not None
        return caps.Capabilities(
            filter_functions=functions,
            properties=properties,
            key=("id",) if "id" in properties else (),
            sortable=not pages or spec.orderby_argument is not None,
            countable=not pages or spec.total is not None,
        ).to_dict()

    def health_check(self) -> interface.HealthStatus:
        if self._client is None:
            return interface.HealthStatus(interface.HealthState.UNKNOWN, message="plugin not initialised")
        started = time.perf_counter()
        try:
            body = self._post({"query": "{ __typename }"})
            state = (
                interface.HealthState.HEALTHY
                if convert.error_messages(body) is None
                else interface.HealthState.UNHEALTHY
            )
            message = convert.error_messages(body)
        except errors.PluginError as exc:
            state, message = interface.HealthState.UNHEALTHY, exc.detail
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        dependency = interface.DependencyHealth(self.BACKEND, state, response_time_ms=elapsed, message=message)
        return interface.HealthStatus(state, dependencies=(dependency,), message=message)

    def cache_clear(self) -> None:
        """Forget cached translations and validated documents (the benchmark's cold translations)."""
        super().cache_clear()
        translate.clear_validation_cache()

    def _post(self, payload: dict[str, Any]) -> Any:
        return self._backend().request_json("POST", "", json=payload)

    def _schema(self) -> GraphQLSchema:
        """The backend's schema: `schema_sdl`, else introspected once per init (translations are built against it)."""
        if self._schema_cache is None and self._config.schema_sdl is not None:
            self._schema_cache = build_schema(self._config.schema_sdl)
        if self._schema_cache is None:
            body = self._post({"query": get_introspection_query()})
            message = convert.error_messages(body)
            if message is not None or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
                raise errors.BackendError(f"the GraphQL API refused introspection: {message}", backend=self.BACKEND)
            try:
                self._schema_cache = build_client_schema(body["data"])
            except (TypeError, ValueError, KeyError) as exc:
                raise errors.BackendError(
                    f"the GraphQL API's schema is unreadable: {exc}", backend=self.BACKEND
                ) from None
        return self._schema_cache

    def _translate_uncached(self, query_id: str, key: base.ODataKey) -> GraphQLRequest:
        _, options = self._query(query_id)
        return translate.plan(self._schema(), options.spec(), key.params())

    def _error_message(self, response: Any) -> str | None:
        return convert.error_messages(response.json())
