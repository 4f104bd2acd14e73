"""What the operator mirrors into its database: each Plugin's row, its status, its probe history.

The mapping from Kubernetes objects to rows lives here, so the reconciler never builds rows itself
and the database layer (`plugin_operator.db`) never sees Kubernetes objects. Synchronous, like the
database: the reconciler calls these through `calls.db`.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from plugin_operator import db
from plugin_operator.models import PluginSpec
from plugin_operator.runtime_client import ProbeResult


def plugin_record(body: dict[str, Any], spec: PluginSpec, plugin_id: str) -> db.PluginRecord:
    """The `plugins` row mirroring a Plugin (config only: secrets are never in the spec)."""
    meta = body["metadata"]
    return db.PluginRecord(
        id=plugin_id,
        name=spec.display_name or plugin_id,
        version=spec.version,
        contract_format=spec.contract_format.value,
        author=spec.author,
        description=spec.description,
        enabled=spec.enabled,
        config=dict(spec.config),
        namespace=meta["namespace"],
        cr_name=meta["name"],
        uid=meta["uid"],
    )


def save_status(
    database: db.Database,
    plugin_id: str,
    body: dict[str, Any],
    status: dict[str, Any],
    probes: Sequence[tuple[datetime.datetime, ProbeResult]] = (),
) -> None:
    """Mirror a status, and the health rows of the probes that led to it, into the database in one
    transaction — unless another Plugin owns the id (a Conflict): its row is not ours to touch."""
    database.save_status(
        plugin_id,
        body["metadata"]["uid"],
        phase=status.get("phase"),
        serving_version=status.get("servingVersion"),
        endpoint=status.get("endpoint"),
        status_json=status,
        probes=[probe_row(checked_at, probe) for checked_at, probe in probes],
    )


def probe_row(checked_at: datetime.datetime, probe: ProbeResult) -> db.health.Probe:
    """One row of health history from a probe (the figures of the runtime's health document)."""
    document = probe.document or {}
    return db.health.Probe(
        checked_at=checked_at,
        status=probe.status,
        response_time_ms=probe.response_time_ms,
        error_message=probe.error,
        metrics={
            key: document[key]
            for key in ("queries_executed", "error_rate", "uptime", "circuit", "dependencies")
            if key in document
        },
    )


def record_probe(database: db.Database, plugin_id: str, checked_at: datetime.datetime, probe: ProbeResult) -> None:
    """One row of health history from a probe, in a transaction of its own."""
    database.record_health(plugin_id, **probe_row(checked_at, probe))
