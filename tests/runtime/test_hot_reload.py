"""Hot reload: new code in the plugins directory, a re-read config, rotated secrets — swapped in
without dropping in-flight queries, and never at the price of a working version."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

import httpx

from plugin_runtime import host

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry, query_id, wait_for, write_config

ADMIN = {"PLUGIN_RUNTIME_ADMIN_TOKEN": "t0k3n"}
ADMIN_HEADERS = {"Authorization": "Bearer t0k3n"}


def bump_version(folder: Path, version: str, *, code: str | None = None) -> None:
    manifest = folder / "plugin.yaml"
    manifest.write_text(
        "\n".join(
            f"version: {version}" if line.startswith("version:") else line for line in manifest.read_text().splitlines()
        )
        + "\n"
    )
    source = folder / "good.py"
    text = code if code is not None else source.read_text()
    source.write_text(
        "\n".join(f'VERSION = "{version}"' if line.startswith("VERSION = ") else line for line in text.splitlines())
        + "\n"
    )


def served_version(runtime: Any) -> str:
    return str(runtime.get("/plugins/good/health").json()["version"])


def good_config(plugins_dir: Path, marker: Path, **settings: Any) -> dict[str, Any]:
    return {
        "plugins_dir": str(plugins_dir),
        "watch_interval_seconds": 0.1,
        "drain_seconds": 5,
        "plugins": [plugin_entry("good", settings={"shutdown_marker": str(marker), **settings})],
    }


def test_new_version_swaps_in_while_the_in_flight_query_finishes_on_the_old(
    serve: Serve, plugins_dir: Path, tmp_path: Path
) -> None:
    marker, gate = tmp_path / "shutdowns.txt", tmp_path / "gate"
    with serve(good_config(plugins_dir, marker, gate=str(gate)), environ=ADMIN) as runtime:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.get, f"{runtime.url}/queries/{GOOD_QUERY}?$top=1", timeout=30)
            wait_for(Path(f"{gate}.entered").exists, what="the query to be running on 1.0.0")
            bump_version(plugins_dir / "good", "1.1.0")
            wait_for(lambda: served_version(runtime) == "1.1.0", what="the watcher to load 1.1.0")
            assert not in_flight.done()  # held by the gate: the swap happened while it ran
            assert not marker.exists()  # the old instance still has a query running
            gate.touch()
            assert in_flight.result().json()["value"][0]["version"] == "1.0.0"
        wait_for(marker.exists, what="the old instance's shutdown")
        assert marker.read_text() == "1.0.0\n"
        assert runtime.get(f"/queries/{GOOD_QUERY}?$top=1").json()["value"][0]["version"] == "1.1.0"
        assert 'plugin_runtime_reloads_total{outcome="success",plugin="good"} 2.0' in runtime.get("/metrics").text


def test_a_new_version_that_fails_keeps_the_old_one_serving_and_says_why(
    serve: Serve, plugins_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "shutdowns.txt"
    folder = plugins_dir / "good"
    working_code = (folder / "good.py").read_text()
    with serve(good_config(plugins_dir, marker), environ=ADMIN) as runtime:
        bump_version(folder, "1.2.0", code=working_code + "\nraise ImportError('1.2.0 is broken')\n")

        def reported() -> dict[str, Any] | None:
            plugin = runtime.get("/health").json()["plugins"][0]
            return plugin["last_reload_error"]  # type: ignore[no-any-return]

        wait_for(lambda: reported() is not None, what="the failed reload to be reported")
        assert reported() == {"plugin_id": "good", "stage": "import", "message": "ImportError: 1.2.0 is broken"}
        described = runtime.get("/metadata").json()
        assert described["errors"] == [reported()]
        metadata = described["plugins"][0]
        assert metadata["last_reload_error"]["stage"] == "import" and metadata["version"] == "1.0.0"
        assert runtime.get(f"/queries/{GOOD_QUERY}?$top=1").json()["value"][0]["version"] == "1.0.0"
        assert served_version(runtime) == "1.0.0" and not marker.exists()
        assert 'plugin_runtime_reloads_total{outcome="failure",plugin="good"} 1.0' in runtime.get("/metrics").text
        # Fixing the code is picked up like any change, and clears the error.
        bump_version(folder, "1.2.1", code=working_code)
        wait_for(lambda: served_version(runtime) == "1.2.1", what="the fixed version")
        assert reported() is None
        wait_for(marker.exists, what="the old instance's shutdown")


def test_admin_reload_applies_config_changes_adds_and_removes_plugins(
    serve: Serve, plugins_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "shutdowns.txt"
    config = good_config(plugins_dir, marker)
    with serve(config, environ=ADMIN) as runtime:
        assert runtime.get(f"/queries/{GOOD_QUERY}?$count=true").json()["@odata.count"] == 25
        runtime.rewrite_config(
            config | {"plugins": [plugin_entry("good", settings={"rows": 3, "shutdown_marker": str(marker)})]}
        )
        report = runtime.post("/admin/reload", headers=ADMIN_HEADERS)
        assert report.status_code == 200 and report.json()["plugins"][0]["version"] == "1.0.0"
        assert runtime.get(f"/queries/{GOOD_QUERY}?$count=true").json()["@odata.count"] == 3
        wait_for(marker.exists, what="the previous instance's shutdown")
        # Replace 'good' by 'packaged': one is shut down and unrouted, the other served.
        runtime.rewrite_config(config | {"plugins": [plugin_entry("packaged")]})
        assert runtime.post("/admin/reload", headers=ADMIN_HEADERS).status_code == 200
        assert runtime.get(f"/queries/{query_id('packaged')}").json()["value"] == [{"source": "packaged_plugin.rows"}]
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 404
        wait_for(lambda: marker.read_text().count("1.0.0") == 2, what="the removed plugin's shutdown")
        assert [p["id"] for p in runtime.get("/metadata").json()["plugins"]] == ["packaged"]


def test_unchanged_plugins_are_not_reinitialised_by_a_reload(serve: Serve, plugins_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "shutdowns.txt"
    config = good_config(plugins_dir, marker)
    with serve(config, environ=ADMIN) as runtime:
        before = runtime.host.slots["good"].instance
        runtime.rewrite_config(config | {"plugins": config["plugins"] + [plugin_entry("packaged")]})
        assert runtime.post("/admin/reload", headers=ADMIN_HEADERS).status_code == 200
        assert runtime.host.slots["good"].instance is before
        assert not marker.exists()


def test_a_broken_config_file_keeps_everything_serving(serve: Serve, plugins_dir: Path, tmp_path: Path) -> None:
    with serve(good_config(plugins_dir, tmp_path / "m"), environ=ADMIN) as runtime:
        runtime.config_path.write_text("plugins: [{id: x}]\n")
        response = runtime.post("/admin/reload", headers=ADMIN_HEADERS)
        assert response.status_code == 400
        assert "is invalid" in response.json()["detail"]
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200
        assert "is invalid" in runtime.get("/health").json()["last_reload_error"]


def test_rotated_secret_reinitialises_the_plugin(serve: Serve, plugins_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "shutdowns.txt"
    config = good_config(plugins_dir, marker)
    config["plugins"][0]["secret_env"] = {"api_key": "GOOD_KEY"}
    with serve(config, environ={**ADMIN, "GOOD_KEY": "first"}) as runtime:
        first = runtime.host.slots["good"].instance
        assert first is not None and first.loaded.config.secrets == {"api_key": "first"}
        runtime.host.environ["GOOD_KEY"] = "rotated-k3y-2"  # type: ignore[index]
        assert runtime.post("/admin/reload", headers=ADMIN_HEADERS).status_code == 200
        second = runtime.host.slots["good"].instance
        assert second is not first and second is not None
        assert second.loaded.config.secrets == {"api_key": "rotated-k3y-2"}
        assert "rotated-k3y-2" not in runtime.post("/admin/reload", headers=ADMIN_HEADERS).text
        wait_for(marker.exists, what="the instance holding the old secret to shut down")


def test_a_plugin_that_never_loaded_answers_503_and_recovers_on_reload(
    serve: Serve, plugins_dir: Path, tmp_path: Path
) -> None:
    config = good_config(plugins_dir, tmp_path / "m")
    config["plugins"][0]["secret_env"] = {"api_key": "GOOD_KEY"}
    with serve(config, environ=ADMIN) as runtime:
        response = runtime.get(f"/queries/{GOOD_QUERY}")
        assert response.status_code == 503
        assert response.json()["detail"] == "plugin 'good' failed to load: secret not provided: api_key (env GOOD_KEY)"
        health = runtime.get("/plugins/good/health")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        overview = runtime.get("/health")
        assert overview.status_code == 503 and overview.json()["plugins"][0]["state"] == "Failed"
        runtime.host.environ["GOOD_KEY"] = "now-set"  # type: ignore[index]
        assert runtime.post("/admin/reload", headers=ADMIN_HEADERS).status_code == 200
        assert runtime.get(f"/queries/{GOOD_QUERY}").status_code == 200


def test_a_folder_copied_in_two_steps_is_loaded_only_once_it_has_settled(plugins_dir: Path, tmp_path: Path) -> None:
    """The watcher's rule, scan by scan: the half-copied folder (manifest of 1.3.0, code still
    1.0.0 — a version mismatch the loader would refuse) is never loaded, not even tried."""
    folder = plugins_dir / "good"
    config = good_config(plugins_dir, tmp_path / "m") | {"watch_interval_seconds": None}  # scans driven here
    plugin_host = host.PluginHost(config_path=write_config(tmp_path, config), environ={})

    async def scenario() -> None:
        await plugin_host.start()
        try:
            slot = plugin_host.slots["good"]
            first = slot.instance
            assert first is not None and first.loaded.metadata.version == "1.0.0"
            manifest = (folder / "plugin.yaml").read_text().replace("version: 1.0.0", "version: 1.3.0")
            (folder / "plugin.yaml").write_text(manifest)  # step 1: the manifest arrives
            assert await plugin_host.rescan() is False
            assert slot.instance is first and slot.load_error is None, "the half-copied folder was loaded"
            code = (folder / "good.py").read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.3.0"')
            (folder / "good.py").write_text(code)  # step 2: its code, before the next scan
            assert await plugin_host.rescan() is False  # changed since the last scan: not settled yet
            assert slot.instance is first and slot.load_error is None
            assert await plugin_host.rescan() is True  # the same for one scan: loaded whole
            assert slot.load_error is None and slot.instance is not None and slot.instance is not first
            assert slot.instance.loaded.metadata.version == "1.3.0"
            assert await plugin_host.rescan() is False  # nothing new
        finally:
            await plugin_host.close()

    asyncio.run(scenario())
