"""Health-change webhooks: one call per change, retried with backoff, history kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.monitoring.notify import HealthNotifier, backoff, shown_url
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.store import make_engine
from jobs.store.schedules import ScheduleStore
from jobs.store.webhooks import WebhookStore
from tests.support.clocks import ManualClock
from tests.support.offline import offline_web

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
URL = "http://hooks.example/beatkeeper"


class Receiver:
    """A sender that records calls and fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, body: dict[str, Any]) -> None:
        self.calls.append(body)
        if len(self.calls) <= self.failures:
            raise ConnectionError("refused")


def setup(url: str, receiver: Receiver, free_sqlite_url: str) -> tuple[HealthNotifier, ManualClock]:
    engine = make_engine(free_sqlite_url)
    clock = ManualClock(T0)
    definition = ScheduleDefinition("nightly", "add", TriggerKind.CRON, cron="0 3 * * *")
    ScheduleStore(engine).create(definition, next_fire_at=T0 + timedelta(hours=15), now=T0, by="t")
    return HealthNotifier(engine, url, send=receiver, clock=clock), clock


def test_the_backoff_doubles_from_five_seconds_up_to_ten_minutes() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(20) == 600


def test_a_state_change_posts_once_and_a_first_sighting_posts_nothing(
    free_sqlite_url: str,
) -> None:
    receiver = Receiver()
    notifier, clock = setup(URL, receiver, free_sqlite_url)
    assert notifier.evaluate() == []  # "new", seen for the first time
    notifier.deliver_due()
    assert receiver.calls == []
    notifier.schedules.set_enabled("nightly", False, next_fire_at=None, now=T0, by="t", reason="x")
    clock.advance(1)
    changes = notifier.evaluate()
    assert [(c.old, c.new) for c in changes] == [("new", "paused")]
    assert notifier.evaluate() == [], "the same change is claimed once"
    assert notifier.deliver_due() == 1
    assert receiver.calls[0]["schedule"] == "nightly"
    assert (receiver.calls[0]["from"], receiver.calls[0]["to"]) == ("new", "paused")
    assert notifier.deliver_due() == 0
    [delivery] = WebhookStore(notifier.schedules.engine).deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(free_sqlite_url: str) -> None:
    receiver = Receiver(failures=100)
    notifier, clock = setup(URL, receiver, free_sqlite_url)
    notifier.max_attempts = 3
    notifier.evaluate()
    notifier.schedules.set_enabled("nightly", False, next_fire_at=None, now=T0, by="t", reason="x")
    notifier.evaluate()
    notifier.deliver_due()
    assert len(receiver.calls) == 1
    clock.advance(4)
    notifier.deliver_due()
    assert len(receiver.calls) == 1, "not before its backoff of 5 s"
    clock.advance(1)
    notifier.deliver_due()
    assert len(receiver.calls) == 2
    clock.advance(10)
    notifier.deliver_due()
    [delivery] = WebhookStore(notifier.schedules.engine).deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error == "ConnectionError: refused"
    clock.advance(3600)
    notifier.deliver_due()
    assert len(receiver.calls) == 3


def test_without_a_url_changes_are_recorded_but_nothing_is_sent(free_sqlite_url: str) -> None:
    receiver = Receiver()
    notifier, _ = setup("", receiver, free_sqlite_url)
    notifier.url = None
    notifier.evaluate()
    notifier.schedules.set_enabled("nightly", False, next_fire_at=None, now=T0, by="t", reason="x")
    assert [c.new for c in notifier.evaluate()] == ["paused"]
    notifier.deliver_due()
    assert receiver.calls == [] and WebhookStore(notifier.schedules.engine).deliveries() == []


def test_the_delivery_history_shows_the_receiver_without_the_secret_in_its_url(
    free_sqlite_url: str,
) -> None:
    secret = "https://bk:pw@hooks.example.com:8443/services/T0/B0/s3cr3t?token=x"
    with offline_web(free_sqlite_url, "bk-hooks") as (client, store):
        notifier = HealthNotifier(store.engine, secret, send=Receiver(), clock=ManualClock(T0))
        definition = ScheduleDefinition("nightly", "add", TriggerKind.CRON, cron="0 3 * * *")
        notifier.schedules.create(definition, next_fire_at=T0, now=T0, by="t")
        notifier.evaluate()
        notifier.schedules.set_enabled(
            "nightly", False, next_fire_at=None, now=T0, by="t", reason="x"
        )
        notifier.evaluate()
        response = client.get("/api/webhook-deliveries")
    assert response.status_code == 200
    [delivery] = response.json()
    assert delivery["url"] == "https://hooks.example.com:8443/…"
    assert "s3cr3t" not in response.text and "pw" not in response.text


def test_a_shown_url_keeps_scheme_host_and_port_only() -> None:
    assert shown_url("http://10.0.0.7:9093/") == "http://10.0.0.7:9093"
    assert shown_url("http://[::1]:8080/hook") == "http://[::1]:8080/…"
    assert shown_url("https://hooks.example.com") == "https://hooks.example.com"
