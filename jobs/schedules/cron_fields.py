"""The cron grammar: text to field values, with errors that say what is wrong.

Five fields are ``minute hour day-of-month month day-of-week``; six fields put **seconds first**
(``second minute hour ...``, as Quartz and cronsim do; croniter puts seconds last, so an
expression copied from croniter must be reordered). Macros ``@yearly`` ``@annually``
``@monthly`` ``@weekly`` ``@daily`` ``@midnight`` ``@hourly`` stand for the usual five fields.

A field is a list of items: ``*``, a value, a range ``a-b``, and a step after any of them
(``*/15``, ``10-30/5``, ``5/15`` meaning ``5-max/15``). Month and weekday names work in any case.
Day-of-week 0 and 7 are Sunday, so ``MON-SUN`` works; other wrap-around ranges are refused, as
Vixie cron refuses them. The day-field extras (``L``, ``W``, ``#``, ``?``) are in cron_days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from jobs.schedules.cron_days import DayRule
from jobs.schedules.errors import TriggerError

FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {
    "month": {name: i for i, name in enumerate(MONTHS, start=1)},
    "day-of-week": {name: i for i, name in enumerate(WEEKDAYS)},
}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
SIX_FIELDS = (
    "six fields are read seconds first: second minute hour day-of-month month day-of-week "
    "(croniter puts seconds last)"
)
_DOM_LAST = re.compile(r"L(?:-(\d+))?|(\d+)L")
_DOM_NEAREST = re.compile(r"(\d+)W")
_DOW_SPECIAL = re.compile(r"([0-7]|[A-Z]{3})(?:(L)|#(\d+))")


@dataclass(frozen=True)
class CronFields:
    """One parsed expression: sorted values per time field, and the day rule."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    days: DayRule
    has_seconds: bool


def _error(name: str, text: str, problem: str) -> TriggerError:
    return TriggerError("cron", f"{name} field '{text}' {problem}")


def _where_supported(token: str, name: str) -> str:
    """Why a token that looks like a cron extension fails in this field."""
    if "#" in token:
        return "; # (the n-th weekday, as in MON#2) is supported only in day-of-week"
    if "?" in token:
        return "; ? is supported only as a whole day field, meaning the same as *"
    if re.fullmatch(r"L?W|\d+W|LW", token):
        return "; W (nearest weekday, as in 15W or LW) is supported only in day-of-month"
    if re.fullmatch(r"\d*L(-\d+)?|[A-Z]{3}L", token):
        return (
            "; L (last) is supported in day-of-month as 'L', 'L-3' or 'LW' "
            "and in day-of-week as '5L' (the last Friday)"
        )
    return ""


def _value(token: str, name: str, low: int, high: int) -> int:
    names = _NAMES.get(name, {})
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not (token.isascii() and token.isdigit()):
        kind = "a number or name" if names else "a number"
        raise _error(name, token, f"is not {kind}{_where_supported(upper, name)}")
    value = int(token)
    if not low <= value <= high:
        raise _error(name, token, f"is out of range {low}-{high}")
    return value


def _plain_item(item: str, name: str, low: int, high: int) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
            raise _error(name, item, "needs a step of at least 1")
        step = int(step_text)
    if base == "*":
        return range(low, high + 1, step)
    if "-" in base:
        first, _, last = base.partition("-")
        start, end = _value(first, name, low, high), _value(last, name, low, high)
        if name == "day-of-week" and end == 0 and start > 0:
            end = 7  # MON-SUN: Sunday closes the week
        if start > end:
            top = 6 if name == "day-of-week" else high
            split = f"{first}-{top},{low}-{last}" if start <= top else f"{low}-{last}"
            raise _error(
                name,
                item,
                f"has a range that runs backwards; wrap-around ranges are not "
                f"supported: write '{split}'",
            )
        return range(start, end + 1, step)
    start = _value(base, name, low, high)
    return range(start, high + 1 if slash else start + 1, step)


def _field(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_plain_item(item, name, low, high))
    return tuple(sorted(values))


