"""Fakes for driving beat runners: clocks that move on request, a broker that can be cut,
and a loop that sleeps (in fake time) what each runner asks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.publisher import OutgoingMessage
from jobs.beat.engine import BeatConfig, BeatEngine
from jobs.beat.runner import BeatRunner, RunnerConfig
from jobs.celery_app import BeatkeeperCelery
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.store.fires import Guard
from jobs.store.lease import LeaseStore
from jobs.store.schedules import ScheduleStore

T0 = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


class Clocks:
    """A wall clock and a monotonic clock that move together unless told otherwise."""

    def __init__(self) -> None:
        self.now = T0
        self.mono = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


class Broker:
    """A sink recording what was sent, that can be cut; counts connection attempts."""

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks
        self.up = True
        self.sent: list[tuple[datetime, OutgoingMessage]] = []
        self.attempts = 0

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        self.attempts += 1
        if not self.up:
            raise ConnectionRefusedError(111, "Connection refused")
        self.sent.extend((self.clocks.now, m) for m in messages)

    def probe(self) -> None:
        self.attempts += 1
        if not self.up:
            raise ConnectionRefusedError(111, "Connection refused")

    def fires(self) -> list[tuple[str, datetime]]:
        return [
            (
                m.headers["beatkeeper_schedule"],
                datetime.fromisoformat(m.headers["beatkeeper_scheduled_for"]),
            )
            for _, m in self.sent
        ]


def make_runner(app: BeatkeeperCelery, clocks: Clocks, sink: Broker, owner: str) -> BeatRunner:
    """A runner whose engines publish to ``sink``, on ``app``'s store, driven by ``clocks``."""
    store = ScheduleStore(app.store.engine)

    def make(guard: Guard) -> BeatEngine:
        config = BeatConfig(poll_interval=0.0, lookahead=0.0)
        return BeatEngine(
            app,
            store,
            sink.publish,
            clock=clocks.wall,
            monotonic=clocks.monotonic,
            config=config,
            guard=guard,
        )

    return BeatRunner(
        make,
        LeaseStore(app.store.engine),
        owner,
        sink.probe,
        clock=clocks.wall,
        monotonic=clocks.monotonic,
        config=RunnerConfig(lease_ttl=1.5, standby_poll=0.2, renew_every=0.4),
    )


def run(world: Any, runners: Sequence[BeatRunner], seconds: float) -> int:
    """Drive the runners as Celery's loop would, sleeping what each asks (in fake time).
    Returns how many times they were ticked."""
    end = world.clocks.mono + seconds
    wake = dict.fromkeys(range(len(runners)), world.clocks.mono)
    ticks = 0
    while world.clocks.mono < end:
        for i, r in enumerate(runners):
            if wake[i] <= world.clocks.mono:
                wake[i] = world.clocks.mono + max(0.01, r.tick())
                ticks += 1
        world.clocks.advance(max(0.0, min(min(wake.values()), end) - world.clocks.mono))
    return ticks


def every(seconds: int, name: str = "s", **fields: Any) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=name,
        job="add",
        trigger=TriggerKind.INTERVAL,
        interval_seconds=seconds,
        kwargs={"x": 1},
        **fields,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
