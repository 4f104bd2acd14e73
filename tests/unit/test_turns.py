"""Turns bound how many reconciles work at once; a reconcile that only waits gives its turn back."""

from __future__ import annotations

import asyncio

import pytest

from plugin_operator import turns
from plugin_operator.turns import Turns


def test_a_paused_turn_lets_another_reconcile_work_and_is_taken_back() -> None:
    async def scenario() -> list[str]:
        bound, order = Turns(1), []
        second_may_finish = asyncio.Event()

        async def first() -> None:
            async with bound.turn():
                order.append("first works")
                await turns.pause(0.01)  # the second takes the only turn meanwhile
                order.append("first works again")

        async def second() -> None:
            await asyncio.sleep(0)  # after the first has its turn
            async with bound.turn():
                order.append("second works")
                await second_may_finish.wait()
                order.append("second done")

        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await asyncio.sleep(0.05)
        assert order == ["first works", "second works"]  # the first cannot resume while the second works
        second_may_finish.set()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["first works", "second works", "second done", "first works again"]


def test_without_a_pause_the_bound_holds() -> None:
    async def scenario() -> int:
        bound, working, most = Turns(2), 0, 0

        async def reconcile() -> None:
            nonlocal working, most
            async with bound.turn():
                working += 1
                most = max(most, working)
                await asyncio.sleep(0.01)
                working -= 1

        await asyncio.gather(*(reconcile() for _ in range(6)))
        return most

    assert asyncio.run(scenario()) == 2


def test_a_task_started_within_a_turn_does_not_pause_it() -> None:
    """A background task inherits the context (its variables), not the turn: its pauses give nothing back."""

    async def scenario() -> bool:
        bound = Turns(1)
        other_worked = asyncio.Event()

        async def other() -> None:
            async with bound.turn():
                other_worked.set()

        async with bound.turn():
            background = asyncio.create_task(turns.pause(0.02))
            contender = asyncio.create_task(other())
            await background
            worked = other_worked.is_set()
        await contender
        return worked

    assert asyncio.run(scenario()) is False


def test_a_reconcile_cancelled_while_paused_leaves_every_turn_free() -> None:
    async def scenario() -> None:
        bound = Turns(1)

        async def paused() -> None:
            async with bound.turn():
                await turns.pause(10)

        task = asyncio.create_task(paused())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(1), bound.turn():  # the only turn is free again
            pass
        # ... and only one: a second reconcile waits while the first works
        async with bound.turn():
            waiting = asyncio.create_task(bound.turn().__aenter__())
            await asyncio.sleep(0.01)
            assert not waiting.done()
            waiting.cancel()

    asyncio.run(scenario())
