"""A plugin packaged as a Python distribution from outside this project, as an image would carry it.

`write_distribution` lays out an installed distribution (a module and its `.dist-info` with an entry
point in the plugins group) in a site directory: put it on `sys.path` (or PYTHONPATH) and the runtime
finds the entry point and the distribution's version, exactly as for a package `pip install`ed into
a runtime image. The plugin itself is the local datasource under another name.
"""

from __future__ import annotations

from pathlib import Path

from plugin_runtime.loader import ENTRY_POINT_GROUP


def write_distribution(site: Path, *, name: str, version: str, entry_point: str) -> Path:
    """Install `name` `version` into `site`, declaring entry point `entry_point`; returns `site`."""
    module = name.replace("-", "_")
    package = site / module
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "from adapters.localsql.plugin import LocalSqlPlugin\n\n\nclass Plugin(LocalSqlPlugin):\n"
        f'    """{name} {version}, packaged outside the runtime."""\n'
    )
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_point} = {module}:Plugin\n")
    (info / "RECORD").write_text("")
    return site
