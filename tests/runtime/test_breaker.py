"""The circuit breaker as a pure state machine, driven by a clock the test moves by hand."""

from __future__ import annotations

import pytest

from plugin_runtime import errors, sandbox
from plugin_runtime.sandbox import CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: FakeClock, *, failures: int = 3, rate: float = 0.5, window: int = 20) -> sandbox.CircuitBreaker:
    return sandbox.CircuitBreaker(
        failure_threshold=failures, error_rate_threshold=rate, cooldown_seconds=30, window=window, clock=clock
    )


def test_opens_after_consecutive_failures_and_rejects_with_retry_after() -> None:
    clock = FakeClock()
    cb = breaker(clock)
    for _ in range(2):
        cb.before_call("p")
        cb.record_failure()
    assert cb.state is CircuitState.CLOSED
    cb.before_call("p")
    cb.record_failure()
    assert cb.state is CircuitState.OPEN
    clock.now += 10
    with pytest.raises(errors.PluginUnavailable) as raised:
        cb.before_call("p")
    assert raised.value.retry_after == pytest.approx(20)
    assert raised.value.status == 503


def test_a_success_resets_the_consecutive_count() -> None:
    cb = breaker(FakeClock())
    for outcome in ["fail", "fail", "ok", "fail", "fail"]:
        cb.before_call("p")
        cb.record_failure() if outcome == "fail" else cb.record_success()
    assert cb.state is CircuitState.CLOSED


def test_half_open_after_cooldown_admits_one_trial_and_success_closes() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    cb.before_call("p")
    cb.record_failure()
    clock.now += 30
    assert cb.state is CircuitState.HALF_OPEN
    cb.before_call("p")  # the trial
    with pytest.raises(errors.PluginUnavailable):
        cb.before_call("p")  # only one at a time
    cb.record_success()
    assert cb.state is CircuitState.CLOSED
    assert cb.error_rate == 0.0
    cb.before_call("p")


def test_failed_trial_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    cb.before_call("p")
    cb.record_failure()
    clock.now += 31
    cb.before_call("p")
    cb.record_failure()
    assert cb.state is CircuitState.OPEN
    clock.now += 29
    assert cb.state is CircuitState.OPEN
    clock.now += 1
    assert cb.state is CircuitState.HALF_OPEN


def test_neutral_trial_hands_the_trial_slot_back() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    cb.before_call("p")
    cb.record_failure()
    clock.now += 30
    cb.before_call("p")
    cb.record_neutral()  # e.g. the trial was a 400: nothing learned
    assert cb.state is CircuitState.HALF_OPEN
    cb.before_call("p")  # a new trial may go


def test_error_rate_over_the_window_opens_only_after_ten_calls() -> None:
    cb = breaker(FakeClock(), failures=100, rate=0.3, window=20)
    # Alternate failures and successes: 50% errors, never 100 in a row.
    for i in range(9):
        cb.before_call("p")
        cb.record_failure() if i % 2 == 0 else cb.record_success()
    assert cb.state is CircuitState.CLOSED  # 9 calls: too few to judge a rate
    cb.before_call("p")
    cb.record_failure()
    assert cb.state is CircuitState.OPEN
    assert cb.error_rate == pytest.approx(0.6)


def test_rate_at_the_threshold_does_not_open() -> None:
    cb = breaker(FakeClock(), failures=100, rate=0.5, window=10)
    for i in range(10):
        cb.before_call("p")
        cb.record_failure() if i % 2 == 0 else cb.record_success()
    assert cb.error_rate == pytest.approx(0.5)
    assert cb.state is CircuitState.CLOSED


def test_window_forgets_old_calls() -> None:
    cb = breaker(FakeClock(), failures=100, rate=0.5, window=10)
    for _ in range(4):
        cb.record_failure()
    for _ in range(10):
        cb.record_success()
    assert cb.error_rate == 0.0


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (errors.BackendError("502"), True),
        (errors.BackendTimeout("504"), True),
        (errors.PluginUnavailable("503"), True),
        (errors.PluginError("500"), True),
        (RuntimeError("bug"), True),
        (errors.NotSupported("501"), False),
        (errors.InvalidQuery("400"), False),
        (errors.NotFound("404"), False),
        (errors.Unauthenticated("401"), False),
    ],
)
def test_only_backend_and_plugin_failures_count(error: Exception, counts: bool) -> None:
    assert sandbox.counts_as_failure(error) is counts
