"""`plugin-runtime new NAME`: a plugin folder that loads, passes the conformance kit and deploys as it is.

    NAME/
      plugin.yaml          the manifest (id, version, module, class, settings, queries)
      NAME_module.py       the plugin: rows from its settings, shaped with the kit's OData helpers
      tests/test_plugin.py the conformance kit and a unit test (`python -m pytest NAME/tests`)
      deploy/plugin.yaml   the Plugin resource that deploys it (`kubectl apply -f NAME/deploy/`)
      README.md            scaffold → test → deploy

The folder goes in the runtime's plugins directory (`spec.path: NAME`). Everything is rendered from
the name alone, so a fresh scaffold is the starting point every plugin developer shares.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from plugin_runtime import gts

__all__ = ["InvalidName", "create", "query_id"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")


class InvalidName(ValueError):
    """The plugin name cannot become a plugin id, a Python module and a GTS id segment."""


def _identifier(name: str) -> str:
    return name.replace("-", "_")


def query_id(name: str, *, vendor: str) -> str:
    """The GTS id of the scaffold's one query: `…query.v1~<vendor>.<name>._.items.v1`."""
    return f"{gts.QUERY_TYPE}{vendor}.{_identifier(name)}._.items.v1"


_MANIFEST = string.Template("""\
# The manifest of a plugins-directory plugin: the runtime loads `module` from this folder and
# instantiates `class` with no arguments. `version` must equal what the code's metadata() returns.
id: $name
name: $title
version: 0.1.0
module: $module.py
class: $cls
author: $vendor
description: $title serves the rows of its settings; replace them with your backend.
contract_format: custom
settings:            # defaults; the Plugin's spec.config overrides them key by key
  rows:
    - {name: alpha, value: 3}
    - {name: beta, value: 1}
    - {name: gamma, value: 2}
queries:             # used when the Plugin declares none
  - id: $query
    name: $title items
    category: examples
    description: The rows of the plugin's settings.
    api_endpoint: /$name/items
    capabilities_id: gts.hypernetix.hyperspot.ax.query_capabilities.v1~$vendor.$module._.default.v1
    returns_schema_id: gts.hypernetix.hyperspot.ax.schema.v1~$vendor.$module._.item.v1~
""")

_MODULE = string.Template('''\
"""$title: a plugin scaffolded by `plugin-runtime new $name`.

It serves rows held in its settings; replace `_fetch` with calls to your backend. `$$orderby`,
`$$top`, `$$skip`, `$$select` and `$$count` are applied by `shape_rows`; `$$filter` is refused with 501
(say so rather than ignore it) until you translate it for your backend.
"""

from __future__ import annotations

from typing import Any

import plugin_runtime as pr

VERSION = "0.1.0"  # must equal plugin.yaml's version: the runtime checks that code and manifest agree
PROPERTIES = {"name": "Edm.String", "value": "Edm.Int64"}


class $cls:
    """The $name plugin."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._queries: dict[str, pr.QueryDefinition] = {}

    def metadata(self) -> pr.PluginMetadata:
        return pr.PluginMetadata(
            id="$name",
            name="$title",
            version=VERSION,
            author="$vendor",
            description="$title serves the rows of its settings; replace them with your backend.",
            contract_format=pr.ContractFormat.CUSTOM,
        )

    def init(self, config: pr.PluginConfig) -> None:
        rows = config.settings.get("rows", [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) and set(row) <= set(PROPERTIES) for row in rows):
            raise pr.InvalidInput(f"settings.rows must be a list of objects with the properties {sorted(PROPERTIES)}")
        self._rows = [dict(row) for row in rows]
        self._queries = {query.id: query for query in config.queries}

    def before_jwt_sign(self, ctx: pr.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        return claims

    def execute_query(self, ctx: pr.SecurityCtx, query_id: str, params: pr.ODataParams) -> pr.QueryResult:
        query = self._queries.get(query_id)
        if query is None:
            raise pr.NotFound(f"$name serves no query {query_id!r}")
        if params.filter is not None:
            raise pr.unsupported("$$filter", source=params.filter, adapter="$name", hint="not translated yet")
        unknown = sorted({order.property for order in params.orderby} - set(PROPERTIES))
        if unknown:
            raise pr.InvalidQuery(f"$$orderby: unknown property {unknown[0]!r}", option="$$orderby")
        page, total, has_more = pr.shape_rows(self._fetch(), params)
        return pr.QueryResult(
            rows=tuple(page), entity_set=query.entity_set, count=total if params.count else None, has_more=has_more
        )

    def capabilities(self, query_id: str) -> dict[str, Any]:
        """The row type `$$metadata` describes for every query of this plugin."""
        return {"properties": PROPERTIES, "key": ["name"]}

    def health_check(self) -> pr.HealthStatus:
        return pr.HealthStatus(pr.HealthState.HEALTHY)

    def shutdown(self) -> None:
        self._rows = []

    def _fetch(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows]
''')

