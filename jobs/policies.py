"""Retry policies: what a job does when an attempt fails.

Order of overrides (most specific wins): the job's own ``policy=`` > settings
(``BEATKEEPER_RETRY_*``) > the defaults written below.
Delays are whole seconds of at least 1: RabbitMQ's native delayed delivery, which
holds retries in the broker rather than in a worker, works in whole seconds and
Celery refuses a countdown under one second there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Literal

OnExhausted = Literal["dead_letter", "discard"]


@dataclass(frozen=True)
class RetryPolicy:
    """A job's retry and backoff policy.

    ``retry_on`` lists the exception types that are retried; anything else fails at
    once. The n-th retry (n from 0) waits ``min(backoff_cap, backoff_base * 2**n)``
    seconds, or with ``jitter`` a uniform whole number of seconds between 1 and that.
    ``time_limit`` bounds each attempt. When retries are exhausted the message goes
    to its queue's dead-letter queue (``dead_letter``) or is acknowledged and
    recorded as failed (``discard``).
    """

    retry_on: tuple[type[BaseException], ...] = (Exception,)
    max_retries: int = 3
    backoff_base: int = 2
    backoff_cap: int = 600
    jitter: bool = True
    time_limit: int = 300
    on_exhausted: OnExhausted = "dead_letter"

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 1:
            raise ValueError("backoff_base must be at least 1 second")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must be >= backoff_base")
        if self.time_limit < 1:
            raise ValueError("time_limit must be at least 1 second")
        if self.on_exhausted not in ("dead_letter", "discard"):
            raise ValueError("on_exhausted must be 'dead_letter' or 'discard'")
        if not self.retry_on or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            raise ValueError("retry_on must be a non-empty tuple of exception types")

    def ceiling(self, retry: int) -> int:
        """The longest wait before retry number ``retry`` (from 0), in seconds."""
        # Cap the exponent so huge retry counts cannot build huge integers.
        return int(min(self.backoff_cap, self.backoff_base * 2 ** min(retry, 32)))

    def delay(self, retry: int, rng: random.Random | None = None) -> int:
        """Seconds to wait before retry number ``retry``: always an int >= 1."""
        ceiling = self.ceiling(retry)
        if not self.jitter:
            return ceiling
        return (rng or random).randint(1, ceiling)

    def should_retry(self, exc: BaseException, retries_done: int) -> bool:
        return isinstance(exc, self.retry_on) and retries_done < self.max_retries

    def describe(self) -> dict[str, object]:
        """The policy as plain JSON-ready values, for the API and UI."""
        return {
            "retry_on": [t.__name__ for t in self.retry_on],
            "max_retries": self.max_retries,
            "backoff_base": self.backoff_base,
            "backoff_cap": self.backoff_cap,
            "jitter": self.jitter,
            "time_limit": self.time_limit,
            "on_exhausted": self.on_exhausted,
            "delays": [self.ceiling(n) for n in range(self.max_retries)],
        }


POLICY_FIELDS = frozenset(f.name for f in fields(RetryPolicy))


def effective(default: RetryPolicy, overrides: dict[str, object]) -> RetryPolicy:
    """``default`` with the job's ``overrides`` applied; unknown keys are an error."""
    unknown = set(overrides) - POLICY_FIELDS
    if unknown:
        raise TypeError(f"unknown retry policy option(s): {', '.join(sorted(unknown))}")
    if "retry_on" in overrides and isinstance(overrides["retry_on"], type):
        overrides = {**overrides, "retry_on": (overrides["retry_on"],)}
    # The keys were checked against the fields above; their values are checked by __post_init__.
    return replace(default, **overrides)  # type: ignore[arg-type]  # values typed `object` here
