"""Prometheus adapter: OData queries over the Prometheus HTTP API (entry point `prometheus`).

Rows: one per sample, with the series' labels as properties, `metric` (series name), `timestamp`
(ISO 8601 UTC) and `value` (number). Filters use the same names.

Settings (`PluginConfig.settings`):
    base_url       Prometheus URL, e.g. https://prometheus.example.com (no credentials in it)
    timeout        budget of one query including retries: "30s", "1m30s", "250ms" or seconds (30s)
    retry_count    extra attempts on connection failures and HTTP 429/502/503/504 (3)
    retry_backoff  first wait between attempts, doubling, with jitter (200ms)
    page_size      the server page size: rows per response; longer results get @odata.nextLink (1000)
    verify_tls     verify the server certificate (true)
Secrets (`PluginConfig.secrets`): `bearer_token`, or `basic_username` + `basic_password` (or an
`api_key`, sent as `Authorization: ApiKey <key>`, for proxies that want one).

Query options (`QueryDefinition.options`):
    metric     fixed metric name; `metric eq '…'` in $filter is then optional
    step       default step of range queries (60s); a request's `step=` query option overrides it
    rate       window of rate(), e.g. "5m": rows are per-second rates of counters
    aggregate  sum | avg | min | max | count over the selected series ...
    by         ... grouped by these labels, e.g. ["job"]

Supported OData: $filter with eq, ne, in, contains, startswith, endswith on labels and `metric`
(label matchers =, !=, =~, !~) combined with and/or/not; `timestamp ge/gt … and timestamp le/lt …`
→ range query (/api/v1/query_range, `step` as above; `gt` starts one step later, `lt` ends 1 ms
earlier, without an upper bound it ends now),
`timestamp eq …` → instant query at that time, no timestamp condition → instant query now;
`value` eq/ne/gt/ge/lt/le a number → PromQL comparison filter. $select, $orderby, $top, $skip and
$count are applied to the rows. Answered 501: order comparisons on labels, other functions,
timestamp or value conditions inside or/not, only an upper time bound. Prometheus down → 503,
slower than `timeout` → 504, a PromQL error from the server → 502 with its message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

import httpx
import orjson
import promql_parser
import pydantic

from adapters._common import capabilities as caps
from adapters._common import plugin as base
from adapters._common import results
from adapters._common import settings as settings_mod
from adapters.prometheus import convert, model, timerange, translate
from adapters.prometheus.translate import PromQuery  # bare: in the class, `translate` is the method
from plugin_runtime import errors, interface, odata


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _promql_duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a PromQL duration such as 5m")
    try:
        promql_parser.parse_duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a PromQL duration (e.g. 30s, 5m, 1h)") from None
    return value


#: A PromQL duration such as "5m", kept as written because it goes into the PromQL text.
PromDuration = Annotated[str, pydantic.BeforeValidator(_promql_duration)]


class QueryOptions(settings_mod.QueryOptions):
    metric: str | None = pydantic.Field(None, pattern=model.METRIC_NAME.pattern)
    step: settings_mod.Seconds = 60.0
    rate: PromDuration | None = None
    aggregate: translate.Aggregation | None = None
    by: tuple[str, ...] = ()

    @pydantic.field_validator("by")
    @classmethod
    def _label_names(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        for label in labels:
            if not model.LABEL_NAME.match(label):
                raise ValueError(f"{label!r} is not a Prometheus label name")
        return labels

    @pydantic.model_validator(mode="after")
    def _by_needs_aggregate(self) -> QueryOptions:
        if self.by and not self.aggregate:
            raise ValueError("'by' needs 'aggregate' (sum, avg, min, max or count)")
        return self

    def spec(self) -> translate.QuerySpec:
        return translate.QuerySpec(metric=self.metric, rate=self.rate, aggregate=self.aggregate, by=self.by)


def _filter_functions() -> tuple[str, ...]:
    return caps.COMPARISON_OPERATORS + caps.LOGICAL_OPERATORS + caps.STRING_FUNCTIONS


class PrometheusPlugin(base.HttpAdapter[settings_mod.HttpSettings, QueryOptions]):
    ADAPTER: ClassVar[str] = model.ADAPTER
    BACKEND: ClassVar[str] = "Prometheus"
    DESCRIPTION: ClassVar[str] = "OData queries over Prometheus: one row per sample, filters as PromQL"
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat] = interface.ContractFormat.PROMETHEUS
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]] = settings_mod.HttpSettings
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]] = QueryOptions
    HEALTH_PATH: ClassVar[str] = "/-/ready"
    #: Every call fetches and converts the whole range, then pages in memory: the runtime asks once
    #: and serves the following pages from its cursor store (`plugin_runtime.reading`).
    answers_whole_results: ClassVar[bool] = True
    #: No gzip: on loopback or a cluster network, decompressing a large answer costs the runtime more
    #: CPU than the bytes cost to carry (httpx would otherwise ask for it).
    HEADERS: ClassVar[Mapping[str, str]] = {"Accept-Encoding": "identity"}

    def __init__(
        self, *, transport: httpx.BaseTransport | None = None, clock: Callable[[], dt.datetime] = _utcnow
    ) -> None:
        """`clock` decides "now" for open time ranges and instant queries (injectable for tests)."""
        super().__init__(transport=transport)
        self._clock = clock

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        query, prom_call = self._plan(query_id, params)
        if prom_call is None:
            return interface.Translation(language="promql", query=query.expr, endpoint=None)
        when = "&".join(f"{key}={value}" for key, value in prom_call.params if key != "query")  # numbers only
        return interface.Translation(language="promql", query=query.expr, endpoint=f"{prom_call.endpoint}?{when}")

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        definition, _ = self._query(query_id)
        _, prom_call = self._plan(query_id, params)
        data = None if prom_call is None else self._fetch(prom_call)
        if data is not None and not params.orderby and (not params.select or "*" in params.select):
            # Rows in the backend's order and with all their properties: written as JSON text
            # straight away (`json_rows`), a page being a slice of it.
            written = convert.json_rows(data)
            top = params.top if params.top is not None else self._config.page_size
            end = params.skip + top
            count = len(written) if params.count else None
            return interface.QueryResult(
                written[params.skip : end], definition.entity_set, count=count, has_more=end < len(written)
            )
        rows = [] if data is None else convert.rows(data)
        page, total, has_more = odata.shape_rows(rows, params, default_top=self._config.page_size)
        return results.Page(page, total, has_more).result(definition, params)

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        """Capabilities for `$metadata`; with a query id, the properties of that query's rows."""
        properties = {model.METRIC: "Edm.String", model.TIMESTAMP: "Edm.DateTimeOffset", model.VALUE: "Edm.Double"}
        open_type = True
        if query_id is not None:
            options = self._query(query_id)[1]
            if options.aggregate:
                # An aggregation keeps only its `by` labels; the series name is gone.
                properties.update({label: "Edm.String" for label in options.by})
                open_type = False
        return caps.Capabilities(
            filter_functions=_filter_functions(),
            properties=properties,
            open_type=open_type,
            expression_restrictions={model.TIMESTAMP: "SingleRange", model.VALUE: "SingleRange"},
        ).to_dict()

    def _plan(self, query_id: str, params: odata.ODataParams) -> tuple[PromQuery, timerange.Call | None]:
        _, options = self._query(query_id)
        query: PromQuery = self._translation(query_id, params.filter)
        step = timerange.step_seconds(params.custom.get("step"), default=options.step)
        return query, timerange.call(query.expr, query.time, step=step, now=self._clock())

    def _translate_uncached(self, query_id: str, filter_text: str | None) -> PromQuery:
        _, options = self._query(query_id)
        tree = odata.parse_filter(filter_text) if filter_text is not None else None
        return translate.translate(tree, spec=options.spec(), source=filter_text)

    def _fetch(self, prom_call: timerange.Call) -> Mapping[str, Any]:
        # POST keeps long selectors (many alternatives) out of URL length limits.
        response = self._backend().request("POST", prom_call.endpoint, data=dict(prom_call.params))
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            not_json = "Prometheus answered with a body that is not JSON"
            raise errors.BackendError(not_json, backend=self.BACKEND) from None
        data = body.get("data") if isinstance(body, dict) and body.get("status") == "success" else None
        if not isinstance(data, dict):
            raise errors.BackendError("Prometheus answered without a successful result", backend=self.BACKEND)
        return data

    def _error_message(self, response: httpx.Response) -> str | None:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return f"{body.get('errorType', 'error')}: {body['error']}"
        return None
