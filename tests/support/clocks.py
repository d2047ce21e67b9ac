"""A wall clock that moves only when a test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta


class ManualClock:
    """Call it for the time; starts at ``start`` and moves only by ``advance``."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
