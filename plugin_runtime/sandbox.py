"""What keeps one plugin from hurting the others: time limits, slots, a circuit breaker.

Plugin code is synchronous and untrusted to return: every call runs in a daemon thread, awaited
with a deadline. A call that overruns answers 504 but its thread keeps its slot until it really
returns, so a hung plugin exhausts only its own `max_concurrent_queries` slots and the event loop
(and every other plugin) keeps serving. Queries and translations reuse their plugin's threads
(`Workers`: starting a thread per call held the event loop ~0.3 ms per query); rare calls (health,
capabilities, load, shutdown) get a thread of their own. Daemon threads, unlike
`concurrent.futures`' pools, never block process exit on a plugin that does not return.

`CircuitBreaker` is pure state over an injectable clock; `Sandbox` wires it to real calls. Only
backend/plugin failures (5xx, except 501 "not supported") count against a plugin; a caller's
mistake (4xx) says nothing about the plugin's health.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import dataclasses
import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from plugin_runtime import errors, logs

__all__ = ["CallStats", "CircuitBreaker", "CircuitState", "Sandbox", "Workers", "run_in_thread"]

T = TypeVar("T")
log = logging.getLogger(__name__)

MIN_CALLS_FOR_RATE = 10
HALF_OPEN_RETRY_AFTER = 1.0


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures, or when more than `error_rate_threshold`
    of the last `window` calls failed (once at least 10 calls were seen). After `cooldown_seconds` it
    lets one trial call through (half-open): success closes it, failure opens it again.
    """

    def __init__(
        self,
        *,
        failure_threshold: int,
        error_rate_threshold: float,
        cooldown_seconds: float,
        window: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.error_rate_threshold = error_rate_threshold
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self._outcomes: collections.deque[bool] = collections.deque(maxlen=window)  # True = failure
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._trial_running or self.clock() - self._opened_at >= self.cooldown_seconds:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    @property
    def error_rate(self) -> float:
        return sum(self._outcomes) / len(self._outcomes) if self._outcomes else 0.0

    def before_call(self, plugin_id: str) -> None:
        """Admit a call or raise 503 with Retry-After; in half-open, admit exactly one trial."""
        state = self.state
        if state is CircuitState.CLOSED:
            return
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        remaining = self._opened_at + self.cooldown_seconds - self.clock()
        retry_after = remaining if state is CircuitState.OPEN else HALF_OPEN_RETRY_AFTER
        raise errors.PluginUnavailable(
            f"plugin '{plugin_id}' is failing: its circuit breaker is {state}",
            retry_after=max(retry_after, 1.0),
            circuit=str(state),
        )

    def record_success(self) -> None:
        if self._opened_at is not None:  # the half-open trial succeeded: start afresh
            self._opened_at = None
            self._trial_running = False
            self._outcomes.clear()
        self._outcomes.append(False)
        self._consecutive = 0

    def record_failure(self) -> None:
        self._outcomes.append(True)
        self._consecutive += 1
        trial_failed = self._opened_at is not None
        rate_exceeded = len(self._outcomes) >= MIN_CALLS_FOR_RATE and self.error_rate > self.error_rate_threshold
        if trial_failed or self._consecutive >= self.failure_threshold or rate_exceeded:
            self._opened_at = self.clock()
            self._trial_running = False

    def record_neutral(self) -> None:
        """A call that said nothing about health (a 4xx); a half-open trial slot is handed back."""
        self._trial_running = False


@dataclasses.dataclass
class CallStats:
    executed: int = 0
    last_error_at: float | None = None  # wall-clock seconds
    last_error_message: str | None = None


#: A call for a worker thread: what to run, then what to do with its outcome (`submit` pairs a
#: `run` returning some T with a `report` taking that T; the queue holds calls of every T).
_Job = tuple[Callable[[], Any], Callable[[Any], None]]


class Workers:
    """Daemon threads that run one plugin's calls, started on demand and kept for the next call.

    A thread is started only when every existing one is busy, so there are never more threads than
    calls in flight at once — for a sandbox, at most its slots, hung calls included (a hung call
    keeps its thread as it keeps its slot). A thread counts as free again before its call's outcome
    is reported, so the next call (admitted by that report) finds it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._busy = 0
        self._closed = False

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, run: Callable[[], T], report: Callable[[T], None]) -> None:
        """Run `run()` in a worker thread, then `report(outcome)` in that thread once it counts as free."""
        if self._closed:  # a call that raced its plugin's retirement still runs, on a thread of its own
            threading.Thread(target=lambda: report(run()), name=f"plugin:{self._name}", daemon=True).start()
            return
        with self._lock:
            start = self._busy == self._threads
            self._busy += 1
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._work, name=f"plugin:{self._name}", daemon=True).start()
        self._jobs.put((run, report))

    def close(self) -> None:
        """Let every thread end once it is free (a hung call's thread ends when the call returns)."""
        self._closed = True
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)

    def _work(self) -> None:
        while self._serve_one():
            pass

    def _serve_one(self) -> bool:
        # One call per invocation, so an idle thread holds no reference to its last call's result.
        job = self._jobs.get()
        if job is None:
            with self._lock:
                self._threads -= 1
            return False
        run, report = job
        outcome = run()
        with self._lock:
            self._busy -= 1
        report(outcome)
        return True


def _settle(
    future: asyncio.Future[T], result: T | None, error: Exception | None, on_return: Callable[[], None] | None
) -> None:
    if not future.done():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]  # a T whenever there is no error
    if on_return is not None:
        on_return()


