"""The conformance kit passes good plugins and names what is wrong with deliberately broken ones.

The broken plugins are scaffolds with one defect written in, so each case shows the report a plugin
developer would read for that mistake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import plugin_runtime
from plugin_runtime import interface, scaffold, testing

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "plugins" / "hello-world"
HELLO_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.greetings.v1"
NAME = "kit-probe"
QUERY = scaffold.query_id(NAME, vendor="example")
OTHER = scaffold.query_id("other", vendor="example")
MODULE = "kit_probe.py"
FIXTURES = testing.Fixtures(queries=[testing.QueryCase(QUERY, {"$top": "2", "$count": "true"}, rows=2)])


def _plugin(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A fresh scaffold with `replacements` applied to its module (each must apply)."""
    folder = scaffold.create(NAME, tmp_path)
    module = folder / MODULE
    text = module.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    module.write_text(text, encoding="utf-8")
    return folder


def test_the_example_plugin_conforms() -> None:
    fixtures = testing.Fixtures(
        queries=[
            testing.QueryCase(HELLO_QUERY, {"$top": "2", "$count": "true"}, rows=2),
            testing.QueryCase(HELLO_QUERY, {"$filter": "name eq 'Ada'"}, status=501),
            testing.QueryCase(HELLO_QUERY, {"$orderby": "name desc", "$select": "name"}),
        ]
    )

    report = testing.check_folder(HELLO, fixtures)

    assert report.ok, str(report)
    assert report.checks == (
        "load",
        "interface",
        "metadata",
        "queries",
        "health",
        "capabilities",
        "execution",
        "errors",
        "translation",
        "shutdown",
    )
    assert "conforms" in str(report)
    report.assert_ok()


def test_a_fresh_scaffold_conforms(tmp_path: Path) -> None:
    report = testing.check_folder(_plugin(tmp_path), FIXTURES)

    assert report.ok, str(report)


def test_a_built_in_adapter_conforms_through_its_entry_point() -> None:
    query = interface.QueryDefinition(
        id="gts.hypernetix.hyperspot.ax.query.v1~hyperspot.kit._.server_metrics.v1",
        name="Server metrics",
        category="monitoring",
        api_endpoint="/kit/server-metrics",
        capabilities_id="gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.kit._.default.v1",
        returns_schema_id="gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.kit._.server_metrics.v1~",
    )
    fixtures = testing.Fixtures(
        settings={"table": "server_metrics"},
        queries=[
            testing.QueryCase(query.id, {"$top": "3", "$orderby": "cpu_usage desc"}, rows=3),
            testing.QueryCase(query.id, {"$filter": "cpu_usage gt"}, status=400),
        ],
        translations=[testing.TranslationCase(query.id, {"$filter": "cpu_usage gt 80"}, contains="cpu_usage")],
    )

    report = testing.check_entry_point("localsql", queries=[query], fixtures=fixtures)

    assert report.ok, str(report)


