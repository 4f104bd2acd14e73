"""From a plugin id in a URL to its Plugin CR (and database row).

The `plugins` row says where the CR lives (namespace, cr_name) — one GET. A CR the operator has
not mirrored yet, or one re-created elsewhere, is still found by listing the Plugins and matching
`spec.pluginId` (or `metadata.name`). Two CRs claiming the same id is a conflict the admin must
resolve, never a silent pick.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from plugin_operator import db
from plugin_operator.api import views
from plugin_operator.api.deps import ApiDeps
from plugin_runtime import errors

if TYPE_CHECKING:
    from plugin_operator.api.access import Auditor
    from plugin_runtime.interface import SecurityCtx


@dataclasses.dataclass(frozen=True)
class Located:
    plugin_id: str
    cr: dict[str, Any]
    record: db.PluginRecord | None

    @property
    def namespace(self) -> str:
        return str(self.cr["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.cr["metadata"]["name"])


def list_crs(deps: ApiDeps) -> list[dict[str, Any]]:
    if not deps.namespaces:
        return deps.kube.list_plugins()
    return [cr for namespace in deps.namespaces for cr in deps.kube.list_plugins(namespace)]


def _watched(deps: ApiDeps, namespace: str | None) -> bool:
    return bool(namespace) and (not deps.namespaces or namespace in deps.namespaces)


def locate(deps: ApiDeps, plugin_id: str) -> Located:
    record = deps.database.get_plugin(plugin_id)
    if record is not None and not record.removed and record.cr_name and _watched(deps, record.namespace):
        try:
            cr = deps.kube.get_plugin(str(record.namespace), record.cr_name)
        except errors.NotFound:
            pass
        else:
            if views.plugin_id_of(cr) == plugin_id:
                return Located(plugin_id, cr, record)
    candidates = [cr for cr in list_crs(deps) if views.plugin_id_of(cr) == plugin_id]
    if not candidates:
        raise errors.NotFound(f"plugin {plugin_id!r} not found")
    if len(candidates) > 1:
        where = ", ".join(sorted(f"{cr['metadata'].get('namespace')}/{cr['metadata']['name']}" for cr in candidates))
        raise errors.Conflict(f"plugin id {plugin_id!r} is claimed by several Plugin resources: {where}")
    return Located(plugin_id, candidates[0], record)


def require_known(deps: ApiDeps, plugin_id: str) -> None:
    """NotFound unless the operator has a row for the plugin (kept after removal, with its history)
    or a watched Plugin claims the id (a new one not mirrored yet has no history, but exists)."""
    record = deps.database.get_plugin(plugin_id)
    if record is not None and (not deps.namespaces or record.namespace in deps.namespaces):
        return
    if not any(views.plugin_id_of(cr) == plugin_id for cr in list_crs(deps)):
        raise errors.NotFound(f"plugin {plugin_id!r} not found")


@contextlib.contextmanager
def changing(deps: ApiDeps, auditor: Auditor, ctx: SecurityCtx, action: str, plugin_id: str) -> Iterator[Located]:
    """The plugin a write route changes, inside its audit entry: a plugin not found is audited too."""
    with auditor.action(ctx, action, plugin_id):
        yield locate(deps, plugin_id)


def annotate_now(deps: ApiDeps, located: Located, annotation: str) -> datetime.datetime:
    """Stamp the Plugin CR with the time under `annotation`: a change the operator reconciles."""
    now = deps.clock()
    deps.kube.patch_plugin(
        located.namespace, located.name, {"metadata": {"annotations": {annotation: now.isoformat()}}}
    )
    return now
