"""Cron, interval and one-shot triggers: parsing, ordinary fire times and the DST rules."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger, TriggerError

NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"
LONDON = "Europe/London"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def fires(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire in (start, end]."""
    trigger = CronTrigger.parse(expr, zone)
    found: list[datetime] = []
    current = trigger.next_after(start)
    while current is not None and current <= end:
        found.append(current)
        current = trigger.next_after(current)
    return found


def walls(instants: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %Z") for t in instants]


# Parsing


def test_five_fields_parse_into_sorted_tuples_with_a_zero_seconds_field() -> None:
    trigger = CronTrigger.parse("5,1 */6 1-3 * *", "UTC")
    assert trigger.seconds == (0,)
    assert trigger.minutes == (1, 5)
    assert trigger.hours == (0, 6, 12, 18)
    assert trigger.days == (1, 2, 3)
    assert trigger.months == tuple(range(1, 13))
    assert trigger.weekdays == tuple(range(7))


def test_six_fields_take_a_leading_seconds_field() -> None:
    trigger = CronTrigger.parse("*/20 0 12 * * *", "UTC")
    assert (trigger.seconds, trigger.minutes, trigger.hours) == ((0, 20, 40), (0,), (12,))


def test_ranges_with_steps_lists_and_a_start_with_a_step_expand_to_the_allowed_values() -> None:
    trigger = CronTrigger.parse("10-30/10,59 3/7 * * *", "UTC")
    assert trigger.minutes == (10, 20, 30, 59)
    assert trigger.hours == (3, 10, 17)


def test_month_and_day_names_are_case_insensitive_and_work_in_ranges() -> None:
    trigger = CronTrigger.parse("0 0 * jan,Mar-MAY mon-Fri", "UTC")
    assert trigger.months == (1, 3, 4, 5)
    assert trigger.weekdays == (1, 2, 3, 4, 5)


def test_day_of_week_seven_is_sunday_like_zero() -> None:
    assert CronTrigger.parse("0 0 * * 7", "UTC").weekdays == (0,)
    assert CronTrigger.parse("0 0 * * 5-7", "UTC").weekdays == (0, 5, 6)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "minute field '61' is out of range 0-59"),
        ("* 24 * * *", "hour field '24' is out of range 0-23"),
        ("* * 0 * *", "day-of-month field '0' is out of range 1-31"),
        ("* * * 13 *", "month field '13' is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8' is out of range 0-7"),
        ("60 * * * * *", "second field '60' is out of range 0-59"),
        ("*/0 * * * *", "minute field '*/0' needs a step of at least 1"),
        ("* 5-1 * * *", "hour field '5-1' has a range that runs backwards"),
        ("x * * * *", "minute field 'x' is not a number"),
        ("* * * FOO *", "month field 'FOO' is not a number or name"),
        ("* * * * MON-", "day-of-week field '' is not a number or name"),
        ("1,,2 * * * *", "minute field '' is not a number"),
        ("* * * *", "expected 5 or 6 fields, got 4"),
        ("", "expected 5 or 6 fields, got 0"),
        ("0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
    ],
)
def test_a_bad_expression_raises_a_cron_error_naming_the_bad_part(expr: str, message: str) -> None:
    with pytest.raises(TriggerError) as caught:
        CronTrigger.parse(expr, "UTC")
    assert caught.value.field == "cron"
    assert message in caught.value.message


def test_a_trigger_error_reads_field_colon_message_and_survives_pickling() -> None:
    error = TriggerError("cron", "minute field '61' is out of range 0-59")
    assert str(error) == "cron: minute field '61' is out of range 0-59"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.message) == (error.field, error.message)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "new_york"])
def test_an_unknown_time_zone_raises_a_timezone_error(zone: str) -> None:
    with pytest.raises(TriggerError) as caught:
        CronTrigger.parse("* * * * *", zone)
    assert caught.value.field == "timezone"


def test_a_naive_datetime_is_rejected_by_every_trigger() -> None:
    naive = datetime(2026, 1, 1)
    for trigger in (
        CronTrigger.parse("* * * * *", "UTC"),
        IntervalTrigger(60, utc(2026, 1, 1)),
        OnceTrigger(utc(2026, 1, 1)),
    ):
        with pytest.raises(ValueError, match="naive"):
            trigger.next_after(naive)
    with pytest.raises(ValueError, match="naive"):
        IntervalTrigger(60, naive)
    with pytest.raises(ValueError, match="naive"):
        OnceTrigger(naive)


