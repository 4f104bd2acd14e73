"""Waiting for a condition in tests: poll instead of sleeping a guessed time, fail with what was seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition", interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy and return that; an AssertionError it raises
    counts as "not yet" (so a check can be a block of asserts). Fails with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
