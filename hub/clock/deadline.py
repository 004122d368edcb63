"""Deadlines: a start instant plus a :class:`~hub.clock.spec.DeadlineSpec`, on a WorkCalendar.

Rules (行政许可法 期间: the start day itself is not counted):

* **N working days** (whole N): due = end (24:00) of the Nth working day *after* the start date.
  Starting on a day off changes nothing: day 1 is still the first working day after the start date.
* **same_day** (当日 / 24:00 / 即时): end of the start date if it is a working day, else end of the
  next working day.
* **Half days** count office-hour slots, two per working day (morning, afternoon); slots are
  half-open ``[start, end)``.
  - A lone half day (0.5wd): the slot containing the start is not counted; due = end of the first
    slot that *starts strictly after* the start instant. With default hours: Mon 10:00 -> Mon
    17:30; Mon 15:00 -> Tue 12:00; Mon 19:00 -> Tue 12:00; Mon 12:30 (lunch) -> Mon 17:30;
    Mon 09:00 (inside the morning slot) -> Mon 17:30.
  - N and a half days (1.5wd, 2.5wd): N whole working days by the whole-day rule, then one more
    slot: the morning of the next working day (Mon 10:00 +1.5wd -> Wed 12:00). So deadlines grow
    with N across halves and wholes: 0.5wd <= 1wd <= 1.5wd <= 2wd.
* **Before, whole days** (-Nwd from instant T): start of office hours (morning start) of the Nth
  working day strictly before T's calendar date; T's date is day 0 even when it is a day off.
  An end-of-day instant (00:00 of the next date) has that next date as its date, so -1wd before
  "Oct 8 24:00" is Oct 8 09:00 — the start of the last working day before the deadline.
* **Before, half days**: -0.5wd is the *start* of the last slot that lies wholly before T (ends
  at or before T), so at least one whole half-day slot lies between the result and T — as -1wd
  leaves one whole working day. T = Tue 09:30 -> Mon 13:30; Tue 15:00 -> Tue 09:00; Tue 12:00 or
  12:30 -> Tue 09:00; Tue 19:00 -> Tue 13:30; Sat -> Fri 13:30; an end-of-day deadline (Oct 8
  24:00) -> Oct 8 13:30, the start of its last half day. -N.5wd is -Nwd and then one more slot
  back (the previous working day's afternoon start), so before-deadlines move earlier with N.

``due`` is an exclusive bound: something is overdue when ``now >= due``. End of a working day is
00:00 of the next calendar day, displayed as ``YYYY-MM-DD 24:00``.

A computation that consults a day the calendar does not know (past the known data: statutory
holidays off, otherwise Mon–Fri, see :mod:`hub.clock.calendar`) is marked ``provisional`` with the
years concerned, and logged as ``calendar.provisional``. It never raises for unknown years. Only
the days a rule actually needs are consulted, so a before-spec counted back from a final instant
(a reminder before a final claim deadline) crosses known days only and is final too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import structlog

from hub.clock.calendar import WorkCalendar
from hub.clock.spec import DeadlineSpec

__all__ = ["Deadline", "compute_deadline", "deadline_from", "display_instant", "end_of_day"]

logger = structlog.get_logger(__name__)

_MIDNIGHT = time(0, 0)
_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Deadline:
    """A computed due instant and how it was computed."""

    due: datetime
    start: datetime
    spec: DeadlineSpec
    provisional: bool
    provisional_years: tuple[int, ...]
    calendar_version: str

    def display(self, *, note: bool = True) -> str:
        """``2026-10-08 24:00`` for an end-of-day due, else ``2026-10-09 12:00``.

        Appends `` (暂定 provisional)`` when provisional, unless ``note`` is False.
        """
        text = display_instant(self.due)
        return f"{text} (暂定 provisional)" if self.provisional and note else text

    def is_overdue(self, now: datetime) -> bool:
        """True when ``now`` has reached the (exclusive) due instant."""
        return now >= self.due

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: due (ISO), display, provisional, years, spec, calendar version."""
        return {
            "due": self.due.isoformat(),
            "display": self.display(),
            "provisional": self.provisional,
            "provisional_years": list(self.provisional_years),
            "spec": str(self.spec),
            "calendar_version": self.calendar_version,
        }


def display_instant(value: datetime | None, tz: tzinfo | None = None) -> str:
    """An instant as people read deadlines: ``2026-10-08 24:00`` for an end of day, else
    ``2026-10-09 12:00``; in ``tz`` (default Asia/Shanghai) when given an instant from storage."""
    if value is None:
        return "—"
    local = value.astimezone(tz or _SHANGHAI) if value.tzinfo else value
    if local.time() == _MIDNIGHT:
        return f"{(local.date() - timedelta(days=1)).isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def end_of_day(day: date, calendar: WorkCalendar) -> datetime:
    """24:00 of ``day``, i.e. 00:00 of the next calendar day, in the calendar's time zone."""
    return datetime.combine(day + timedelta(days=1), _MIDNIGHT, tzinfo=calendar.tz)


