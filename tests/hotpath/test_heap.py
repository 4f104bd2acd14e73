"""The runtime process freezes its heap after every applied change, and collects what came before."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from plugin_runtime import cli, errors, host


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the test process's collector as it was


def test_freezing_collects_earlier_garbage_and_freezes_the_rest(unfrozen: None) -> None:
    garbage, kept = _Node(), _Node()
    gone = weakref.ref(garbage)
    del garbage
    cli._freeze_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # frozen objects are no longer tracked by passes


def test_a_second_freeze_collects_what_the_first_one_froze(unfrozen: None) -> None:
    retired = _Node()
    gone = weakref.ref(retired)
    cli._freeze_heap()
    del retired  # e.g. a plugin version replaced by a reload: frozen, now garbage
    cli._freeze_heap()
    assert gone() is None


async def test_the_host_calls_back_after_start_and_every_reload(tmp_path: Path) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(yaml.safe_dump({"plugins": []}))
    applied: list[int] = []
    plugin_host = host.PluginHost(config_path=config, on_applied=lambda: applied.append(len(applied)))
    await plugin_host.start()
    assert applied == [0]
    await plugin_host.reload()
    assert applied == [0, 1]
    config.write_text("plugins: [")  # a broken file changes nothing, so nothing is applied
    with pytest.raises(errors.InvalidInput):
        await plugin_host.reload()
    assert applied == [0, 1]
    await plugin_host.close()


def test_the_young_generation_is_collected_less_often_and_cycles_still_are() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 7, 9)
        cli._tune_collector()
        assert gc.get_threshold() == (cli.YOUNG_GENERATION_THRESHOLD, 7, 9)  # the older generations as they were
        cycle = _Node()
        gone = weakref.ref(cycle)
        del cycle
        # Tracked objects that stay alive (as an answer's rows do) trigger a collection by themselves.
        kept = [[None] for _ in range(cli.YOUNG_GENERATION_THRESHOLD * 2)]
        assert gone() is None and len(kept) > 0
    finally:
        gc.set_threshold(*saved)