# Ordinary fire times


def test_every_minute_fires_at_the_next_whole_minute_strictly_after_the_given_time() -> None:
    trigger = CronTrigger.parse("* * * * *", "UTC")
    assert trigger.next_after(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 1)
    assert trigger.next_after(utc(2026, 1, 1, 10, 0, 30, 500)) == utc(2026, 1, 1, 10, 1)
    assert trigger.next_after(utc(2026, 12, 31, 23, 59)) == utc(2027, 1, 1, 0, 0)


def test_fire_times_are_utc_aware_and_accept_any_aware_input() -> None:
    trigger = CronTrigger.parse("0 9 * * *", "UTC")
    fire = trigger.next_after(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5))))
    assert fire == utc(2026, 1, 1, 9)
    assert fire is not None and fire.tzinfo is UTC


def test_a_step_fires_on_its_multiples() -> None:
    start = utc(2026, 1, 1, 10, 7)
    assert CronTrigger.parse("*/15 * * * *", "UTC").upcoming(start, 4) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 10, 45),
        utc(2026, 1, 1, 11, 0),
    ]


def test_a_weekday_list_skips_the_other_days() -> None:
    # 2026-01-01 is a Thursday.
    found = CronTrigger.parse("0 9 * * MON,WED,FRI", "UTC").upcoming(utc(2026, 1, 1), 4)
    assert found == [utc(2026, 1, 2, 9), utc(2026, 1, 5, 9), utc(2026, 1, 7, 9), utc(2026, 1, 9, 9)]


def test_the_thirty_first_skips_months_that_are_shorter() -> None:
    found = CronTrigger.parse("0 0 31 * *", "UTC").upcoming(utc(2026, 1, 31), 3)
    assert found == [utc(2026, 3, 31), utc(2026, 5, 31), utc(2026, 7, 31)]


def test_february_the_twenty_ninth_fires_only_in_leap_years() -> None:
    trigger = CronTrigger.parse("0 0 29 2 *", "UTC")
    assert trigger.upcoming(utc(2025, 1, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    assert trigger.next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)  # 2100 is not a leap year


def test_both_day_fields_restricted_fire_when_either_matches() -> None:
    # Friday or the 13th; 2026-01-13 is a Tuesday.
    found = CronTrigger.parse("0 12 13 * FRI", "UTC").upcoming(utc(2026, 1, 1), 4)
    assert found == [
        utc(2026, 1, 2, 12),
        utc(2026, 1, 9, 12),
        utc(2026, 1, 13, 12),
        utc(2026, 1, 16, 12),
    ]


def test_one_restricted_day_field_alone_decides_the_day() -> None:
    assert CronTrigger.parse("0 0 13 * *", "UTC").next_after(utc(2026, 1, 1)) == utc(2026, 1, 13)
    assert CronTrigger.parse("0 0 * * MON", "UTC").next_after(utc(2026, 1, 1)) == utc(2026, 1, 5)


def test_a_seconds_field_fires_within_the_minute() -> None:
    trigger = CronTrigger.parse("*/20 * * * * *", "UTC")
    assert trigger.upcoming(utc(2026, 1, 1, 0, 0, 45), 3) == [
        utc(2026, 1, 1, 0, 1, 0),
        utc(2026, 1, 1, 0, 1, 20),
        utc(2026, 1, 1, 0, 1, 40),
    ]
    assert CronTrigger.parse("30 0 12 * * *", "UTC").next_after(utc(2026, 1, 1)) == utc(
        2026, 1, 1, 12, 0, 30
    )


def test_a_schedule_follows_its_zone_between_winter_and_summer() -> None:
    trigger = CronTrigger.parse("0 9 * * *", LONDON)
    assert trigger.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 9)
    assert trigger.next_after(utc(2026, 7, 10)) == utc(2026, 7, 10, 8)


def test_a_zone_with_a_half_hour_offset_shifts_every_fire() -> None:
    trigger = CronTrigger.parse("0 9 * * *", "Asia/Kolkata")
    assert trigger.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 3, 30)


def test_upcoming_returns_n_fires_and_rejects_a_negative_count() -> None:
    trigger = CronTrigger.parse("0 0 1 1 *", "UTC")
    assert trigger.upcoming(utc(2026, 6, 1), 3) == [
        utc(2027, 1, 1),
        utc(2028, 1, 1),
        utc(2029, 1, 1),
    ]
    assert trigger.upcoming(utc(2026, 6, 1), 0) == []
    with pytest.raises(ValueError):
        trigger.upcoming(utc(2026, 6, 1), -1)


