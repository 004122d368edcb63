"""Deadline computation against the 2026 schedule in chinesecalendar 1.11.0.

Every expected value below was worked out by hand from the package's day list:
Mid-Autumn off 2026-09-25 (Fri)..09-27; National Day off 10-01 (Thu)..10-07 (Wed);
调休 working days 2026-09-20 (Sun) and 2026-10-10 (Sat). Default office hours 09:00-12:00,
13:30-17:30. "24:00" of a day is written as 00:00 of the next day in the ISO values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from hub.clock.calendar import CalendarConfig, WorkCalendar
from hub.clock.deadline import compute_deadline, deadline_from
from hub.clock.spec import DeadlineSpec
from hub.errors import CalendarError

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def calendar(**config: object) -> WorkCalendar:
    return WorkCalendar(CalendarConfig.model_validate(config))


# Tests past the data pin the package's last year, so they hold whatever release is installed.
UNTIL_2025 = calendar(package_until=2025)  # 2026 is past the data
UNTIL_2026 = calendar(package_until=2026)  # 2027 is past the data
CAL_2027 = calendar(
    package_until=2026, years={2027: {"holidays": ["2027-01-01..2027-01-03"], "complete": True}}
)


def at(text: str) -> datetime:
    """A Shanghai wall-clock instant."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("spec", "due", "display"),
    [
        ("1wd", "2026-10-09T00:00", "2026-10-08 24:00"),
        ("2wd", "2026-10-10T00:00", "2026-10-09 24:00"),
        ("3wd", "2026-10-11T00:00", "2026-10-10 24:00"),
        ("7wd", "2026-10-16T00:00", "2026-10-15 24:00"),
        ("10wd", "2026-10-21T00:00", "2026-10-20 24:00"),
        ("10个工作日", "2026-10-21T00:00", "2026-10-20 24:00"),
        ("30wd", "2026-11-18T00:00", "2026-11-17 24:00"),
    ],
    ids=[
        "one-day-skips-national-day",
        "two-days",
        "three-days-lands-on-tiaoxiu-saturday",
        "seven-days",
        "ten-days",
        "ten-days-in-chinese",
        "thirty-days",
    ],
)
def test_whole_working_days_from_the_eve_of_national_day(spec: str, due: str, display: str) -> None:
    deadline = deadline_from(CAL, at("2026-09-30T16:00"), spec)
    assert deadline.due == at(due)
    assert deadline.display() == display
    assert not deadline.provisional


@pytest.mark.parametrize(
    ("start", "spec", "due"),
    [
        ("2026-10-03T10:00", "1wd", "2026-10-09T00:00"),
        ("2026-10-03T10:00", "2wd", "2026-10-10T00:00"),
        ("2026-09-19T10:00", "1wd", "2026-09-21T00:00"),
        ("2026-09-24T09:00", "1wd", "2026-09-29T00:00"),
        ("2026-10-10T23:59", "1wd", "2026-10-13T00:00"),
    ],
    ids=[
        "start-on-holiday-day-one-is-first-working-day-after",
        "start-on-holiday-two-days",
        "start-saturday-counts-tiaoxiu-sunday",
        "thursday-before-mid-autumn",
        "start-on-tiaoxiu-saturday-is-not-counted",
    ],
)
def test_whole_days_from_other_starts(start: str, spec: str, due: str) -> None:
    assert deadline_from(CAL, at(start), spec).due == at(due)


@pytest.mark.parametrize(
    ("start", "spec", "due"),
    [
        ("2026-09-30T10:00", "same_day", "2026-10-01T00:00"),
        ("2026-09-30T23:59", "当日", "2026-10-01T00:00"),
        ("2026-10-03T10:00", "same_day", "2026-10-09T00:00"),
        ("2026-10-10T18:00", "24:00", "2026-10-11T00:00"),
        ("2026-09-20T08:00", "即时", "2026-09-21T00:00"),
        ("2026-10-11T10:00", "当天", "2026-10-13T00:00"),
    ],
    ids=[
        "workday",
        "workday-one-minute-before-midnight",
        "holiday-moves-to-next-working-day",
        "tiaoxiu-saturday-is-a-working-day",
        "tiaoxiu-sunday-is-a-working-day",
        "ordinary-sunday",
    ],
)
def test_same_day(start: str, spec: str, due: str) -> None:
    assert deadline_from(CAL, at(start), spec).due == at(due)


