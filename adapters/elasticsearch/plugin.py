"""Elasticsearch adapter: OData queries over the search API (entry point `elasticsearch`).

Rows: one per hit, the document's `_source` plus its id (property `_id` unless `id_property` says
otherwise).

Settings (`PluginConfig.settings`):
    base_url       Elasticsearch URL, e.g. https://es.example.com:9200 (no credentials in it)
    timeout        budget of one search including retries: "30s", "1m30s", "250ms" or seconds (30s)
    retry_count    extra attempts on connection failures and HTTP 429/502/503/504 (3)
    retry_backoff  first wait between attempts, doubling, with jitter (200ms)
    page_size      the server page size: rows per response; longer results get @odata.nextLink (1000)
    verify_tls     verify the server certificate (true)
Secrets (`PluginConfig.secrets`): `api_key` (sent as `Authorization: ApiKey <key>`), or
`bearer_token`, or `basic_username` + `basic_password`.

Query options (`QueryDefinition.options`):
    index        index, alias or pattern to search, e.g. "logs-*" (required)
    fields       field → Elasticsearch type (keyword, text, long, integer, short, byte, double,
                 float, date, boolean); when given, unknown properties and ill-typed literals are
                 400 and `text` fields are searched with match. Fields that are not OData
                 identifiers get property names (plugin_runtime.names): `@timestamp` is
                 `timestamp` in $filter, $orderby, $select, rows and $metadata, `host.name` is
                 `host_name`; `host/name` names `name` inside the object `host`
    id_property  row property holding the document id ("_id")

Supported OData: $filter with eq, ne, gt, ge, lt, le, in, and, or, not, contains, startswith,
endswith → bool/filter/should/must_not with term/terms/range/exists/prefix/wildcard, and match for
contains on text fields; $orderby → sort (nulls first ascending); $select → _source; $top/$skip →
size/from (at most 10000 deep); $count → track_total_hits. Answered 501: other functions, eq/ne or
startswith/endswith on text fields, sorting by text fields or the id, paging past 10000.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx
import pydantic

from adapters._common import capabilities as caps
from adapters._common import plugin as base
from adapters._common import settings as settings_mod
from adapters.elasticsearch import convert, translate
from adapters.elasticsearch.translate import SearchRequest  # bare: in the class, `translate` is the method
from plugin_runtime import interface, names, odata

_FORBIDDEN_INDEX_CHARACTERS = re.compile(r'[\\/?"<>| #A-Z]')
_EDM_TYPES = {
    "keyword": "Edm.String",
    "text": "Edm.String",
    "long": "Edm.Int64",
    "integer": "Edm.Int32",
    "short": "Edm.Int16",
    "byte": "Edm.SByte",
    "double": "Edm.Double",
    "float": "Edm.Single",
    "date": "Edm.DateTimeOffset",
    "boolean": "Edm.Boolean",
}
_HEALTH = {
    "green": interface.HealthState.HEALTHY,
    "yellow": interface.HealthState.DEGRADED,
    "red": interface.HealthState.UNHEALTHY,
}


class QueryOptions(settings_mod.QueryOptions):
    index: str = pydantic.Field(min_length=1)
    fields: dict[str, translate.FieldType] = pydantic.Field(default_factory=dict)
    id_property: str = pydantic.Field("_id", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @pydantic.field_validator("index")
    @classmethod
    def _index_name(cls, index: str) -> str:
        if _FORBIDDEN_INDEX_CHARACTERS.search(index) or index.startswith(("-", "_", "+")):
            raise ValueError(f"{index!r} is not an Elasticsearch index name or pattern")
        return index

    @pydantic.model_validator(mode="after")
    def _distinct_property_names(self) -> QueryOptions:
        seen: dict[str, str] = {self.id_property: "the id property"}
        for field in self.fields:
            name = _property(field)
            if name in seen:
                raise ValueError(f"fields {seen[name]!r} and {field!r} both map to the OData property {name!r}")
            seen[name] = field
        return self

    def spec(self) -> translate.IndexSpec:
        fields = tuple((_property(field), kind) for field, kind in self.fields.items())
        renamed = tuple((_property(field), field) for field in self.fields if _property(field) != field)
        return translate.IndexSpec(index=self.index, fields=fields, id_property=self.id_property, renamed=renamed)


def _property(field: str) -> str:
    """A declared field's property: `host/name` stays a path into an object, others follow plugin_runtime.names."""
    return field if "/" in field else names.property_name(field)


class ElasticsearchPlugin(base.HttpAdapter[settings_mod.HttpSettings, QueryOptions]):
    ADAPTER: ClassVar[str] = translate.ADAPTER
    BACKEND: ClassVar[str] = "Elasticsearch"
    DESCRIPTION: ClassVar[str] = "OData queries over Elasticsearch: one row per hit, filters as query DSL"
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat] = interface.ContractFormat.ELASTICSEARCH
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]] = settings_mod.HttpSettings
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]] = QueryOptions
    HEALTH_PATH: ClassVar[str] = "/_cluster/health"

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        request: SearchRequest = self._odata_translation(query_id, params)
        return interface.Translation(language="es-dsl", query=request.body, endpoint=request.endpoint)

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        definition, options = self._query(query_id)
        request: SearchRequest = self._odata_translation(query_id, params)
        body = self._backend().request_json("POST", request.endpoint, json=request.body)
        result = convert.page(body, request=request, spec=options.spec(), select=params.select)
        return result.result(definition, params)

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        """Capabilities for `$metadata`; with a query id, its declared fields as typed properties."""
        properties: dict[str, str] = {}
        non_sortable: tuple[str, ...] = ()
        key: tuple[str, ...] = ()
        open_type = True
        if query_id is not None:
            options = self._query(query_id)[1]
            key = (options.id_property,)
            properties = {options.id_property: "Edm.String"}
            for name, kind in options.spec().fields:
                # A nested field (host/name) lives in an object property whose shape is not declared.
                root, nested, _ = name.partition("/")
                properties[root] = "Edm.Untyped" if nested else _EDM_TYPES[kind]
            non_sortable = (options.id_property, *(name for name, kind in options.spec().fields if kind == "text"))
            open_type = not options.fields
        return caps.Capabilities(
            filter_functions=caps.COMPARISON_OPERATORS + caps.LOGICAL_OPERATORS + caps.STRING_FUNCTIONS,
            properties=properties,
            open_type=open_type,
            non_sortable=non_sortable,
            key=key,
        ).to_dict()

    def _translate_uncached(self, query_id: str, key: base.ODataKey) -> SearchRequest:
        _, options = self._query(query_id)
        params = key.params()
        return translate.translate(
            params.filter_ast,
            spec=options.spec(),
            source=params.filter,
            select=params.select,
            orderby=params.orderby,
            top=params.top,
            skip=params.skip,
            count=params.count,
            page_size=self._config.page_size,
        )

    def _error_message(self, response: httpx.Response) -> str | None:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
        return str(error) if error else None

    def _judge_health(self, response: httpx.Response) -> tuple[interface.HealthState, str | None]:
        if not response.is_success:
            return interface.HealthState.UNHEALTHY, f"HTTP {response.status_code}"
        body = response.json()
        status = body.get("status") if isinstance(body, dict) else None
        state = (
            _HEALTH.get(status, interface.HealthState.UNKNOWN)
            if isinstance(status, str)
            else interface.HealthState.UNKNOWN
        )
        return state, None if state is interface.HealthState.HEALTHY else f"cluster status {status}"