async def run_in_thread(
    fn: Callable[[], T],
    *,
    timeout: float,
    what: str,
    on_return: Callable[[], None] | None = None,
    workers: Workers | None = None,
) -> T:
    """Run `fn` in a daemon thread (one of `workers`, or a new one) carrying the current contextvars;
    504 when it overruns `timeout`.

    `on_return` runs on the event loop when the call really ends, even long after a timeout.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> tuple[T | None, Exception | None]:
        try:
            return context.run(fn), None
        except Exception as exc:
            return None, exc
        except BaseException as exc:  # SystemExit & co. from plugin code must not stop the server
            return None, RuntimeError(f"{type(exc).__name__} raised in plugin code")

    def report(outcome: tuple[T | None, Exception | None]) -> None:
        # One wake-up of the loop for both the slot and the result. A RuntimeError means the loop is gone
        # (shutdown while this call hung): nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, *outcome, on_return)

    if workers is not None:
        workers.submit(run, report)
    else:
        threading.Thread(target=lambda: report(run()), name=f"plugin:{what}", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        future.add_done_callback(_consume)
        raise errors.BackendTimeout(f"{what} did not finish within {timeout:g}s", timeout_seconds=timeout) from None


def _consume(future: asyncio.Future[T]) -> None:
    # A late exception from a call nobody awaits any more must not be reported as "never retrieved".
    if not future.cancelled():
        future.exception()


def counts_as_failure(error: Exception) -> bool:
    if isinstance(error, errors.PluginError):
        return error.status >= 500 and not isinstance(error, errors.NotSupported)
    return True


class Sandbox:
    """The limits one plugin instance runs under; every plugin call goes through `call`."""

    def __init__(
        self,
        *,
        plugin_id: str,
        timeout_seconds: float,
        max_concurrent: int,
        breaker: CircuitBreaker,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.plugin_id = plugin_id
        self.timeout_seconds = timeout_seconds
        self.max_concurrent = max_concurrent
        self.breaker = breaker
        self.stats = CallStats()
        self._wall_clock = wall_clock
        self._slots = asyncio.Semaphore(max_concurrent)
        self._workers = Workers(plugin_id)
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        """Calls whose thread has not returned yet, timed-out ones included."""
        return self._running

    async def call(self, fn: Callable[[], T], *, action: str) -> T:
        self.breaker.before_call(self.plugin_id)
        await self._take_slot()
        self._running += 1
        self._idle.clear()
        self.stats.executed += 1
        try:
            result = await run_in_thread(
                fn,
                timeout=self.timeout_seconds,
                what=f"plugin '{self.plugin_id}' {action}",
                on_return=self._release,
                workers=self._workers,
            )
        except asyncio.CancelledError:  # the request went away (shutdown); the thread still owns its slot
            self.breaker.record_neutral()
            raise
        except Exception as exc:
            public = self._public(exc, action)
            self._record_error(exc, public, action)
            raise public from None
        self.breaker.record_success()
        return result

    def record_served(self) -> None:
        """A query answered from the cache: counted as executed, without a call or a breaker outcome."""
        self.stats.executed += 1

    async def _take_slot(self) -> None:
        """A free slot is taken at once; only waiting for one needs the timer (and task) of wait_for."""
        if not self._slots.locked():
            await self._slots.acquire()  # returns without suspending
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout_seconds)
        except TimeoutError:
            self.breaker.record_neutral()
            raise errors.PluginUnavailable(
                f"plugin '{self.plugin_id}' is busy: all {self.max_concurrent} execution slots are taken",
                retry_after=1.0,
            ) from None

    def _release(self) -> None:
        self._slots.release()
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    def _record_error(self, exc: Exception, public: errors.PluginError, action: str) -> None:
        if not counts_as_failure(exc):
            self.breaker.record_neutral()
            return
        self.breaker.record_failure()
        self.stats.last_error_at = self._wall_clock()
        self.stats.last_error_message = logs.redact(public.detail)
        if not isinstance(exc, errors.PluginError):
            log.error(
                "plugin raised an unexpected exception",
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"plugin_id": self.plugin_id, "action": action},
            )

    def _public(self, exc: Exception, action: str) -> errors.PluginError:
        """What callers may see: plugin errors as raised, anything else as a generic 500."""
        if isinstance(exc, errors.PluginError):
            return exc
        return errors.PluginError(f"plugin '{self.plugin_id}' failed during {action}; see the runtime log")

    def close(self) -> None:
        """Let the plugin's threads end (those still running a hung call end when it returns)."""
        self._workers.close()

    async def drained(self, timeout: float) -> bool:
        """Wait until no call runs (True), or give up after `timeout` (False: hung calls remain)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
