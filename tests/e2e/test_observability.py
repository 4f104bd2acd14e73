"""Every metric the chart's dashboard panels and alerts read is exported by a running operator or
plugin runtime: both are scraped after a Plugin rolled out, was queried and translated, and the
management API and its probes answered."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Harness, localsql_plugin, query_id, unique, wait_for
from tests.ha import dashboard


def _sample_names(url: str, proxy: str | None = None) -> set[str]:
    response = httpx.get(f"{url}/metrics", timeout=10, proxy=proxy)
    response.raise_for_status()
    return {sample.name for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_every_dashboard_and_alert_metric_is_scraped(harness: Harness) -> None:
    assert harness.process is not None
    name = unique("observed")
    harness.apply(localsql_plugin(name))
    status = harness.wait_phase(name, "Active")
    assert harness.query(name).status_code == 200
    harness.runtime_get(
        f"{status['endpoint']}/queries/{query_id(name)}/translate", params={"$top": "1"}
    ).raise_for_status()
    assert harness.api("GET", "/plugins").status_code == 200
    assert httpx.get(f"{harness.process.api_url}/readyz", timeout=10).status_code == 200
    # One health probe of the new plugin (the monitor timer) has been timed.
    wait_for(
        lambda: "plugin_operator_health_probe_seconds_count" in _sample_names(harness.process.api_url),  # type: ignore[union-attr]
        timeout=30,
        what="a health probe",
    )

    scraped = _sample_names(harness.process.api_url) | _sample_names(status["endpoint"], harness.settings.runtime_proxy)
    wanted = {
        **{
            f"panel {title!r}": dashboard.metric_names(e)
            for title, exprs in dashboard.panel_queries().items()
            for e in exprs
        },
        **{f"alert {alert}": dashboard.metric_names(expr) for alert, expr in dashboard.alert_queries().items()},
    }
    missing = {where: sorted(names - scraped) for where, names in wanted.items() if names - scraped}
    assert not missing, f"read but never exported: {missing}"