class _Probe:
    """Walks the calendar for one computation and remembers which unknown years it touched."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.unknown_years: set[int] = set()

    def walk(self, day: date, step: int, *, inclusive: bool = False) -> date:
        """The first working day from ``day`` in direction ``step`` (+1 / -1)."""
        return self.calendar.walk(day, step, inclusive=inclusive, unknown=self.unknown_years)

    def nth(self, day: date, n: int, step: int) -> date:
        """The nth working day strictly after (step=1) or before (step=-1) ``day``."""
        for _ in range(n):
            day = self.walk(day, step)
        return day

    def slots(self, day: date, step: int) -> Iterator[tuple[datetime, datetime]]:
        """Office-hour slots of working days from ``day`` on, in direction ``step``."""
        tz = self.calendar.tz
        current = self.walk(day, step, inclusive=True)
        while True:
            pairs = [
                (datetime.combine(current, a, tzinfo=tz), datetime.combine(current, b, tzinfo=tz))
                for a, b in self.calendar.office_hours.slots
            ]
            yield from (pairs if step > 0 else reversed(pairs))
            current = self.walk(current, step)


def _forward_half_days(probe: _Probe, start: datetime, n: int) -> datetime:
    """End of the nth slot that starts strictly after ``start``."""
    count = 0
    for slot_start, slot_end in probe.slots(start.date(), 1):
        if slot_start > start:
            count += 1
            if count == n:
                return slot_end
    raise AssertionError("unreachable: slots() is infinite")  # pragma: no cover


def _backward_half_days(probe: _Probe, instant: datetime, n: int) -> datetime:
    """Start of the nth slot, counting back, that lies wholly before ``instant``.

    An instant at 00:00 (the end of the day before) has no slot of its own date before it, so
    that date is not consulted: a reminder before a final "Dec 31 24:00" stays final.
    """
    count = 0
    first = instant.date() - timedelta(days=1) if instant.time() == _MIDNIGHT else instant.date()
    for slot_start, slot_end in probe.slots(first, -1):
        if slot_end <= instant:
            count += 1
            if count == n:
                return slot_start
    raise AssertionError("unreachable: slots() is infinite")  # pragma: no cover


def _due(probe: _Probe, start: datetime, spec: DeadlineSpec) -> datetime:
    """Apply the rule for ``spec`` (see the module docstring)."""
    calendar = probe.calendar
    if spec.kind == "same_day":
        return end_of_day(probe.walk(start.date(), 1, inclusive=True), calendar)
    days, half = divmod(spec.half_days, 2)
    if days == 0:  # a lone half day counts slots from the start instant itself
        if spec.before:
            return _backward_half_days(probe, start, 1)
        return _forward_half_days(probe, start, 1)
    if spec.before:
        day = probe.nth(start.date(), days, -1)
        base = datetime.combine(day, calendar.office_hours.morning_times[0], tzinfo=calendar.tz)
        return _backward_half_days(probe, base, 1) if half else base
    base = end_of_day(probe.nth(start.date(), days, 1), calendar)
    return _forward_half_days(probe, base, 1) if half else base


def _localize(calendar: WorkCalendar, start: datetime) -> datetime:
    """Naive datetimes are read in the calendar's zone; aware ones are converted to it."""
    if start.tzinfo is None or start.utcoffset() is None:
        return start.replace(tzinfo=calendar.tz)
    return start.astimezone(calendar.tz)


def compute_deadline(calendar: WorkCalendar, start: datetime, spec: DeadlineSpec) -> Deadline:
    """Compute when ``spec`` counted from ``start`` is due on ``calendar``."""
    local = _localize(calendar, start)
    probe = _Probe(calendar)
    due = _due(probe, local, spec)
    years = tuple(sorted(probe.unknown_years))
    deadline = Deadline(due, local, spec, bool(years), years, calendar.version)
    if years:
        logger.warning(
            "calendar.provisional",
            years=list(years),
            start=local.isoformat(),
            spec=str(spec),
            due=due.isoformat(),
            calendar_version=calendar.version,
        )
    return deadline


def deadline_from(calendar: WorkCalendar, start: datetime, text: str) -> Deadline:
    """Parse ``text`` as a DeadlineSpec and compute the deadline (CalendarError if malformed)."""
    return compute_deadline(calendar, start, DeadlineSpec.parse(text))
