"""Which days of a month a cron expression's two day fields select.

The rule is Vixie cron's (and cronie's, and cronsim's): a day field is *unrestricted* when its
text starts with ``*`` (or is Quartz's ``?``). If either day field is unrestricted, a day must
match both fields; if both are restricted, a day matches when either field does. So
``0 0 1 * 0-6`` fires every day (both written out: either matches), while ``0 9 1-7 * */7``
fires on the first Sunday of each month (``*/7`` starts with ``*``: both must match).

Beyond plain values, day-of-month takes ``L`` (the last day), ``L-n`` (n days before it),
``nW`` (the weekday nearest day n, never leaving the month) and ``LW`` (the last weekday);
day-of-week takes ``nL`` (the last such weekday of the month) and ``n#k`` (the k-th one).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass


@dataclass(frozen=True)
class DayRule:
    """The parsed day fields; weekdays count from Sunday = 0 as cron does."""

    dom: tuple[int, ...] = tuple(range(1, 32))
    dom_last: tuple[int, ...] = ()  # days before the month's last day: L is 0, L-3 is 3
    dom_nearest: tuple[int, ...] = ()  # 15W
    dom_last_weekday: bool = False  # LW
    dow: tuple[int, ...] = tuple(range(7))
    dow_last: tuple[int, ...] = ()  # 5L: the last Friday
    dow_nth: tuple[tuple[int, int], ...] = ()  # MON#2: (1, 2)
    dom_star: bool = True
    dow_star: bool = True

    @property
    def every_day(self) -> bool:
        return self.dom_star and self.dow_star and len(self.dom) == 31 and len(self.dow) == 7

    @property
    def both_restricted(self) -> bool:
        """True when a day matches if either field does (Vixie's OR case)."""
        return not (self.dom_star or self.dow_star)

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of one month, in order."""
        first_weekday, last = calendar.monthrange(year, month)
        by_date = self._by_date(year, month, last)
        by_weekday = self._by_weekday((first_weekday + 1) % 7, last)
        days = by_date & by_weekday if self.dom_star or self.dow_star else by_date | by_weekday
        return tuple(sorted(days))

    def _by_date(self, year: int, month: int, last: int) -> set[int]:
        days = {d for d in self.dom if d <= last}
        days.update(last - back for back in self.dom_last if last - back >= 1)
        days.update(nearest_weekday(year, month, d, last) for d in self.dom_nearest if d <= last)
        if self.dom_last_weekday:
            days.add(nearest_weekday(year, month, last, last))
        return days

    def _by_weekday(self, first_weekday: int, last: int) -> set[int]:
        days = set()
        weekdays, last_of, nth = set(self.dow), set(self.dow_last), set(self.dow_nth)
        for day in range(1, last + 1):
            weekday = (first_weekday + day - 1) % 7
            if (
                weekday in weekdays
                or (weekday in last_of and day + 7 > last)
                or (weekday, (day + 6) // 7) in nth
            ):
                days.add(day)
        return days

    def by_date_ever_occurs(self, months: tuple[int, ...]) -> bool:
        """Does the day-of-month field alone select a day in any of ``months`` (leap years too)?"""
        longest = max(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in months)
        plain = (*self.dom, *self.dom_nearest)
        return bool(self.dom_last or self.dom_last_weekday or min(plain, default=99) <= longest)

    def ever_matches(self, months: tuple[int, ...]) -> bool:
        """Does any day of these months ever match? The calendar repeats every 400 years."""
        if self.every_day:
            return True
        return any(self.days_in(year, m) for year in range(2000, 2400) for m in months)


def nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """Quartz's ``W``: a Saturday moves to Friday and a Sunday to Monday, within the month."""
    weekday = calendar.weekday(year, month, day)  # Monday = 0
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day
