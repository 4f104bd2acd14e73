"""Drain periods: in-flight queries finish before a runtime is stopped or suspended.

One pending action per key; starting a new one replaces it, and enabling a plugin again cancels its
pending suspension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Drains:
    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def then(self, key: str, action: Callable[[], Awaitable[None]]) -> None:
        """After the drain period, run `action` (stop or suspend a runtime)."""

        async def drain() -> None:
            await asyncio.sleep(self.seconds)
            await action()

        self.cancel(key)
        self._tasks[key] = asyncio.create_task(drain())

    def pending(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()

    def cancel_all(self) -> None:
        for key in list(self._tasks):
            self.cancel(key)
