"""A secret kept in a file of the state directory: created once (mode 0600, atomically), then reused.

Keys that must survive a restart — the control-plane key, and in `make run` the dev Fernet key and
the dev signing keys — live here. The value is written to a private temporary file and linked into
place, which fails if another process got there first: processes starting together all read one
value, and a crash never leaves a half-written key that would be read back as a different one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["load_or_create"]


def load_or_create(path: Path, generate: Callable[[], str]) -> str:
    """The text kept at `path` (stripped), written from `generate()` when the file does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with os.fdopen(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as out:
            out.write(generate())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_text(encoding="ascii").strip()
