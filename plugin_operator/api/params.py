"""Request parameter types shared by the routes: validated here, documented in the OpenAPI document.

GTS ids are checked by `plugin_runtime.gts` (so a 400 names the broken rule) while the document
carries the equivalent regular expression, letting clients and schemathesis know what is valid.
"""

from typing import Annotated

import fastapi
import pydantic

from plugin_operator.api import schemas
from plugin_runtime import errors, gts

#: OpenAPI extension marking an operation that forwards undeclared query options (e.g. `step=60s`).
FORWARDS_OTHER_OPTIONS = "x-forwards-other-query-options"

#: A plugin id: `spec.pluginId` (a DNS label) or a Plugin's `metadata.name` (a DNS subdomain).
PLUGIN_ID_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
#: `$select` / `$orderby` as documented: a subset of what `plugin_runtime.odata.parse_params` accepts
#: (it also tolerates spaces around commas). `$filter` has a grammar no JSON Schema can express.
_PROPERTY = r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*"
SELECT_PATTERN = rf"^(\*|{_PROPERTY})(,(\*|{_PROPERTY}))*$"
ORDERBY_PATTERN = rf"^{_PROPERTY}( (asc|desc))?(,{_PROPERTY}( (asc|desc))?)*$"


def _gts_instance(value: str) -> str:
    try:
        gts.parse_instance(value)
    except gts.InvalidGtsId as exc:
        raise ValueError(f"malformed GTS id: {exc.reason}") from None
    return value


PluginId = Annotated[
    str,
    fastapi.Path(
        pattern=PLUGIN_ID_PATTERN,
        max_length=253,
        description="spec.pluginId or metadata.name",
        examples=[schemas.EXAMPLE_PLUGIN_ID],
    ),
]
_GTS_DOC = {"pattern": gts.INSTANCE_ID_PATTERN, "maxLength": gts.MAX_LENGTH}
GtsIdPath = Annotated[
    str,
    fastapi.Path(description="A GTS instance id", examples=[schemas.EXAMPLE_QUERY_ID], json_schema_extra=_GTS_DOC),
    pydantic.AfterValidator(_gts_instance),
]
QueryIdParam = Annotated[
    str,
    fastapi.Query(description="GTS id of the query", examples=[schemas.EXAMPLE_QUERY_ID], json_schema_extra=_GTS_DOC),
    pydantic.AfterValidator(_gts_instance),
]
Limit = Annotated[int, fastapi.Query(ge=1, le=500)]
Offset = Annotated[int, fastapi.Query(ge=0, le=1_000_000)]
Owner = Annotated[str | None, fastapi.Query(max_length=253, description="Owning plugin id")]


async def documented_query_only(request: fastapi.Request) -> None:
    """Refuse query parameters the operation does not document: `?enable=false` must not silently list all.

    The OpenAPI document is the reference, so what is accepted and what is documented cannot drift.
    `async` (it does no I/O) so that FastAPI runs it on the event loop: a sync app-wide dependency
    would send every request, the probes included, through the thread pool that runtime calls fill.
    """
    route = request.scope.get("route")
    operation = request.app.openapi()["paths"].get(getattr(route, "path", None), {}).get(request.method.lower())
    if operation is None or operation.get(FORWARDS_OTHER_OPTIONS):
        return
    declared = {param["name"] for param in operation.get("parameters", []) if param["in"] == "query"}
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        accepted = ", ".join(sorted(declared)) or "none"
        raise errors.InvalidInput(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; accepted here: {accepted}",
            errors=[{"location": f"query.{name}", "message": "unknown query parameter"} for name in unknown],
        )