def _day_of_month(text: str, rule: DayRule) -> DayRule:
    plain: set[int] = set()
    last: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for item in text.upper().split(","):
        if item == "LW":
            last_weekday = True
        elif found := _DOM_LAST.fullmatch(item):
            back = int(found.group(1) or found.group(2) or 0)
            if back > 30:
                raise _error("day-of-month", item, "counts back more than 30 days from the last")
            last.add(back)
        elif found := _DOM_NEAREST.fullmatch(item):
            nearest.add(_value(found.group(1), "day-of-month", 1, 31))
        elif "/" in item and re.search("[LW]", item.partition("/")[0]):
            raise _error("day-of-month", item, "cannot take a step after L or W")
        else:
            plain.update(_plain_item(item, "day-of-month", 1, 31))
    return replace(
        rule,
        dom=tuple(sorted(plain)),
        dom_last=tuple(sorted(last)),
        dom_nearest=tuple(sorted(nearest)),
        dom_last_weekday=last_weekday,
    )


def _day_of_week(text: str, rule: DayRule) -> DayRule:
    plain: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.upper().split(","):
        if item == "L":
            raise _error(
                "day-of-week",
                item,
                "is not supported alone (Quartz reads it as Saturday): "
                "write SAT, or 6L for the last Saturday of the month",
            )
        if found := _DOW_SPECIAL.fullmatch(item):
            weekday = _value(found.group(1), "day-of-week", 0, 7) % 7
            if found.group(2):
                last.add(weekday)
                continue
            k = int(found.group(3))
            if not 1 <= k <= 5:
                raise _error("day-of-week", item, "needs a week number from 1 to 5 after #")
            nth.add((weekday, k))
        else:
            plain.update(v % 7 for v in _plain_item(item, "day-of-week", 0, 7))
    return replace(
        rule, dow=tuple(sorted(plain)), dow_last=tuple(sorted(last)), dow_nth=tuple(sorted(nth))
    )


def _expand_macro(text: str) -> str:
    word = text.strip()
    if not word.startswith("@") or len(word.split()) > 1:
        return text
    macro = word.lower()
    if macro == "@reboot":
        raise TriggerError(
            "cron",
            "@reboot is not supported: schedules fire on the clock, and Beatkeeper does "
            "not know when a machine starts; use a one-off schedule (run_at) instead",
        )
    if macro not in MACROS:
        known = ", ".join(MACROS)
        raise TriggerError("cron", f"unknown macro '{word}'; one of {known}")
    return MACROS[macro]


def _split(expr: str) -> list[str]:
    parts = _expand_macro(expr).split()
    if len(parts) in (5, 6):
        return parts
    if len(parts) == 7:
        hint = "a seventh (year) field, as Quartz has, is not supported"
    elif parts and parts[0].startswith("@"):
        hint = "a macro such as @daily stands alone"
    else:
        hint = "minute hour day-of-month month day-of-week, or six with seconds first"
    raise TriggerError("cron", f"expected 5 or 6 fields, got {len(parts)} in '{expr}': {hint}")


def parse_fields(expr: str) -> CronFields:
    """Parse an expression or macro; raises TriggerError naming the field and the problem."""
    parts = _split(expr)
    has_seconds = len(parts) == 6
    if not has_seconds:
        parts.insert(0, "0")
    try:
        second, minute, hour = (
            _field(p, *spec) for p, spec in zip(parts[:3], FIELDS[:3], strict=True)
        )
        months = _field(parts[4], *FIELDS[4])
        dom_text, dow_text = parts[3], parts[5]
        rule = DayRule(
            dom_star=dom_text.startswith(("*", "?")), dow_star=dow_text.startswith(("*", "?"))
        )
        if dom_text not in ("*", "?"):
            rule = _day_of_month(dom_text, rule)
        if dow_text not in ("*", "?"):
            rule = _day_of_week(dow_text, rule)
    except TriggerError as exc:
        if has_seconds:
            raise TriggerError("cron", f"{exc.message} ({SIX_FIELDS})") from None
        raise
    return CronFields(second, minute, hour, months, rule, has_seconds)
