"""The working-day calendar: which dates are working days, and how sure we are.

A date is looked up in this order (first match wins):

1. ``extra_holidays`` / ``extra_workdays`` — operator overrides (source ``override``);
2. ``years[y]`` — a year's schedule the operator typed in (source ``year_schedule``): its listed
   holidays are off and its listed 调休 workdays are on; when the entry says ``complete: true``
   every other day of the year is Mon–Fri and known. An entry without ``complete`` decides only
   the days it lists: the rest of its year falls through to 3. and 4.;
3. the ``chinesecalendar`` package, for the years it carries up to ``package_until`` when set
   (source ``package``);
4. past the known data, the statutory holidays of 《全国年节及纪念日放假办法》 computed by
   :mod:`hub.clock.statutory` (source ``statutory``; 元旦, 春节, 清明 …, no 调休 or 补假) and
   otherwise Monday–Friday (source ``weekday_fallback``), both ``known=False``: the hub keeps
   working past the known data, and deadlines that consult such a day are marked provisional.

The configuration models live in :mod:`hub.clock.config` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from hub.clock.config import (
    CalendarConfig,
    OfficeHours,
    YearSchedule,
    expand_dates,
    load_calendar_config,
)
from hub.clock.statutory import statutory_holidays
from hub.errors import CalendarError

__all__ = [
    "CalendarConfig",
    "DayInfo",
    "OVERRIDE_HOLIDAY_NAME",
    "OfficeHours",
    "SCHEDULE_HOLIDAY_NAME",
    "WorkCalendar",
    "YearSchedule",
    "expand_dates",
    "load_calendar_config",
]

#: How far next_workday / previous_workday search before giving up (a config with no working day).
_SEARCH_LIMIT_DAYS = 2 * 366

_PACKAGE_VERSION: str = getattr(chinese_calendar, "__version__", "unknown")
_PACKAGE_YEARS = (min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year)
_HOLIDAY_ZH: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}

#: holiday_name of a day listed in ``extra_holidays``.
OVERRIDE_HOLIDAY_NAME = "本地假日"
#: holiday_name of a day listed in ``years[y].holidays``.
SCHEDULE_HOLIDAY_NAME = "节假日"

Source = Literal["override", "year_schedule", "package", "statutory", "weekday_fallback"]


@dataclass(frozen=True)
class DayInfo:
    """What the calendar knows about one date.

    ``holiday_name`` is the Chinese holiday name for a package or statutory holiday, and for a
    调休 working day the holiday it makes up for (e.g. 2026-10-10 -> "国庆节"). Days off listed in
    the operator config get a generic name (:data:`OVERRIDE_HOLIDAY_NAME` /
    :data:`SCHEDULE_HOLIDAY_NAME`); config working days and ordinary days have None.
    """

    day: date
    is_workday: bool
    known: bool
    source: Source
    holiday_name: str | None


class WorkCalendar:
    """Answers "is this a working day?" with the precedence in the module docstring."""

    def __init__(self, config: CalendarConfig | None = None) -> None:
        self.config = config if config is not None else CalendarConfig()
        self.tz = ZoneInfo(self.config.timezone)
        self.office_hours = self.config.office_hours
        self._off = expand_dates(self.config.extra_holidays)
        self._on = expand_dates(self.config.extra_workdays)
        self._years = {
            y: (expand_dates(s.holidays), expand_dates(s.workdays), s.complete)
            for y, s in self.config.years.items()
        }
        cap = self.config.package_until
        last = _PACKAGE_YEARS[1] if cap is None else min(cap, _PACKAGE_YEARS[1])
        self._package_years = (_PACKAGE_YEARS[0], last)
        self._version = f"chinesecalendar-{_PACKAGE_VERSION}+cfg:{self.config.fingerprint()}"
        self._cache: dict[date, DayInfo] = {}

    def day(self, d: date) -> DayInfo:
        """Look one date up (cached per instance)."""
        info = self._cache.get(d)
        if info is None:
            info = self._cache[d] = self._lookup(d)
        return info

    def _lookup(self, d: date) -> DayInfo:
        if d in self._off:
            return DayInfo(d, False, True, "override", OVERRIDE_HOLIDAY_NAME)
        if d in self._on:
            return DayInfo(d, True, True, "override", None)
        schedule = self._years.get(d.year)
        if schedule is not None:
            off, on, complete = schedule
            if d in off:
                return DayInfo(d, False, True, "year_schedule", SCHEDULE_HOLIDAY_NAME)
            if d in on or complete:
                return DayInfo(d, d in on or d.weekday() < 5, True, "year_schedule", None)
        return self._package_day(d) or _statutory_day(d)

    def _package_day(self, d: date) -> DayInfo | None:
        """Ask chinesecalendar about ``d``; None outside the (capped) years it carries."""
        if not self._package_years[0] <= d.year <= self._package_years[1]:
            return None
        try:
            off, name = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            return None
        zh = _HOLIDAY_ZH.get(name, name) if name else None
        return DayInfo(d, not off, True, "package", zh)

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is a working day (statutory holidays and Mon–Fri when unknown)."""
        return self.day(d).is_workday

    def is_known(self, d: date) -> bool:
        """True if ``d`` comes from real data (override, year schedule or the package)."""
        return self.day(d).known

    @property
    def version(self) -> str:
        """Package version plus a hash of the config, stored with every deadline."""
        return self._version

    def known_until(self) -> date:
        """Dec 31 of the last year in the unbroken run of known years: the package's years (up to
        ``package_until``), then ``years`` entries marked ``complete``.

        Single override dates do not extend it, nor does a partial ``years`` entry, nor an entry
        after a gap.
        """
        year = self._package_years[1]
        while (entry := self._years.get(year + 1)) is not None and entry[2]:
            year += 1
        return date(year, 12, 31)

    def next_workday(self, d: date, *, inclusive: bool = False) -> date:
        """First working day after ``d`` (or ``d`` itself when inclusive and a working day)."""
        return self.walk(d, 1, inclusive=inclusive)

    def previous_workday(self, d: date, *, inclusive: bool = False) -> date:
        """Last working day before ``d`` (or ``d`` itself when inclusive and a working day)."""
        return self.walk(d, -1, inclusive=inclusive)

    def walk(
        self, d: date, step: int, *, inclusive: bool = False, unknown: set[int] | None = None
    ) -> date:
        """First working day from ``d`` in direction ``step`` (+1/-1).

        The year of every unknown day consulted is added to ``unknown`` when given.
        """
        current = d if inclusive else d + timedelta(days=step)
        for _ in range(_SEARCH_LIMIT_DAYS):
            info = self.day(current)
            if unknown is not None and not info.known:
                unknown.add(current.year)
            if info.is_workday:
                return current
            current += timedelta(days=step)
        raise CalendarError(f"{d} 前后两年内没有工作日 (no working day within two years of {d})")


def _statutory_day(d: date) -> DayInfo:
    """An unknown day: a statutory holiday (off) or else Mon–Fri, both provisional."""
    name = statutory_holidays(d.year).get(d)
    if name is not None:
        return DayInfo(d, False, False, "statutory", name)
    return DayInfo(d, d.weekday() < 5, False, "weekday_fallback", None)
