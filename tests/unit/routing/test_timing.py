"""The reminder rule of hub.routing.timing, checked against the real deadline computation.

For every claim length and reminder length, the rule says whether the reminder can fire at or
before the push arrives. Here that is computed the slow way: ``compute_deadline`` for an arrival
every half hour (and a minute before midnight) over three weeks around National Day 2026 (holidays,
the 调休 Saturday 2026-10-10), with the default office hours and with unusual ones.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hub.clock.calendar import CalendarConfig, WorkCalendar
from hub.clock.deadline import compute_deadline
from hub.clock.spec import DeadlineSpec
from hub.routing.timing import forward_problem, reminder_fires_before_arrival

TZ = ZoneInfo("Asia/Shanghai")
CLAIMS = ["same_day", "0.5wd", "1wd", "1.5wd", "2wd", "2.5wd", "3wd"]
REMINDERS = ["-0.5wd", "-1wd", "-1.5wd", "-2wd", "-2.5wd", "-3wd", "-3.5wd"]
HOURS = {
    "default": {},
    "unusual": {"office_hours": {"morning": "08:00-11:30", "afternoon": "14:30-18:00"}},
}


def _arrivals() -> list[dt.datetime]:
    start = dt.datetime(2026, 9, 26, 0, 0, tzinfo=TZ)
    out = [start + dt.timedelta(minutes=30 * i) for i in range(21 * 48)]
    out += [start + dt.timedelta(days=d, hours=23, minutes=59) for d in range(21)]
    return out


def _fires_before_arrival_somewhere(calendar: WorkCalendar, claim: str) -> dict[str, bool]:
    spec = DeadlineSpec.parse(claim)
    reminders = [DeadlineSpec.parse(r) for r in REMINDERS]
    found = dict.fromkeys(REMINDERS, False)
    for arrival in _arrivals():
        due = compute_deadline(calendar, arrival, spec).due
        for text, reminder in zip(REMINDERS, reminders, strict=True):
            if not found[text]:
                found[text] = compute_deadline(calendar, due, reminder).due <= arrival
    return found


@pytest.mark.parametrize("hours", sorted(HOURS))
@pytest.mark.parametrize("claim", CLAIMS)
def test_the_rule_matches_the_deadline_computation(claim: str, hours: str) -> None:
    calendar = WorkCalendar(CalendarConfig.model_validate(HOURS[hours]))
    observed = _fires_before_arrival_somewhere(calendar, claim)
    predicted = {
        r: reminder_fires_before_arrival(DeadlineSpec.parse(claim), DeadlineSpec.parse(r))
        for r in REMINDERS
    }
    assert predicted == observed


@pytest.mark.parametrize(
    ("claim", "reminder", "early"),
    [
        ("1wd", "-1wd", False),  # the morning of the due day: after any arrival
        ("1wd", "-1.5wd", True),
        ("2wd", "-0.5wd", False),
        ("2wd", "-2wd", False),
        ("2wd", "-2.5wd", True),
        ("1.5wd", "-1wd", False),
        ("1.5wd", "-1.5wd", True),  # the afternoon of the arrival day
        ("0.5wd", "-0.5wd", False),
        ("0.5wd", "-1wd", True),
        ("same_day", "-0.5wd", True),
    ],
)
def test_named_cases(claim: str, reminder: str, early: bool) -> None:
    assert (
        reminder_fires_before_arrival(DeadlineSpec.parse(claim), DeadlineSpec.parse(reminder))
        is early
    )


@pytest.mark.parametrize(("text", "bad"), [("-1wd", True), ("提前0.5wd", True), ("1wd", False)])
def test_forward_deadlines_refuse_before_specs(text: str, bad: bool) -> None:
    assert (forward_problem(DeadlineSpec.parse(text)) is not None) is bad
