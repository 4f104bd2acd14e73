"""Loading plugins: entry points and plugins-dir folders, and every way a plugin can fail to load."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from plugin_runtime import config, discovery, interface, loader, logs, odata
from plugin_runtime.discovery import Stage
from tests.support import packages

from .support import GOOD_QUERY, plugin_entry


def runtime_config(plugins_dir: Path | None, *entries: dict[str, Any]) -> config.RuntimeConfig:
    return config.RuntimeConfig(plugins=list(entries), plugins_dir=str(plugins_dir) if plugins_dir else None)


def load_one(
    plugins_dir: Path | None, entry: dict[str, Any], environ: dict[str, str] | None = None
) -> loader.LoadedPlugin:
    declarations, rejected = discovery.declare(runtime_config(plugins_dir, entry), plugins_dir=plugins_dir)
    if rejected:
        raise rejected[0]
    environ = environ or {}
    return loader.load(declarations[0], environ=environ, digest=discovery.fingerprint(declarations[0], environ=environ))


def failure(
    plugins_dir: Path | None, entry: dict[str, Any], environ: dict[str, str] | None = None
) -> discovery.LoadError:
    with pytest.raises(discovery.LoadError) as raised:
        load_one(plugins_dir, entry, environ)
    return raised.value


def test_entry_point_plugin_loads_and_initialises() -> None:
    query = {
        "id": "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.metrics.v1",
        "name": "m",
        "category": "c",
        "api_endpoint": "/m",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.row.v1~",
    }
    loaded = load_one(
        None, {"id": "metrics", "version": "3.1.0", "adapter": "localsql", "name": "Metrics", "queries": [query]}
    )
    assert loaded.module_name is None
    # The runtime's id and version are the config's; what the config leaves out comes from the plugin.
    assert (loaded.metadata.id, loaded.metadata.version, loaded.metadata.name) == ("metrics", "3.1.0", "Metrics")
    assert loaded.metadata.contract_format is interface.ContractFormat.ODATA
    result = loaded.instance.execute_query(interface.SecurityCtx("t"), query["id"], _params(top=2))
    assert len(result.rows) == 2
    loaded.instance.shutdown()


def _params(**options: Any) -> odata.ODataParams:
    return odata.parse_params({f"${k}": str(v) for k, v in options.items()})


def test_third_party_entry_point_is_discovered_from_installed_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_plugin.py").write_text((Path(__file__).parent / "plugins/good/good.py").read_text())
    dist = tmp_path / "acme_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hyperspot.analytics.plugins]\nacme = acme_plugin:GoodPlugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_one(None, {"id": "acme-1", "version": "1.0", "adapter": "acme", "settings": {"rows": 3}})
    assert type(loaded.instance).__name__ == "GoodPlugin"
    assert loaded.config.settings == {"rows": 3}
    sys.modules.pop("acme_plugin", None)


def test_unknown_entry_point_is_an_import_error() -> None:
    error = failure(None, {"id": "x", "version": "1", "adapter": "no-such-adapter"})
    assert (error.plugin_id, error.stage) == ("x", Stage.IMPORT)
    assert "no entry point 'no-such-adapter'" in error.message


def test_folder_plugin_loads_under_a_private_module_name(plugins_dir: Path) -> None:
    loaded = load_one(plugins_dir, plugin_entry("good", settings={"rows": 2}))
    assert loaded.module_name is not None and loaded.module_name.startswith("hyperspot_plugin__good__1_0_0__")
    assert "good" not in sys.modules  # nothing under the plugin's plain module name
    assert sys.modules[loaded.module_name].GoodPlugin is type(loaded.instance)
    # Manifest defaults are merged under the config's settings; the manifest's queries are used.
    assert loaded.config.settings == {"delay": 0, "rows": 2}
    assert [q.id for q in loaded.config.queries] == [GOOD_QUERY]
    loader.forget_modules(loaded.module_name)
    assert loaded.module_name not in sys.modules


def test_package_plugin_with_relative_imports_and_a_factory_function(plugins_dir: Path) -> None:
    loaded = load_one(plugins_dir, plugin_entry("packaged"))
    result = loaded.instance.execute_query(interface.SecurityCtx("t"), "q", _params())
    assert result.rows == ({"source": "packaged_plugin.rows"},)
    assert f"{loaded.module_name}.rows" in sys.modules
    loader.forget_modules(loaded.module_name or "")
    assert not [name for name in sys.modules if name.startswith(loaded.module_name or "-")]


def test_two_versions_of_one_plugin_coexist(plugins_dir: Path) -> None:
    first = load_one(plugins_dir, plugin_entry("good"))
    (plugins_dir / "good/good.py").write_text((plugins_dir / "good/good.py").read_text().replace('"1.0.0"', '"1.1.0"'))
    (plugins_dir / "good/plugin.yaml").write_text(
        (plugins_dir / "good/plugin.yaml").read_text().replace("1.0.0", "1.1.0")
    )
    second = load_one(plugins_dir, plugin_entry("good") | {"version": "1.1.0"})
    assert first.module_name != second.module_name
    assert (first.metadata.version, second.metadata.version) == ("1.0.0", "1.1.0")
    assert sys.modules[first.module_name or ""].VERSION == "1.0.0"
    assert sys.modules[second.module_name or ""].VERSION == "1.1.0"


def test_malformed_manifest_names_the_missing_fields(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("bad-manifest"))
    assert error.stage is Stage.MANIFEST
    assert "module: Field required" in error.message and "class: Field required" in error.message


def test_manifest_that_is_not_yaml(plugins_dir: Path) -> None:
    (plugins_dir / "good/plugin.yaml").write_text("id: [unclosed")
    assert failure(plugins_dir, plugin_entry("good")).stage is Stage.MANIFEST


def test_import_failure(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("import-error"))
    assert error.stage is Stage.IMPORT
    assert "ModuleNotFoundError" in error.message and "a_module_that_does_not_exist" in error.message
    assert not [name for name in sys.modules if name.startswith("hyperspot_plugin__import_error")]


def test_missing_methods_fail_the_interface_check(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("no-interface"))
    assert error.stage is Stage.INTERFACE
    assert error.message == "missing QueryPlugin methods: execute_query, health_check, shutdown"


def good_copy(plugins_dir: Path, *, version: str) -> dict[str, Any]:
    """A second folder with the 'good' plugin whose manifest claims `version` (the code still says 1.0.0)."""
    folder = plugins_dir / f"good-{version}"
    shutil.copytree(plugins_dir / "good", folder)
    manifest = folder / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", f"version: {version}"))
    return {"id": "good", "version": version, "path": folder.name}


def test_code_and_manifest_must_agree_on_the_version(plugins_dir: Path) -> None:
    error = failure(plugins_dir, good_copy(plugins_dir, version="9.9.9"))
    assert error.stage is Stage.INTERFACE
    assert "1.0.0" in error.message and "9.9.9" in error.message


def test_failing_init_is_reported_without_the_secret_it_quotes(plugins_dir: Path) -> None:
    secret = "s3cr3t-key-value"
    logs.set_secrets([secret])
    try:
        error = failure(plugins_dir, plugin_entry("init-fails", secret_env={"api_key": "KEY"}), {"KEY": secret})
    finally:
        logs.set_secrets([])
    assert error.stage is Stage.INIT
    assert error.message == "ConnectionError: cannot reach the backend with key ***"
    assert secret not in str(error.to_problem())


def test_missing_secret_names_the_secret_and_variable_only(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("good", secret_env={"api_key": "GOOD_API_KEY"}))
    assert error.stage is Stage.INIT
    assert error.message == "secret not provided: api_key (env GOOD_API_KEY)"


def test_secrets_are_read_from_the_environment(plugins_dir: Path) -> None:
    value = "k-8f3a9c"
    loaded = load_one(
        plugins_dir, plugin_entry("good", secret_env={"api_key": "GOOD_API_KEY"}), {"GOOD_API_KEY": value}
    )
    assert loaded.config.secrets == {"api_key": value}
    assert value not in repr(loaded.config)


@pytest.mark.parametrize(
    ("raw", "meant"),
    [
        ("k-1\n", "k-1"),
        ("k-1\r\n", "k-1"),
        ("k-1\n\n", "k-1\n"),
        ("-----BEGIN\nx\n-----END\n", "-----BEGIN\nx\n-----END"),
    ],
)
def test_a_secrets_final_line_break_is_dropped_as_kubectl_from_file_adds_it(
    plugins_dir: Path, raw: str, meant: str
) -> None:
    """Kubernetes hands a `secretKeyRef` over verbatim; the runtime reads it as the operator does."""
    entry = plugin_entry("good", secret_env={"api_key": "GOOD_API_KEY"})
    assert load_one(plugins_dir, entry, {"GOOD_API_KEY": raw}).config.secrets == {"api_key": meant}


def test_config_id_must_match_the_manifest(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("other", path="good"))
    assert error.stage is Stage.MANIFEST and "declares id 'good'" in error.message


@pytest.mark.parametrize(
    "path",
    ["../outside", "good/../../outside", "/etc", "/tmp"],
)
def test_paths_leaving_the_plugins_dir_are_rejected(plugins_dir: Path, path: str) -> None:
    (plugins_dir.parent / "outside").mkdir(exist_ok=True)
    error = failure(plugins_dir, {"id": "good", "version": "1.0.0", "path": path})
    assert error.stage is Stage.MANIFEST
    assert "points outside" in error.message


def test_absolute_path_inside_the_plugins_dir_is_accepted(plugins_dir: Path) -> None:
    loaded = load_one(plugins_dir, plugin_entry("good", path=str(plugins_dir / "good")))
    assert loaded.metadata.version == "1.0.0"


def test_symlinked_folder_pointing_outside_is_rejected(plugins_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (plugins_dir / "good").rename(outside)
    os.symlink(outside, plugins_dir / "good")
    error = failure(plugins_dir, plugin_entry("good"))
    assert error.stage is Stage.MANIFEST and "points outside" in error.message


def test_symlinked_code_file_pointing_outside_is_rejected(plugins_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "evil.py"
    outside.write_text("raise SystemExit('must never run')\n")
    os.symlink(outside, plugins_dir / "good" / "helper.py")
    error = failure(plugins_dir, plugin_entry("good"))
    assert error.stage is Stage.MANIFEST and "helper.py is a symlink out of the plugin folder" in error.message


def test_symlink_loop_is_a_manifest_error(plugins_dir: Path) -> None:
    os.symlink(plugins_dir / "loop", plugins_dir / "loop")
    error = failure(plugins_dir, {"id": "loop", "version": "1", "path": "loop"})
    assert error.stage is Stage.MANIFEST and "cannot be resolved" in error.message


def test_manifest_module_leaving_its_folder_is_rejected(plugins_dir: Path) -> None:
    error = failure(plugins_dir, plugin_entry("escape"))
    assert error.stage is Stage.MANIFEST and "points outside" in error.message


def test_path_plugin_needs_a_plugins_dir() -> None:
    error = failure(None, {"id": "good", "version": "1.0.0", "path": "good"})
    assert "no plugins_dir" in error.message


def test_duplicates_reject_the_later_entry_and_keep_the_first(plugins_dir: Path) -> None:
    cfg = runtime_config(
        plugins_dir,
        plugin_entry("good"),
        good_copy(plugins_dir, version="1.0.1"),  # a second manifest with the id 'good'
        {"id": "metrics", "version": "1", "adapter": "localsql"},
        {"id": "metrics", "version": "2", "adapter": "localsql"},
    )
    declarations, rejected = discovery.declare(cfg, plugins_dir=plugins_dir)
    assert [(d.plugin_id, d.version, d.source) for d in declarations] == [
        ("good", "1.0.0", "plugins-dir:good"),
        ("metrics", "1", "entry-point:localsql"),
    ]
    assert [(e.plugin_id, e.stage, e.message) for e in rejected] == [
        ("good", Stage.MANIFEST, "plugin id is already used by an earlier entry"),
        ("metrics", Stage.MANIFEST, "plugin id is already used by an earlier entry"),
    ]


def test_a_query_id_or_endpoint_served_twice_rejects_the_later_plugin(plugins_dir: Path) -> None:
    query = {
        "id": GOOD_QUERY,
        "name": "again",
        "category": "c",
        "api_endpoint": "/other",
        "capabilities_id": "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.tests._.default.v1",
        "returns_schema_id": "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.tests._.row.v1~",
    }
    cfg = runtime_config(
        plugins_dir,
        plugin_entry("good"),
        {"id": "copy", "version": "1", "adapter": "localsql", "queries": [query]},
        {
            "id": "endpoint",
            "version": "1",
            "adapter": "localsql",
            "queries": [query | {"id": GOOD_QUERY + "x", "api_endpoint": "/tests/good-items/"}],
        },
        {
            "id": "reserved",
            "version": "1",
            "adapter": "localsql",
            "queries": [query | {"id": GOOD_QUERY + "y", "api_endpoint": "/health/live"}],
        },
    )
    declarations, rejected = discovery.declare(cfg, plugins_dir=plugins_dir)
    assert [d.plugin_id for d in declarations] == ["good"]
    assert [e.message for e in rejected] == [
        f"query id {GOOD_QUERY} is already served by 'good'",
        "api_endpoint /tests/good-items is already served by 'good'",
        "api_endpoint '/health/live' is reserved",
    ]


def test_fingerprint_follows_code_config_and_secrets_but_not_enabled(plugins_dir: Path) -> None:
    def digest(entry: dict[str, Any], environ: dict[str, str]) -> str:
        declarations, _ = discovery.declare(runtime_config(plugins_dir, entry), plugins_dir=plugins_dir)
        return discovery.fingerprint(declarations[0], environ=environ)

    entry = plugin_entry("good", secret_env={"api_key": "K"})
    base = digest(entry, {"K": "one"})
    assert digest(entry | {"enabled": False}, {"K": "one"}) == base
    assert digest(entry, {"K": "two"}) != base
    assert digest(entry | {"settings": {"rows": 1}}, {"K": "one"}) != base
    (plugins_dir / "good/extra.py").write_text("X = 1\n")
    assert digest(entry, {"K": "one"}) != base


@pytest.mark.parametrize(
    ("endpoint", "reserved"),
    [
        ("/metrics", True),
        ("/health", True),
        ("/health/live", True),
        ("/$metadata", True),
        ("/odata", True),
        ("/odata/Sales", True),
        ("/queries/x", True),
        ("/admin/reload", True),
        ("/plugins/a/health", True),
        ("/metrics/cpu", False),  # the spec's own example endpoint
        ("/health-report", False),
        ("/queriesx", False),
    ],
)
def test_only_the_runtimes_own_routes_are_reserved(endpoint: str, reserved: bool) -> None:
    assert discovery._reserved(endpoint) is reserved


def test_the_code_version_is_the_folders_or_the_packages_never_a_built_in_adapters(
    plugins_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the operator compares with spec.version: the code's own version where the code is the plugin's."""
    monkeypatch.syspath_prepend(
        str(packages.write_distribution(tmp_path, name="acme-rows", version="2.1.0", entry_point="acme-rows"))
    )
    packaged = load_one(None, {"id": "acme", "version": "9.9.9", "adapter": "acme-rows"})
    folder = load_one(plugins_dir, plugin_entry("good"))
    built_in = load_one(None, {"id": "metrics", "version": "3.1.0", "adapter": "localsql"})

    assert (packaged.code_version, packaged.metadata.version) == ("2.1.0", "9.9.9")
    assert folder.code_version == "1.0.0"
    assert built_in.code_version is None
    for loaded in (packaged, folder, built_in):
        loaded.instance.shutdown()


def test_an_adapter_installed_after_a_failed_lookup_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"id": "late-1", "version": "1.0", "adapter": "late", "settings": {"rows": 1}}
    assert failure(None, entry).stage == Stage.IMPORT  # not installed yet
    (tmp_path / "late_plugin.py").write_text((Path(__file__).parent / "plugins/good/good.py").read_text())
    dist = tmp_path / "late_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hyperspot.analytics.plugins]\nlate = late_plugin:GoodPlugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for _ in range(2):  # found, then found again (from the lookups kept)
        assert type(load_one(None, entry).instance).__name__ == "GoodPlugin"
    sys.modules.pop("late_plugin", None)