@pytest.mark.parametrize(
    ("start", "spec", "due"),
    [
        ("2026-09-14T10:00", "0.5wd", "2026-09-14T17:30"),
        ("2026-09-14T09:00", "0.5wd", "2026-09-14T17:30"),
        ("2026-09-14T07:00", "0.5wd", "2026-09-14T12:00"),
        ("2026-09-14T12:00", "0.5wd", "2026-09-14T17:30"),
        ("2026-09-14T12:30", "0.5wd", "2026-09-14T17:30"),
        ("2026-09-14T13:30", "0.5wd", "2026-09-15T12:00"),
        ("2026-09-14T15:00", "0.5wd", "2026-09-15T12:00"),
        ("2026-09-14T19:00", "0.5wd", "2026-09-15T12:00"),
        ("2026-09-14T10:00", "2.5wd", "2026-09-17T12:00"),
        ("2026-09-11T15:00", "0.5wd", "2026-09-14T12:00"),
        ("2026-09-24T15:00", "0.5wd", "2026-09-28T12:00"),
        ("2026-09-30T10:00", "0.5wd", "2026-09-30T17:30"),
        ("2026-09-30T16:00", "0.5wd", "2026-10-08T12:00"),
        ("2026-09-30T16:00", "1.5wd", "2026-10-09T12:00"),
        ("2026-10-09T15:00", "0.5wd", "2026-10-10T12:00"),
        ("2026-10-10T15:00", "0.5wd", "2026-10-12T12:00"),
        ("2026-10-11T10:00", "0.5个工作日", "2026-10-12T12:00"),
    ],
    ids=[
        "monday-morning-to-afternoon",
        "exactly-at-opening-morning-is-the-start-slot",
        "before-opening-counts-the-morning",
        "exactly-noon-is-lunch",
        "lunch-break",
        "exactly-at-afternoon-start",
        "monday-afternoon-to-tuesday-noon",
        "evening-to-next-noon",
        "two-and-a-half-days",
        "friday-afternoon-to-monday-noon",
        "across-mid-autumn",
        "national-day-eve-morning",
        "across-national-day",
        "one-and-a-half-across-national-day",
        "friday-to-tiaoxiu-saturday-morning",
        "tiaoxiu-saturday-afternoon-to-monday",
        "start-on-ordinary-sunday",
    ],
)
def test_half_days_count_office_hour_slots(start: str, spec: str, due: str) -> None:
    deadline = deadline_from(CAL, at(start), spec)
    assert deadline.due == at(due)
    assert deadline.display() == due.replace("T", " ")


@pytest.mark.parametrize(
    ("instant", "spec", "due"),
    [
        ("2026-09-15T09:30", "-0.5wd", "2026-09-14T13:30"),
        ("2026-09-15T15:00", "-0.5wd", "2026-09-15T09:00"),
        ("2026-09-15T12:00", "-0.5wd", "2026-09-15T09:00"),
        ("2026-09-15T12:30", "-0.5wd", "2026-09-15T09:00"),
        ("2026-09-15T19:00", "-0.5wd", "2026-09-15T13:30"),
        ("2026-09-15T08:00", "-0.5wd", "2026-09-14T13:30"),
        ("2026-09-15T15:00", "-1.5wd", "2026-09-11T13:30"),
        ("2026-09-12T10:00", "-0.5wd", "2026-09-11T13:30"),
        ("2026-10-08T09:30", "-0.5wd", "2026-09-30T13:30"),
        ("2026-09-15T15:00", "-1wd", "2026-09-14T09:00"),
        ("2026-10-08T10:00", "-1wd", "2026-09-30T09:00"),
        ("2026-10-09T00:00", "提前1个工作日", "2026-10-08T09:00"),
        ("2026-10-12T10:00", "-2wd", "2026-10-09T09:00"),
        ("2026-10-03T10:00", "-1wd", "2026-09-30T09:00"),
        ("2026-09-28T10:00", "-3wd", "2026-09-22T09:00"),
    ],
    ids=[
        "half-day-before-a-morning-instant",
        "half-day-before-an-afternoon-instant",
        "slot-ending-exactly-at-the-instant-counts",
        "lunch-instant-gives-the-morning-start",
        "evening-instant-gives-the-afternoon-start",
        "before-opening-gives-previous-afternoon",
        "one-and-a-half-days-before",
        "saturday-instant-gives-friday-afternoon",
        "half-day-before-across-national-day",
        "one-day-before-is-previous-morning-start",
        "one-day-before-across-national-day",
        "one-day-before-an-end-of-day-deadline",
        "two-days-before-counts-tiaoxiu-saturday",
        "instant-on-holiday-is-day-zero",
        "three-days-before-across-mid-autumn",
    ],
)
def test_before_specs(instant: str, spec: str, due: str) -> None:
    assert deadline_from(CAL, at(instant), spec).due == at(due)


