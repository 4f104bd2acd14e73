"""A well-behaved plugin: rows say which version answered; shutdown leaves a marker file."""

from __future__ import annotations

import os
import pathlib
import time
from pathlib import Path
from typing import Any

from plugin_runtime import interface, odata, tokens

VERSION = "1.0.0"


class GoodPlugin:
    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.calls = 0  # execute_query calls, so paging tests can tell a stored page from a re-run
        self.answers_whole_results = False

    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata(
            "good", "Good test plugin", VERSION, "tests", "", interface.ContractFormat.CUSTOM
        )

    def init(self, config: interface.PluginConfig) -> None:
        self.settings = dict(config.settings)
        self.secrets = dict(config.secrets)
        self.answers_whole_results = bool(self.settings.get("whole_results", False))

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return {**claims, "plugin_claim": "added-by-good"}

    def execute_query(
        self, ctx: interface.SecurityCtx, query_id: str, params: odata.ODataParams
    ) -> interface.QueryResult:
        self.calls += 1
        time.sleep(float(self.settings.get("delay", 0)))
        self._wait_for_gate()
        rows = [
            {
                "n": n,
                "version": VERSION,
                "subject": ctx.subject,
                "tenant": ctx.tenant,
                "roles": sorted(ctx.roles),
                "token": tokens.current_outgoing_token(),
                "has_secret": "api_key" in self.secrets,
            }
            for n in range(int(self.settings.get("rows", 25)))
        ]
        page, total, has_more = odata.shape_rows(rows, params, default_top=10)
        return interface.QueryResult(tuple(page), "good_items", total if params.count else None, has_more)

    def _wait_for_gate(self) -> None:
        """With settings.gate (a path): say the query started (`<gate>.entered`), then hold it until the
        test creates the gate file, so overlap tests depend on events, not on sleeps racing a busy machine."""
        gate = self.settings.get("gate")
        if not gate:
            return
        pathlib.Path(f"{gate}.entered").touch()
        deadline = time.monotonic() + 30
        while not pathlib.Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    def translate(self, query_id: str, params: odata.ODataParams) -> interface.Translation:
        return interface.Translation("test", {"top": params.top, "filter": params.filter}, "memory://good")

    def capabilities(self) -> dict[str, Any]:
        return {
            "properties": {"n": "Edm.Int64", "version": "Edm.String"},
            "open_type": True,
            "key": ["n"],
            "annotations": {"Org.OData.Capabilities.V1.TopSupported": True},
        }

    def health_check(self) -> interface.HealthStatus:
        return interface.HealthStatus(
            interface.HealthState.HEALTHY,
            dependencies=(interface.DependencyHealth("memory", interface.HealthState.HEALTHY, response_time_ms=45.2),),
        )

    def shutdown(self) -> None:
        """Append this version's line to the marker file, which only ever appears or changes whole.

        Tests wait for the marker to exist and then read it: appending in place would create it empty
        first, so the line goes to a temporary file renamed over the marker (an atomic replace).
        """
        marker = self.settings.get("shutdown_marker")
        if marker:
            path = Path(marker)
            previous = path.read_text(encoding="utf-8") if path.exists() else ""
            staged = path.with_name(f".{path.name}.{os.getpid()}.{id(self)}")
            staged.write_text(previous + VERSION + "\n", encoding="utf-8")
            os.replace(staged, path)
