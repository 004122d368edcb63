"""The ``calendar:`` section of routing.yaml: time zone, office hours, overrides, typed-in years.

```yaml
calendar:
  timezone: Asia/Shanghai
  office_hours: {morning: "09:00-12:00", afternoon: "13:30-17:30"}
  extra_holidays: ["2026-09-30"]      # local days off, on top of everything else
  extra_workdays: []                  # local working days, on top of everything else
  years:
    2027:                             # the State Council's schedule for 2027
      holidays: ["2027-01-01..2027-01-03"]
      workdays: ["2027-02-07"]        # 调休 days
      complete: true                  # the whole schedule: the year is final
  package_until: 2026                 # optional: use chinesecalendar's data only up to this year
```

A ``years`` entry is **final only with** ``complete: true``: then its listed days apply and every
other day is Mon–Fri, exactly. Without it (the default) the entry is partial: its listed days
apply and are known, and every other day of that year comes from ``chinesecalendar`` if it knows
the year, else from the statutory holidays (:mod:`hub.clock.statutory`) and Mon–Fri, marked
provisional. ``package_until`` caps the years of package data used (the rest is computed as for an
unknown year); tests pin it so they hold whatever ``chinesecalendar`` release is installed.

Dates are ``YYYY-MM-DD`` or inclusive ranges ``YYYY-MM-DD..YYYY-MM-DD``. Unquoted YAML dates
(which a YAML loader turns into ``date`` objects) are accepted too. Models are strict: unknown
keys are errors, reported with their YAML path by :func:`load_calendar_config`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from hub.clock.statutory import RULES_VERSION
from hub.errors import CalendarError, ConfigError, ConfigProblem

__all__ = [
    "CalendarConfig",
    "OfficeHours",
    "YearSchedule",
    "expand_dates",
    "load_calendar_config",
]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOURS = re.compile(r"^(?P<a>\d{2}:\d{2})-(?P<b>\d{2}:\d{2})$")
_MAX_RANGE_DAYS = 366


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
    """One year's schedule typed in by the operator: holidays and 调休 workdays.

    ``complete: true`` says the lists are the whole published schedule: every other day is
    Mon–Fri and the year is final (known). Otherwise (the default) only the listed days are
    known; the other days fall through to the package or the statutory rules, provisional.
    """

    model_config = ConfigDict(extra="forbid")

    holidays: list[str] = Field(default_factory=list)
    workdays: list[str] = Field(default_factory=list)
    complete: StrictBool = False

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
    """Operator calendar settings: time zone, office hours, overrides, typed-in years and the
    last year of package data to use (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    office_hours: OfficeHours = Field(default_factory=OfficeHours)
    extra_holidays: list[str] = Field(default_factory=list)
    extra_workdays: list[str] = Field(default_factory=list)
    years: dict[int, YearSchedule] = Field(default_factory=dict)
    package_until: int | None = None

    _dates = field_validator("extra_holidays", "extra_workdays", mode="before")(_date_list)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知时区 {value!r} (unknown time zone {value!r})") from None
        return value

    @field_validator("package_until")
    @classmethod
    def _check_package_until(cls, value: int | None) -> int | None:
        if value is not None and not 1900 <= value <= 2200:
            raise ValueError(f"无效年份 {value} (package_until {value} is outside 1900..2200)")
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
            "years": {
                str(y): [_iso(s.holidays), _iso(s.workdays), s.complete]
                for y, s in self.years.items()
            },
            "package_until": self.package_until,
            "statutory": RULES_VERSION,
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _iso(items: list[str]) -> list[str]:
    """The expanded dates of ``items``, sorted, as ISO text (a canonical form for hashing)."""
    return sorted(d.isoformat() for d in expand_dates(items))


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