def test_crossing_into_unknown_2027_is_provisional_and_skips_new_years_day() -> None:
    # Given 2026-12-30 (Wed): day 1 = Thu 12-31; 2027-01-01 (Fri) is 元旦 by statute, then the
    # weekend: day 2 = Mon 01-04, day 3 = Tue 01-05
    deadline = deadline_from(UNTIL_2026, at("2026-12-30T10:00"), "3wd")
    assert deadline.due == at("2027-01-06T00:00")
    assert deadline.provisional
    assert deadline.provisional_years == (2027,)
    assert deadline.display() == "2027-01-05 24:00 (暂定 provisional)"


def test_a_complete_2027_year_schedule_makes_the_same_deadline_final() -> None:
    # 2027-01-01..03 off: day 1 = 12-31, day 2 = Mon 01-04, day 3 = Tue 01-05
    deadline = deadline_from(CAL_2027, at("2026-12-30T10:00"), "3wd")
    assert deadline.due == at("2027-01-06T00:00")
    assert not deadline.provisional
    assert deadline.provisional_years == ()
    assert deadline.display() == "2027-01-05 24:00"


def test_an_incomplete_2027_year_schedule_stays_provisional() -> None:
    # the operator listed 01-04 as a local day off but did not say the year is complete
    partial = calendar(package_until=2026, years={2027: {"holidays": ["2027-01-04"]}})
    deadline = deadline_from(partial, at("2026-12-30T10:00"), "3wd")
    assert deadline.due == at("2027-01-07T00:00")  # 12-31, (元旦, weekend, 01-04 off) 01-05, 01-06
    assert deadline.provisional_years == (2027,)


@pytest.mark.parametrize(
    ("start", "spec", "due"),
    [
        ("2025-12-30T10:00", "2wd", "2026-01-03T00:00"),
        ("2026-02-13T10:00", "1wd", "2026-02-21T00:00"),
        ("2026-02-12T10:00", "3wd", "2026-02-24T00:00"),
        ("2026-04-02T10:00", "2wd", "2026-04-07T00:00"),
        ("2026-04-30T10:00", "1wd", "2026-05-05T00:00"),
        ("2026-06-18T10:00", "1wd", "2026-06-23T00:00"),
        ("2026-09-24T10:00", "1wd", "2026-09-29T00:00"),
        ("2026-09-30T16:00", "1wd", "2026-10-06T00:00"),
        ("2026-09-30T16:00", "0.5wd", "2026-10-05T12:00"),
        ("2026-10-01T10:00", "same_day", "2026-10-06T00:00"),
        ("2026-10-09T10:00", "1wd", "2026-10-13T00:00"),
    ],
    ids=[
        "new-years-day-thursday",
        "spring-festival-eve-to-third-day",
        "spring-festival-over-the-weekend",
        "qingming-sunday-is-no-extra-day",
        "labour-day-friday-then-weekend",
        "dragon-boat-friday",
        "mid-autumn-friday",
        "national-day-thursday-to-saturday",
        "national-day-half-day",
        "same-day-on-national-day",
        "no-tiaoxiu-saturday-is-invented",
    ],
)
def test_past_the_data_the_statutory_holidays_are_skipped(start: str, spec: str, due: str) -> None:
    # Given a calendar whose package data ends with 2025, 2026 follows the statute only
    with capture_logs():
        deadline = deadline_from(UNTIL_2025, at(start), spec)
    assert deadline.due == at(due)
    assert deadline.provisional_years == (2026,)
    assert deadline.display().endswith("(暂定 provisional)")


@pytest.mark.parametrize(
    ("calendar_", "due", "provisional"),
    [(UNTIL_2026, "2027-01-04T12:00", True), (CAL_2027, "2027-01-04T12:00", False)],
    ids=["package-only", "with-2027-schedule"],
)
def test_half_day_into_2027(calendar_: WorkCalendar, due: str, provisional: bool) -> None:
    deadline = deadline_from(calendar_, at("2026-12-31T15:00"), "0.5wd")
    assert (deadline.due, deadline.provisional) == (at(due), provisional)


def test_same_day_on_new_years_eve_does_not_consult_2027() -> None:
    deadline = deadline_from(UNTIL_2026, at("2026-12-31T10:00"), "same_day")
    assert deadline.due == at("2027-01-01T00:00")
    assert not deadline.provisional


@pytest.mark.parametrize(
    ("spec", "due"),
    [
        ("-0.5wd", "2026-12-31T13:30"),
        ("-1wd", "2026-12-31T09:00"),
        ("-1.5wd", "2026-12-30T13:30"),
        ("-3wd", "2026-12-29T09:00"),
    ],
)
def test_a_reminder_before_a_final_deadline_is_final(spec: str, due: str) -> None:
    # Given a final claim deadline at the very end of the known data (2026-12-31 24:00)
    claim = deadline_from(UNTIL_2026, at("2026-12-30T10:00"), "1wd")
    assert (claim.due, claim.provisional) == (at("2027-01-01T00:00"), False)
    # When a reminder counts back from it, Then it never consults 2027
    with capture_logs() as logs:
        reminder = deadline_from(UNTIL_2026, claim.due, spec)
    assert (reminder.due, reminder.provisional, logs) == (at(due), False, [])


