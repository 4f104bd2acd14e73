"""The conformance kit: what a plugin developer runs in their own tests before deploying a plugin.

It loads the plugin with the runtime's own loader (manifest, import, interface and init, as in
production), then checks what the runtime relies on, and reports every problem at once:

    load          the manifest, the import, the QueryPlugin methods and `init` (your settings/secrets)
    interface     each method accepts the arguments the runtime passes; before_jwt_sign returns claims
    metadata      `metadata()` is a fixed PluginMetadata with a name and a ContractFormat
    queries       declared queries have valid GTS ids and api_endpoints; fixtures name declared queries
    health        `health_check()` returns a HealthStatus in the state you expect
    capabilities  `capabilities()` (when present) describes a valid `$metadata` entity type
    execution     each `QueryCase` answers with rows, or with the error status you expect
    errors        only PluginError subclasses are raised; hostile input ($filter/$orderby on a property
                  no plugin has) is the caller's error (400/501); no error text quotes a secret
    translation   `translate()` (when present) for each `TranslationCase`, else for each good QueryCase
    shutdown      `shutdown()` returns

and, for every answer, the OData shape (reported as `odata`): $top, $select, $count, $orderby,
the entity set `$metadata` describes, JSON values, properties `capabilities()` declares.

    from plugin_runtime import testing

    def test_conforms() -> None:
        fixtures = testing.Fixtures(queries=[testing.QueryCase(QUERY, {"$top": "2"}, rows=2)])
        testing.check_folder(PLUGIN_FOLDER, fixtures).assert_ok()

A failing report names each problem by check and subject, e.g.
`[odata] gts.…items.v1 {'$top': '2'}: returned 3 rows for $top=2`.
"""

from plugin_runtime.testing.cases import Finding, Fixtures, QueryCase, TranslationCase
from plugin_runtime.testing.runner import ConformanceError, Report, check_entry_point, check_folder, loaded

__all__ = [
    "ConformanceError",
    "Finding",
    "Fixtures",
    "QueryCase",
    "Report",
    "TranslationCase",
    "check_entry_point",
    "check_folder",
    "loaded",
]
