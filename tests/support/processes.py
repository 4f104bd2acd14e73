"""The plugin-runtime processes actually running for a Plugin, read from /proc.

Tests that kill operators or cut their database count processes this way rather than from any
operator's records, which are exactly what those faults can leave stale.
"""

from __future__ import annotations

from pathlib import Path


def runtime_processes(state_dir: Path, name: str) -> list[int]:
    """Live (not zombie) `plugin_runtime.cli` processes whose config lies under the Plugin's state folder."""
    folder = str(state_dir / "runtimes" / f"default.{name}") + "/"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"plugin_runtime.cli" in cmdline and any(a.decode().startswith(folder) for a in cmdline):
            found.append(int(proc.name))
    return found
