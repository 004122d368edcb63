"""Statutory holidays: the law's rules per revision, checked against the official schedules.

chinesecalendar carries the State Council's schedules (2004 on): every statutory day we compute
for a year it knows must be a day off there, under the holiday's own name. The schedules add
调休 and 补假 around those days, so the converse does not hold and is not asserted.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from hub.clock import statutory
from hub.clock.statutory import statutory_holidays

_ZH = {h.value: h.chinese for h in chinese_calendar.Holiday}
_OFFICIAL_YEARS = range(2004, 2027)  # the years chinesecalendar 1.11.0 carries; later ones too


def _package_years() -> list[int]:
    last = max(chinese_calendar.holidays).year
    return [y for y in _OFFICIAL_YEARS if y <= last]


@pytest.mark.parametrize("year", _package_years())
def test_every_computed_holiday_is_off_in_the_official_schedule(year: int) -> None:
    for day, name in statutory_holidays(year).items():
        off, official = chinese_calendar.get_holiday_detail(day)
        assert off, f"{day} ({name}) is a working day in the official {year} schedule"
        if official is None and day.weekday() >= 5:
            continue  # a weekend day inside a holiday may go unnamed
        shown = _ZH.get(official, official)
        if {shown, name} == {"中秋", "国庆节"}:
            continue  # 中秋 on 10-01..03: the schedules name it either way (2009 vs 2020)
        assert shown == name, f"{day}: {name} vs {shown}"


@pytest.mark.parametrize(
    ("year", "count", "spring", "labour"),
    [
        (2006, 10, ["01-29", "01-30", "01-31"], ["05-01", "05-02", "05-03"]),
        (2010, 11, ["02-13", "02-14", "02-15"], ["05-01"]),
        (2016, 11, ["02-08", "02-09", "02-10"], ["05-01"]),
        (2024, 11, ["02-10", "02-11", "02-12"], ["05-01"]),
        (2025, 13, ["01-28", "01-29", "01-30", "01-31"], ["05-01", "05-02"]),
        (2027, 13, ["02-05", "02-06", "02-07", "02-08"], ["05-01", "05-02"]),
    ],
    ids=[
        "1999-rules-spring-from-day-one-labour-three-days",
        "2007-rules-spring-from-new-years-eve",
        "2013-rules-spring-from-day-one",
        "2013-rules-last-year",
        "2024-rules-four-days-and-may-2",
        "2024-rules-past-the-data",
    ],
)
def test_each_revision_of_the_law(
    year: int, count: int, spring: list[str], labour: list[str]
) -> None:
    days = statutory_holidays(year)
    assert len(days) == count
    assert [f"{d:%m-%d}" for d in sorted(days) if days[d] == "春节"] == spring
    assert [f"{d:%m-%d}" for d in sorted(days) if days[d] == "劳动节"] == labour


def test_2027_holidays_in_full() -> None:
    # 春节 2027-02-06 (正月初一), 清明 04-05, 端午 06-09 (五月初五), 中秋 09-15 (八月十五)
    assert statutory_holidays(2027) == {
        date(2027, 1, 1): "元旦",
        date(2027, 2, 5): "春节",
        date(2027, 2, 6): "春节",
        date(2027, 2, 7): "春节",
        date(2027, 2, 8): "春节",
        date(2027, 4, 5): "清明",
        date(2027, 5, 1): "劳动节",
        date(2027, 5, 2): "劳动节",
        date(2027, 6, 9): "端午",
        date(2027, 9, 15): "中秋",
        date(2027, 10, 1): "国庆节",
        date(2027, 10, 2): "国庆节",
        date(2027, 10, 3): "国庆节",
    }


def test_mid_autumn_on_national_day_is_named_national_day() -> None:
    # 2020: 八月十五 is 10-01, as in the official schedule
    days = statutory_holidays(2020)
    assert days[date(2020, 10, 1)] == "国庆节"
    assert "中秋" not in days.values()


@pytest.mark.parametrize(
    ("year", "names"),
    [
        (2099, {"元旦", "春节", "清明", "劳动节", "端午", "中秋", "国庆节"}),
        (2100, {"元旦", "清明", "劳动节", "国庆节"}),
        (2150, {"元旦", "劳动节", "国庆节"}),
    ],
    ids=["last-lunar-year", "no-lunar-data", "no-solar-terms-either"],
)
def test_years_outside_the_libraries_keep_what_can_be_computed(year: int, names: set[str]) -> None:
    assert set(statutory_holidays(year).values()) == names


def test_years_before_the_first_revision_use_it() -> None:
    assert statutory.rules_for(1990) == statutory.rules_for(2000) == statutory.ERAS[0][1]
    assert statutory.rules_for(2100) == statutory.ERAS[-1][1]