BROKEN = [
    pytest.param(
        [("version=VERSION,", 'version="0.2.0",')],
        FIXTURES,
        ["[load] stage interface", "metadata() says kit-probe 0.2.0 but the manifest says kit-probe 0.1.0"],
        id="version-mismatch",
    ),
    pytest.param(
        [("    def shutdown(self) -> None:\n        self._rows = []\n", "")],
        FIXTURES,
        ["[load] stage interface", "missing QueryPlugin methods: shutdown"],
        id="missing-method",
    ),
    pytest.param(
        [
            (
                "def execute_query(self, ctx: pr.SecurityCtx, query_id: str, params: pr.ODataParams)",
                "def execute_query(self, query_id: str, params: pr.ODataParams)",
            )
        ],
        FIXTURES,
        ["[interface] execute_query(): cannot take the runtime's 3 argument(s)"],
        id="wrong-signature",
    ),
    pytest.param(
        [
            (
                "    def shutdown(self) -> None:\n        self._rows = []\n",
                "    def shutdown(self) -> None:\n        self._rows = []\n\n"
                "    def preprocess(self, params: pr.ODataParams) -> pr.ODataParams:\n        return params\n",
            )
        ],
        FIXTURES,
        ["[interface] preprocess(): cannot take the runtime's 3 argument(s)"],
        id="wrong-hook-signature",
    ),
    pytest.param(
        [('name="Kit Probe",', 'name="",')],
        FIXTURES,
        ["[metadata] metadata().name: is empty"],
        id="nameless",
    ),
    pytest.param(
        [
            (
                "page, total, has_more = pr.shape_rows(self._fetch(), params)",
                "page, total, has_more = self._fetch(), 3, False",
            )
        ],
        FIXTURES,
        [f"[odata] {QUERY} {{'$top': '2', '$count': 'true'}}: returned 3 rows for $top=2"],
        id="ignores-top",
    ),
    pytest.param(
        [("count=total if params.count else None", "count=total")],
        testing.Fixtures(queries=[testing.QueryCase(QUERY, {"$top": "1"})]),
        [f"[odata] {QUERY} {{'$top': '1'}}: returned a count without $count=true"],
        id="unasked-count",
    ),
    pytest.param(
        [("entity_set=query.entity_set", 'entity_set="rows"')],
        FIXTURES,
        ["entity_set is 'rows', but $metadata describes the query as 'items'"],
        id="wrong-entity-set",
    ),
    pytest.param(
        [("return [dict(row) for row in self._rows]", "return [{**row, 'extra': 1} for row in self._rows]")],
        FIXTURES,
        ["rows carry ['extra'], which capabilities() does not declare"],
        id="undeclared-property",
    ),
    pytest.param(
        [
            (
                'raise pr.InvalidQuery(f"$orderby: unknown property {unknown[0]!r}", option="$orderby")',
                "raise KeyError(unknown[0])",
            )
        ],
        FIXTURES,
        [
            f"[errors] {QUERY} {{'$orderby': 'conformance_no_such_property desc'}}: raised KeyError",
            "which the runtime answers with 500 plugin failure",
        ],
        id="raises-non-plugin-error",
    ),
    pytest.param(
        [
            (
                'raise pr.InvalidQuery(f"$orderby: unknown property {unknown[0]!r}", option="$orderby")',
                'raise pr.BackendError("backend refused")',
            )
        ],
        FIXTURES,
        ["raised BackendError (502): backend refused: a property the plugin does not know is the caller's error"],
        id="hostile-input-as-backend-error",
    ),
    pytest.param(
        [
            ('hint="not translated yet"', "hint=self._secret"),
            (
                "self._rows = [dict(row) for row in rows]",
                'self._rows = [dict(row) for row in rows]\n        self._secret = config.secrets["token"]',
            ),
        ],
        testing.Fixtures(
            secrets={"token": "s3cr3t\nline two"},
            queries=[testing.QueryCase(QUERY, {"$filter": "value gt 1"}, status=501)],
        ),
        ["the error text contains a secret value"],
        id="secret-in-error",
    ),
    pytest.param(
        [
            (
                "return pr.HealthStatus(pr.HealthState.HEALTHY)",
                'return pr.HealthStatus(pr.HealthState.UNHEALTHY, message="backend down")',
            )
        ],
        FIXTURES,
        ["[health] health_check(): reports unhealthy (backend down), expected healthy"],
        id="unhealthy",
    ),
    pytest.param(
        [
            (
                "if params.filter is not None:",
                "if params.top == 2:\n            __import__('time').sleep(5)\n        if params.filter is not None:",
            )
        ],
        testing.Fixtures(queries=FIXTURES.queries, timeout_seconds=0.5),
        [f"[execution] {QUERY} {{'$top': '2', '$count': 'true'}}: did not return within 0.5s"],
        id="hangs",
    ),
    pytest.param(
        [('{"properties": PROPERTIES, "key": ["name"]}', '{"properties": {"name": "string"}, "key": ["id"]}')],
        FIXTURES,
        ["property 'name' has type 'string', not an Edm type", "key 'id' is not a declared property"],
        id="bad-capabilities",
    ),
    pytest.param(
        [],
        testing.Fixtures(
            queries=[testing.QueryCase(QUERY, {"$top": "2"}, status=501)], translations=[testing.TranslationCase(QUERY)]
        ),
        [
            f"[execution] {QUERY} {{'$top': '2'}}: expected 501, but it answered with rows",
            "a fixture asks for a translation, but the plugin has no translate()",
        ],
        id="unmet-expectations",
    ),
    pytest.param(
        [],
        testing.Fixtures(queries=[testing.QueryCase(OTHER)]),
        [f"[queries] {OTHER}: a fixture names this query, but the plugin does not declare it"],
        id="undeclared-fixture-query",
    ),
    pytest.param(
        [("import plugin_runtime as pr", "import plugin_runtime as pr\nimport no_such_library")],
        FIXTURES,
        ["[load] stage import: ModuleNotFoundError: No module named 'no_such_library'"],
        id="import-error",
    ),
]


@pytest.mark.parametrize(("replacements", "fixtures", "messages"), BROKEN)
def test_a_broken_plugin_is_reported_with_what_is_wrong(
    tmp_path: Path, replacements: list[tuple[str, str]], fixtures: testing.Fixtures, messages: list[str]
) -> None:
    report = testing.check_folder(_plugin(tmp_path, *replacements), fixtures)
    text = str(report)

    assert not report.ok
    for message in messages:
        assert message in text, text
    with pytest.raises(testing.ConformanceError) as raised:
        report.assert_ok()
    assert str(raised.value) == text


def test_a_broken_manifest_is_reported(tmp_path: Path) -> None:
    folder = _plugin(tmp_path)
    manifest = folder / "plugin.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("class: KitProbePlugin", "class: Missing"))

    report = testing.check_folder(folder, FIXTURES)

    assert report.checks == ("load",)
    assert "[load] stage import: module 'kit_probe.py' has no attribute 'Missing'" in str(report)


def test_loaded_gives_the_initialised_instance_for_unit_tests(tmp_path: Path) -> None:
    with testing.loaded(_plugin(tmp_path), settings={"rows": [{"name": "z", "value": 9}]}) as plugin:
        assert plugin.metadata().id == NAME
        result = plugin.execute_query(interface.SecurityCtx("me"), QUERY, plugin_runtime.parse_params({}))

    assert [dict(row) for row in result.rows] == [{"name": "z", "value": 9}]
