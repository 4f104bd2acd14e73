"""The plugin developer's kit: everything a plugin needs, importable from `plugin_runtime`.

A plugin is a class with the `QueryPlugin` methods. It receives and returns the frozen values
below, raises the `PluginError` subclasses below for anything that goes wrong (the runtime maps
each to its RFC 7807 status), and uses the OData helpers for what its backend cannot do itself::

    import plugin_runtime as pr

    class MyPlugin:
        def metadata(self) -> pr.PluginMetadata: ...
        def init(self, config: pr.PluginConfig) -> None: ...
        def before_jwt_sign(self, ctx: pr.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]: ...
        def execute_query(self, ctx: pr.SecurityCtx, query_id: str, params: pr.ODataParams) -> pr.QueryResult: ...
        def health_check(self) -> pr.HealthStatus: ...
        def shutdown(self) -> None: ...

`plugin-runtime new NAME` scaffolds a plugin folder that uses this kit; `plugin_runtime.testing`
is the conformance kit its tests run. The names in `__all__` are the kit's public API (pinned by
`tests/unit/test_public_api.py`); the submodules behind them are the runtime's own and may change.
"""

from plugin_runtime.errors import (
    BackendAuthFailed,
    BackendError,
    BackendTimeout,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidQuery,
    NotFound,
    NotSupported,
    PluginError,
    PluginUnavailable,
    Unauthenticated,
)
from plugin_runtime.interface import (
    ContractFormat,
    DependencyHealth,
    HealthState,
    HealthStatus,
    PluginConfig,
    PluginMetadata,
    ProcessingPlugin,
    QueryDefinition,
    QueryPlugin,
    QueryResult,
    SecurityCtx,
    TranslatingPlugin,
    Translation,
)
from plugin_runtime.odata import ODataParams, OrderBy, parse_params, shape_rows, unsupported
from plugin_runtime.tokens import current_outgoing_token

__all__ = [
    "BackendAuthFailed",
    "BackendError",
    "BackendTimeout",
    "Conflict",
    "ContractFormat",
    "DependencyHealth",
    "Forbidden",
    "HealthState",
    "HealthStatus",
    "InvalidInput",
    "InvalidQuery",
    "NotFound",
    "NotSupported",
    "ODataParams",
    "OrderBy",
    "PluginConfig",
    "PluginError",
    "PluginMetadata",
    "PluginUnavailable",
    "ProcessingPlugin",
    "QueryDefinition",
    "QueryPlugin",
    "QueryResult",
    "SecurityCtx",
    "TranslatingPlugin",
    "Translation",
    "Unauthenticated",
    "current_outgoing_token",
    "parse_params",
    "shape_rows",
    "unsupported",
]
