"""A trigger in plain language ("at 09:00 on Monday to Friday, Europe/London"), and notes on
schedules that surprise people (both day fields restricted, rare fires, elapsed-time days)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from jobs.schedules.cron_days import DayRule
from jobs.schedules.cron_fields import CronFields, parse_fields
from jobs.schedules.errors import TriggerError
from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger, Trigger

_MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_ORDINALS = ("", "first", "second", "third", "fourth", "fifth")
_RARE = timedelta(days=366)


def _join(words: Sequence[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs: (1, 2, 3, 7) -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _listing(values: Sequence[int], label: Callable[[int], str] = str, last: str = "and") -> str:
    """'1 to 5', 'Monday, Wednesday and Friday', '1, 3 to 5 and 9'."""
    parts: list[str] = []
    for a, b in _runs(values):
        if a == b:
            parts.append(label(a))
        elif b == a + 1:
            parts.extend((label(a), label(b)))
        else:
            parts.append(f"{label(a)} to {label(b)}")
    return _join(parts, last)


def _weekdays(values: Sequence[int], last: str = "and") -> str:
    """Weekdays listed Monday first, so SAT-SUN reads 'Saturday and Sunday'."""
    monday_first = sorted((d + 6) % 7 for d in values)
    return _listing(monday_first, lambda i: _WEEKDAY_NAMES[(i + 1) % 7], last)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _step(values: Sequence[int], low: int, high: int) -> int | None:
    """The n of ``*/n`` when the values are exactly that, else None."""
    if len(values) < 2 or values[0] != low:
        return None
    n = values[1] - values[0]
    return n if tuple(values) == tuple(range(low, high + 1, n)) else None


def _clock(fields: CronFields) -> str:
    seconds, minutes, hours = fields.seconds, fields.minutes, fields.hours
    if len(seconds) * len(minutes) * len(hours) <= 4:
        show_seconds = seconds != (0,)
        times = [
            f"{h:02d}:{m:02d}" + (f":{s:02d}" if show_seconds else "")
            for h in hours
            for m in minutes
            for s in seconds
        ]
        return f"at {_join(times)}"
    parts = []
    if seconds != (0,):
        parts.append(_unit(seconds, 0, 59, "second"))
    if not (seconds != (0,) and len(minutes) == 60):
        where = "of every hour" if len(hours) == 24 else "past the hour"
        parts.append(_unit(minutes, 0, 59, "minute", where))
    if len(hours) < 24:
        step = _step(hours, 0, 23)
        if step:
            parts.append(f"every {step} hours")
        else:
            parts.append("in hour" + ("s " if len(hours) > 1 else " ") + _listing(hours))
    return ", ".join(parts)


def _unit(values: Sequence[int], low: int, high: int, unit: str, where: str = "") -> str:
    if len(values) == high - low + 1:
        return f"every {unit}"
    step = _step(values, low, high)
    if step:
        return f"every {step} {unit}s"
    plural = "s" if len(values) > 1 else ""
    return f"at {unit}{plural} {_listing(values)}" + (f" {where}" if where else "")


def _by_date(rule: DayRule) -> str | None:
    if rule.dom_star and len(rule.dom) == 31:
        return None
    parts = []
    if rule.dom:
        step = _step(rule.dom, 1, 31)
        if step:
            parts.append(f"every {_ordinal(step)} day of the month from the 1st")
        else:
            plural = "s" if len(rule.dom) > 1 else ""
            parts.append(f"day{plural} {_listing(rule.dom)} of the month")
    for back in rule.dom_last:
        minus = f" minus {back} day{'s' if back > 1 else ''}" if back else ""
        parts.append(f"the last day of the month{minus}")
    parts.extend(f"the weekday nearest day {d} of the month" for d in rule.dom_nearest)
    if rule.dom_last_weekday:
        parts.append("the last weekday of the month")
    return " or ".join(parts)


def _by_weekday(rule: DayRule, last: str = "and") -> str | None:
    if rule.dow_star and len(rule.dow) == 7:
        return None
    parts = []
    if rule.dow:
        parts.append(_weekdays(rule.dow, last))
    parts.extend(f"the last {_WEEKDAY_NAMES[d]} of the month" for d in rule.dow_last)
    parts.extend(f"the {_ORDINALS[k]} {_WEEKDAY_NAMES[d]} of the month" for d, k in rule.dow_nth)
    return " or ".join(parts)


def _days(rule: DayRule) -> str:
    by_date, by_weekday = _by_date(rule), _by_weekday(rule)
    if by_date and by_weekday:
        if rule.both_restricted:
            return f"on {by_date}, or on {by_weekday}"
        return f"on {by_date}, if that day is a {_by_weekday(rule, 'or')}"
    if by_date or by_weekday:
        return f"on {by_date or by_weekday}"
    return ""


def describe_fields(fields: CronFields, timezone: str) -> str:
    """The fields in one English sentence, ending with the zone they are read in."""
    parts = [_clock(fields), _days(fields.days)]
    if len(fields.months) < 12:
        parts.append("in " + _listing(fields.months, _MONTH_NAMES.__getitem__))
    return " ".join(p for p in parts if p) + f", {timezone}"


def describe(expression: str, timezone: str) -> str:
    """``expression`` (5 or 6 fields, or a macro) in plain language; raises TriggerError."""
    return describe_fields(parse_fields(expression), timezone)


def notes(rule: DayRule, upcoming: Sequence[datetime]) -> list[str]:
    """What may surprise: both day fields restricted (either matches), and rare fires."""
    found = []
    if rule.both_restricted and not (len(rule.dom) == 31 and len(rule.dow) == 7):
        found.append(
            "both day fields are restricted, so a day matches when either does (Vixie cron's "
            "rule), not only when both do"
        )
    gaps = [b - a for a, b in pairwise(upcoming)]
    if gaps and max(gaps) > _RARE:
        years = max(gaps).days // 365
        listed = ", ".join(f"{t:%Y-%m-%d}" for t in upcoming)
        found.append(f"fires rarely, up to {years} years apart: next on {listed}")
    return found


def _duration(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"  # pragma: no cover - every int divides by 1


def describe_trigger(trigger: Trigger, now: datetime) -> tuple[str, list[str]]:
    """A sentence for any trigger, and its notes (computed from the fires after ``now``)."""
    if isinstance(trigger, CronTrigger):
        sentence = describe_fields(trigger.fields, trigger.timezone)
        return sentence, notes(trigger.rule, trigger.upcoming(now, 4))
    if isinstance(trigger, IntervalTrigger):
        sentence = (
            f"every {_duration(trigger.every_seconds)} of elapsed time, "
            f"in step with {trigger.anchor:%Y-%m-%d %H:%M:%S} UTC"
        )
        found = []
        if trigger.every_seconds % 3600 == 0:
            found.append(
                "counts elapsed time, so its local time moves by an hour when the clocks change; "
                "use a cron schedule for a fixed local time"
            )
        return sentence, found
    if isinstance(trigger, OnceTrigger):
        return f"once, at {trigger.at:%Y-%m-%d %H:%M:%S} UTC", []
    return repr(trigger), []


def describe_stored(build: Callable[[], Trigger], now: datetime) -> tuple[str, list[str]]:
    """:func:`describe_trigger` for a stored schedule, which may no longer build: never raises."""
    try:
        return describe_trigger(build(), now)
    except TriggerError as exc:
        return f"cannot be read: {exc.message}", ["run 'beatkeeper schedules check-cron'"]
