"""A plugin with both processing hooks: `preprocess` caps $top at 5 and maps `fail=<stage>` to errors,
`postprocess` adds `doubled` to every row (and fails for $top=1). Rows record the options `execute_query` received."""

from __future__ import annotations

import dataclasses
from typing import Any

from plugin_runtime import errors, interface, odata


class HooksPlugin:
    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata("hooks", "Hooks", "1.0.0", "tests", "", interface.ContractFormat.CUSTOM)

    def init(self, config: interface.PluginConfig) -> None:
        pass

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def preprocess(self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams) -> odata.ODataParams:
        fail = params.custom.get("fail")
        if fail == "pre-invalid":
            raise errors.InvalidQuery("the hooks plugin refuses fail=pre-invalid", option="fail")
        if fail == "pre-crash":
            raise KeyError("boom")
        if fail == "pre-bad-filter":
            return dataclasses.replace(params, filter="n gt")
        if fail == "pre-wrong-type":
            return {"top": 1}  # type: ignore[return-value]
        top = min(params.top if params.top is not None else 5, 5)
        return dataclasses.replace(params, top=top, filter=params.filter or "n ge 0")

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        rows = [{"n": n, "received_top": params.top, "received_filter": params.filter} for n in range(20)]
        page, total, has_more = odata.shape_rows(rows, params)
        return interface.QueryResult(tuple(page), "hooked", total if params.count else None, has_more)

    def postprocess(
        self, ctx: interface.SecurityCtx, query_id: str, result: interface.QueryResult
    ) -> interface.QueryResult:
        if result.rows and result.rows[0]["received_top"] == 1:
            raise ZeroDivisionError("postprocess fails when asked for one row")
        rows = tuple({**row, "doubled": row["n"] * 2} for row in result.rows)
        return dataclasses.replace(result, rows=rows)

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        return interface.Translation("test", {"top": params.top, "filter": params.filter})

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(interface.HealthState.HEALTHY)

    def shutdown(self) -> None:
        pass
