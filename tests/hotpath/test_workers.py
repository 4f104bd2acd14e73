"""Plugin calls reuse their plugin's threads; limits, context and process exit behave as with a thread per call."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
import time

import pytest

from plugin_runtime import errors, sandbox

_REQUEST = contextvars.ContextVar("request", default="none")


def _sandbox(*, max_concurrent: int = 4, timeout: float = 5.0) -> sandbox.Sandbox:
    breaker = sandbox.CircuitBreaker(failure_threshold=100, error_rate_threshold=1.0, cooldown_seconds=1, window=10)
    return sandbox.Sandbox(plugin_id="p", timeout_seconds=timeout, max_concurrent=max_concurrent, breaker=breaker)


async def test_calls_one_after_another_run_on_one_thread() -> None:
    box = _sandbox()
    names = [await box.call(lambda: threading.get_ident(), action="q") for _ in range(20)]
    assert len(set(names)) == 1
    assert box._workers.threads == 1


async def test_concurrent_calls_get_a_thread_each_and_no_more() -> None:
    box = _sandbox(max_concurrent=3)
    barrier = threading.Barrier(3, timeout=5)

    def meet() -> int:
        barrier.wait()  # only passes if three calls really run at once
        return threading.get_ident()

    for _ in range(3):
        idents = await asyncio.gather(*(box.call(meet, action="q") for _ in range(3)))
        assert len(set(idents)) == 3
    assert box._workers.threads == 3


async def test_a_hung_call_keeps_its_thread_and_slot_and_others_still_run() -> None:
    box = _sandbox(max_concurrent=2, timeout=0.2)
    release = threading.Event()
    with pytest.raises(errors.BackendTimeout):
        await box.call(release.wait, action="hang")
    assert box.running == 1
    assert await box.call(lambda: "fine", action="q") == "fine"
    assert box._workers.threads == 2
    with pytest.raises(errors.BackendTimeout):
        await box.call(release.wait, action="hang")
    with pytest.raises(errors.PluginUnavailable):  # both slots are held by hung calls
        await box.call(lambda: "never", action="q")
    assert box._workers.threads == 2
    release.set()
    assert await box.drained(5)
    assert await box.call(lambda: "again", action="q") == "again"
    assert box._workers.threads == 2


async def test_each_call_sees_its_callers_context_and_leaves_none_behind() -> None:
    box = _sandbox(max_concurrent=1)

    def read_then_set() -> str:
        seen = _REQUEST.get()
        _REQUEST.set("set inside the plugin")
        return seen

    seen = []
    for request in ("a", "b", "c"):
        token = _REQUEST.set(request)
        seen.append(await box.call(read_then_set, action="q"))
        _REQUEST.reset(token)
    assert seen == ["a", "b", "c"]
    assert _REQUEST.get() == "none"


async def test_errors_and_base_exceptions_come_back_as_before() -> None:
    box = _sandbox()

    def exits() -> None:
        raise SystemExit(3)

    with pytest.raises(errors.PluginError, match="failed during q"):
        await box.call(exits, action="q")
    with pytest.raises(errors.NotFound):
        await box.call(lambda: (_ for _ in ()).throw(errors.NotFound("no such row")), action="q")
    assert await box.call(lambda: "still serving", action="q") == "still serving"


async def test_close_ends_idle_threads() -> None:
    box = _sandbox()
    await asyncio.gather(*(box.call(lambda: time.sleep(0.05), action="q") for _ in range(3)))
    assert box._workers.threads == 3
    box.close()
    deadline = time.monotonic() + 5
    while box._workers.threads and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert box._workers.threads == 0


async def test_a_call_after_close_still_runs() -> None:
    box = _sandbox()
    await box.call(lambda: None, action="q")
    box.close()
    assert await box.call(lambda: "late", action="q") == "late"


_EXITS_WITH_A_HUNG_CALL = """
import asyncio, threading
from plugin_runtime import errors, sandbox
async def main():
    breaker = sandbox.CircuitBreaker(failure_threshold=5, error_rate_threshold=1.0, cooldown_seconds=1, window=10)
    box = sandbox.Sandbox(plugin_id="p", timeout_seconds=0.2, max_concurrent=2, breaker=breaker)
    try:
        await box.call(threading.Event().wait, action="hang")
    except errors.BackendTimeout:
        print("timed out", flush=True)
asyncio.run(main())
"""


def test_a_call_that_never_returns_does_not_keep_the_process_alive() -> None:
    done = subprocess.run([sys.executable, "-c", _EXITS_WITH_A_HUNG_CALL], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "timed out\n"
