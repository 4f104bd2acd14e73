from __future__ import annotations

from typing import Any

from plugin_runtime import interface


class InitFailsPlugin:
    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata(
            "init-fails", "Init fails", "1.0.0", "tests", "", interface.ContractFormat.CUSTOM
        )

    def init(self, config: interface.PluginConfig) -> None:
        raise ConnectionError(f"cannot reach the backend with key {config.secrets.get('api_key')}")

    def before_jwt_sign(self, ctx: Any, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def execute_query(self, ctx: Any, query_id: str, params: Any) -> Any:
        raise AssertionError("never initialised, never asked")

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(interface.HealthState.HEALTHY)

    def shutdown(self) -> None:
        pass
