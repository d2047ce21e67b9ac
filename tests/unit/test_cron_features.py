"""Cron as people write it: Vixie's day rule, L, W, #, ?, macros, names, in both hemispheres."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules.triggers import CronTrigger

NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"
BOTH = pytest.mark.parametrize("zone", [NEW_YORK, SYDNEY])


def local_fires(expr: str, zone: str, start: str, n: int) -> list[str]:
    """The next ``n`` fires after a local wall time, as local wall times with their zone names."""
    tz = ZoneInfo(zone)
    begin = datetime.fromisoformat(start).replace(tzinfo=tz)
    found = CronTrigger.parse(expr, zone).upcoming(begin, n)
    return [f.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %a %Z") for f in found]


def days(expr: str, zone: str, start: str, n: int) -> list[str]:
    return [f[:10] for f in local_fires(expr, zone, start, n)]


# 2026 starts on a Thursday; February 2026 has 28 days, February 2028 has 29.

FEATURES = [
    # Vixie: both day fields written out (neither starts with *): either matches.
    ("0 0 1 * 0-6", "2026-01-01 12:00", ["2026-01-02", "2026-01-03", "2026-01-04"]),
    ("0 0 1-31 * SUN-SAT", "2026-01-01 12:00", ["2026-01-02", "2026-01-03", "2026-01-04"]),
    ("0 0 1 * 0-7", "2026-01-01 12:00", ["2026-01-02", "2026-01-03", "2026-01-04"]),
    # Vixie: a field starting with * makes both fields required: Mondays that are odd days.
    ("0 0 */2 * 1", "2026-01-01", ["2026-01-05", "2026-01-19", "2026-02-09", "2026-02-23"]),
    # The Vixie idiom for the first Sunday of each month.
    ("0 9 1-7 * */7", "2026-01-01", ["2026-01-04", "2026-02-01", "2026-03-01", "2026-04-05"]),
    # Both restricted without *: Friday or the 13th.
    ("0 12 13 * FRI", "2026-01-01", ["2026-01-02", "2026-01-09", "2026-01-13", "2026-01-16"]),
    # ? is * in either day field (Quartz).
    ("0 9 ? * MON", "2026-01-01", ["2026-01-05", "2026-01-12", "2026-01-19"]),
    ("0 9 13 * ?", "2026-01-01", ["2026-01-13", "2026-02-13", "2026-03-13"]),
    # L: the last day of months of 31, 28, 31, 30 days, and of a leap February.
    ("0 9 L * *", "2026-01-15", ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]),
    ("0 9 L 2 *", "2027-03-01", ["2028-02-29", "2029-02-28"]),
    # L-n and nL: n days before the last day.
    ("0 9 L-2 * *", "2026-01-15", ["2026-01-29", "2026-02-26", "2026-03-29", "2026-04-28"]),
    ("0 9 2L * *", "2026-01-15", ["2026-01-29", "2026-02-26", "2026-03-29", "2026-04-28"]),
    ("0 9 L-30 * *", "2026-01-15", ["2026-03-01", "2026-05-01", "2026-07-01"]),
    # W: the weekday nearest a day, never leaving the month.
    ("0 9 15W * *", "2026-01-01", ["2026-01-15", "2026-02-16", "2026-03-16", "2026-04-15"]),
    ("0 9 1W 8 *", "2026-01-01", ["2026-08-03", "2027-08-02"]),  # Sat 1st -> Mon 3rd
    ("0 9 31W 5 *", "2026-01-01", ["2026-05-29", "2027-05-31"]),  # Sun 31st -> Fri 29th
    ("0 9 31W * *", "2026-04-01", ["2026-05-29", "2026-07-31", "2026-08-31"]),  # no 31st: none
    # LW: the last weekday of the month.
    ("0 9 LW * *", "2026-01-01", ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30"]),
    ("0 9 LW 5 *", "2026-01-01", ["2026-05-29", "2027-05-31"]),
    # 5L / FRIL: the last Friday; 0L: the last Sunday.
    ("0 9 * * 5L", "2026-01-01", ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
    ("0 9 * * fril", "2026-01-01", ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
    # MON#2: the second Monday; FRI#5 only in months with five Fridays.
    ("0 9 * * MON#2", "2026-01-01", ["2026-01-12", "2026-02-09", "2026-03-09", "2026-04-13"]),
    ("0 9 * * 1#2", "2026-01-01", ["2026-01-12", "2026-02-09", "2026-03-09", "2026-04-13"]),
    ("0 9 * * FRI#5", "2026-01-01", ["2026-01-30", "2026-05-29", "2026-07-31", "2026-10-30"]),
    # Names in any case; Sunday closes a range as 7 (MON-SUN is every day).
    ("0 9 * * mon-Fri", "2026-01-02 12:00", ["2026-01-05", "2026-01-06", "2026-01-07"]),
    (
        "0 9 * * MON-SUN",
        "2026-01-01 12:00",
        ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"],
    ),
    ("0 9 * * SAT-SUN", "2026-01-01", ["2026-01-03", "2026-01-04", "2026-01-10", "2026-01-11"]),
    ("0 9 * * 5-7", "2026-01-01", ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-09"]),
    ("0 9 1 jan,Mar-may *", "2026-01-02", ["2026-03-01", "2026-04-01", "2026-05-01"]),
]


@BOTH
@pytest.mark.parametrize(("expr", "start", "expected"), FEATURES)
def test_each_feature_fires_on_the_expected_local_days(
    zone: str, expr: str, start: str, expected: list[str]
) -> None:
    assert days(expr, zone, start, len(expected)) == expected


@BOTH
def test_an_odd_day_that_is_the_first_monday_of_its_month_needs_both_day_fields(zone: str) -> None:
    # */2 starts with *, so only first Mondays that fall on odd days (Feb 2 and Mar 2 do not).
    found = days("0 9 */2 * MON#1", zone, "2026-01-01", 3)
    assert found == ["2026-01-05", "2026-06-01", "2026-08-03"]


MACROS = [
    ("@yearly", ["2027-01-01 00:00:00", "2028-01-01 00:00:00"]),
    ("@annually", ["2027-01-01 00:00:00", "2028-01-01 00:00:00"]),
    ("@monthly", ["2026-07-01 00:00:00", "2026-08-01 00:00:00"]),
    ("@weekly", ["2026-06-21 00:00:00", "2026-06-28 00:00:00"]),  # Sundays
    ("@daily", ["2026-06-16 00:00:00", "2026-06-17 00:00:00"]),
    ("@midnight", ["2026-06-16 00:00:00", "2026-06-17 00:00:00"]),
    ("@hourly", ["2026-06-15 13:00:00", "2026-06-15 14:00:00"]),
    ("@DAILY", ["2026-06-16 00:00:00", "2026-06-17 00:00:00"]),
]


@BOTH
@pytest.mark.parametrize(("macro", "expected"), MACROS)
def test_a_macro_fires_like_the_five_fields_it_stands_for(
    zone: str, macro: str, expected: list[str]
) -> None:
    found = local_fires(macro, zone, "2026-06-15 12:30", 2)
    assert [f[:19] for f in found] == expected
    assert CronTrigger.parse(macro, zone).expression == macro


@BOTH
def test_six_fields_put_seconds_first(zone: str) -> None:
    found = local_fires("30 0 9 * * MON#1", zone, "2026-01-01", 2)
    assert [f[:19] for f in found] == ["2026-01-05 09:00:30", "2026-02-02 09:00:30"]


# The same features on the day the clocks change.

DST_DAYS = [
    # New York springs forward on the second Sunday of March: 02:30 does not exist.
    (NEW_YORK, "30 2 * * SUN#2", "2026-03-01", ["2026-03-08 03:00 EDT", "2026-04-12 02:30 EDT"]),
    # ... and falls back on the first Sunday of November: 01:30 happens twice, fires once.
    (NEW_YORK, "30 1 * * SUN#1", "2026-10-25", ["2026-11-01 01:30 EDT", "2026-12-06 01:30 EST"]),
    (NEW_YORK, "30 1 1W 11 *", "2026-10-25", ["2026-11-02 01:30 EST", "2027-11-01 01:30 EDT"]),
    # Sydney springs forward on the first Sunday of October and falls back on that of April.
    (SYDNEY, "30 2 * * 0#1", "2026-09-25", ["2026-10-04 03:00 AEDT", "2026-11-01 02:30 AEDT"]),
    (SYDNEY, "30 2 * * 0#1", "2026-03-25", ["2026-04-05 02:30 AEDT", "2026-05-03 02:30 AEST"]),
    # Last Sunday rules: Europe springs forward on it in March, New Zealand in September.
    (
        "Europe/London",
        "30 1 * * SUNL",
        "2026-03-20",
        ["2026-03-29 02:00 BST", "2026-04-26 01:30 BST"],
    ),
    (
        "Pacific/Auckland",
        "30 2 * * 0L",
        "2026-09-20",
        ["2026-09-27 03:00 NZDT", "2026-10-25 02:30 NZDT"],
    ),
    # L on a change day: London on 2024-03-31, Auckland on 2018-09-30 (both last days, Sundays).
    ("Europe/London", "30 1 L * *", "2024-03-20", ["2024-03-31 02:00 BST", "2024-04-30 01:30 BST"]),
    (
        "Pacific/Auckland",
        "30 2 L * *",
        "2018-09-20",
        ["2018-09-30 03:00 NZDT", "2018-10-31 02:30 NZDT"],
    ),
    # Every hour on the first Sunday of April follows the real clock through the fall-back.
    (
        SYDNEY,
        "0 * * 4 SUN#1",
        "2026-04-05 01:30",
        ["2026-04-05 02:00 AEDT", "2026-04-05 02:00 AEST"],
    ),
]


@pytest.mark.parametrize(("zone", "expr", "start", "expected"), DST_DAYS)
def test_l_w_and_hash_keep_the_dst_rules_on_the_day_the_clocks_change(
    zone: str, expr: str, start: str, expected: list[str]
) -> None:
    tz = ZoneInfo(zone)
    begin = datetime.fromisoformat(start).replace(tzinfo=tz)
    found = CronTrigger.parse(expr, zone).upcoming(begin, len(expected))
    assert [f.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") for f in found] == expected
