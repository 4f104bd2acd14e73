"""A plugin that raises, hangs, fails its backend or exits, depending on the query."""

from __future__ import annotations

import sys
import time
from typing import Any

from plugin_runtime import errors, interface, odata


class FlakyPlugin:
    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata("flaky", "Flaky", "1.0.0", "tests", "", interface.ContractFormat.CUSTOM)

    def init(self, config: interface.PluginConfig) -> None:
        self.secret = config.secrets.get("api_key", "")

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        name = query_id.rsplit("~", 1)[1].split(".")[3]
        if name == "boom":
            raise RuntimeError(f"crashed while holding {self.secret}")
        if name == "hang":
            time.sleep(30)
        if name == "backend_down":
            raise errors.BackendError("the backend answered 500")
        if name == "leaky":
            raise errors.BackendError(f"the backend refused key {self.secret}")
        if name == "exits":
            sys.exit(3)
        return interface.QueryResult(({"ok": True},), "fine")

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(interface.HealthState.HEALTHY)

    def shutdown(self) -> None:
        pass
