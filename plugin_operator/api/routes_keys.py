"""`/api/analytics/v1/plugins/{id}/keys…`: a plugin's API keys in the operator's encrypted key store.

These are the values of secretRefs with `source: keystore`. Values go in and never come out: the
list shows names and timestamps only. Storing or deleting a key annotates the Plugin CR with the
time (`KEYS_UPDATED_ANNOTATION`), a change the operator reconciles, so the runtime rolls with the
new value (or fails with a message saying which key to store).

Two audit entries per change, on purpose: the API records the management action on the plugin id
(`store_key`, `delete_key` — denials and failures too, like `enable` or `delete`); the key store
records the data change on `<plugin id>/<name>` (`api_key.store`, `api_key.delete`).
"""

from typing import Annotated

import fastapi

from plugin_operator import keystore, models
from plugin_operator.api import lookup, schemas
from plugin_operator.api.access import AuditorDep, require
from plugin_operator.api.deps import PREFIX, ApiDeps, Deps
from plugin_operator.api.params import PluginId
from plugin_operator.security import Role
from plugin_runtime import errors, problems
from plugin_runtime.interface import SecurityCtx

#: Set on a Plugin when its stored keys change: any annotation change makes the operator reconcile it.
KEYS_UPDATED_ANNOTATION = f"{models.GROUP}/keys-updated-at"

KeyName = Annotated[
    str,
    fastapi.Path(
        pattern=r"^[a-z_][a-z0-9_]*$",
        max_length=63,
        description="The name of a secretRef with source keystore",
        examples=["api_key"],
    ),
]


router = fastapi.APIRouter(prefix=PREFIX, tags=["keys"])


def _configured(deps: ApiDeps) -> keystore.Keystore:
    if deps.keystore is None:
        raise errors.PluginUnavailable(f"the key store is not configured: the operator needs {keystore.ENV_VAR}")
    return deps.keystore


@router.get(
    "/plugins/{plugin_id}/keys",
    response_model=schemas.StoredKeyList,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="The plugin's stored API keys: names and timestamps, never values",
)
def list_keys(
    plugin_id: PluginId, _: Annotated[SecurityCtx, fastapi.Depends(require(Role.WRITE))], deps: Deps
) -> schemas.StoredKeyList:
    keys = _configured(deps)
    lookup.locate(deps, plugin_id)
    items = [
        schemas.StoredKeyView(
            name=key.name, created_at=key.created_at, rotated_at=key.rotated_at, last_used_at=key.last_used_at
        )
        for key in keys.stored_keys(plugin_id)
    ]
    return schemas.StoredKeyList(plugin_id=plugin_id, items=items)


@router.put(
    "/plugins/{plugin_id}/keys/{name}",
    status_code=204,
    response_class=fastapi.Response,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Store (or replace) an API key, encrypted; runtimes using it roll with the new value",
)
def store_key(
    plugin_id: PluginId,
    name: KeyName,
    body: schemas.KeyValue,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.ADMIN, action="store_key"))],
    deps: Deps,
    auditor: AuditorDep,
) -> fastapi.Response:
    with lookup.changing(deps, auditor, ctx, "store_key", plugin_id) as located:
        keys = _configured(deps)
        if located.record is None:
            raise errors.Conflict(
                f"plugin {plugin_id!r} is not recorded by the operator yet (it is when the operator first "
                "reconciles the Plugin); retry shortly"
            )
        keys.store(plugin_id, name, body.value.get_secret_value(), actor=ctx.subject)
        lookup.annotate_now(deps, located, KEYS_UPDATED_ANNOTATION)
    return fastapi.Response(status_code=204)


@router.delete(
    "/plugins/{plugin_id}/keys/{name}",
    status_code=204,
    response_class=fastapi.Response,
    responses=problems.responses(400, 401, 403, 404, 409, 503),
    summary="Delete a stored API key; a plugin still referencing it cannot start or roll until one is stored",
)
def delete_key(
    plugin_id: PluginId,
    name: KeyName,
    ctx: Annotated[SecurityCtx, fastapi.Depends(require(Role.ADMIN, action="delete_key"))],
    deps: Deps,
    auditor: AuditorDep,
) -> fastapi.Response:
    with lookup.changing(deps, auditor, ctx, "delete_key", plugin_id) as located:
        keys = _configured(deps)
        if not keys.delete(plugin_id, name, actor=ctx.subject):
            raise errors.NotFound(f"plugin {plugin_id!r} has no stored key named {name!r}")
        lookup.annotate_now(deps, located, KEYS_UPDATED_ANNOTATION)
    return fastapi.Response(status_code=204)