def test_the_schedule_runs_out_at_the_end_of_the_supported_calendar() -> None:
    trigger = CronTrigger.parse("0 0 1 1 *", NEW_YORK)
    assert trigger.next_after(utc(9998, 6, 1)) is None
    assert trigger.next_after(datetime.max.replace(tzinfo=UTC)) is None


# DST: America/New_York (2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST)


def test_nonexistent_time_on_spring_forward_fires_once_at_the_first_valid_instant() -> None:
    found = fires("30 2 * * *", NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 10))
    assert found == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    assert walls(found, NEW_YORK) == ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]


def test_several_nonexistent_times_in_one_gap_collapse_into_one_fire() -> None:
    found = fires("*/20 2 * * *", NEW_YORK, utc(2026, 3, 8), utc(2026, 3, 9))
    assert found == [utc(2026, 3, 8, 7, 0)]


def test_a_gap_fire_and_a_real_match_at_the_same_instant_fire_once() -> None:
    found = fires("0,30 2,3 * * *", NEW_YORK, utc(2026, 3, 8), utc(2026, 3, 8, 12))
    assert walls(found, NEW_YORK) == ["03-08 03:00 EDT", "03-08 03:30 EDT"]


def test_a_repeated_time_on_fall_back_fires_once_at_its_first_occurrence() -> None:
    found = fires("30 1 * * *", NEW_YORK, utc(2026, 10, 31), utc(2026, 11, 3))
    assert walls(found, NEW_YORK) == ["10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"]


def test_a_fixed_hour_schedule_does_not_fire_again_in_the_repeated_hour() -> None:
    found = fires("*/20 1 * * *", NEW_YORK, utc(2026, 11, 1), utc(2026, 11, 1, 12))
    assert walls(found, NEW_YORK) == ["11-01 01:00 EDT", "11-01 01:20 EDT", "11-01 01:40 EDT"]
    # Asking from inside the second pass moves on to the next day.
    trigger = CronTrigger.parse("30 1 * * *", NEW_YORK)
    assert trigger.next_after(utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 2, 6, 30)


def test_an_hourly_schedule_fires_at_both_occurrences_of_the_repeated_hour() -> None:
    found = fires("0 * * * *", NEW_YORK, utc(2026, 11, 1, 3), utc(2026, 11, 1, 8))
    assert found == [utc(2026, 11, 1, h) for h in (4, 5, 6, 7, 8)]
    assert walls(found, NEW_YORK)[1:3] == ["11-01 01:00 EDT", "11-01 01:00 EST"]


def test_an_hourly_schedule_asked_inside_the_repeated_hour_continues_in_real_time() -> None:
    trigger = CronTrigger.parse("0 * * * *", NEW_YORK)
    assert trigger.next_after(utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 6)
    assert trigger.next_after(utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 1, 7)


def test_a_quarter_hourly_schedule_runs_every_real_quarter_hour_across_both_transitions() -> None:
    for start in (utc(2026, 3, 8, 4), utc(2026, 11, 1, 3)):
        found = fires("*/15 * * * *", NEW_YORK, start, start + timedelta(hours=6))
        assert found == [start + timedelta(minutes=15 * k) for k in range(1, 25)]


def test_an_hourly_schedule_on_spring_forward_fires_every_real_hour_without_a_duplicate() -> None:
    found = fires("0 * * * *", NEW_YORK, utc(2026, 3, 8, 4), utc(2026, 3, 8, 9))
    assert found == [utc(2026, 3, 8, h) for h in (5, 6, 7, 8, 9)]
    assert walls(found, NEW_YORK)[1:3] == ["03-08 01:00 EST", "03-08 03:00 EDT"]


def test_an_hourly_schedule_off_the_hour_gets_no_extra_fire_after_the_gap() -> None:
    found = fires("30 * * * *", NEW_YORK, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))
    assert found == [utc(2026, 3, 8, h, 30) for h in (5, 6, 7, 8)]


# DST: Australia/Sydney (2026-04-05 03:00 AEDT -> 02:00 AEST, 2026-10-04 02:00 AEST -> 03:00 AEDT)


