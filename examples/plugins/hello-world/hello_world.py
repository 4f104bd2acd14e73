"""A complete third-party plugin in one file: it meets `QueryPlugin` and needs only the kit.

It serves rows computed in memory, so `$orderby`/`$top`/`$skip`/`$select`/`$count` come from
`pr.shape_rows`; `$filter` it cannot evaluate, so it says so (501) instead of ignoring it.
Its tests (`tests/`) run the conformance kit: `python -m pytest examples/plugins/hello-world/tests`.
"""

from __future__ import annotations

from typing import Any

import plugin_runtime as pr

VERSION = "1.0.0"  # must match plugin.yaml: the runtime checks that code and manifest agree


class HelloWorldPlugin:
    """Greets each configured name, and the caller."""

    def __init__(self) -> None:
        self._greeting = "Hello"
        self._names: list[str] = []
        self._queries: set[str] = set()

    def metadata(self) -> pr.PluginMetadata:
        return pr.PluginMetadata(
            id="hello-world",
            name="Hello World",
            version=VERSION,
            author="HyperSpot examples",
            description="The smallest complete plugin; greets whoever asks.",
            contract_format=pr.ContractFormat.CUSTOM,
        )

    def init(self, config: pr.PluginConfig) -> None:
        names = config.settings.get("names", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise pr.InvalidInput("settings.names must be a list of strings")
        self._greeting = str(config.settings.get("greeting", "Hello"))
        self._names = names
        self._queries = {query.id for query in config.queries}

    def before_jwt_sign(self, ctx: pr.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return {**claims, "scope": "greetings:read"}

    def execute_query(self, ctx: pr.SecurityCtx, query_id: str, params: pr.ODataParams) -> pr.QueryResult:
        if query_id not in self._queries:
            raise pr.NotFound(f"hello-world serves no query {query_id!r}")
        if params.filter is not None:
            raise pr.unsupported("$filter", source=None, adapter="hello-world", hint="greetings cannot be filtered")
        rows = [{"name": name, "message": f"{self._greeting}, {name}!"} for name in [*self._names, ctx.subject]]
        page, total, has_more = pr.shape_rows(rows, params)
        return pr.QueryResult(
            rows=tuple(page), entity_set="greetings", count=total if params.count else None, has_more=has_more
        )

    def health_check(self) -> pr.HealthStatus:
        return pr.HealthStatus(pr.HealthState.HEALTHY)

    def shutdown(self) -> None:
        self._names = []
