"""Each schedule reads as a sentence; surprising ones come with a note; cron jitter is bounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.registry import JobRegistry
from jobs.schedules.cron_describe import describe, describe_trigger
from jobs.schedules.definition import ScheduleDefinition, ScheduleError
from jobs.schedules.jitter import shortest_gap
from jobs.schedules.kinds import TriggerKind
from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger
from jobs.schedules.validation import validate

NOW = datetime(2026, 1, 1, tzinfo=UTC)

SENTENCES = [
    ("0 9 * * 1-5", "Europe/London", "at 09:00 on Monday to Friday, Europe/London"),
    ("* * * * *", "UTC", "every minute, UTC"),
    ("*/15 * * * *", "UTC", "every 15 minutes, UTC"),
    ("*/20 * * * * *", "UTC", "every 20 seconds, UTC"),
    ("30 0 9 * * *", "UTC", "at 09:00:30, UTC"),
    ("@hourly", "UTC", "at minute 0 of every hour, UTC"),
    ("5 9-17 * * *", "UTC", "at minute 5 past the hour, in hours 9 to 17, UTC"),
    ("0 9,17 * * MON,WED,FRI", "UTC", "at 09:00 and 17:00 on Monday, Wednesday and Friday, UTC"),
    ("15 10 * * SAT-SUN", "UTC", "at 10:15 on Saturday and Sunday, UTC"),
    ("@weekly", "America/New_York", "at 00:00 on Sunday, America/New_York"),
    ("0 0 1,15 * *", "UTC", "at 00:00 on days 1 and 15 of the month, UTC"),
    ("0 0 L * *", "UTC", "at 00:00 on the last day of the month, UTC"),
    ("0 0 L-2 * *", "UTC", "at 00:00 on the last day of the month minus 2 days, UTC"),
    ("0 0 15W * *", "UTC", "at 00:00 on the weekday nearest day 15 of the month, UTC"),
    ("0 0 LW * *", "UTC", "at 00:00 on the last weekday of the month, UTC"),
    ("0 9 * * 5L", "UTC", "at 09:00 on the last Friday of the month, UTC"),
    (
        "0 9 * * MON#2",
        "Australia/Sydney",
        "at 09:00 on the second Monday of the month, Australia/Sydney",
    ),
    ("0 0 * jan,Mar-may *", "UTC", "at 00:00 in January and March to May, UTC"),
    # The two Vixie cases: either day matches, or both must.
    ("0 12 13 * FRI", "UTC", "at 12:00 on day 13 of the month, or on Friday, UTC"),
    ("0 9 1-7 * */7", "UTC", "at 09:00 on days 1 to 7 of the month, if that day is a Sunday, UTC"),
]


@pytest.mark.parametrize(("expr", "zone", "sentence"), SENTENCES)
def test_a_cron_expression_reads_as_a_plain_sentence_with_its_zone(
    expr: str, zone: str, sentence: str
) -> None:
    assert describe(expr, zone) == sentence


def test_both_day_fields_restricted_come_with_a_note_that_either_matches() -> None:
    sentence, notes = describe_trigger(CronTrigger.parse("0 12 29 2 1", "UTC"), NOW)
    assert sentence == "at 12:00 on day 29 of the month, or on Monday in February, UTC"
    assert notes == [
        "both day fields are restricted, so a day matches when either does (Vixie cron's "
        "rule), not only when both do"
    ]


def test_a_schedule_that_fires_once_in_four_years_says_so_with_its_next_dates() -> None:
    _, notes = describe_trigger(CronTrigger.parse("0 12 29 2 *", "UTC"), NOW)
    assert notes == [
        "fires rarely, up to 4 years apart: next on 2028-02-29, 2032-02-29, 2036-02-29, 2040-02-29"
    ]


def test_an_everyday_schedule_has_no_notes() -> None:
    assert describe_trigger(CronTrigger.parse("0 9 * * *", "UTC"), NOW)[1] == []


def test_interval_and_one_off_triggers_read_as_sentences() -> None:
    daily, notes = describe_trigger(
        IntervalTrigger(86400, datetime(2026, 1, 1, 9, tzinfo=UTC)), NOW
    )
    assert daily == "every 1 day of elapsed time, in step with 2026-01-01 09:00:00 UTC"
    assert "local time moves by an hour when the clocks change" in notes[0]
    assert describe_trigger(IntervalTrigger(90, NOW), NOW) == (
        "every 90 seconds of elapsed time, in step with 2026-01-01 00:00:00 UTC",
        [],
    )
    once = OnceTrigger(datetime(2026, 5, 1, 8, 30, tzinfo=UTC))
    assert describe_trigger(once, NOW) == ("once, at 2026-05-01 08:30:00 UTC", [])


def test_the_shortest_gap_of_a_cron_schedule_is_its_closest_pair_of_fires() -> None:
    assert shortest_gap(CronTrigger.parse("* * * * *", "UTC"), NOW) == 60
    assert shortest_gap(CronTrigger.parse("0 9 * * MON-FRI", "UTC"), NOW) == 86400
    assert shortest_gap(CronTrigger.parse("0 0,1 * * *", "UTC"), NOW) == 3600
    assert shortest_gap(OnceTrigger(datetime(2026, 5, 1, tzinfo=UTC)), NOW) is None


def _definition(cron: str, jitter: int) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="s", job="noop", trigger=TriggerKind.CRON, cron=cron, jitter_seconds=jitter
    )


@pytest.fixture
def registry() -> JobRegistry:
    jobs = JobRegistry()

    @jobs.job("noop")
    def noop() -> None:
        """Does nothing."""

    return jobs


def test_cron_jitter_must_stay_below_the_gap_between_fires(registry: JobRegistry) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate(_definition("* * * * *", 3600), registry, ["default"], NOW)
    assert caught.value.errors == [
        {
            "field": "jitter_seconds",
            "message": "must be less than the shortest time between two fires of this cron "
            "schedule (60 s), or every fire would go out after the next one is due",
        }
    ]
    validate(_definition("* * * * *", 59), registry, ["default"], NOW)
    validate(_definition("0 3 * * *", 3600), registry, ["default"], NOW)