def test_sydney_nonexistent_time_in_october_fires_once_at_the_first_valid_instant() -> None:
    found = fires("30 2 * * *", SYDNEY, utc(2026, 10, 2), utc(2026, 10, 5))
    assert walls(found, SYDNEY) == ["10-03 02:30 AEST", "10-04 03:00 AEDT", "10-05 02:30 AEDT"]
    assert found[1] == utc(2026, 10, 3, 16)


def test_sydney_repeated_time_in_april_fires_once_at_its_first_occurrence() -> None:
    found = fires("30 2 * * *", SYDNEY, utc(2026, 4, 3), utc(2026, 4, 6))
    assert walls(found, SYDNEY) == ["04-04 02:30 AEDT", "04-05 02:30 AEDT", "04-06 02:30 AEST"]
    assert found[1] == utc(2026, 4, 4, 15, 30)


def test_sydney_hourly_schedule_fires_at_both_occurrences_in_april() -> None:
    found = fires("0 * * * *", SYDNEY, utc(2026, 4, 4, 13), utc(2026, 4, 4, 17))
    assert found == [utc(2026, 4, 4, h) for h in (14, 15, 16, 17)]
    assert walls(found, SYDNEY) == [
        "04-05 01:00 AEDT",
        "04-05 02:00 AEDT",
        "04-05 02:00 AEST",
        "04-05 03:00 AEST",
    ]


def test_sydney_hourly_schedule_fires_every_real_hour_across_the_october_gap() -> None:
    found = fires("0 * * * *", SYDNEY, utc(2026, 10, 3, 14), utc(2026, 10, 3, 17))
    assert found == [utc(2026, 10, 3, h) for h in (15, 16, 17)]
    assert walls(found, SYDNEY) == ["10-04 01:00 AEST", "10-04 03:00 AEDT", "10-04 04:00 AEDT"]


# DST: Europe/London (2026-03-29 01:00 GMT -> 02:00 BST, 2026-10-25 02:00 BST -> 01:00 GMT)


@pytest.mark.parametrize("day", [utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)])
def test_london_hourly_schedule_fires_every_real_hour_on_both_transition_days(
    day: datetime,
) -> None:
    found = fires("0 * * * *", LONDON, day, day + timedelta(hours=6))
    assert found == [day + timedelta(hours=k) for k in range(1, 7)]


def test_london_fixed_hour_schedules_follow_the_gap_and_repeat_rules() -> None:
    spring = fires("30 1 * * *", LONDON, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    autumn = fires("30 1 * * *", LONDON, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert walls(spring, LONDON) == ["03-29 02:00 BST"]
    assert walls(autumn, LONDON) == ["10-25 01:30 BST"]


# Interval and once


def test_an_interval_fires_on_the_anchor_grid_in_both_directions() -> None:
    trigger = IntervalTrigger(3600, utc(2026, 1, 1, 12))
    assert trigger.next_after(utc(2026, 1, 1, 9, 30)) == utc(2026, 1, 1, 10)
    assert trigger.next_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 1, 13)
    assert trigger.upcoming(utc(2026, 1, 1, 13, 0, 0, 1), 2) == [
        utc(2026, 1, 1, 14),
        utc(2026, 1, 1, 15),
    ]


def test_an_interval_keeps_the_anchor_in_utc_and_ignores_dst() -> None:
    anchor = datetime(2026, 3, 7, 12, tzinfo=ZoneInfo(NEW_YORK))
    trigger = IntervalTrigger(86400, anchor)
    fire = trigger.next_after(utc(2026, 3, 8, 12))
    assert fire == utc(2026, 3, 8, 17)
    assert fire is not None and fire.tzinfo is UTC


@pytest.mark.parametrize("every", [0, -5])
def test_an_interval_shorter_than_a_second_is_an_interval_error(every: int) -> None:
    with pytest.raises(TriggerError) as caught:
        IntervalTrigger(every, utc(2026, 1, 1))
    assert caught.value.field == "interval"


def test_a_once_trigger_fires_once_and_then_never_again() -> None:
    at = datetime(2026, 5, 1, 14, tzinfo=ZoneInfo(SYDNEY))
    trigger = OnceTrigger(at)
    assert trigger.next_after(utc(2026, 1, 1)) == utc(2026, 5, 1, 4)
    assert trigger.next_after(utc(2026, 5, 1, 4)) is None
    assert trigger.upcoming(utc(2026, 1, 1), 5) == [utc(2026, 5, 1, 4)]
