"""What a dead letter says about itself: reason, origin, identity; pure, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.deadletters import DeadLetter, message_key
from broker.names import DELIVERY_COUNT_HEADER, ORIGIN_QUEUE_HEADER, REASON_HEADER


def letter(headers: dict[str, object], properties: dict[str, object] | None = None) -> DeadLetter:
    props = properties or {"message_id": "run-1", "content_type": "application/json"}
    return DeadLetter("run-1", headers, props, b"[]", "rk")


def death(reason: str, queue: str = "bk.default", count: int = 1) -> dict[str, object]:
    return {
        "reason": reason.encode(),
        "queue": queue.encode(),
        "count": count,
        "time": datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        "exchange": b"bk",
        "routing-keys": [b"bk.default"],
    }


def test_the_reason_is_rabbitmqs_latest_death_reason() -> None:
    for reason in ("rejected", "delivery_limit", "expired"):
        dead = letter({"x-death": [death(reason), death("rejected")]})
        assert dead.reason == reason
        assert dead.source_queue == "bk.default"


def test_a_reason_given_by_beatkeeper_in_its_header_wins_over_x_death() -> None:
    dead = letter({REASON_HEADER: b"poison", "x-death": [death("rejected")]})
    assert dead.reason == "poison"


def test_a_copy_the_worker_dead_lettered_names_its_queue_in_a_header() -> None:
    dead = letter({REASON_HEADER: "poison", ORIGIN_QUEUE_HEADER: "bk.slow"})
    assert (dead.reason, dead.source_queue) == ("poison", "bk.slow")


def test_a_message_without_x_death_has_an_unknown_reason_and_no_source() -> None:
    dead = letter({})
    assert (dead.reason, dead.source_queue, dead.died_at, dead.death_count) == (
        "unknown",
        None,
        None,
        0,
    )


def test_deaths_are_counted_over_every_entry_and_times_are_iso_text() -> None:
    dead = letter({"x-death": [death("rejected", count=2), death("expired", "bk.delay.0")]})
    assert dead.death_count == 3
    assert dead.died_at == "2026-12-02T12:00:00+00:00"


def test_a_message_is_known_by_its_message_id_then_celerys_id_then_a_digest() -> None:
    assert message_key({"id": "b"}, {"message_id": "a"}, b"") == "a"
    assert message_key({"id": "b"}, {}, b"") == "b"
    digest = message_key({}, {}, b"body")
    assert digest.startswith("sha256-") and digest == message_key({}, {}, b"body")
    assert digest != message_key({}, {}, b"other")


def test_republishing_keeps_the_id_and_content_but_drops_the_reason_and_the_ttl() -> None:
    dead = letter(
        {
            REASON_HEADER: "poison",
            ORIGIN_QUEUE_HEADER: "bk.default",
            DELIVERY_COUNT_HEADER: 3,
            "task": "add",
            "retries": 0,
        },
        {"message_id": "run-1", "expiration": "1000", "priority": 3, "content_type": "x"},
    )
    out = dead.outgoing("bk", "bk.default", set_headers={"retries": 2})
    assert (out.message_id, out.exchange, out.routing_key, out.body) == (
        "run-1",
        "bk",
        "bk.default",
        b"[]",
    )
    assert out.headers == {"task": "add", "retries": 2}
    assert out.properties == {"priority": 3, "content_type": "x"}
