"""Health-change webhooks against a real HTTP receiver on loopback: one that answers 500,
one that is down, one that hangs, a restart between retries, and two web processes."""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs.monitoring.notify import HealthNotifier, post_json
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.store import make_engine
from jobs.store.schedules import ScheduleStore
from jobs.store.webhooks import WebhookStore
from tests.support.clocks import ManualClock

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Receiver:
    """An HTTP server recording every POSTed body; ``status`` is what it answers, and with
    ``hang`` set it reads the request and never answers until the test ends."""

    def __init__(self) -> None:
        self.status = 200
        self.hang = False
        self.bodies: list[dict[str, Any]] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                if receiver.hang:
                    receiver.released.wait()
                    return
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self) -> Counter[int]:
        return Counter(b["delivery"] for b in self.bodies)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def notifier(url: str, database_url: str, clock: ManualClock, **options: Any) -> HealthNotifier:
    """A web process's notifier: its own engine on the shared store."""
    return HealthNotifier(make_engine(database_url), url, clock=clock, **options)


def changes(first: HealthNotifier, *names: str) -> None:
    """Create ``names`` (seen as new), then pause them: one change each, claimed by
    ``first``."""
    store = ScheduleStore(first.schedules.engine)
    for name in names:
        definition = ScheduleDefinition(name, "add", TriggerKind.CRON, cron="0 3 * * *")
        store.create(definition, next_fire_at=T0 + timedelta(hours=15), now=T0, by="t")
    first.evaluate()
    for name in names:
        store.set_enabled(name, False, next_fire_at=None, now=T0, by="t", reason="test")
    assert len(first.evaluate()) == len(names)


def only(store: WebhookStore) -> Any:
    [delivery] = store.deliveries()
    return delivery


def test_a_receiver_answering_500_is_retried_after_its_backoff_until_it_takes_the_call(
    receiver: Receiver, free_sqlite_url: str
) -> None:
    clock = ManualClock(T0)
    web = notifier(receiver.url, free_sqlite_url, clock)
    changes(web, "nightly")
    receiver.status = 500
    assert web.deliver_due() == 0
    assert only(web.store).last_error == "RuntimeError: answered 500"
    clock.advance(4)
    assert web.deliver_due() == 0 and len(receiver.bodies) == 1, "not before its 5 s backoff"
    receiver.status = 204
    clock.advance(1)
    assert web.deliver_due() == 1
    delivery = only(web.store)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [b["to"] for b in receiver.bodies] == ["paused", "paused"]
    assert receiver.deliveries() == {delivery.id: 2}, "a retry carries the same delivery id"


def test_a_receiver_that_is_down_is_recorded_and_retried(free_sqlite_url: str) -> None:
    clock = ManualClock(T0)
    web = notifier(closed_port_url(), free_sqlite_url, clock)
    changes(web, "nightly")
    assert web.deliver_due() == 0
    delivery = only(web.store)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error and delivery.last_error.startswith("ConnectError")
    assert delivery.next_attempt_at == T0 + timedelta(seconds=5)


def test_a_receiver_that_hangs_times_out_and_the_call_is_retried(
    receiver: Receiver, free_sqlite_url: str
) -> None:
    clock = ManualClock(T0)
    send = functools.partial(post_json, timeout=0.2)
    web = notifier(receiver.url, free_sqlite_url, clock, send=send)
    changes(web, "nightly")
    receiver.hang = True
    assert web.deliver_due() == 0
    delivery = only(web.store)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "ReadTimeout: timed out"
    assert len(receiver.bodies) == 1, "the receiver got the call; it just never answered"


def test_a_pending_retry_is_sent_by_the_process_that_starts_after_a_restart(
    receiver: Receiver, free_sqlite_url: str
) -> None:
    clock = ManualClock(T0)
    before = notifier(receiver.url, free_sqlite_url, clock)
    changes(before, "nightly")
    receiver.status = 503
    before.deliver_due()
    before.schedules.engine.dispose()  # the process is gone; its delivery waits in the store
    receiver.status = 200
    clock.advance(5)
    after = notifier(receiver.url, free_sqlite_url, clock)
    assert after.evaluate() == [], "the state it finds recorded is not a change"
    assert after.deliver_due() == 1
    assert (only(after.store).status, len(receiver.bodies)) == ("delivered", 2)


def test_two_web_processes_send_each_change_once(receiver: Receiver, free_sqlite_url: str) -> None:
    clock = ManualClock(T0)
    one = notifier(receiver.url, free_sqlite_url, clock)
    two = notifier(receiver.url, free_sqlite_url, clock)
    changes(one, "a", "b")
    assert two.evaluate() == [], "the changes were claimed by the first process"
    assert one.deliver_due() + two.deliver_due() == 2
    assert sorted(receiver.deliveries().values()) == [1, 1]


def test_a_slow_receiver_does_not_let_a_second_process_send_a_call_the_first_still_holds(
    receiver: Receiver, free_sqlite_url: str
) -> None:
    """Each call takes 35 s of the shared clock; the other process looks during the second
    one, 70 s after the first claim (past a 60 s lease on a batch claimed at once)."""
    clock = ManualClock(T0)
    two = notifier(receiver.url, free_sqlite_url, clock)
    calls = 0

    def slow(url: str, body: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        clock.advance(35)
        if calls == 2:
            two.deliver_due()
        post_json(url, body)

    one = notifier(receiver.url, free_sqlite_url, clock, send=slow)
    changes(one, "a", "b")
    one.deliver_due()
    assert sorted(receiver.deliveries().values()) == [1, 1], receiver.deliveries()
    assert {d.status for d in one.store.deliveries()} == {"delivered"}


def test_a_hanging_receiver_costs_one_timeout_per_tick_not_one_per_pending_delivery(
    receiver: Receiver, free_sqlite_url: str
) -> None:
    clock = ManualClock(T0)
    send = functools.partial(post_json, timeout=0.2)
    web = notifier(receiver.url, free_sqlite_url, clock, send=send)
    changes(web, "a", "b", "c")
    receiver.hang = True
    web.deliver_due()
    assert len(receiver.bodies) == 1, "the others wait for the next tick"
    web.deliver_due()
    assert len(receiver.bodies) == 2, "the next tick tries the next one due"
    receiver.hang = False
    clock.advance(5)
    assert web.deliver_due() == 3
