"""The working-day calendar: which dates are working days, and how sure we are.

A date is looked up in this order (first match wins):

1. ``extra_holidays`` / ``extra_workdays`` — operator overrides (source ``override``);
2. ``years[y]`` — a whole year's schedule the operator typed in, e.g. 2027 before the package
   knows it: listed holidays are off, listed 调休 workdays are on, other days Mon–Fri
   (source ``year_schedule``);
3. the ``chinesecalendar`` package, for the years it carries (source ``package``);
4. Monday–Friday (source ``weekday_fallback``, ``known=False``): the hub keeps working past the
   known data, and deadlines that consult such a day are marked provisional.

Dates in the config are ``YYYY-MM-DD`` or inclusive ranges ``YYYY-MM-DD..YYYY-MM-DD``.
Unquoted YAML dates (which a YAML loader turns into ``date`` objects) are accepted too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import CalendarError, ConfigError, ConfigProblem

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

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOURS = re.compile(r"^(?P<a>\d{2}:\d{2})-(?P<b>\d{2}:\d{2})$")
_MAX_RANGE_DAYS = 366
#: How far next_workday / previous_workday search before giving up (a config with no working day).
_SEARCH_LIMIT_DAYS = 2 * 366

_PACKAGE_VERSION: str = getattr(chinese_calendar, "__version__", "unknown")
_PACKAGE_YEARS = (min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year)
_HOLIDAY_ZH: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}

#: holiday_name of a day listed in ``extra_holidays``.
OVERRIDE_HOLIDAY_NAME = "本地假日"
#: holiday_name of a day listed in ``years[y].holidays``.
SCHEDULE_HOLIDAY_NAME = "节假日"

Source = Literal["override", "year_schedule", "package", "weekday_fallback"]


def _parse_day(text: str, item: str) -> date:
    """Parse one strict ``YYYY-MM-DD`` date of ``item`` or raise CalendarError naming ``item``."""
    with contextlib.suppress(ValueError):
        if _DATE.match(text):
            return date.fromisoformat(text)
    zh = f"无效日期 {item!r}，应为 YYYY-MM-DD 或 YYYY-MM-DD..YYYY-MM-DD"
    raise CalendarError(f"{zh} (invalid date {item!r}, expected YYYY-MM-DD or a range a..b)")


def expand_dates(items: Iterable[str]) -> set[date]:
    """Expand dates and inclusive ``a..b`` ranges into a set; raise CalendarError if malformed."""
    days: set[date] = set()
    for item in items:
        first, sep, last = item.strip().partition("..")
        lo = _parse_day(first.strip(), item)
        hi = _parse_day(last.strip(), item) if sep else lo
        if hi < lo or (hi - lo).days >= _MAX_RANGE_DAYS:
            raise CalendarError(
                f"无效日期范围 {item!r}：结束早于开始或超过一年 "
                f"(invalid date range {item!r}: end before start or longer than a year)"
            )
        days.update(lo + timedelta(days=i) for i in range((hi - lo).days + 1))
    return days


def _date_list(value: Any) -> Any:
    """Before-validator: turn YAML ``date`` objects into text and check every entry parses."""
    if not isinstance(value, list):
        return value
    items = [v.isoformat() if isinstance(v, date) else v for v in value]
    for item in items:
        if isinstance(item, str):
            try:
                expand_dates([item])
            except CalendarError as exc:
                raise ValueError(str(exc)) from exc
    return items


def _parse_hours(text: str) -> tuple[time, time]:
    """Parse ``HH:MM-HH:MM`` with start < end, or raise ValueError naming the text."""
    match = _HOURS.match(text.strip())
    bad = ValueError(
        f"无效办公时间 {text!r}，应为 HH:MM-HH:MM 且开始早于结束 (invalid hours {text!r})"
    )
    if match is None:
        raise bad
    try:
        start, end = time.fromisoformat(match["a"]), time.fromisoformat(match["b"])
    except ValueError:
        raise bad from None
    if start >= end:
        raise bad
    return start, end


class OfficeHours(BaseModel):
    """The two half-day slots of a working day (0.5 个工作日 counts these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    morning: str = "09:00-12:00"
    afternoon: str = "13:30-17:30"

    @field_validator("morning", "afternoon")
    @classmethod
    def _check_range(cls, value: str) -> str:
        _parse_hours(value)
        return value.strip()

    @model_validator(mode="after")
    def _check_order(self) -> OfficeHours:
        if self.morning_times[1] > self.afternoon_times[0]:
            zh = f"上午 {self.morning} 须在下午 {self.afternoon} 开始前结束"
            raise ValueError(f"{zh} (the morning must end before the afternoon starts)")
        return self

    @property
    def morning_times(self) -> tuple[time, time]:
        """Morning slot as (start, end)."""
        return _parse_hours(self.morning)

    @property
    def afternoon_times(self) -> tuple[time, time]:
        """Afternoon slot as (start, end)."""
        return _parse_hours(self.afternoon)

    @property
    def slots(self) -> tuple[tuple[time, time], tuple[time, time]]:
        """Both slots in order: (morning, afternoon)."""
        return self.morning_times, self.afternoon_times


class YearSchedule(BaseModel):
    """A whole year's schedule: holidays and 调休 workdays; every other day is Mon–Fri."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[str] = Field(default_factory=list)
    workdays: list[str] = Field(default_factory=list)

    _dates = field_validator("holidays", "workdays", mode="before")(_date_list)

    @model_validator(mode="after")
    def _disjoint(self) -> YearSchedule:
        _check_disjoint(self.holidays, self.workdays, "holidays", "workdays")
        return self


def _check_disjoint(off: list[str], on: list[str], off_name: str, on_name: str) -> None:
    """Raise ValueError if a date is listed both as a day off and as a working day."""
    both = sorted(expand_dates(off) & expand_dates(on))
    if both:
        shown = ", ".join(d.isoformat() for d in both[:5])
        zh = f"日期同时出现在 {off_name} 和 {on_name} 中：{shown}"
        raise ValueError(f"{zh} (dates listed in both {off_name} and {on_name}: {shown})")


class CalendarConfig(BaseModel):
    """Operator calendar settings: time zone, office hours, overrides and extra years."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    office_hours: OfficeHours = Field(default_factory=OfficeHours)
    extra_holidays: list[str] = Field(default_factory=list)
    extra_workdays: list[str] = Field(default_factory=list)
    years: dict[int, YearSchedule] = Field(default_factory=dict)

    _dates = field_validator("extra_holidays", "extra_workdays", mode="before")(_date_list)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知时区 {value!r} (unknown time zone {value!r})") from None
        return value

    @field_validator("years")
    @classmethod
    def _check_years(cls, value: dict[int, YearSchedule]) -> dict[int, YearSchedule]:
        for year, schedule in value.items():
            if not 1900 <= year <= 2200:
                raise ValueError(f"无效年份 {year} (year {year} is outside 1900..2200)")
            stray = sorted(
                d for d in expand_dates(schedule.holidays + schedule.workdays) if d.year != year
            )
            if stray:
                shown = stray[0].isoformat()
                raise ValueError(
                    f"years.{year} 中的日期 {shown} 不在 {year} 年内 "
                    f"(years.{year}: date {shown} is not inside year {year})"
                )
        return value

    @model_validator(mode="after")
    def _check_cross(self) -> CalendarConfig:
        _check_disjoint(
            self.extra_holidays, self.extra_workdays, "extra_holidays", "extra_workdays"
        )
        return self

    def fingerprint(self) -> str:
        """A short stable hash of everything that changes what a deadline computes to."""
        payload = {
            "tz": self.timezone,
            "hours": [self.office_hours.morning, self.office_hours.afternoon],
            "off": _iso(self.extra_holidays),
            "on": _iso(self.extra_workdays),
            "years": {str(y): [_iso(s.holidays), _iso(s.workdays)] for y, s in self.years.items()},
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _iso(items: list[str]) -> list[str]:
    """The expanded dates of ``items``, sorted, as ISO text (a canonical form for hashing)."""
    return sorted(d.isoformat() for d in expand_dates(items))


@dataclass(frozen=True)
class DayInfo:
    """What the calendar knows about one date.

    ``holiday_name`` is the Chinese holiday name for a package holiday, and for a 调休 working day
    the holiday it makes up for (e.g. 2026-10-10 -> "国庆节"). Days off listed in the operator
    config get a generic name (:data:`OVERRIDE_HOLIDAY_NAME` / :data:`SCHEDULE_HOLIDAY_NAME`);
    config working days and ordinary days have None.
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
            y: (expand_dates(s.holidays), expand_dates(s.workdays))
            for y, s in self.config.years.items()
        }
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
            off, on = schedule
            if d in off:
                return DayInfo(d, False, True, "year_schedule", SCHEDULE_HOLIDAY_NAME)
            return DayInfo(d, d in on or d.weekday() < 5, True, "year_schedule", None)
        fallback = DayInfo(d, d.weekday() < 5, False, "weekday_fallback", None)
        return _package_day(d) or fallback

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is a working day (Mon–Fri guess when the date is unknown)."""
        return self.day(d).is_workday

    def is_known(self, d: date) -> bool:
        """True if ``d`` comes from real data (override, year schedule or the package)."""
        return self.day(d).known

    @property
    def version(self) -> str:
        """Package version plus a hash of the config, stored with every deadline."""
        return self._version

    def known_until(self) -> date:
        """Dec 31 of the last year in the unbroken run of known years (package, then ``years``).

        Single override dates do not extend it, nor does a ``years`` entry after a gap.
        """
        year = _PACKAGE_YEARS[1]
        while year + 1 in self._years:
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


def _package_day(d: date) -> DayInfo | None:
    """Ask chinesecalendar about ``d``; None when the package has no data for that year."""
    if not _PACKAGE_YEARS[0] <= d.year <= _PACKAGE_YEARS[1]:
        return None
    try:
        off, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:
        return None
    zh = _HOLIDAY_ZH.get(name, name) if name else None
    return DayInfo(d, not off, True, "package", zh)


def load_calendar_config(path: str | Path) -> CalendarConfig:
    """Read the ``calendar:`` mapping of a YAML file (defaults when absent).

    Raises ConfigError (file, YAML path, bilingual message) for a missing or unreadable file,
    bad YAML, or a section that fails validation. Lines are 0 (unknown): the safe loader
    keeps none.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    name = str(path)
    try:
        document = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise ConfigError(
            [ConfigProblem("", 0, "无法读取配置文件", f"cannot read config: {exc}", name)]
        ) from exc
    section = document.get("calendar") if isinstance(document, dict) else None
    if section is None:
        return CalendarConfig()
    try:
        return CalendarConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError([_problem(err, name) for err in exc.errors()]) from exc


_ZH_BY_TYPE = {"extra_forbidden": "不允许的字段", "missing": "缺少必填字段"}


def _problem(err: Any, file: str) -> ConfigProblem:
    """Turn one pydantic error into a bilingual ConfigProblem located under ``calendar``."""
    where = ".".join(["calendar", *(str(p) for p in err["loc"])])
    msg = str(err["msg"]).removeprefix("Value error, ")
    shown = f"input {err.get('input')!r}"
    if err["type"] == "value_error":  # our own validators already write zh (en)
        return ConfigProblem(where, 0, msg, shown, file)
    return ConfigProblem(where, 0, _ZH_BY_TYPE.get(err["type"], msg), f"{msg}; {shown}", file)
