"""OData pass-through adapter: forwards OData requests to an upstream OData v4 service (entry point `odata`).

The query options ($filter, $select, $orderby, $skip, $count and custom options) go to the
upstream unchanged, `$top` as the page asked for plus one row (whose presence says more rows
exist); the answer is normalised: rows without upstream annotations, `@odata.count` kept, and
upstream server-driven paging (`@odata.nextLink`) followed inside the service root until the page
is full, so the runtime pages this service like every other (see `plugin_runtime.paging`).

Settings (`PluginConfig.settings`):
    base_url       the upstream service root, e.g. https://services.example.com/odata/v4
    timeout        budget of one upstream call including retries (30s)
    retry_count    extra attempts on connection failures and HTTP 429/502/503/504 (3)
    retry_backoff  first wait between attempts, doubling, with jitter (200ms)
    page_size      the server page size: rows per response; longer results get @odata.nextLink (1000)
    max_pages      upstream pages followed to fill one page (10)
    verify_tls     verify the server certificate (true)
Secrets (`PluginConfig.secrets`): `bearer_token`, or `basic_username` + `basic_password`, or
`api_key` (sent as `Authorization: ApiKey <key>`).

Query options (`QueryDefinition.options`):
    path      the upstream resource under the service root, e.g. "Products" (required)

Errors: the upstream's 400 → 400 and 501 → 501 (it judged the OData), other upstream failures →
502, each with the upstream's OData error (code, message, target, and the details' messages) in
the problem's detail, secrets redacted; unreachable → 503, slower than `timeout` → 504. Requests
carry `Accept: application/json`, so services that could answer XML answer errors in JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pydantic

from adapters._common import capabilities as caps
from adapters._common import plugin as base
from adapters._common import results
from adapters._common import settings as settings_mod
from adapters.odata import convert
from plugin_runtime import errors, interface, odata

ADAPTER = "odata"


class Settings(settings_mod.HttpSettings):
    max_pages: int = pydantic.Field(10, ge=1, le=1000)


class QueryOptions(settings_mod.QueryOptions):
    path: str = pydantic.Field(pattern=r"^[A-Za-z0-9_.()',=%-]+(/[A-Za-z0-9_.()',=%-]+)*$")

    @pydantic.field_validator("path")
    @classmethod
    def _no_parent_segments(cls, path: str) -> str:
        if any(segment in (".", "..") for segment in path.split("/")):
            raise ValueError("must not contain '.' or '..' segments")
        return path


class ODataPassthroughPlugin(base.HttpAdapter[Settings, QueryOptions]):
    ADAPTER: ClassVar[str] = ADAPTER
    BACKEND: ClassVar[str] = "OData service"
    DESCRIPTION: ClassVar[str] = "Forwards OData queries unchanged to an upstream OData v4 service"
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat] = interface.ContractFormat.ODATA
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]] = Settings
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]] = QueryOptions
    HEALTH_PATH: ClassVar[str] = ""  # the service document
    # Without them some services answer (errors above all) in XML, and their message would be lost.
    HEADERS: ClassVar[Mapping[str, str]] = {"Accept": "application/json", "OData-MaxVersion": "4.0"}

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        _, options = self._query(query_id)
        upstream = self._upstream_params(params)
        return interface.Translation(language="odata", query=upstream, endpoint=f"/{options.path}")

    def _page_length(self, params: odata.ODataParams) -> int:
        return params.top if params.top is not None else self._config.page_size

    def _upstream_params(self, params: odata.ODataParams) -> dict[str, str]:
        """The request's options with `$top` one row longer than the page: its presence says rows exist past it."""
        return {**params.to_query(), "$top": str(self._page_length(params) + 1)}

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        definition, options = self._query(query_id)
        settings = self._config
        client = self._backend()
        want = self._page_length(params)
        first = convert.page(client.request_json("GET", f"/{options.path}", params=self._upstream_params(params)))
        rows, next_link, pages = list(first.rows), first.next_link, 1
        while next_link is not None and len(rows) <= want and pages < settings.max_pages:
            upstream = convert.page(client.request_json("GET", self._inside_service_root(next_link)))
            rows.extend(upstream.rows)
            next_link, pages = upstream.next_link, pages + 1
        # Rows exist past this page if the probe row came, or the upstream still has pages of it.
        has_more = len(rows) > want or next_link is not None
        return results.Page(rows[:want], first.count, has_more).result(definition, params)

    def capabilities(self, query_id: str | None = None) -> dict[str, Any]:
        """What is forwarded; the upstream's own `$metadata` may narrow it (it answers 501 itself)."""
        return caps.Capabilities(
            filter_functions=caps.COMPARISON_OPERATORS + caps.LOGICAL_OPERATORS + caps.STRING_FUNCTIONS,
            open_type=True,
        ).to_dict()

    def _inside_service_root(self, next_link: str) -> str:
        """The absolute next-page URL, refused if it leaves the service root (our credentials go along)."""
        root = httpx.URL(self._config.base_url + "/")
        target = root.join(next_link)
        if (target.scheme, target.host, target.port) != (
            root.scheme,
            root.host,
            root.port,
        ) or not target.path.startswith(root.path):
            raise errors.BackendError(
                "the upstream OData service sent a next link outside its service root", backend=self.BACKEND
            )
        return str(target)

    def _status_errors(self) -> dict[int, type[errors.PluginError]]:
        return {400: errors.InvalidQuery, 501: errors.NotSupported}

    def _error_message(self, response: httpx.Response) -> str | None:
        return convert.error_message(response.json())
