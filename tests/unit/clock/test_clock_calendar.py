"""WorkCalendar: package data for 2026, weekday fallback, year schedules, overrides, config."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from pydantic import ValidationError

from hub.clock.calendar import (
    CalendarConfig,
    OfficeHours,
    WorkCalendar,
    expand_dates,
    load_calendar_config,
)
from hub.errors import CalendarError, ConfigError

YEAR_2027 = {"years": {2027: {"holidays": ["2027-01-01..2027-01-03"], "complete": True}}}
#: Pretend chinesecalendar stops at 2025, so 2026 is "past the data" whatever release is installed.
UNTIL_2025: dict[str, Any] = {"package_until": 2025}


def capped(**config: Any) -> WorkCalendar:
    """A calendar whose package data ends with 2025, plus ``config``."""
    return WorkCalendar(CalendarConfig.model_validate({**UNTIL_2025, **config}))


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("day", "is_workday", "holiday_name"),
    [
        (date(2026, 9, 30), True, None),
        (date(2026, 10, 1), False, "国庆节"),
        (date(2026, 10, 7), False, "国庆节"),
        (date(2026, 10, 8), True, None),
        (date(2026, 10, 10), True, "国庆节"),
        (date(2026, 10, 11), False, None),
        (date(2026, 9, 20), True, "国庆节"),
        (date(2026, 9, 25), False, "中秋"),
        (date(2026, 9, 27), False, "中秋"),
        (date(2026, 1, 4), True, "元旦"),
        (date(2026, 2, 15), False, "春节"),
        (date(2026, 11, 17), True, None),
    ],
    ids=[
        "wednesday-before-national-day",
        "national-day-first",
        "national-day-last",
        "first-working-day-after",
        "tiaoxiu-saturday-oct-10",
        "ordinary-sunday-after-tiaoxiu",
        "tiaoxiu-sunday-sep-20",
        "mid-autumn-friday",
        "mid-autumn-sunday",
        "new-year-tiaoxiu-sunday",
        "spring-festival",
        "ordinary-tuesday",
    ],
)
def test_2026_days_come_from_the_package(
    cal: WorkCalendar, day: date, is_workday: bool, holiday_name: str | None
) -> None:
    info = cal.day(day)
    assert (info.is_workday, info.known, info.source) == (is_workday, True, "package")
    assert info.holiday_name == holiday_name
    assert cal.is_workday(day) is is_workday
    assert cal.is_known(day)


@pytest.mark.parametrize(
    ("day", "is_workday", "source", "holiday_name"),
    [
        (date(2026, 1, 1), False, "statutory", "元旦"),
        (date(2026, 1, 2), True, "weekday_fallback", None),
        (date(2026, 1, 4), False, "weekday_fallback", None),
        (date(2026, 2, 16), False, "statutory", "春节"),
        (date(2026, 2, 19), False, "statutory", "春节"),
        (date(2026, 2, 20), True, "weekday_fallback", None),
        (date(2026, 4, 5), False, "statutory", "清明"),
        (date(2026, 5, 1), False, "statutory", "劳动节"),
        (date(2026, 6, 19), False, "statutory", "端午"),
        (date(2026, 9, 25), False, "statutory", "中秋"),
        (date(2026, 10, 2), False, "statutory", "国庆节"),
        (date(2026, 10, 5), True, "weekday_fallback", None),
        (date(2026, 10, 10), False, "weekday_fallback", None),
        (date(2003, 6, 2), True, "weekday_fallback", None),
    ],
    ids=[
        "new-years-day",
        "official-bridge-friday-is-not-invented",
        "official-tiaoxiu-sunday-is-not-invented",
        "new-years-eve-2024-rules",
        "third-day-of-spring-festival",
        "after-spring-festival",
        "qingming-solar-term",
        "labour-day",
        "dragon-boat-lunar-5-5",
        "mid-autumn-lunar-8-15",
        "national-day",
        "official-holiday-week-beyond-oct-3-is-not-invented",
        "official-tiaoxiu-saturday-is-not-invented",
        "before-the-package-data",
    ],
)
def test_past_the_data_statutory_holidays_and_monday_to_friday(
    day: date, is_workday: bool, source: str, holiday_name: str | None
) -> None:
    # Given a calendar that knows the official schedule only up to 2025
    info = capped().day(day)
    assert (info.is_workday, info.known, info.source) == (is_workday, False, source)
    assert info.holiday_name == holiday_name


def test_package_until_caps_the_package_data() -> None:
    assert WorkCalendar().day(date(2026, 10, 5)).source == "package"  # the floor knows 2026
    assert capped().day(date(2025, 10, 8)).source == "package"
    assert capped().day(date(2026, 10, 5)).source == "weekday_fallback"


def test_the_default_calendar_uses_the_statutory_rules_past_its_data() -> None:
    # no chinesecalendar release will carry 2090: this holds whatever version is installed
    info = WorkCalendar().day(date(2090, 1, 1))
    assert (info.is_workday, info.known, info.source, info.holiday_name) == (
        False,
        False,
        "statutory",
        "元旦",
    )


@pytest.mark.parametrize(
    ("day", "is_workday", "source", "holiday_name"),
    [
        (date(2026, 1, 1), False, "year_schedule", "节假日"),
        (date(2026, 1, 3), False, "year_schedule", "节假日"),
        (date(2026, 1, 4), True, "year_schedule", None),
        (date(2026, 1, 5), True, "year_schedule", None),
        (date(2026, 1, 10), False, "year_schedule", None),
        (date(2026, 2, 17), True, "year_schedule", None),
        (date(2027, 1, 1), False, "statutory", "元旦"),
    ],
    ids=[
        "listed-holiday",
        "listed-holiday-range-end",
        "listed-tiaoxiu-sunday",
        "ordinary-monday",
        "ordinary-saturday",
        "statutory-day-not-listed-is-a-workday",
        "next-year-still-unknown",
    ],
)
def test_a_complete_year_schedule_makes_the_year_known(
    day: date, is_workday: bool, source: str, holiday_name: str | None
) -> None:
    listed = {"holidays": ["2026-01-01..2026-01-03"], "workdays": ["2026-01-04"]}
    info = capped(years={2026: {**listed, "complete": True}}).day(day)
    assert (info.is_workday, info.source, info.holiday_name) == (is_workday, source, holiday_name)
    assert info.known is (source == "year_schedule")


@pytest.mark.parametrize(
    ("day", "is_workday", "known", "source"),
    [
        (date(2026, 1, 2), False, True, "year_schedule"),
        (date(2026, 1, 4), True, True, "year_schedule"),
        (date(2026, 1, 1), False, False, "statutory"),
        (date(2026, 1, 5), True, False, "weekday_fallback"),
        (date(2026, 2, 17), False, False, "statutory"),
        (date(2026, 2, 21), False, False, "weekday_fallback"),
    ],
    ids=[
        "listed-holiday-is-known",
        "listed-workday-is-known",
        "statutory-day-not-listed",
        "ordinary-monday-stays-provisional",
        "spring-festival-not-listed",
        "saturday-stays-provisional",
    ],
)
def test_an_incomplete_year_schedule_decides_only_its_listed_days(
    day: date, is_workday: bool, known: bool, source: str
) -> None:
    # Given the operator typed in only the New Year part of 2026, without complete: true
    cal = capped(years={2026: {"holidays": ["2026-01-02..2026-01-03"], "workdays": ["2026-01-04"]}})
    info = cal.day(day)
    assert (info.is_workday, info.known, info.source) == (is_workday, known, source)


@pytest.mark.parametrize(
    ("config", "day", "is_workday", "source"),
    [
        ({"extra_holidays": ["2026-09-30"]}, date(2026, 9, 30), False, "override"),
        ({"extra_workdays": ["2026-10-03"]}, date(2026, 10, 3), True, "override"),
        ({"extra_holidays": ["2026-09-28..2026-09-29"]}, date(2026, 9, 29), False, "override"),
        (
            {"extra_holidays": ["2027-01-02"], "years": {2027: {"workdays": ["2027-01-02"]}}},
            date(2027, 1, 2),
            False,
            "override",
        ),
        ({"extra_workdays": ["2027-01-09"]}, date(2027, 1, 9), True, "override"),
        ({"years": {2026: {"complete": True}}}, date(2026, 10, 1), True, "year_schedule"),
        ({"years": {2026: {"complete": True}}}, date(2026, 10, 10), False, "year_schedule"),
        (
            {"years": {2026: {"holidays": ["2026-10-09"]}}},
            date(2026, 10, 9),
            False,
            "year_schedule",
        ),
        ({"years": {2026: {"holidays": ["2026-10-09"]}}}, date(2026, 10, 1), False, "package"),
        ({"years": {2026: {"holidays": ["2026-10-09"]}}}, date(2026, 10, 10), True, "package"),
    ],
    ids=[
        "extra-holiday-turns-package-workday-off",
        "extra-workday-turns-package-holiday-on",
        "extra-holiday-range",
        "override-beats-year-schedule",
        "override-in-unknown-year-is-known",
        "complete-year-schedule-beats-package-holiday",
        "complete-year-schedule-beats-package-tiaoxiu",
        "incomplete-year-schedule-listed-day-beats-package",
        "incomplete-year-schedule-leaves-package-holiday",
        "incomplete-year-schedule-leaves-package-tiaoxiu",
    ],
)
def test_precedence(config: dict[str, Any], day: date, is_workday: bool, source: str) -> None:
    info = WorkCalendar(CalendarConfig.model_validate(config)).day(day)
    assert (info.is_workday, info.known, info.source) == (is_workday, True, source)


def test_next_and_previous_workday_skip_the_holidays(cal: WorkCalendar) -> None:
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 9, 30), inclusive=True) == date(2026, 9, 30)
    assert cal.next_workday(date(2026, 10, 3), inclusive=True) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 9, 24)) == date(2026, 9, 28)
    assert cal.previous_workday(date(2026, 10, 8)) == date(2026, 9, 30)
    assert cal.previous_workday(date(2026, 10, 12)) == date(2026, 10, 10)
    assert cal.previous_workday(date(2026, 10, 10), inclusive=True) == date(2026, 10, 10)


def test_a_config_without_any_working_day_fails_loudly() -> None:
    every_day_off = {
        year: {"holidays": [f"{year}-01-01..{year}-12-31"]} for year in (2027, 2028, 2029)
    }
    config = CalendarConfig.model_validate({"years": every_day_off})
    with pytest.raises(CalendarError, match="no working day"):
        WorkCalendar(config).next_workday(date(2027, 1, 1))


def test_known_until() -> None:
    assert WorkCalendar().known_until() >= date(2026, 12, 31)
    assert capped().known_until() == date(2025, 12, 31)
    assert capped(years={2026: {"complete": True}}).known_until() == date(2026, 12, 31)
    assert capped(years={2026: {"holidays": ["2026-01-01"]}}).known_until() == date(2025, 12, 31)
    gap = capped(years={2027: {"complete": True}}, extra_holidays=["2026-05-03"])
    assert gap.known_until() == date(2025, 12, 31)
    two = capped(years={2026: {"complete": True}, 2027: {"complete": True}})
    assert two.known_until() == date(2027, 12, 31)


def test_version_names_the_package_and_hashes_the_config_stably() -> None:
    plain = WorkCalendar().version
    assert re.fullmatch(r"chinesecalendar-[0-9.]+\+cfg:[0-9a-f]{8}", plain)
    assert WorkCalendar(CalendarConfig()).version == plain
    as_range = CalendarConfig.model_validate({"extra_holidays": ["2026-10-12..2026-10-13"]})
    as_days = CalendarConfig.model_validate({"extra_holidays": ["2026-10-13", "2026-10-12"]})
    assert WorkCalendar(as_range).version == WorkCalendar(as_days).version != plain
    hours = CalendarConfig.model_validate({"office_hours": {"afternoon": "14:00-18:00"}})
    assert WorkCalendar(hours).version != plain


def test_version_changes_with_complete_and_package_until() -> None:
    # provisional deliveries are recomputed when the version changes
    partial = capped(years={2026: {"holidays": ["2026-01-01"]}}).version
    complete = capped(years={2026: {"holidays": ["2026-01-01"], "complete": True}}).version
    assert len({partial, complete, capped().version, WorkCalendar().version}) == 4


def test_day_lookups_are_cached_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[date] = []
    real = chinese_calendar.get_holiday_detail

    def counting(day: date) -> tuple[bool, str | None]:
        calls.append(day)
        return real(day)  # type: ignore[no-any-return]

    monkeypatch.setattr(chinese_calendar, "get_holiday_detail", counting)
    cal = WorkCalendar()
    first = cal.day(date(2026, 10, 1))
    assert cal.day(date(2026, 10, 1)) is first
    assert calls == [date(2026, 10, 1)]
    WorkCalendar().day(date(2026, 10, 1))
    assert len(calls) == 2


def test_expand_dates_handles_single_days_and_inclusive_ranges() -> None:
    assert expand_dates(["2026-10-01..2026-10-03", "2026-12-31", " 2026-10-02 "]) == {
        date(2026, 10, 1),
        date(2026, 10, 2),
        date(2026, 10, 3),
        date(2026, 12, 31),
    }


@pytest.mark.parametrize(
    "item",
    [
        "2026-02-30",
        "2026-10-07..2026-10-01",
        "20261010",
        "2026-1-1",
        "2026-10-01..",
        "tomorrow",
        "2026-01-01..2027-06-01",
    ],
    ids=[
        "no-such-day",
        "reversed-range",
        "compact-form",
        "unpadded",
        "open-range",
        "word",
        "range-longer-than-a-year",
    ],
)
def test_expand_dates_rejects_malformed_items(item: str) -> None:
    with pytest.raises(CalendarError) as info:
        expand_dates([item])
    assert repr(item) in str(info.value)


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"extra_holidays": ["2026-13-01"]}, "2026-13-01"),
        ({"extra_holidays": ["2026-10-07..2026-10-01"]}, "2026-10-07..2026-10-01"),
        ({"extra_workdays": ["20261010"]}, "20261010"),
        ({"extra_holidays": ["2026-10-09"], "extra_workdays": ["2026-10-09"]}, "2026-10-09"),
        ({"years": {2027: {"holidays": ["2028-01-01"]}}}, "2028-01-01"),
        ({"years": {2027: {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}}}, "2027-01-01"),
        ({"years": {27: {}}}, "27"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"office_hours": {"morning": "9-12"}}, "9-12"),
        ({"office_hours": {"morning": "12:00-09:00"}}, "12:00-09:00"),
        ({"office_hours": {"afternoon": "13:30-24:00"}}, "13:30-24:00"),
        ({"office_hours": {"morning": "09:00-14:00"}}, "09:00-14:00"),
        ({"holidays": ["2026-10-09"]}, "holidays"),
        ({"years": {2027: {"holiday": []}}}, "holiday"),
        ({"office_hours": {"evening": "18:00-20:00"}}, "evening"),
        ({"years": {2027: {"complete": "yes"}}}, "complete"),
        ({"years": {2027: {"final": True}}}, "final"),
        ({"package_until": 1800}, "package_until"),
    ],
    ids=[
        "month-13",
        "reversed-range",
        "compact-date",
        "both-holiday-and-workday",
        "year-schedule-date-outside-its-year",
        "year-schedule-date-in-both-lists",
        "implausible-year",
        "unknown-time-zone",
        "hours-without-minutes",
        "hours-backwards",
        "hours-past-midnight",
        "morning-overlaps-afternoon",
        "unknown-top-level-key",
        "unknown-year-schedule-key",
        "unknown-office-hours-key",
        "complete-must-be-a-boolean",
        "unknown-year-schedule-key-final",
        "package-until-implausible",
    ],
)
def test_malformed_config_is_rejected_naming_the_bad_value(
    payload: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ValidationError) as info:
        CalendarConfig.model_validate(payload)
    assert needle in str(info.value)


def test_yaml_date_objects_are_accepted_as_text() -> None:
    config = CalendarConfig.model_validate({"extra_holidays": [date(2026, 9, 30)]})
    assert config.extra_holidays == ["2026-09-30"]


def test_office_hours_give_time_pairs_and_are_frozen() -> None:
    hours = OfficeHours()
    assert hours.morning_times == (time(9, 0), time(12, 0))
    assert hours.afternoon_times == (time(13, 30), time(17, 30))
    assert hours.slots == (hours.morning_times, hours.afternoon_times)
    with pytest.raises(ValidationError):
        hours.morning = "08:00-12:00"  # type: ignore[misc]


def test_load_calendar_config_reads_the_calendar_section(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        "routes: []\n"
        "calendar:\n"
        "  extra_holidays: [2026-09-30]\n"  # unquoted: YAML makes it a date
        "  years:\n"
        "    2027:\n"
        "      holidays: ['2027-01-01..2027-01-03']\n"
        "      complete: true\n"
        "    2028:\n"
        "      holidays: ['2028-01-01']\n"
        "  package_until: 2025\n",
        encoding="utf-8",
    )
    config = load_calendar_config(path)
    assert config.extra_holidays == ["2026-09-30"]
    assert config.years[2027].holidays == ["2027-01-01..2027-01-03"]
    assert (config.years[2027].complete, config.years[2028].complete) == (True, False)
    assert config.package_until == 2025


def test_load_calendar_config_defaults_without_a_section(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("routes: []\n", encoding="utf-8")
    assert load_calendar_config(path) == CalendarConfig()


def test_load_calendar_config_reports_each_problem_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("calendar:\n  extra_holidays: ['2026-02-30']\n  bogus: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_calendar_config(path)
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {"calendar.extra_holidays", "calendar.bogus"}
    assert "2026-02-30" in problems["calendar.extra_holidays"].zh
    assert problems["calendar.bogus"].zh == "不允许的字段"
    assert all(p.file == str(path) for p in problems.values())


@pytest.mark.parametrize(
    "content", [None, "calendar: [unclosed\n"], ids=["missing-file", "broken-yaml"]
)
def test_load_calendar_config_reports_unreadable_files(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "routing.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_calendar_config(path)
    assert str(path) in str(info.value)
    assert "无法读取配置文件" in str(info.value)
