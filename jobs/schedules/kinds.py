"""The enumerations of a schedule: how it fires, what it does after downtime, and when a
fire finds the previous run unfinished. One spelling each, shared by the input model, the
store, the CLI's choices and the form's selects."""

from __future__ import annotations

from enum import StrEnum


class TriggerKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"


class CatchUp(StrEnum):
    """Fires missed while no beat ran: none, the latest one, or all (within the window)."""

    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


class Overlap(StrEnum):
    """A fire while the previous run is unfinished: run anyway, skip it, or keep one."""

    ALLOW = "allow"
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"


def one_of(kind: type[StrEnum]) -> str:
    """``a, b, c``: the values of an enumeration, for messages."""
    return ", ".join(kind)
