"""A complete third-party plugin in one file: it meets `QueryPlugin` and needs nothing else.

It serves rows computed in memory, so `$orderby`/`$top`/`$skip`/`$select`/`$count` come from
`odata.shape_rows`; `$filter` it cannot evaluate, so it says so (501) instead of ignoring it.
"""

from __future__ import annotations

from typing import Any

from plugin_runtime import errors, interface, odata

VERSION = "1.0.0"  # must match plugin.yaml: the runtime checks that code and manifest agree


class HelloWorldPlugin:
    def __init__(self) -> None:
        self._greeting = "Hello"
        self._names: list[str] = []
        self._queries: set[str] = set()

    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata(
            id="hello-world",
            name="Hello World",
            version=VERSION,
            author="HyperSpot examples",
            description="The smallest complete plugin; greets whoever asks.",
            contract_format=interface.ContractFormat.CUSTOM,
        )

    def init(self, config: interface.PluginConfig) -> None:
        names = config.settings.get("names", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise errors.InvalidInput("settings.names must be a list of strings")
        self._greeting = str(config.settings.get("greeting", "Hello"))
        self._names = names
        self._queries = {query.id for query in config.queries}

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return {**claims, "scope": "greetings:read"}

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        if query_id not in self._queries:
            raise errors.NotFound(f"hello-world serves no query {query_id!r}")
        if params.filter is not None:
            raise odata.unsupported("$filter", source=None, adapter="hello-world", hint="greetings cannot be filtered")
        rows = [{"name": name, "message": f"{self._greeting}, {name}!"} for name in [*self._names, ctx.subject]]
        page, total, has_more = odata.shape_rows(rows, params)
        return interface.QueryResult(
            rows=tuple(page), entity_set="greetings", count=total if params.count else None, has_more=has_more
        )

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(interface.HealthState.HEALTHY)

    def shutdown(self) -> None:
        self._names = []
