"""Statutory holidays of 《全国年节及纪念日放假办法》, computed for any year.

Past the State Council's published schedules the calendar still knows which days the law itself
gives off. The rules by the revision in force (a year uses the latest revision in force on its
January 1st; years before 2000 use the first one):

==========  =====  ========================  ====  ==========  ====  ====  ==========
in force    元旦    春节 (农历)                 清明   劳动节       端午   中秋   国庆节
==========  =====  ========================  ====  ==========  ====  ====  ==========
1999-09-18  01-01  正月初一..初三              —     05-01..03   —     —     10-01..03
2008-01-01  01-01  除夕, 正月初一, 初二        清明   05-01       五月初五  八月十五  10-01..03
2014-01-01  01-01  正月初一..初三              清明   05-01       五月初五  八月十五  10-01..03
2025-01-01  01-01  除夕, 正月初一..初三        清明   05-01..02   五月初五  八月十五  10-01..03
==========  =====  ========================  ====  ==========  ====  ====  ==========

(国务院令第270号 1999, 第513号 2007, 第644号 2013, 第795号 2024.) 清明 is the day of the 清明
solar term (``chinesecalendar``'s solar terms, 1900–2100); lunar dates come from ``lunardate``
(1900–2099). A holiday whose date cannot be computed for a year outside those ranges is left out.

Only the statutory days are given: no 调休 (weekend working days) and no 补假 (the weekday off
when a holiday falls on a weekend) are invented, since the State Council sets those each year.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from lunardate import LunarDate

__all__ = ["RULES_VERSION", "statutory_holidays"]

#: Changes whenever the rules below change; part of the calendar fingerprint, so provisional
#: deadlines computed with older rules are recomputed.
RULES_VERSION = "2024-rev1"

Anchor = Callable[[int], date | None]


def _fixed(month: int, day: int) -> Anchor:
    return lambda year: date(year, month, day)


def _lunar(month: int, day: int) -> Anchor:
    def anchor(year: int) -> date | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                solar: date = LunarDate(year, month, day).to_solar_date()
        except ValueError:  # outside lunardate's 1900..2099
            return None
        return solar

    return anchor


def _qingming(year: int) -> date | None:
    try:
        terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
    except NotImplementedError:  # outside 1900..2100
        return None
    return next((day for day, name in terms if name == "清明"), None)


#: (holiday name as chinesecalendar spells it, anchor, day offsets from the anchor)
Rule = tuple[str, Anchor, tuple[int, ...]]

_NEW_YEAR: Rule = ("元旦", _fixed(1, 1), (0,))
_QINGMING: Rule = ("清明", _qingming, (0,))
_DRAGON_BOAT: Rule = ("端午", _lunar(5, 5), (0,))
_MID_AUTUMN: Rule = ("中秋", _lunar(8, 15), (0,))
_NATIONAL_DAY: Rule = ("国庆节", _fixed(10, 1), (0, 1, 2))
_SPRING = _lunar(1, 1)

#: (first year the revision governs, its rules), oldest first.
ERAS: tuple[tuple[int, tuple[Rule, ...]], ...] = (
    (
        2000,
        (
            _NEW_YEAR,
            ("春节", _SPRING, (0, 1, 2)),
            ("劳动节", _fixed(5, 1), (0, 1, 2)),
            _NATIONAL_DAY,
        ),
    ),
    (
        2008,
        (
            _NEW_YEAR,
            ("春节", _SPRING, (-1, 0, 1)),
            _QINGMING,
            ("劳动节", _fixed(5, 1), (0,)),
            _DRAGON_BOAT,
            _MID_AUTUMN,
            _NATIONAL_DAY,
        ),
    ),
    (
        2014,
        (
            _NEW_YEAR,
            ("春节", _SPRING, (0, 1, 2)),
            _QINGMING,
            ("劳动节", _fixed(5, 1), (0,)),
            _DRAGON_BOAT,
            _MID_AUTUMN,
            _NATIONAL_DAY,
        ),
    ),
    (
        2025,
        (
            _NEW_YEAR,
            ("春节", _SPRING, (-1, 0, 1, 2)),
            _QINGMING,
            ("劳动节", _fixed(5, 1), (0, 1)),
            _DRAGON_BOAT,
            _MID_AUTUMN,
            _NATIONAL_DAY,
        ),
    ),
)


def rules_for(year: int) -> tuple[Rule, ...]:
    """The rules of the revision governing ``year`` (the first one for earlier years)."""
    chosen = ERAS[0][1]
    for first, rules in ERAS:
        if year >= first:
            chosen = rules
    return chosen


@lru_cache(maxsize=512)
def statutory_holidays(year: int) -> dict[date, str]:
    """The statutory days off of ``year``: date -> holiday name (元旦, 春节, 清明 …).

    Where two holidays fall on one date (中秋 on 10-01), the later in the law's order (国庆节)
    names it, as the State Council's schedules do.
    """
    days: dict[date, str] = {}
    for name, anchor, offsets in rules_for(year):
        start = anchor(year)
        if start is None:
            continue
        for offset in offsets:
            days[start + timedelta(days=offset)] = name
    return days
