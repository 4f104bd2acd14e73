"""`plugin-runtime new NAME`: the folder it writes passes its own tests and loads with the real loader.

(Deploying it through the operator with its own Plugin manifest: tests/e2e/test_scaffold_deploy.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from plugin_operator import models
from plugin_runtime import scaffold

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _new(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "plugin-runtime"), "new", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_the_scaffold_passes_its_own_tests_and_loads_with_the_runtime(tmp_path: Path) -> None:
    created = _new("sales-orders", "--dir", str(tmp_path), "--vendor", "acme", cwd=tmp_path)
    folder = tmp_path / "sales-orders"

    assert created.returncode == 0, created.stderr
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "deploy/plugin.yaml",
        "plugin.yaml",
        "sales_orders.py",
        "tests/test_plugin.py",
    ]

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    config = tmp_path / "runtime.yaml"
    config.write_text(
        yaml.safe_dump(
            {"plugins_dir": ".", "plugins": [{"id": "sales-orders", "version": "0.1.0", "path": "sales-orders"}]}
        )
    )
    validated = subprocess.run(
        [str(BIN / "plugin-runtime"), "--validate", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "ok      sales-orders 0.1.0 (plugins-dir:sales-orders, 1 queries)" in validated.stdout


def test_the_scaffold_s_code_is_lint_clean_and_formatted(tmp_path: Path) -> None:
    """What a plugin developer starts from passes the project's own ruff rules."""
    folder = scaffold.create("sales-orders", tmp_path)
    settings = str(ROOT / "pyproject.toml")

    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--config", settings, str(folder)], capture_output=True, text=True
    )
    formatted = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "--config", settings, str(folder)], capture_output=True, text=True
    )

    assert lint.returncode == 0, lint.stdout
    assert formatted.returncode == 0, formatted.stdout


def test_the_scaffold_s_plugin_manifest_is_a_valid_plugin(tmp_path: Path) -> None:
    folder = scaffold.create("sales-orders", tmp_path, vendor="acme")
    resource = yaml.safe_load((folder / "deploy" / "plugin.yaml").read_text())
    manifest = yaml.safe_load((folder / "plugin.yaml").read_text())

    spec = models.PluginSpec.model_validate(resource["spec"])

    assert resource["metadata"]["name"] == manifest["id"] == "sales-orders"
    assert (spec.path, spec.version) == ("sales-orders", manifest["version"])
    assert (
        [q.id for q in spec.queries]
        == [q["id"] for q in manifest["queries"]]
        == ["gts.hypernetix.hyperspot.ax.query.v1~acme.sales_orders._.items.v1"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Sales"], "'Sales': use 2-42 lowercase letters, digits and single dashes"),
        (["sales--orders"], "single dashes"),
        (["9lives"], "starting with a letter"),
        (["ok-name", "--vendor", "Acme"], "vendor 'Acme'"),
    ],
)
def test_names_that_cannot_become_ids_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = _new(*args, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "sales-orders").mkdir()
    (tmp_path / "sales-orders" / "mine.py").write_text("keep")

    result = _new("sales-orders", cwd=tmp_path)

    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "sales-orders").iterdir()] == ["mine.py"]
