"""The beat rides out PostgreSQL refusing connections: a proxy in front of the real server is
cut and restored while a runner ticks (fake clocks drive the schedule, real I/O fails)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from broker.settings import BrokerSettings
from jobs.factory import create_celery_app, load_registry
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from tests.support import testjobs
from tests.support.beat_fakes import Broker, Clocks, at, every, make_runner, run
from tests.support.databases import usable_postgres_database
from tests.support.proxy import CuttableProxy

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def world() -> Iterator[Any]:
    with usable_postgres_database() as url:
        yield from world_on(url)


def world_on(url: str) -> Iterator[Any]:
    parsed = make_url(url)
    proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxied = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = JobsSettings(broker=BrokerSettings(prefix="bk"), database_url=proxied)
    app = create_celery_app(settings, load_registry("jobs.examples").merge(testjobs.registry))
    clocks = Clocks()

    class World:
        pass

    w: Any = World()
    w.app, w.clocks, w.proxy, w.broker = app, clocks, proxy, Broker(clocks)
    w.manager = ScheduleManager(app, clock=clocks.wall)
    try:
        yield w
    finally:
        app.store.engine.dispose()
        proxy.close()


def test_the_beat_rides_out_postgresql_refusing_connections_and_catches_up(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world.manager.create(every(1, catch_up="latest"), by="test")
    beat = make_runner(world.app, world.clocks, world.broker, "a")
    run(world, [beat], 2.5)
    assert beat.leading
    caplog.set_level(logging.INFO, logger="jobs.beat")

    world.proxy.cut()  # PostgreSQL now refuses connections
    ticks = run(world, [beat], 30.0)
    assert beat.outage is not None and beat.outage.part == "store"
    assert ticks <= 15  # backing off, not spinning

    world.proxy.restore()
    while beat.outage is not None:
        run(world, [beat], 0.1)
    back_at = world.clocks.now
    run(world, [beat], 3.0)
    assert beat.leading
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "store lost" in m]) == 1
    assert len([m for m in messages if "store back" in m]) == 1
    fires = [t for _, t in world.broker.fires()]
    assert len(fires) == len(set(fires))
    # catch_up=latest: one fire for the whole outage, then on time again.
    during = [t for t in fires if at(3) <= t <= back_at]
    assert len(during) == 1
    following = [t for t in fires if t > back_at]
    assert following == [during[0] + timedelta(seconds=s) for s in range(1, len(following) + 1)]
    assert world.manager.get("s").fired_count == len(fires)
