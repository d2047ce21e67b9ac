"""Publish retry policy: what a producer does when the broker is briefly unreachable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishRetryPolicy:
    """Retry a failed publish ``max_retries`` times, waiting a linearly growing interval.

    Defaults mirror kombu's ``retry_policy`` keys so Celery users recognise them.
    """

    max_retries: int = 3
    interval_start: float = 0.2
    interval_step: float = 0.5
    interval_max: float = 2.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("publish max_retries must be >= 0")
        if min(self.interval_start, self.interval_step, self.interval_max) < 0:
            raise ValueError("publish retry intervals must be >= 0")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        return min(self.interval_max, self.interval_start + attempt * self.interval_step)

    def as_kombu(self) -> dict[str, float]:
        """The same policy in the shape of kombu's / Celery's ``retry_policy`` option."""
        return {
            "max_retries": self.max_retries,
            "interval_start": self.interval_start,
            "interval_step": self.interval_step,
            "interval_max": self.interval_max,
        }
