"""Plausible dates: every date and datetime of a message lies within what the hub can count on.

Import the types from ``hub.message`` (or here, for the bounds). A date outside the bounds is
refused while validating, with the field named, so that nothing implausible is accepted and then
fails in routing (``OverflowError`` on 9999-12-31, .NET's zero date 0001-01-01):

* every date and datetime lies between ``EARLIEST`` (1949-10-01) and ``LATEST`` (2099-12-31),
  compared on its own wall-clock date, so no time-zone arithmetic can overflow first;
  ``LATEST`` is the end of the data the working-day clock can place holidays in (``lunardate``
  knows lunar years 1900–2099; a deadline counted from later would be guesswork);
* a datetime's UTC offset is a real one (within ±14:00).

The types say what a date means: ``EventDate``/``EventDatetime`` for what has already happened
(a decision, a receipt, an occurrence), ``PlannedDate``/``PlannedDatetime`` for what may lie
ahead (a meeting, an inspection, a promised deadline), ``ExpiryDate`` for the end of a licence's
validity (``长期`` = no expiry is the field left out, and the error says so). Validation has no
clock, so whether an event date is in the future is not checked here: ``happened_paths`` lists the
event fields and ``hub.validation.future_problems`` checks them against a clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel
from pydantic_core import PydanticCustomError

from hub.message_paths import model_types

EARLIEST: Final = dt.date(1949, 10, 1)
"""No date before the founding of the PRC is a plausible date for a 审管互动 push."""
LATEST: Final = dt.date(2099, 12, 31)
"""The last day the working-day clock can count from (lunar holidays known to 2099)."""
MAX_OFFSET: Final = dt.timedelta(hours=14)
"""The largest UTC offset in use anywhere (UTC+14, Line Islands)."""


class Happened:
    """Marker in a type's metadata: the field records something that has already happened."""

    def __repr__(self) -> str:
        return "HAPPENED"


HAPPENED: Final = Happened()


def _refused(type_: str, zh: str, en: str) -> PydanticCustomError:
    """The hub's custom error form (``hub.message_parts.custom_error``, which imports us)."""
    return PydanticCustomError(type_, "{en}", {"zh": zh, "en": en})


def _bounds(day: dt.date, *, expiry: bool = False) -> None:
    if day < EARLIEST:
        raise _refused(
            "date_implausible",
            f"日期不合理：不能早于 {EARLIEST}（0001-01-01 等占位日期不被接受）",
            f"implausible date: must not be before {EARLIEST} "
            "(placeholder dates such as 0001-01-01 are refused)",
        )
    if day > LATEST:
        zh = f"日期不合理：不能晚于 {LATEST}（9999-12-31 等占位日期不被接受）"
        en = (
            f"implausible date: must not be after {LATEST} "
            "(placeholder dates such as 9999-12-31 are refused)"
        )
        if expiry:
            zh += "；长期有效请不填此项"
            en += "; leave the field out for no expiry (长期)"
        raise _refused("date_implausible", zh, en)


def plausible_date(value: dt.date) -> dt.date:
    """``value`` if it lies within ``EARLIEST``..``LATEST``; else a ``date_implausible`` error."""
    _bounds(value)
    return value


def plausible_expiry(value: dt.date) -> dt.date:
    """Like ``plausible_date``, and the error says how to write ``长期`` (no expiry)."""
    _bounds(value, expiry=True)
    return value


def plausible_datetime(value: dt.datetime) -> dt.datetime:
    """An aware datetime whose offset is real and whose wall-clock date is plausible."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise _refused(
            "offset_implausible",
            "时区偏移不合理：须在 -14:00 到 +14:00 之间，北京时间为 +08:00",
            "implausible UTC offset: it must lie within -14:00..+14:00 (Beijing time is +08:00)",
        )
    _bounds(value.date())
    return value


EventDate = Annotated[dt.date, AfterValidator(plausible_date), HAPPENED]
"""A date on which something happened (decision, publication, receipt of a notice)."""
EventDatetime = Annotated[AwareDatetime, AfterValidator(plausible_datetime), HAPPENED]
"""An instant at which something happened (occurrence, receipt by the hub)."""
PlannedDate = Annotated[dt.date, AfterValidator(plausible_date)]
"""A date that may lie ahead (valid from, effective date, promised deadline)."""
PlannedDatetime = Annotated[AwareDatetime, AfterValidator(plausible_datetime)]
"""An instant that may lie ahead (meeting start, inspection time)."""
ExpiryDate = Annotated[dt.date, AfterValidator(plausible_expiry)]
"""The last day of a validity; no expiry (长期) is the field left out."""


def is_happened(annotation: Any) -> bool:
    """True when ``annotation`` (possibly ``X | None``) carries the ``HAPPENED`` marker."""
    metadata = getattr(annotation, "__metadata__", ())
    if any(isinstance(item, Happened) for item in metadata):
        return True
    return any(is_happened(arg) for arg in getattr(annotation, "__args__", ()) or ())


def happened_paths(model: type[BaseModel], prefix: str = "") -> frozenset[str]:
    """Dotted paths of every ``HAPPENED`` field in ``model`` and its nested (union) models."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        if is_happened(info.annotation) or any(isinstance(m, Happened) for m in info.metadata):
            paths.add(prefix + name)
        for nested in model_types(info.annotation):
            paths |= happened_paths(nested, f"{prefix}{name}.")
    return frozenset(paths)
