"""Failed sign-ins per key (a user name, a client address) in a sliding minute.

Kept in the web process's memory: with ``BEATKEEPER_WEB_WORKERS`` processes the effective
limit is that many times higher, and a restart forgets it (README, Security).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

MAX_KEYS = 100_000  # an attacker with many addresses must not grow this without bound


class FailureLimiter:
    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key, deque())
        while found and found[0] <= now - self.window:
            found.popleft()
        return found

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until one more attempt is allowed for all ``keys``; None if allowed now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.limit:
                    wait = max(wait, recent[-self.limit] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_KEYS:
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}
            for key in keys:
                recent = self._recent(key, now)
                recent.append(now)
                self._failures[key] = recent

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
