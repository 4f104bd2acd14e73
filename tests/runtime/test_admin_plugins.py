"""One plugin at a time through the admin API (`PUT`/`DELETE /admin/plugins/{id}`): how the operator
changes one member of a shared runtime without touching the others; and `/metadata?plugin=`."""

from __future__ import annotations

from pathlib import Path

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry
from .test_server import ADMIN, ADMIN_HEADERS, assert_problem


def _config(plugins_dir: Path) -> dict[str, object]:
    return {"plugins_dir": str(plugins_dir), "drain_seconds": 0.2, "plugins": [plugin_entry("good")]}


def test_a_plugin_is_added_replaced_and_removed_and_its_neighbour_is_never_reloaded(
    serve: Serve, plugins_dir: Path
) -> None:
    with serve(_config(plugins_dir), environ=ADMIN) as runtime:
        neighbour = runtime.host.slots["good"].instance
        added = runtime.client.put(
            f"{runtime.url}/admin/plugins/flaky", json=plugin_entry("flaky"), headers=ADMIN_HEADERS
        )
        assert added.status_code == 200, added.text
        assert added.json() == {"plugin_id": "flaky", "state": "Active", "version": "1.0.0", "load_error": None}
        assert runtime.get("/plugins/flaky/health").json()["status"] == "healthy"

        replaced = plugin_entry("flaky", settings={"rows": 3})
        assert (
            runtime.client.put(f"{runtime.url}/admin/plugins/flaky", json=replaced, headers=ADMIN_HEADERS).json()[
                "load_error"
            ]
            is None
        )
        assert runtime.host.slots["flaky"].instance.loaded.config.settings["rows"] == 3  # type: ignore[union-attr]

        removed = runtime.client.delete(f"{runtime.url}/admin/plugins/flaky", headers=ADMIN_HEADERS)
        assert removed.status_code == 204
        assert "flaky" not in runtime.host.slots
        assert_problem(
            runtime.client.delete(f"{runtime.url}/admin/plugins/flaky", headers=ADMIN_HEADERS), 404, "not-found"
        )

        assert runtime.host.slots["good"].instance is neighbour  # the same instance throughout: never reloaded
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200


def test_an_entry_that_fails_to_load_leaves_the_serving_one_and_says_so(serve: Serve, plugins_dir: Path) -> None:
    with serve(_config(plugins_dir), environ=ADMIN) as runtime:
        serving = runtime.host.slots["good"].instance
        broken = {**plugin_entry("good"), "path": "init-fails"}
        answer = runtime.client.put(f"{runtime.url}/admin/plugins/good", json=broken, headers=ADMIN_HEADERS).json()
        assert answer["state"] == "Active" and answer["load_error"]
        assert runtime.host.slots["good"].instance is serving
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
        described = runtime.get("/metadata", params={"plugin": "good"}).json()
        [good] = described["plugins"]
        assert good["last_reload_error"]["plugin_id"] == "good"  # what the operator's check reads


def test_a_bad_entry_or_caller_is_refused(serve: Serve, plugins_dir: Path) -> None:
    with serve(_config(plugins_dir), environ=ADMIN) as runtime:
        url = f"{runtime.url}/admin/plugins/flaky"
        assert_problem(runtime.client.put(url, json=plugin_entry("flaky")), 401, "unauthenticated")
        assert_problem(runtime.client.delete(f"{runtime.url}/admin/plugins/good"), 401, "unauthenticated")
        mismatch = runtime.client.put(url, json=plugin_entry("good"), headers=ADMIN_HEADERS)
        assert "is not 'flaky'" in assert_problem(mismatch, 400, "invalid-input")["detail"]
        unknown_field = runtime.client.put(
            url, json={"id": "flaky", "version": "1", "surprise": 1}, headers=ADMIN_HEADERS
        )
        assert_problem(unknown_field, 400, "invalid-input")
        assert set(runtime.host.slots) == {"good"}


def test_metadata_of_one_plugin(serve: Serve, plugins_dir: Path) -> None:
    config = {**_config(plugins_dir), "plugins": [plugin_entry("good"), plugin_entry("flaky")]}
    with serve(config, environ=ADMIN) as runtime:
        everything = runtime.get("/metadata").json()
        assert {p["id"] for p in everything["plugins"]} == {"good", "flaky"}
        one = runtime.get("/metadata", params={"plugin": "flaky"}).json()
        assert [p["id"] for p in one["plugins"]] == ["flaky"] and one["errors"] == []
        assert runtime.get("/metadata", params={"plugin": "nope"}).json()["plugins"] == []
