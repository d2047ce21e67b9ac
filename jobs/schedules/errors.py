"""The error every trigger and cron parser raises for input that cannot become a schedule."""

from __future__ import annotations

from jobs.errors import Invalid


class TriggerError(Invalid):
    """A schedule that cannot be built; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "message": message}])
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[TriggerError], tuple[str, str]]:
        return (TriggerError, (self.field, self.message))