def test_a_reminder_before_a_provisional_deadline_inside_the_unknown_is_provisional() -> None:
    claim = deadline_from(UNTIL_2026, at("2026-12-30T10:00"), "3wd")  # 2027-01-05 24:00
    with capture_logs():
        reminder = deadline_from(UNTIL_2026, claim.due, "-1wd")
    assert (reminder.due, reminder.provisional_years) == (at("2027-01-05T09:00"), (2027,))


def test_provisional_deadline_logs_an_event() -> None:
    with capture_logs() as logs:
        deadline_from(UNTIL_2026, at("2026-12-30T10:00"), "3wd")
        deadline_from(UNTIL_2026, at("2026-09-30T16:00"), "1wd")
    assert logs == [
        {
            "event": "calendar.provisional",
            "log_level": "warning",
            "years": [2027],
            "start": "2026-12-30T10:00:00+08:00",
            "spec": "3wd",
            "due": "2027-01-06T00:00:00+08:00",
            "calendar_version": UNTIL_2026.version,
        }
    ]


@pytest.mark.parametrize(
    ("config", "due"),
    [
        ({"extra_holidays": ["2026-10-08"]}, "2026-10-10T00:00"),
        ({"extra_workdays": ["2026-10-03"]}, "2026-10-04T00:00"),
        ({"extra_holidays": ["2026-10-08..2026-10-10"]}, "2026-10-13T00:00"),
    ],
    ids=["local-holiday-pushes-it-out", "extra-workday-pulls-it-in", "local-holiday-range"],
)
def test_overrides_change_deadlines(config: dict[str, list[str]], due: str) -> None:
    calendar = WorkCalendar(CalendarConfig.model_validate(config))
    deadline = deadline_from(calendar, at("2026-09-30T16:00"), "1wd")
    assert deadline.due == at(due)
    assert deadline.calendar_version == calendar.version != CAL.version


def test_custom_office_hours_move_half_day_and_before_deadlines() -> None:
    hours = {"office_hours": {"morning": "08:30-12:00", "afternoon": "14:00-18:00"}}
    calendar = WorkCalendar(CalendarConfig.model_validate(hours))
    assert deadline_from(calendar, at("2026-09-14T10:00"), "0.5wd").due == at("2026-09-14T18:00")
    assert deadline_from(calendar, at("2026-09-14T13:00"), "0.5wd").due == at("2026-09-14T18:00")
    assert deadline_from(calendar, at("2026-09-15T10:00"), "-1wd").due == at("2026-09-14T08:30")


def test_naive_starts_are_read_in_the_calendar_zone() -> None:
    deadline = deadline_from(CAL, datetime(2026, 9, 30, 16, 0), "1wd")
    assert deadline.start == at("2026-09-30T16:00")
    assert deadline.start.tzinfo == SHANGHAI
    assert deadline.due == at("2026-10-09T00:00")


def test_aware_starts_are_converted_to_the_calendar_zone() -> None:
    # 17:00 UTC on Sep 30 is 01:00 on Oct 1 in Shanghai: a holiday, so 当日 runs to Oct 8 24:00
    deadline = deadline_from(CAL, datetime(2026, 9, 30, 17, 0, tzinfo=UTC), "same_day")
    assert deadline.start == at("2026-10-01T01:00")
    assert deadline.due == at("2026-10-09T00:00")
    assert deadline.due.tzinfo == SHANGHAI


def test_to_json() -> None:
    deadline = compute_deadline(CAL, at("2026-09-30T16:00"), DeadlineSpec.parse("1个工作日"))
    assert deadline.to_json() == {
        "due": "2026-10-09T00:00:00+08:00",
        "display": "2026-10-08 24:00",
        "provisional": False,
        "provisional_years": [],
        "spec": "1wd",
        "calendar_version": CAL.version,
    }


def test_due_is_an_exclusive_bound() -> None:
    deadline = deadline_from(CAL, at("2026-09-30T16:00"), "1wd")
    assert not deadline.is_overdue(at("2026-10-09T00:00") - timedelta(microseconds=1))
    assert deadline.is_overdue(at("2026-10-09T00:00"))


def test_display_without_the_provisional_note() -> None:
    with capture_logs():
        deadline = deadline_from(UNTIL_2026, at("2026-12-30T10:00"), "3wd")
    assert deadline.display(note=False) == "2027-01-05 24:00"


def test_malformed_spec_text_raises_calendar_error() -> None:
    with pytest.raises(CalendarError, match="1.3wd"):
        deadline_from(CAL, at("2026-09-30T16:00"), "1.3wd")
