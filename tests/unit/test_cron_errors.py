"""A cron expression that cannot be used is refused with a message saying what is wrong."""

from __future__ import annotations

import pytest

from jobs.schedules.triggers import CronTrigger, TriggerError

REFUSED = [
    ("@reboot", "@reboot is not supported"),
    ("@fortnightly", "unknown macro '@fortnightly'; one of @yearly, @annually, @monthly"),
    ("@daily 5", "a macro such as @daily stands alone"),
    ("0 0 12 ? * MON 2026", "a seventh (year) field, as Quartz has, is not supported"),
    ("* * * *", "expected 5 or 6 fields, got 4"),
    ("L * * * *", "minute field 'L' is not a number; L (last) is supported in day-of-month"),
    ("0 0 * L *", "month field 'L' is not a number or name; L (last) is supported in"),
    ("0 0 * * L", "day-of-week field 'L' is not supported alone (Quartz reads it as Saturday)"),
    ("0 0 * * 1W", "W (nearest weekday, as in 15W or LW) is supported only in day-of-month"),
    ("0 0 MON#2 * *", "# (the n-th weekday, as in MON#2) is supported only in day-of-week"),
    ("0 0 * * MON#6", "day-of-week field 'MON#6' needs a week number from 1 to 5 after #"),
    ("0 ? * * *", "hour field '?' is not a number; ? is supported only as a whole day field"),
    ("0 0 1,? * *", "? is supported only as a whole day field"),
    ("0 0 L-31 * *", "day-of-month field 'L-31' counts back more than 30 days from the last"),
    ("0 0 L/2 * *", "day-of-month field 'L/2' cannot take a step after L or W"),
    ("0 0 32W * *", "day-of-month field '32' is out of range 1-31"),
    ("0 22-2 * * *", "wrap-around ranges are not supported: write '22-23,0-2'"),
    ("0 0 * * FRI-MON", "wrap-around ranges are not supported: write 'FRI-6,0-MON'"),
    ("0 0 0 * *", "day-of-month field '0' is out of range 1-31"),
    ("0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
    ("0 0 30W 2 *", "day-of-month '30W' never occurs in month '2'"),
    ("0 0 L-29 2 */2", "day-of-month 'L-29' and day-of-week '*/2' never select a day in month"),
    # */30 starts with *, so both must match, and only the 29th can be a fifth Friday in February.
    ("0 0 */30 2 FRI#5", "and day-of-week 'FRI#5' never select a day in month '2'"),
]


@pytest.mark.parametrize(("expr", "message"), REFUSED)
def test_a_refused_expression_names_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(TriggerError) as caught:
        CronTrigger.parse(expr, "UTC")
    assert caught.value.field == "cron"
    assert message in caught.value.message


def test_daily_is_no_longer_told_it_has_the_wrong_number_of_fields() -> None:
    assert CronTrigger.parse("@daily", "UTC").hours == (0,)


def test_an_error_in_a_six_field_expression_says_seconds_come_first() -> None:
    # A croniter expression with seconds last: "at 09:00:30" reads as day-of-week 30 here.
    with pytest.raises(TriggerError) as caught:
        CronTrigger.parse("0 9 * * * 30", "UTC")
    assert "day-of-week field '30' is out of range 0-7" in caught.value.message
    assert "six fields are read seconds first: second minute hour" in caught.value.message
    assert "croniter puts seconds last" in caught.value.message


def test_an_error_in_a_five_field_expression_does_not_mention_seconds() -> None:
    with pytest.raises(TriggerError) as caught:
        CronTrigger.parse("0 9 * * 8", "UTC")
    assert "seconds" not in caught.value.message


def test_quartz_style_six_fields_with_a_question_mark_are_read_seconds_first() -> None:
    trigger = CronTrigger.parse("0 15 10 ? * MON-FRI", "UTC")
    assert (trigger.seconds, trigger.minutes, trigger.hours) == ((0,), (15,), (10,))
    assert trigger.weekdays == (1, 2, 3, 4, 5)
