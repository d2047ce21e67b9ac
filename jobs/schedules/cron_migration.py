"""Which stored cron expressions fire differently under Vixie's day-field rule.

Before this release a day field counted as restricted when its values missed part of its
range (``0-6`` covered the week, so it was not); now it is restricted unless its text starts
with ``*``. The values of each field did not change, so the old reading is the new one with
the two "starts with *" flags replaced by "covers the whole range".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jobs.schedules.errors import TriggerError
from jobs.schedules.triggers import CronTrigger

_YEARS = range(2000, 2028)  # 28 years hold every weekday a month can start on, leap or not


@dataclass(frozen=True)
class DayRuleChange:
    """How one expression's fires change; ``before``/``after`` are the next few fire days."""

    problem: str
    before: tuple[date, ...] = ()
    after: tuple[date, ...] = ()


def day_rule_change(expression: str, timezone: str, now: datetime) -> DayRuleChange | None:
    """None when the expression fires exactly as before, else what changed."""
    try:
        trigger = CronTrigger.parse(expression, timezone)
    except TriggerError as exc:
        return DayRuleChange(f"no longer accepted: {exc.message}")
    fields = trigger.fields
    rule = fields.days
    legacy = replace(rule, dom_star=len(rule.dom) == 31, dow_star=len(rule.dow) == 7)
    if legacy == rule or any(
        (rule.dom_last, rule.dom_nearest, rule.dom_last_weekday, rule.dow_last, rule.dow_nth)
    ):
        return None  # the same flags, or L/W/# that the old parser refused
    if all(rule.days_in(y, m) == legacy.days_in(y, m) for y in _YEARS for m in fields.months):
        return None
    old = CronTrigger(expression, timezone, replace(fields, days=legacy))

    def days(t: CronTrigger) -> tuple[date, ...]:
        return tuple(f.astimezone(ZoneInfo(timezone)).date() for f in t.upcoming(now, 3))

    how = "either day field now matches" if rule.both_restricted else "both day fields must match"
    return DayRuleChange(f"fires on other days: {how}", days(old), days(trigger))
