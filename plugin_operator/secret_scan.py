"""Secret-looking configuration: keys that name a secret and URLs that carry a password.

`spec.config` is stored in the CR and shown to readers, so the Plugin model refuses such values at
any depth (they belong in secretRefs), and the API masks them wherever they appear in a document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["has_url_password", "looks_secret", "secret_paths"]

_SECRET_KEY = re.compile(
    r"(password|passwd|pwd|secret|api_?key|token|credential|authorization|cookie|private_?key|dsn)", re.IGNORECASE
)
#: `scheme://user:password@host`: a connection string carrying its password.
_URL_WITH_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/@\s:]{0,256}:[^/@\s]{1,256}@")


def looks_secret(key: str) -> bool:
    """Whether a config key names a secret (refused in spec.config; masked by the API wherever it appears)."""
    return bool(_SECRET_KEY.search(key))


def has_url_password(value: str) -> bool:
    # Bounded repetitions and the cheap pre-check keep a megabyte of config linear to scan.
    return "://" in value and "@" in value and bool(_URL_WITH_PASSWORD.search(value))


def secret_paths(value: Any, path: str) -> list[str]:
    """Where in `value` (at any depth) a secret-named key or a URL with a password sits."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}"
            if looks_secret(str(key)):
                found.append(where)
            else:
                found.extend(secret_paths(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(secret_paths(item, f"{path}[{index}]"))
    elif isinstance(value, str) and has_url_password(value):
        found.append(path)
    return sorted(found)
