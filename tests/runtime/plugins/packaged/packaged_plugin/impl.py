from __future__ import annotations

from typing import Any

from plugin_runtime import interface, odata

from . import rows


class PackagedPlugin:
    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata("packaged", "Packaged", "2.0.0", "tests", "", interface.ContractFormat.CUSTOM)

    def init(self, config: interface.PluginConfig) -> None:
        pass

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        return interface.QueryResult(tuple(rows.ROWS), "packaged")

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(interface.HealthState.HEALTHY)

    def shutdown(self) -> None:
        pass