_TESTS = string.Template('''\
"""The $name plugin's tests: the conformance kit with this plugin's fixtures, and its own behaviour.

Run them with `python -m pytest tests`.
"""

from __future__ import annotations

from pathlib import Path

import plugin_runtime as pr
from plugin_runtime import testing

FOLDER = Path(__file__).resolve().parents[1]
QUERY = "$query"

FIXTURES = testing.Fixtures(
    queries=[
        testing.QueryCase(QUERY, {"$$top": "2", "$$count": "true"}, rows=2),
        testing.QueryCase(QUERY, {"$$orderby": "value desc", "$$select": "name"}, rows=3),
        testing.QueryCase(QUERY, {"$$filter": "value gt 1"}, status=501),
        testing.QueryCase(QUERY, {"$$top": "-1"}, status=400),
    ],
)


def test_the_plugin_passes_the_conformance_kit() -> None:
    testing.check_folder(FOLDER, FIXTURES).assert_ok()


def test_rows_come_from_the_settings_in_the_order_asked() -> None:
    settings = {"rows": [{"name": "x", "value": 1}, {"name": "y", "value": 2}]}
    with testing.loaded(FOLDER, settings=settings) as plugin:
        result = plugin.execute_query(pr.SecurityCtx("me"), QUERY, pr.parse_params({"$$orderby": "value desc"}))

    assert [row["name"] for row in result.rows] == ["y", "x"]
''')

_DEPLOY = string.Template("""\
# The Plugin that deploys this folder: `kubectl apply -f deploy/`. The folder must be in the
# plugins image (PLUGIN_OPERATOR_PLUGINS_IMAGE; `make run`'s is examples/plugins/).
apiVersion: analytics.hyperspot.io/v1alpha1
kind: Plugin
metadata:
  name: $name
  namespace: default
spec:
  version: 0.1.0
  contractFormat: custom
  path: $name
  queries:
    - id: $query
      name: $title items
      category: examples
      apiEndpoint: /$name/items
      capabilitiesId: gts.hypernetix.hyperspot.ax.query_capabilities.v1~$vendor.$module._.default.v1
      returnsSchemaId: gts.hypernetix.hyperspot.ax.schema.v1~$vendor.$module._.item.v1~
""")

_README = string.Template("""\
# $title

Scaffolded by `plugin-runtime new $name`.

1. **Write** the plugin in `$module.py` (the kit: `import plugin_runtime as pr`), its defaults and
   queries in `plugin.yaml`.
2. **Test**: `python -m pytest tests` runs the conformance kit (`plugin_runtime.testing`) with the
   fixtures in `tests/test_plugin.py`, and your own tests.
3. **Try** it: `plugin-runtime --validate --config runtime.yaml` with a config naming `path: $name`.
4. **Deploy**: put this folder in the runtime's plugins directory and `kubectl apply -f deploy/`.
""")


def create(name: str, directory: Path, *, vendor: str = "example") -> Path:
    """Write the plugin folder `directory/name` and return it; an existing folder is never overwritten."""
    if not _NAME.fullmatch(name) or "--" in name:
        raise InvalidName(f"{name!r}: use 2-42 lowercase letters, digits and single dashes, starting with a letter")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", vendor):
        raise InvalidName(f"vendor {vendor!r}: use lowercase letters, digits and underscores")
    folder = directory / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    module = _identifier(name)
    values = {
        "name": name,
        "module": module,
        "cls": "".join(part.capitalize() for part in module.split("_")) + "Plugin",
        "title": name.replace("-", " ").title(),
        "vendor": vendor,
        "query": query_id(name, vendor=vendor),
    }
    gts.parse_instance(values["query"], of_type=gts.QUERY_TYPE)  # the name makes a valid id, or fail here
    files = {
        "plugin.yaml": _MANIFEST,
        f"{module}.py": _MODULE,
        "tests/test_plugin.py": _TESTS,
        "deploy/plugin.yaml": _DEPLOY,
        "README.md": _README,
    }
    for relative, template in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.substitute(values), encoding="utf-8")
    return folder
