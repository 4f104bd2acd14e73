"""The example plugin's own tests, as a plugin developer writes them: the conformance kit, then behaviour.

python -m pytest examples/plugins/hello-world/tests
"""

from __future__ import annotations

from pathlib import Path

import plugin_runtime as pr
from plugin_runtime import testing

FOLDER = Path(__file__).resolve().parents[1]
QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.greetings.v1"


def test_the_plugin_passes_the_conformance_kit() -> None:
    fixtures = testing.Fixtures(
        settings={"names": ["Ada", "Grace"]},
        queries=[
            # Two configured names and the caller: three greetings.
            testing.QueryCase(QUERY, {"$count": "true"}, rows=3),
            testing.QueryCase(QUERY, {"$orderby": "name desc", "$top": "2", "$select": "message"}, rows=2),
            testing.QueryCase(QUERY, {"$filter": "name eq 'Ada'"}, status=501),
        ],
    )

    testing.check_folder(FOLDER, fixtures).assert_ok()


def test_the_caller_is_greeted_too() -> None:
    with testing.loaded(FOLDER, settings={"greeting": "Hi", "names": ["Ada"]}) as plugin:
        result = plugin.execute_query(pr.SecurityCtx("linus"), QUERY, pr.parse_params({}))

    assert [row["message"] for row in result.rows] == ["Hi, Ada!", "Hi, linus!"]


def test_names_must_be_strings() -> None:
    report = testing.check_folder(FOLDER, testing.Fixtures(settings={"names": [1, 2]}))

    assert "settings.names must be a list of strings" in str(report)
