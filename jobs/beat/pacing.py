"""How far ahead the beat hands fires over: far enough that a crowd due together is with the
broker before its time, however large it is.

The beat hands fires over in the order of their send times, at some rate (fires a second,
measured as it goes). With a fixed look-ahead ``L`` a burst of ``N`` fires due at ``T`` is
handed over from ``T - L`` until ``T - L + N / rate``: late whenever ``N / rate > L`` (at about
5,000 fires a second, 100,000 fires need 20 s). So the beat counts its pending fires per
second of send time and starts as soon as some second ``s`` would otherwise be late:

    start(s) = s - C(s) / rate          C(s): pending fires due by the end of second s
    hand over now  when  now + L >= min over s of start(s)

``L`` stays the margin every fire keeps; the counts look at most ``max_lookahead`` seconds
ahead. Pure: no clock of its own, every function takes the times.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

SAFETY = 0.8  # plan with 80 % of the measured rate: a busy machine hands over slower
SMOOTHING = 0.3  # weight of a faster batch in the measured rate
MIN_SAMPLE = 100  # smaller batches are mostly fixed costs: they say little about the rate


@dataclass
class DueCounts:
    """Pending fires per whole second (epoch) of their send time."""

    counts: dict[int, int] = field(default_factory=dict)

    def add(self, at: datetime) -> None:
        second = math.floor(at.timestamp())
        self.counts[second] = self.counts.get(second, 0) + 1

    def remove(self, at: datetime) -> None:
        second = math.floor(at.timestamp())
        left = self.counts.get(second, 0) - 1
        if left > 0:
            self.counts[second] = left
        else:
            self.counts.pop(second, None)

    def clear(self) -> None:
        self.counts.clear()

    def _starts(self, first: datetime, until: datetime, rate: float) -> Iterator[tuple[int, float]]:
        """(second, start) for each counted second from ``first`` (the earliest pending fire)
        to ``until``: start is the latest epoch at which handing over, at ``rate`` fires a
        second, must go on for every fire due by that second to be handed over by then."""
        low, high = math.floor(first.timestamp()), math.floor(until.timestamp())
        if high - low > len(self.counts):  # fewer counted seconds than seconds to look at
            seconds = sorted(s for s in self.counts if low <= s <= high)
        else:
            seconds = [s for s in range(low, high + 1) if s in self.counts]
        due = 0
        for second in seconds:
            due += self.counts[second]
            yield second, second - due / rate

    def start_by(self, first: datetime, until: datetime, rate: float) -> float | None:
        """The earliest of those starts; None when no fire is counted in the window."""
        return min((start for _, start in self._starts(first, until, rate)), default=None)

    def pressed_until(
        self, first: datetime, until: datetime, rate: float, deadline: float
    ) -> int | None:
        """The last second whose fires must be handed over now, i.e. whose start is at or
        before ``deadline`` (now plus the fixed look-ahead); None when there is none."""
        last = None
        for second, start in self._starts(first, until, rate):
            if start <= deadline:
                last = second
        return last


@dataclass
class Pace:
    """The beat's measured hand-over rate (fires a second), from its recent batches."""

    rate: float  # the estimate before any batch was measured

    def observe(self, fires: int, seconds: float) -> None:
        if fires < MIN_SAMPLE or seconds <= 0:
            return
        measured = fires / seconds
        # Down at once, up slowly: a rate too high starts a burst too late, one too low
        # only starts it earlier.
        self.rate = (
            measured if measured < self.rate else self.rate + SMOOTHING * (measured - self.rate)
        )

    @property
    def planning_rate(self) -> float:
        return self.rate * SAFETY
