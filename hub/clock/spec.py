"""Deadline specs: the text a route or a rule uses to say how long something may take.

Accepted forms (surrounding whitespace ignored, letters case-insensitive, full-width characters
such as ``１个工作日`` or ``－1wd`` read as their ASCII forms):

* same day: ``same_day``, ``当日``, ``当天``, ``by_24:00``, ``24:00``, ``immediate``, ``即时``
  (immediate / 即时 mean the end of the working day, like 当日);
* working days: ``Nwd`` or ``N个工作日`` where N is a positive multiple of 0.5 (``1wd``,
  ``0.5wd``, ``1.5 wd``, ``10个工作日``), at most :data:`MAX_WORKING_DAYS`;
* before: a leading ``-`` or ``提前`` (``-1wd``, ``提前1个工作日``, ``提前0.5wd``) counts backwards
  from an instant (reminders, advance notice). "Before" is not allowed with the same-day form.

Anything else (``0wd``, ``1.3wd``, ``--1wd``, ``+1wd``, ``abc``) raises
:class:`~hub.errors.CalendarError` with a message in Chinese and English naming the bad text.

``DeadlineSpecField`` is the pydantic v2 type for models: it validates from a string, serializes
back to the canonical string and has a JSON schema of type ``string``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from hub.errors import CalendarError

__all__ = ["MAX_WORKING_DAYS", "DeadlineSpec", "DeadlineSpecField"]

#: Upper bound for N in ``Nwd``: no 审管 time limit is anywhere near a year of working days.
MAX_WORKING_DAYS = 366

_SAME_DAY_WORDS = frozenset({"same_day", "当日", "当天", "by_24:00", "24:00", "immediate", "即时"})
_WORKING_DAYS = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?:wd|个工作日)$")
_HINT_ZH = "应为“当日”、“Nwd”或“N个工作日”（N 为 0.5 的正整数倍，可加前缀“-”或“提前”）"
_HINT_EN = "expected 'same_day', 'Nwd' or 'N个工作日' with N a positive multiple of 0.5, "
_HINT_EN += "optionally prefixed by '-' or '提前'"


def _bad(text: str, why_zh: str = "", why_en: str = "") -> CalendarError:
    """Build the bilingual error for an unusable spec text."""
    zh = f"无法识别的期限 {text!r}：{why_zh or _HINT_ZH}"
    en = f"invalid deadline spec {text!r}: {why_en or _HINT_EN}"
    return CalendarError(f"{zh} ({en})")


def _number_text(half_days: int) -> str:
    """Render a half-day count as the N of ``Nwd``: 2 -> "1", 1 -> "0.5", 3 -> "1.5"."""
    whole, half = divmod(half_days, 2)
    return f"{whole}.5" if half else str(whole)


@dataclass(frozen=True)
class DeadlineSpec:
    """How long something may take: the same working day, or N working days (N in halves).

    ``half_days`` is the length in half-day units (``1wd`` == 2, ``0.5wd`` == 1; 0 for
    ``same_day``). ``before`` marks a spec that counts backwards from an instant. ``text`` is the
    canonical text; it is filled in when left empty, so specs compare equal by meaning.
    """

    kind: Literal["same_day", "working_days"]
    half_days: int
    before: bool = False
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind == "same_day" and (self.half_days != 0 or self.before):
            raise CalendarError("“当日”期限不能有天数或“提前” (same_day takes no length or before)")
        if self.kind == "working_days" and not 1 <= self.half_days <= 2 * MAX_WORKING_DAYS:
            raise _bad(f"{self.half_days} half days")
        object.__setattr__(self, "text", self._canonical())

    def _canonical(self) -> str:
        if self.kind == "same_day":
            return "same_day"
        return ("-" if self.before else "") + _number_text(self.half_days) + "wd"

    @classmethod
    def parse(cls, text: str) -> DeadlineSpec:
        """Parse one spec text (see the module docstring); raise CalendarError if malformed.
        Specs are immutable: the same text gives the same (cached) spec."""
        if not isinstance(text, str):
            raise _bad(repr(text))
        if cls is DeadlineSpec:
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> DeadlineSpec:
        body = unicodedata.normalize("NFKC", text).strip().lower()
        if body in _SAME_DAY_WORDS:
            return cls("same_day", 0)
        before = False
        for prefix in ("-", "提前"):
            if body.startswith(prefix):
                before, body = True, body[len(prefix) :].strip()
                break
        match = _WORKING_DAYS.match(body)
        if match is None:
            raise _bad(text)
        return cls("working_days", _half_days(text, match.group("n")), before)

    def __str__(self) -> str:
        return self.text

    @property
    def label(self) -> str:
        """Chinese words for operators: "1个工作日", "0.5个工作日", "当日", "提前1个工作日"."""
        if self.kind == "same_day":
            return "当日"
        return ("提前" if self.before else "") + _number_text(self.half_days) + "个工作日"

    @property
    def whole_days(self) -> bool:
        """True when the spec is a whole number of working days (uses the whole-day rule)."""
        return self.kind == "working_days" and self.half_days % 2 == 0


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> DeadlineSpec:
    return DeadlineSpec._parse(text)


def _half_days(text: str, number: str) -> int:
    """Turn the N of ``Nwd`` into half days, rejecting zero, non-halves and huge values."""
    try:
        doubled = Decimal(number) * 2
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise _bad(text) from exc
    if doubled != doubled.to_integral_value():
        raise _bad(text, "天数必须是 0.5 的整数倍", "N must be a multiple of 0.5")
    if doubled <= 0:
        raise _bad(text, "天数必须大于 0", "N must be greater than 0")
    if doubled > 2 * MAX_WORKING_DAYS:
        raise _bad(
            text,
            f"天数不能超过 {MAX_WORKING_DAYS}",
            f"N must be at most {MAX_WORKING_DAYS}",
        )
    return int(doubled)


def _validate_field(value: object) -> DeadlineSpec:
    """Pydantic validator: accept a DeadlineSpec or a str; report problems as ValueError."""
    if isinstance(value, DeadlineSpec):
        return value
    if not isinstance(value, str):
        raise ValueError(f"期限必须是字符串 (deadline spec must be a string, got {value!r})")
    try:
        return DeadlineSpec.parse(value)
    except CalendarError as exc:
        raise ValueError(str(exc)) from exc


DeadlineSpecField = Annotated[
    DeadlineSpec,
    PlainValidator(_validate_field),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "期限 deadline spec: same_day / 当日 / Nwd / N个工作日 / -Nwd",
            "examples": ["same_day", "1wd", "0.5wd", "-1wd"],
        }
    ),
]
