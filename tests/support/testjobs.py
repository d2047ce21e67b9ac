"""Jobs that exist only for the tests: they fail on purpose, in countable ways."""

from __future__ import annotations

import threading
import time
from collections import Counter

from jobs.registry import JobRegistry

registry = JobRegistry()

_calls: Counter[str] = Counter()
_lock = threading.Lock()


class Flaky(RuntimeError):
    pass


class Permanent(RuntimeError):
    pass


def calls(key: str) -> int:
    with _lock:
        return _calls[key]


@registry.job(max_retries=3, backoff_base=1, backoff_cap=8, jitter=False)
def flaky(key: str, fail_times: int) -> dict[str, int]:
    """Fails ``fail_times`` times for ``key``, then succeeds."""
    with _lock:
        _calls[key] += 1
        n = _calls[key]
    if n <= fail_times:
        raise Flaky(f"attempt {n} of {key} fails on purpose")
    return {"attempts": n}


@registry.job(max_retries=2, backoff_base=1, backoff_cap=1, jitter=False)
def always_fails(key: str) -> None:
    """Never succeeds: ends in the dead-letter queue."""
    raise Permanent(f"{key} always fails")


@registry.job(max_retries=1, backoff_base=1, jitter=False, on_exhausted="discard")
def fails_and_is_discarded(key: str) -> None:
    raise Permanent(f"{key} fails and is discarded")


@registry.job(retry_on=(Flaky,), max_retries=5)
def fails_without_retry(key: str) -> None:
    """Raises an exception its policy does not retry: fails at once."""
    raise Permanent(f"{key} is not retryable")


@registry.job()
def add(x: int, y: int = 0) -> int:
    return x + y


@registry.job()
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


_released: set[str] = set()


def release(key: str) -> None:
    """From now on ``fails_until_released(key)`` succeeds."""
    with _lock:
        _released.add(key)


@registry.job(max_retries=0, jitter=False)
def fails_until_released(key: str) -> dict[str, int]:
    """Dead-lettered at its first failure; succeeds once the test has called ``release``."""
    with _lock:
        _calls[key] += 1
        if key not in _released:
            raise Permanent(f"{key} is not released yet")
        return {"calls": _calls[key]}


@registry.job(max_retries=0, jitter=False, on_exhausted="discard")
def discarded_until_released(key: str) -> dict[str, int]:
    """Fails (recorded, not dead-lettered) until the test has called ``release``."""
    result: dict[str, int] = fails_until_released(key)
    return result
