"""What the reconciler persists, in its own words, over the repository and the GTS registry.

A thin facade: it turns a Plugin body/spec and probe results into repository records, so the
reconciler never builds rows itself and the database layer never sees Kubernetes objects.
All methods are synchronous (the reconciler calls them through `asyncio.to_thread`).
"""

from __future__ import annotations

import datetime
from typing import Any

from plugin_operator import db, keystore, registry
from plugin_operator.drivers.base import Instance
from plugin_operator.models import PluginSpec
from plugin_operator.runtime_client import ProbeResult


class Store:
    def __init__(self, database: db.Database, keys: keystore.Keystore | None = None) -> None:
        self.database = database
        self.registry = registry.Registry(database)
        self.keys = keys

    def reveal_key(self, plugin_id: str, name: str, actor: str) -> keystore.Revealed:
        """A stored API key for a runtime (audited as a use); without configured keys, say how to configure them."""
        if self.keys is None:
            raise keystore.KeystoreMisconfigured(
                f"the operator has no key store: set {keystore.ENV_VAR} to comma-separated Fernet keys"
            )
        return self.keys.reveal_versioned(plugin_id, name, actor)

    def get_plugin(self, plugin_id: str) -> db.PluginRecord | None:
        return self.database.get_plugin(plugin_id)

    def mirror(self, body: dict[str, Any], spec: PluginSpec, plugin_id: str, actor: str) -> None:
        """Upsert the `plugins` row from the CR (config only: secrets are never in the spec)."""
        meta = body["metadata"]
        self.database.upsert_plugin(
            db.PluginRecord(
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
            ),
            actor,
        )

    def register(self, instance: Instance, spec: PluginSpec, adopt: bool) -> list[db.EntityRecord]:
        """Own exactly the declared entities at this instance's version (ownership moves on promotion)."""
        result = self.registry.register(
            instance.plugin_id,
            instance.uid,
            instance.version,
            spec.queries if spec.auto_register.queries else [],
            spec.datasources if spec.auto_register.datasources else [],
            adopt=adopt,
        )
        return list(result.entities)

    def deregister(self, plugin_id: str, hard: bool) -> list[str]:
        return self.registry.deregister(plugin_id, hard=hard)

    def mark_removed(self, plugin_id: str, actor: str) -> None:
        self.database.mark_plugin_removed(plugin_id, actor)

    def record_probe(self, plugin_id: str, checked_at: datetime.datetime, probe: ProbeResult) -> None:
        doc = probe.document or {}
        self.database.record_health(
            plugin_id,
            checked_at=checked_at,
            status=probe.status,
            response_time_ms=probe.response_time_ms,
            error_message=probe.error,
            metrics={
                key: doc[key]
                for key in ("queries_executed", "error_rate", "uptime", "circuit", "dependencies")
                if key in doc
            },
        )

    def prune_health(self, older_than: datetime.datetime) -> int:
        return self.database.prune_health(older_than)

    def save_status(self, plugin_id: str, body: dict[str, Any], status: dict[str, Any]) -> None:
        record = self.database.get_plugin(plugin_id)
        if record is None or record.uid != body["metadata"]["uid"]:
            return  # another Plugin owns this id (a Conflict): its row is not ours to touch
        self.database.update_plugin_status(
            plugin_id,
            phase=status.get("phase"),
            serving_version=status.get("servingVersion"),
            endpoint=status.get("endpoint"),
            status_json=status,
        )
