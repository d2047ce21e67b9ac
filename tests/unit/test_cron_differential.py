"""Differential test: five-field expressions fire where cronsim says, in zones without DST.

cronsim (a dev-only oracle) reads the day fields as Vixie cron does and knows ``L``, ``LW``,
``nL`` and ``n#k``; it follows Debian's DST rules, which differ from Beatkeeper's on purpose, so
the zones here have had no offset change since 2000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from jobs.schedules.triggers import CronTrigger, TriggerError

ZONES = ("UTC", "Asia/Tokyo", "Asia/Kolkata")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIRES = 12


@st.composite
def value(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    number = draw(st.integers(low, high))
    index = number - (1 if names == MONTHS else 0)
    if names and index < len(names) and draw(st.booleans()):
        return draw(st.sampled_from([names[index], names[index].lower(), names[index].title()]))
    return str(number)


@st.composite
def item(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    """One list item: a value, a range, a step over either or over *."""
    kind = draw(st.sampled_from(["value", "range", "range-step", "start-step", "star-step"]))
    if kind == "star-step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    if kind in ("value", "start-step"):
        step = f"/{draw(st.integers(1, 12))}" if kind == "start-step" else ""
        return draw(value(low, high, names)) + step
    a, b = sorted(draw(st.tuples(st.integers(low, high), st.integers(low, high))))
    # cronsim reads a one-value range with a step (0-0/5) as a start with a step (0/5).
    step = f"/{draw(st.integers(1, 12))}" if kind == "range-step" and a < b else ""
    # Sorted ends never put SUN after another day (cronsim refuses MON-SUN; 7 closes a range).
    return f"{draw(value(a, a, names))}-{draw(value(b, b, names))}{step}"


def field(items: st.SearchStrategy[str], star: bool = True) -> st.SearchStrategy[str]:
    listed = st.lists(items, min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed) if star else listed


day_of_month = st.one_of(item(1, 31), st.sampled_from(["L", "LW"]))
day_of_week = st.one_of(
    item(0, 7, WEEKDAYS),
    st.builds(lambda d: f"{d}L", st.integers(0, 7)),
    st.builds(
        lambda d, k: f"{d}#{k}",
        st.sampled_from([*map(str, range(8)), *WEEKDAYS]),
        st.integers(1, 5),
    ),
)
expressions = st.tuples(
    field(item(0, 59)),
    field(item(0, 23)),
    field(day_of_month),
    field(item(1, 12, MONTHS)),
    field(day_of_week),
).map(" ".join)


@settings(max_examples=150, deadline=None, database=None)
@given(
    expr=expressions,
    zone=st.sampled_from(ZONES),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1)),
)
def test_fires_agree_with_cronsim_for_five_field_expressions(
    expr: str, zone: str, start: datetime
) -> None:
    tz = ZoneInfo(zone)
    begin = start.replace(microsecond=0, tzinfo=tz)
    try:
        trigger = CronTrigger.parse(expr, zone)
    except TriggerError as error:
        assert "never" in error.message, error.message  # everything generated is valid grammar
        reject()
    try:
        oracle = CronSim(expr, begin)
    except CronSimError:
        reject()  # cronsim refuses what it cannot handle, e.g. a step after a single name
    expected = [t.astimezone(UTC) for t in islice(oracle, FIRES)]
    assert trigger.upcoming(begin, FIRES) == expected, expr


def test_the_oracle_itself_reads_the_vixie_examples_as_the_readme_does() -> None:
    # A guard on the oracle: if cronsim changed its day rule, the differential test would drift.
    begin = datetime(2026, 1, 1, tzinfo=UTC)
    daily = list(islice(CronSim("0 0 1 * 0-6", begin), 3))
    assert [d.day for d in daily] == [2, 3, 4]
    odd_mondays = list(islice(CronSim("0 0 */2 * 1", begin), 2))
    assert [d.date() for d in odd_mondays] == [
        (begin + timedelta(days=4)).date(),
        (begin + timedelta(days=18)).date(),
    ]
