"""Per-principal rate limits on enqueues and schedule writes, for the API and the UI.

The ``limits`` library (maintained, used by Flask-Limiter and SlowAPI) counts hits in a
moving window: ``BEATKEEPER_RATE_LIMIT_ENQUEUE`` (default 600 per minute) covers enqueues,
run-now and backfills; ``BEATKEEPER_RATE_LIMIT_SCHEDULES`` (default 120 per minute) every
schedule create, edit, pause, resume, reset, delete and import. A request over its limit is
a 429 with ``Retry-After``; ``off`` disables one. The counts live in the web process's memory
(``BEATKEEPER_RATE_LIMIT_STORAGE=memory://``): with ``BEATKEEPER_WEB_WORKERS`` processes the
effective limit is that many times higher, unless a shared storage such as
``redis://host:6379`` (with the ``redis`` package installed) is named.

A request is counted against its principal (the signed-in user or API token), else its
client address.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from jobs.errors import RateLimited

if TYPE_CHECKING:
    from webapp.settings import WebSettings

OFF = frozenset({"off", "none", "0", ""})


class Limited(StrEnum):
    ENQUEUE = "enqueue"
    SCHEDULES = "schedule writes"


class RateLimits:
    """One limiter per web process (or per shared storage)."""

    def __init__(self, enqueue: str, schedules: str, storage: str = "memory://") -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage))
        self.rules: dict[Limited, RateLimitItem | None] = {
            Limited.ENQUEUE: None if enqueue.lower() in OFF else parse(enqueue),
            Limited.SCHEDULES: None if schedules.lower() in OFF else parse(schedules),
        }

    def hit(self, kind: Limited, who: str) -> None:
        """Count one request of ``kind`` by ``who``; RateLimited when it is one too many."""
        rule = self.rules[kind]
        if rule is None or self.limiter.hit(rule, kind.value, who):
            return
        reset = self.limiter.get_window_stats(rule, kind.value, who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many {kind.value} (limit {rule}); retry in {wait} s", wait)


def rate_limits_of(settings: WebSettings) -> RateLimits:
    return RateLimits(
        settings.rate_limit_enqueue, settings.rate_limit_schedules, settings.rate_limit_storage
    )


def check_rule(value: str) -> str:
    """A settings validator: ``off`` or a ``limits`` string such as ``600/minute``."""
    if value.lower() not in OFF:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 600/minute (or off)") from None
    return value
