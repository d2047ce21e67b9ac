"""The dashboard and /metrics never wait for a slow question (the workers' inspect, the
management API) once it has answered: the last answer is served while a thread asks again."""

from __future__ import annotations

import threading

from jobs.monitoring.snapshot import _Background, still_known


class SlowQuestion:
    """Answers 1, 2, 3 ... each only when the test lets it."""

    def __init__(self) -> None:
        self.asked = 0
        self.allowed = threading.Semaphore(0)
        self.answered = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self) -> int:
        self.asked += 1
        self.entered.release()
        self.allowed.acquire()
        self.answered.set()
        return self.asked


def test_only_the_first_reader_waits_and_later_ones_get_the_last_answer_during_a_refresh() -> None:
    question = SlowQuestion()
    cached = _Background(question, ttl=0, first_wait=0.05)

    assert cached.get() is None, "no answer within the first wait: unknown"
    question.allowed.release()
    assert question.answered.wait(10)
    assert cached.thread is not None
    cached.thread.join(10)
    assert cached.get() == 1  # stale at once (ttl 0): a refresh starts, the answer is served

    asking = cached.thread
    assert question.entered.acquire(timeout=10) and question.entered.acquire(timeout=10)
    assert asking is not None and asking.is_alive(), "the refresh waits in its own thread"
    for _ in range(5):
        assert cached.get() == 1, "readers are served the last answer, never blocked"
    assert cached.thread is asking and question.asked == 2, "one question at a time"

    question.allowed.release()
    asking.join(10)
    assert cached.get() == 2


def test_a_worker_is_known_until_it_has_not_answered_for_the_forget_time() -> None:
    seen: dict[str, float] = {}
    assert still_known(seen, {"a", "b"}, 0.0, 600) == {"a": True, "b": True}
    assert still_known(seen, {"a"}, 10.0, 600) == {"a": True, "b": False}
    assert still_known(seen, {"a"}, 600.0, 600) == {"a": True, "b": False}
    assert still_known(seen, {"a"}, 600.5, 600) == {"a": True}
    assert still_known(seen, set(), 601.0, 600) == {"a": False}
