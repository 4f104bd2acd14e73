"""Turns: how many reconciles work at once (`OperatorSettings.max_concurrent_reconciles`), each giving
its turn back while it only waits.

The bound keeps a mass apply from starving the event loop into timeouts and retries; but a reconcile
also waits — for a new runtime pool's first pod, between the gate's probes — and a turn held while
sleeping keeps other Plugins from working without sparing the loop anything. With 1000 Plugins
applied at once, the 32 turns were mostly asleep: the members of each new pool held every turn while
the pool's pod started, so pools started one after another. `pause` sleeps without the caller's turn
and takes a turn again before it returns; the per-Plugin lock stays held throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator

__all__ = ["Turns", "pause"]


class _Turn:
    """One reconcile's turn; `held` is False while it paused (and after it ended). Only its own task
    pauses it: a task started meanwhile inherits the context, not the turn."""

    def __init__(self, free: asyncio.Semaphore) -> None:
        self.free, self.held, self.task = free, True, asyncio.current_task()


_current: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("plugin_operator_turn", default=None)


class Turns:
    def __init__(self, limit: int) -> None:
        self._free = asyncio.Semaphore(limit)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Work within one of the turns (waiting for one to be free)."""
        await self._free.acquire()
        turn = _Turn(self._free)
        token = _current.set(turn)
        try:
            yield
        finally:
            _current.reset(token)
            if turn.held:
                turn.held = False
                self._free.release()


async def pause(seconds: float) -> None:
    """Sleep, giving the caller's turn back meanwhile when it holds one (a turn is for working)."""
    turn = _current.get()
    if turn is None or not turn.held or turn.task is not asyncio.current_task():
        await asyncio.sleep(seconds)
        return
    turn.held = False
    turn.free.release()
    try:
        await asyncio.sleep(seconds)
    finally:
        await turn.free.acquire()  # cancelled while waiting for it: the turn is not held, nothing to give back
        turn.held = True
