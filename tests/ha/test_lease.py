"""The leader-election decisions (`plugin_operator.lease`), against client-go's rules."""

from __future__ import annotations

import datetime

import pytest

from plugin_operator import lease

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
TIMING = lease.Timing(duration=15, renew_deadline=10, retry_period=2)


def _record(holder: str | None, renewed: datetime.datetime | None, *, transitions: int = 3) -> lease.Record:
    return lease.Record.from_object(
        {
            "metadata": {"resourceVersion": "7"},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 15,
                "acquireTime": lease.format_time(T0) if holder else None,
                "renewTime": lease.format_time(renewed) if renewed else None,
                "leaseTransitions": transitions,
            },
        }
    )


def _at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_no_lease_is_created_held_by_us() -> None:
    decision = lease.decide(None, identity="a", now=T0, timing=TIMING)
    assert decision.action is lease.Action.CREATE
    assert decision.spec == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-01-01T12:00:00.000000Z",
        "renewTime": "2026-01-01T12:00:00.000000Z",
        "leaseTransitions": 0,
    }


def test_a_live_lease_of_another_holder_is_respected_until_it_expires() -> None:
    record = _record("b", T0)
    waiting = lease.decide(record, identity="a", now=_at(14.999), timing=TIMING)
    assert waiting.action is lease.Action.WAIT and waiting.spec is None and waiting.holder == "b"
    taken = lease.decide(record, identity="a", now=_at(15), timing=TIMING)
    assert taken.action is lease.Action.ACQUIRE and taken.holder == "a"
    assert taken.spec is not None and taken.spec["leaseTransitions"] == 4
    assert taken.spec["acquireTime"] == taken.spec["renewTime"] == lease.format_time(_at(15))


def test_the_holder_renews_keeping_its_acquire_time_and_transitions() -> None:
    decision = lease.decide(_record("a", T0), identity="a", now=_at(2), timing=TIMING)
    assert decision.action is lease.Action.RENEW
    assert decision.spec is not None
    assert decision.spec["acquireTime"] == lease.format_time(T0)
    assert decision.spec["renewTime"] == lease.format_time(_at(2))
    assert decision.spec["leaseTransitions"] == 3


def test_a_released_lease_is_free_at_once() -> None:
    record = _record("a", T0)
    released = lease.release(record, identity="a", now=_at(1))
    assert released is not None and released["holderIdentity"] is None
    free = lease.Record.from_object({"metadata": {"resourceVersion": "8"}, "spec": released})
    assert free.expired(_at(1))
    assert lease.decide(free, identity="b", now=_at(1), timing=TIMING).action is lease.Action.ACQUIRE


def test_only_the_holder_releases() -> None:
    assert lease.release(_record("b", T0), identity="a", now=_at(1)) is None


def test_a_leader_stops_before_its_lease_can_expire() -> None:
    assert lease.still_leading(100.0, 109.9, TIMING)
    assert not lease.still_leading(100.0, 110.0, TIMING)
    assert TIMING.renew_deadline < TIMING.duration  # so it stops before a standby may take over
    assert TIMING.failover_bound == 17


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(10, 10, 2), (15, 10, 10), (15, 10, 0), (5, 10, 2)])
def test_timings_that_could_overlap_two_leaders_are_refused(duration: float, deadline: float, retry: float) -> None:
    with pytest.raises(lease.LeaseTimingError):
        lease.Timing(duration=duration, renew_deadline=deadline, retry_period=retry)


def test_times_written_by_other_tools_parse() -> None:
    assert lease.parse_time("2026-01-01T12:00:00Z") == T0
    assert lease.parse_time("2026-01-01T12:00:00.000000Z") == T0
    assert lease.parse_time(None) is None
