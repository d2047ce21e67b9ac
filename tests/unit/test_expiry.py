"""Which expiry applies to a first delivery: pure rules with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broker.names import HOLD_SHARD_HEADER
from jobs.messages import DUE_AT_HEADER, EXPIRY_HEADER
from jobs.worker.expiry import effective_expiry

DUE = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
EXPIRES = DUE + timedelta(seconds=60)


def held(released_after: float, expiry: str = "period") -> dict[str, object]:
    return {
        HOLD_SHARD_HEADER: 0,
        DUE_AT_HEADER: DUE.isoformat(),
        EXPIRY_HEADER: expiry,
        # py-amqp decodes x-death's timestamp as a naive UTC datetime.
        "x-death": [
            {
                "reason": "expired",
                "queue": "bk.delay.0",
                "time": (DUE + timedelta(seconds=released_after)).replace(tzinfo=None),
            }
        ],
    }


def test_a_held_fire_released_late_by_the_broker_gets_its_whole_window_from_the_release() -> None:
    assert effective_expiry(EXPIRES, held(released_after=300)) == EXPIRES + timedelta(seconds=300)


def test_a_held_fire_released_on_time_keeps_its_expiry() -> None:
    assert effective_expiry(EXPIRES, held(released_after=0)) == EXPIRES


def test_a_schedules_own_expires_seconds_is_not_stretched() -> None:
    assert effective_expiry(EXPIRES, held(released_after=300, expiry="schedule")) == EXPIRES


def test_a_fire_sent_straight_to_its_work_queue_keeps_its_expiry() -> None:
    assert effective_expiry(EXPIRES, {"x-death": []}) == EXPIRES
    assert effective_expiry(None, held(released_after=300)) is None
