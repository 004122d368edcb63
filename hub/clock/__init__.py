"""The working-day clock: deadline specs, the working-day calendar, deadlines and clocks.

See :mod:`hub.clock.deadline` for the counting rules and :mod:`hub.clock.calendar` for where
the working-day data comes from.
"""

from hub.clock.calendar import (
    CalendarConfig,
    DayInfo,
    OfficeHours,
    WorkCalendar,
    YearSchedule,
    expand_dates,
    load_calendar_config,
)
from hub.clock.deadline import Deadline, compute_deadline, deadline_from, end_of_day
from hub.clock.now import Clock, ManualClock, SystemClock
from hub.clock.spec import DeadlineSpec, DeadlineSpecField

__all__ = [
    "CalendarConfig",
    "Clock",
    "DayInfo",
    "Deadline",
    "DeadlineSpec",
    "DeadlineSpecField",
    "ManualClock",
    "OfficeHours",
    "SystemClock",
    "WorkCalendar",
    "YearSchedule",
    "compute_deadline",
    "deadline_from",
    "end_of_day",
    "expand_dates",
    "load_calendar_config",
]
