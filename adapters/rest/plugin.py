"""REST adapter: a generic JSON API behind URL templates and JSONPath mappings (entry point `rest`).

Settings (`PluginConfig.settings`):
    base_url        the API root, e.g. https://api.example.com/v2 (no credentials in it)
    timeout         budget of one call including retries: "30s", "1m30s", "250ms" or seconds (30s)
    retry_count     extra attempts on connection failures and HTTP 429/502/503/504 (3)
    retry_backoff   first wait between attempts, doubling, with jitter (200ms)
    page_size       the server page size: rows per response; longer results get @odata.nextLink (1000)
    health_path     path probed by health checks, relative to base_url ("/")
    api_key_header  header that carries the `api_key` secret ("X-API-Key", sent bare)
    verify_tls      verify the server certificate (true)
Secrets (`PluginConfig.secrets`): `bearer_token`, or `basic_username` + `basic_password`, and/or
`api_key`.

Query options (`QueryDefinition.options`):
    url      URL template (required), e.g. "{base_url}/items?limit={$top}&offset={$skip}&q={filter.name}".
             Placeholders: {$top} {$skip} {$orderby} ("name asc,id desc"), {filter.<property>} (the
             value of `<property> eq …` in $filter), {option.<name>} (custom query option <name>).
             A query parameter whose placeholders lack a value is left out; path placeholders are required.
    rows     JSONPath of the items in the answer ("$"), e.g. "$.data.items" or "$.data[?(@.active == true)]"
    fields   property → JSONPath inside one item, e.g. {"name": "attributes.name"}; without it, items are rows
    total    JSONPath of the total row count in the answer, e.g. "$.meta.total"

Supported OData: $filter as `and`-ed `eq` comparisons on the template's filter properties (anything
else is 501); with {$top} in the template the API pages ($orderby needs {$orderby}, $count needs
`total`, else 501); without it the API answers all rows and $orderby, $top, $skip, $count apply in
memory. $select always applies to the rows.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode

import pydantic

from adapters._common import capabilities as caps
from adapters._common import plugin as base
from adapters._common import results
from adapters._common import settings as settings_mod
from adapters.rest import convert, translate
from adapters.rest.translate import RestCall  # bare: in the class, `translate` is the method
from plugin_runtime import interface, names, odata


def _template(value: Any) -> translate.Template:
    if not isinstance(value, str):
        raise ValueError("must be a URL template string")
    return translate.compile_template(value)


def _jsonpath(value: str) -> str:
    convert.selector(value)
    return value


#: A URL template, compiled (and so checked) when the options are validated.
UrlTemplate = Annotated[translate.Template, pydantic.PlainValidator(_template)]
#: A JSONPath expression, checked when the options are validated.
JsonPath = Annotated[str, pydantic.AfterValidator(_jsonpath)]


class Settings(settings_mod.HttpSettings):
    health_path: str = pydantic.Field("/", pattern=r"^/")
    api_key_header: str = pydantic.Field("X-API-Key", pattern=r"^[A-Za-z0-9-]+$")


class QueryOptions(settings_mod.QueryOptions):
    url: UrlTemplate
    rows: JsonPath = "$"
    fields: dict[str, JsonPath] = pydantic.Field(default_factory=dict)
    total: JsonPath | None = None

    @pydantic.field_validator("fields")
    @classmethod
    def _property_names(cls, fields: dict[str, str]) -> dict[str, str]:
        for name in fields:
            if not names.is_identifier(name):
                raise ValueError(f"{name!r} is not an OData property name; try {names.property_name(name)!r}")
        return fields


class RestPlugin(base.HttpAdapter[Settings, QueryOptions]):
    ADAPTER: ClassVar[str] = translate.ADAPTER
    BACKEND: ClassVar[str] = "REST API"
    DESCRIPTION: ClassVar[str] = "OData queries over a JSON REST API through URL templates and JSONPath mappings"
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat] = interface.ContractFormat.CUSTOM
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]] = Settings
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]] = QueryOptions
    API_KEY_SCHEME: ClassVar[str] = ""  # the key alone, in the header named by `api_key_header`

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        call = self._call(query_id, params)
        url = self._config.base_url + call.path + (f"?{urlencode(call.params)}" if call.params else "")
        return interface.Translation(language="rest", query=f"GET {url}", endpoint=call.path)

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        definition, options = self._query(query_id)
        call = self._call(query_id, params)
        body = self._backend().request_json("GET", call.path, params=list(call.params))
        rows = convert.rows(body, rows_path=options.rows, fields=options.fields)
        reported = convert.total(body, options.total) if options.total is not None else None
        if call.size is not None:  # the API paged: keep its page and order, apply only $select
            # Without a reported total, the probe row coming back means there is more.
            has_more = len(rows) > call.size if reported is None else reported > params.skip + min(len(rows), call.size)
            page, _, _ = odata.shape_rows(rows[: call.size], dataclasses.replace(params, orderby=(), top=None, skip=0))
            count = reported
        else:  # the API answered every row: page, sort and count here, unless it sorted itself
            sorted_by_api = translate.ORDERBY in options.url.placeholders
            page, count, has_more = odata.shape_rows(
                rows,
                dataclasses.replace(params, orderby=()) if sorted_by_api else params,
                default_top=self._config.page_size,
            )
        return results.Page(page, count, has_more).result(definition, params)

    def _api_key_header(self, settings: Settings) -> str:
        return settings.api_key_header

    def _health_path(self) -> str:
        return self._config.health_path

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        """With a query id: its filter properties (eq only), and whether it can sort and count."""
        if query_id is None:
            return caps.Capabilities(filter_functions=("eq", "and"), open_type=True).to_dict()
        options = self._query(query_id)[1]
        template = options.url
        filters = template.named("filter")
        required = tuple(p.removeprefix("filter.") for p in template.path_placeholders if p.startswith("filter."))
        return caps.Capabilities(
            filter_functions=("eq", "and") if filters else (),
            properties={name: "Edm.Untyped" for name in options.fields},
            open_type=not options.fields,
            sortable=not template.pages or translate.ORDERBY in template.placeholders,
            countable=not template.pages or options.total is not None,
            expression_restrictions={name: "SingleValue" for name in filters},
            required_properties=required,
        ).to_dict()

    def _call(self, query_id: str, params: odata.ODataParams) -> RestCall:
        _, options = self._query(query_id)
        used = tuple((name, params.custom[name]) for name in options.url.named("option") if name in params.custom)
        key = (query_id, params.filter, params.orderby, params.top, params.skip, params.count, used)
        call: RestCall = self._translation(*key)
        return call

    def _translate_uncached(
        self,
        query_id: str,
        filter_text: str | None,
        orderby: tuple[odata.OrderBy, ...],
        top: int | None,
        skip: int,
        count: bool,
        custom: tuple[tuple[str, str], ...],
    ) -> RestCall:
        _, options = self._query(query_id)
        return translate.plan(
            options.url,
            odata.parse_filter(filter_text) if filter_text is not None else None,
            source=filter_text,
            orderby=orderby,
            top=top,
            skip=skip,
            count=count,
            custom=dict(custom),
            page_size=self._config.page_size,
            has_total=options.total is not None,
        )
