"""Property tests: random cron expressions in zones with DST, against an independent oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from jobs.schedules.triggers import CronTrigger, TriggerError

# Northern and southern hemispheres, a half-hour shift, and changes at local midnight (Santiago).
ZONES = (
    "America/New_York",
    "Australia/Sydney",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
)
FAST = settings(max_examples=100, deadline=None, database=None)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
Field = tuple[str, frozenset[int]]


@st.composite
def fields(
    draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = (), whole: bool = True
) -> Field:
    """One cron field as text, with the set of values it means worked out independently.

    ``whole=False`` keeps to values in ``low..high`` without `*`, to aim at part of a wider field.
    """
    first = 1 if names == MONTHS else 0

    def token(value: int) -> str:
        if names and value - first < len(names) and draw(st.booleans()):
            name = names[value - first]
            return draw(st.sampled_from([name, name.lower(), name.title()]))
        return str(value)

    kinds = ["one", "range", "range-step", "list"] + (["star", "step"] if whole else [])
    kind = draw(st.sampled_from(kinds))
    number = st.integers(low, high)
    if kind == "star":
        return "*", frozenset(range(low, high + 1))
    if kind == "one":
        value = draw(number)
        return token(value), frozenset({value})
    if kind == "step":
        step = draw(st.integers(1, high - low + 1))
        return f"*/{step}", frozenset(range(low, high + 1, step))
    if kind == "list":
        values = draw(st.lists(number, min_size=1, max_size=4))
        return ",".join(token(v) for v in values), frozenset(values)
    a, b = sorted(draw(st.tuples(number, number)))
    step = draw(st.integers(1, 12)) if kind == "range-step" else 1
    suffix = f"/{step}" if kind == "range-step" else ""
    return f"{token(a)}-{token(b)}{suffix}", frozenset(range(a, b + 1, step))


def leaning_to_star(field: st.SearchStrategy[Field], values: range) -> st.SearchStrategy[Field]:
    star = st.just(("*", frozenset(values)))
    return st.one_of(star, star, field)


@st.composite
def expressions(
    draw: st.DrawFn, with_seconds: bool | None = None, hour: int | None = None
) -> tuple[str, list[frozenset[int]]]:
    """A cron expression, the value sets of its six fields (seconds first), and whether a day
    matches when either day field does (a last set holding one bool).

    ``hour`` pins the hour field to one value, to aim at the hour a transition skips or repeats.
    """
    seconds = draw(st.booleans()) if with_seconds is None else with_seconds
    second = draw(fields(0, 59)) if seconds else ("0", frozenset({0}))
    # Hours lean towards `*` and the small hours, and day fields towards `*`, so that schedules
    # often fire on transition days, where the DST rules live.
    hours = st.one_of(leaning_to_star(fields(0, 23), range(24)), fields(0, 4, whole=False))
    hour_field = (str(hour), frozenset({hour})) if hour is not None else draw(hours)
    dom = leaning_to_star(fields(1, 31), range(1, 32))
    month = leaning_to_star(fields(1, 12, MONTHS), range(1, 13))
    dow = leaning_to_star(fields(0, 7, WEEKDAYS), range(8))
    parts = [second, draw(fields(0, 59)), hour_field, draw(dom), draw(month), draw(dow)]
    weekdays = frozenset(0 if d == 7 else d for d in parts[5][1])
    text = " ".join(p[0] for p in (parts if seconds else parts[1:]))
    # Vixie's rule: a day field is restricted unless its text starts with `*`.
    either = not (parts[3][0].startswith("*") or parts[5][0].startswith("*"))
    return text, [p[1] for p in parts[:5]] + [weekdays, frozenset({either})]


def matches(sets: list[frozenset[int]], wall: datetime) -> bool:
    """Does a local wall time match, with Vixie's either-day rule for two restricted day fields?"""
    second, minute, hour, days, months, weekdays, either = sets
    by_date = wall.day in days
    by_weekday = (wall.weekday() + 1) % 7 in weekdays
    day_ok = (by_date or by_weekday) if True in either else (by_date and by_weekday)
    return (
        wall.second in second
        and wall.minute in minute
        and wall.hour in hour
        and wall.month in months
        and day_ok
    )


def offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Offset changes in 2025-2027, found by an hourly scan (these zones change on the minute)."""
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    hour = datetime(2025, 1, 1, tzinfo=UTC)
    while hour.year < 2028:
        following = hour + timedelta(hours=1)
        if offset(zone, following) != offset(zone, hour):
            minute = hour
            while offset(zone, minute) == offset(zone, hour):
                minute += timedelta(minutes=1)
            found.append(minute)
        hour = following
    return tuple(found)


@st.composite
def near_transitions(draw: st.DrawFn, zone: str, before_h: int, after_h: int) -> datetime:
    change = draw(st.sampled_from(transitions(zone)))
    return change + timedelta(seconds=draw(st.integers(-before_h * 3600, after_h * 3600)))


def gap_fire(sets: list[frozenset[int]], zone: ZoneInfo, instant: datetime) -> bool:
    """Is this instant the end of a gap that swallowed a matching wall time?"""
    before, after = offset(zone, instant - timedelta(seconds=1)), offset(zone, instant)
    if after <= before:
        return False
    skipped = (instant + before).replace(tzinfo=None)
    while skipped < (instant + after).replace(tzinfo=None):
        if matches(sets, skipped):
            return True
        skipped += timedelta(seconds=1)
    return False


def build(expr: str, zone: str) -> CronTrigger:
    try:
        return CronTrigger.parse(expr, zone)
    except TriggerError as error:
        if "never occurs" in error.message:
            reject()  # e.g. `30 2` for day-of-month and month
        raise


@FAST
@given(spec=expressions(), zone=st.sampled_from(ZONES))
def test_parsing_a_random_expression_yields_the_sorted_values_it_means(
    spec: tuple[str, list[frozenset[int]]], zone: str
) -> None:
    expr, sets = spec
    trigger = build(expr, zone)
    parsed = (trigger.seconds, trigger.minutes, trigger.hours, trigger.days, trigger.months)
    assert [*parsed, trigger.weekdays] == [tuple(sorted(s)) for s in sets[:6]]
    assert trigger.rule.both_restricted is (True in sets[6])


@FAST
@given(data=st.data(), spec=expressions(), zone=st.sampled_from(ZONES))
def test_upcoming_fires_increase_strictly_and_each_matches_or_ends_a_gap(
    data: st.DataObject, spec: tuple[str, list[frozenset[int]]], zone: str
) -> None:
    expr, sets = spec
    trigger = build(expr, zone)
    start = data.draw(near_transitions(zone, before_h=6, after_h=2), label="start")
    fires = trigger.upcoming(start, 40)
    assert fires, "a satisfiable expression always fires again"
    assert all(f.tzinfo is UTC for f in fires)
    assert all(a < b for a, b in zip([start, *fires], fires, strict=False))
    tz = ZoneInfo(zone)
    every_hour = len(sets[2]) == 24
    for fire in fires:
        local = fire.astimezone(tz)
        if matches(sets, local.replace(tzinfo=None)):
            assert every_hour or local.fold == 0, f"{expr} fired twice for {local}"
        else:
            assert not every_hour and gap_fire(sets, tz, fire), f"{expr} fired at {local}"


@FAST
@given(data=st.data(), zone=st.sampled_from(ZONES), aimed=st.booleans())
def test_every_fire_around_a_transition_agrees_with_a_minute_by_minute_oracle(
    data: st.DataObject, zone: str, aimed: bool
) -> None:
    tz = ZoneInfo(zone)
    change = data.draw(st.sampled_from(transitions(zone)), label="transition")
    # Half the schedules name the hour the transition skips or repeats (read with the lower offset).
    lower = min(offset(tz, change - timedelta(seconds=1)), offset(tz, change))
    skipped_or_repeated = (change.replace(tzinfo=None) + lower).hour
    spec = expressions(with_seconds=False, hour=skipped_or_repeated if aimed else None)
    expr, sets = data.draw(spec, label="expression")
    trigger = build(expr, zone)
    start = change - timedelta(minutes=data.draw(st.integers(0, 180), label="minutes before"))
    end = start + timedelta(hours=5)
    every_hour = len(sets[2]) == 24
    expected = []
    minute = start + timedelta(minutes=1)
    while minute <= end:
        local = minute.astimezone(tz)
        if matches(sets, local.replace(tzinfo=None)):
            if every_hour or local.fold == 0:
                expected.append(minute)
        elif not every_hour and gap_fire(sets, tz, minute):
            expected.append(minute)
        minute += timedelta(minutes=1)
    found = []
    fire = trigger.next_after(start)
    while fire is not None and fire <= end:
        found.append(fire)
        fire = trigger.next_after(fire)
    assert found == expected
    # Asking from anywhere in the window, including inside a repeated hour, agrees too.
    offsets = st.integers(0, 5 * 3600 - 1).map(lambda s: timedelta(seconds=s, microseconds=1))
    for asked in data.draw(st.lists(offsets, min_size=1, max_size=8), label="asked"):
        later = [f for f in expected if f > start + asked]
        fire = trigger.next_after(start + asked)
        assert fire is not None
        assert fire == later[0] if later else fire > end
