"""Property tests: deadlines never precede their start, land on working days, grow with N.

The calendar pretends chinesecalendar stops at 2025 (``package_until``), and starts range over
2024..2026 so that some runs cross into 2026, computed from the statutory holidays and Mon–Fri:
the properties hold whatever release of the package is installed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from hub.clock.calendar import CalendarConfig, WorkCalendar
from hub.clock.deadline import Deadline, compute_deadline
from hub.clock.spec import DeadlineSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar(CalendarConfig(package_until=2025))
SLOT_ENDS = {time(12, 0), time(17, 30)}

starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 6, 30, 23, 59)).map(
    lambda dt: dt.replace(second=0, microsecond=0, tzinfo=SHANGHAI)
)


def due(start: datetime, half_days: int, *, before: bool = False) -> Deadline:
    with capture_logs():  # keep provisional warnings out of the test output
        return compute_deadline(CAL, start, DeadlineSpec("working_days", half_days, before))


def working_days_between(first: date, last: date) -> int:
    """Working days in the inclusive range, counted day by day."""
    return sum(CAL.is_workday(first + timedelta(days=i)) for i in range((last - first).days + 1))


@settings(max_examples=300, deadline=None)
@given(start=starts, n=st.integers(min_value=1, max_value=40))
def test_whole_days_end_at_midnight_after_the_nth_working_day(start: datetime, n: int) -> None:
    deadline = due(start, 2 * n)
    last_day = deadline.due.date() - timedelta(days=1)
    assert deadline.due > start
    assert deadline.due.time() == time(0, 0)
    assert CAL.is_workday(last_day)
    assert working_days_between(start.date() + timedelta(days=1), last_day) == n


@settings(max_examples=300, deadline=None)
@given(start=starts, k=st.integers(min_value=0, max_value=20))
def test_half_days_end_at_a_slot_end_on_a_working_day(start: datetime, k: int) -> None:
    deadline = due(start, 2 * k + 1)
    assert deadline.due > start
    assert deadline.due.time() in SLOT_ENDS
    assert CAL.is_workday(deadline.due.date())


@settings(max_examples=200, deadline=None)
@given(start=starts)
def test_same_day_ends_at_midnight_after_a_working_day(start: datetime) -> None:
    with capture_logs():
        deadline = compute_deadline(CAL, start, DeadlineSpec.parse("same_day"))
    assert deadline.due > start
    assert deadline.due.time() == time(0, 0)
    assert CAL.is_workday(deadline.due.date() - timedelta(days=1))


@settings(max_examples=200, deadline=None)
@given(start=starts, a=st.integers(1, 30), b=st.integers(1, 30))
def test_deadlines_are_monotonic_in_n(start: datetime, a: int, b: int) -> None:
    # a and b count half days, so halves and wholes are compared with each other too
    lo, hi = sorted((a, b))
    assert due(start, lo).due <= due(start, hi).due
    assert due(start, 2 * lo).due <= due(start, 2 * lo + 1).due <= due(start, 2 * lo + 2).due


@settings(max_examples=200, deadline=None)
@given(instant=starts, a=st.integers(1, 30), b=st.integers(1, 30))
def test_before_specs_precede_the_instant_and_move_earlier_with_n(
    instant: datetime, a: int, b: int
) -> None:
    lo, hi = sorted((a, b))
    for half_days in (2 * lo, 2 * lo - 1):
        assert due(instant, half_days, before=True).due < instant
    # a and b count half days: before-deadlines move earlier as the count grows
    assert due(instant, hi, before=True).due <= due(instant, lo, before=True).due
    assert due(instant, 2 * lo + 1, before=True).due <= due(instant, 2 * lo, before=True).due
    morning = due(instant, 2 * lo, before=True).due
    assert morning.time() == time(9, 0)
    assert CAL.is_workday(morning.date())


@settings(max_examples=200, deadline=None)
@given(start=starts, n=st.integers(1, 30))
def test_provisional_exactly_when_an_unknown_year_is_involved(start: datetime, n: int) -> None:
    deadline = due(start, 2 * n)
    assert deadline.provisional == bool(deadline.provisional_years)
    if deadline.due.date() - timedelta(days=1) >= date(2026, 1, 1):
        assert deadline.provisional_years == (2026,)
    if deadline.due.date() <= date(2026, 1, 1):
        assert not deadline.provisional


@settings(max_examples=200, deadline=None)
@given(start=starts, n=st.integers(1, 30), k=st.integers(1, 60))
def test_before_specs_from_a_final_deadline_are_final(start: datetime, n: int, k: int) -> None:
    # a reminder counts back from the deadline; up to the start it crosses only known days
    deadline = due(start, n)
    if deadline.provisional:
        return
    back = due(deadline.due, min(k, n), before=True)
    assert not back.provisional, (start, n, k, back)
