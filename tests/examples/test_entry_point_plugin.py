"""The example plugin installed as a package is found through its entry point, like a third-party one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.examples._.greetings.v1"


def test_pip_installed_example_loads_through_its_entry_point(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(ROOT / "examples" / "plugins" / "hello-world"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert list(target.glob("hyperspot_hello_world_plugin-*.dist-info/entry_points.txt"))
    config = tmp_path / "runtime.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "plugins": [
                    {
                        "id": "hello-world",
                        "version": "1.0.0",
                        "adapter": "hello-world",
                        "settings": {"greeting": "Hi", "names": ["Ada"]},
                        "queries": [
                            {
                                "id": QUERY,
                                "name": "Greetings",
                                "category": "examples",
                                "api_endpoint": "/examples/greetings",
                                "capabilities_id": (
                                    "gts.hypernetix.hyperspot.ax.query_capabilities.v1~hyperspot.examples._.default.v1"
                                ),
                                "returns_schema_id": (
                                    "gts.hypernetix.hyperspot.ax.schema.v1~hyperspot.examples._.greeting.v1~"
                                ),
                            }
                        ],
                    }
                ]
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "plugin_runtime.cli", "--validate", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello-world" in result.stdout + result.stderr
    # Without the package on the path the same config fails, naming the missing entry point.
    missing = subprocess.run(
        [sys.executable, "-m", "plugin_runtime.cli", "--validate", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "hello-world" in missing.stdout + missing.stderr


def test_the_example_plugin_s_own_tests_pass() -> None:
    """The example's tests (the conformance kit and its behaviour) pass, run as its developer runs them."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/plugins/hello-world/tests"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
