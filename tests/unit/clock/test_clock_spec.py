"""DeadlineSpec parsing, canonical text, Chinese labels and the pydantic field type."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.clock.spec import DeadlineSpec, DeadlineSpecField
from hub.errors import CalendarError


@pytest.mark.parametrize(
    ("text", "kind", "half_days", "before", "canonical", "label"),
    [
        ("same_day", "same_day", 0, False, "same_day", "当日"),
        ("当日", "same_day", 0, False, "same_day", "当日"),
        ("当天", "same_day", 0, False, "same_day", "当日"),
        ("by_24:00", "same_day", 0, False, "same_day", "当日"),
        ("24:00", "same_day", 0, False, "same_day", "当日"),
        ("immediate", "same_day", 0, False, "same_day", "当日"),
        ("即时", "same_day", 0, False, "same_day", "当日"),
        ("1wd", "working_days", 2, False, "1wd", "1个工作日"),
        ("0.5wd", "working_days", 1, False, "0.5wd", "0.5个工作日"),
        ("1.5wd", "working_days", 3, False, "1.5wd", "1.5个工作日"),
        ("30wd", "working_days", 60, False, "30wd", "30个工作日"),
        ("10个工作日", "working_days", 20, False, "10wd", "10个工作日"),
        ("0.5个工作日", "working_days", 1, False, "0.5wd", "0.5个工作日"),
        ("-1wd", "working_days", 2, True, "-1wd", "提前1个工作日"),
        ("-0.5wd", "working_days", 1, True, "-0.5wd", "提前0.5个工作日"),
        ("提前1个工作日", "working_days", 2, True, "-1wd", "提前1个工作日"),
        ("提前0.5wd", "working_days", 1, True, "-0.5wd", "提前0.5个工作日"),
        ("  2 WD ", "working_days", 4, False, "2wd", "2个工作日"),
        ("1.50wd", "working_days", 3, False, "1.5wd", "1.5个工作日"),
        ("366wd", "working_days", 732, False, "366wd", "366个工作日"),
        ("－１个工作日", "working_days", 2, True, "-1wd", "提前1个工作日"),
    ],
    ids=[
        "same-day-english",
        "same-day-chinese",
        "same-day-chinese-dangtian",
        "by-midnight",
        "bare-midnight",
        "immediate-english",
        "immediate-chinese",
        "one-day",
        "half-day",
        "one-and-a-half-days",
        "thirty-days",
        "ten-days-chinese",
        "half-day-chinese",
        "one-day-before",
        "half-day-before",
        "one-day-before-chinese",
        "half-day-before-mixed",
        "spaces-and-capitals",
        "trailing-zero",
        "largest-allowed",
        "full-width-minus-and-digit",
    ],
)
def test_parse_accepts_documented_forms(
    text: str, kind: str, half_days: int, before: bool, canonical: str, label: str
) -> None:
    spec = DeadlineSpec.parse(text)
    assert (spec.kind, spec.half_days, spec.before) == (kind, half_days, before)
    assert str(spec) == spec.text == canonical
    assert spec.label == label
    # the canonical text parses back to the same spec
    assert DeadlineSpec.parse(canonical) == spec


@pytest.mark.parametrize(
    "text",
    [
        "0wd",
        "0.0wd",
        "-0wd",
        "1.3wd",
        "1.25wd",
        "abc",
        "",
        "wd",
        "--1wd",
        "+1wd",
        "-same_day",
        "提前当日",
        "1 day",
        "1wd2",
        "1",
        "367wd",
        "-1.5",
        "١wd",
    ],
    ids=[
        "zero",
        "zero-decimal",
        "minus-zero",
        "not-a-half",
        "quarter",
        "word",
        "empty",
        "unit-only",
        "double-minus",
        "plus-sign",
        "before-same-day",
        "before-same-day-chinese",
        "english-day-unit",
        "trailing-junk",
        "bare-number",
        "too-long",
        "no-unit-negative",
        "arabic-indic-digit",
    ],
)
def test_parse_rejects_malformed_text_naming_it_in_both_languages(text: str) -> None:
    with pytest.raises(CalendarError) as info:
        DeadlineSpec.parse(text)
    message = str(info.value)
    assert repr(text) in message
    assert "无法识别的期限" in message
    assert "invalid deadline spec" in message


def test_direct_construction_fills_canonical_text_and_compares_by_meaning() -> None:
    assert DeadlineSpec("working_days", 3).text == "1.5wd"
    assert DeadlineSpec("working_days", 2, before=True) == DeadlineSpec.parse("提前1个工作日")
    assert DeadlineSpec("same_day", 0) == DeadlineSpec.parse("即时")


@pytest.mark.parametrize(
    ("kind", "half_days", "before"),
    [
        ("same_day", 2, False),
        ("same_day", 0, True),
        ("working_days", 0, False),
        ("working_days", -2, False),
        ("working_days", 733, False),
    ],
    ids=["same-day-with-length", "same-day-before", "zero-days", "negative-days", "too-many"],
)
def test_direct_construction_rejects_inconsistent_fields(
    kind: str, half_days: int, before: bool
) -> None:
    with pytest.raises(CalendarError):
        DeadlineSpec(kind, half_days, before)  # type: ignore[arg-type]


def test_whole_days_flag() -> None:
    assert DeadlineSpec.parse("2wd").whole_days
    assert not DeadlineSpec.parse("1.5wd").whole_days
    assert not DeadlineSpec.parse("same_day").whole_days


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    within: DeadlineSpecField


def test_field_validates_from_text_and_serializes_back_to_canonical_text() -> None:
    rule = _Rule.model_validate({"within": "0.5个工作日"})
    assert rule.within == DeadlineSpec("working_days", 1)
    assert rule.model_dump() == {"within": "0.5wd"}
    assert json.loads(rule.model_dump_json()) == {"within": "0.5wd"}
    assert _Rule.model_validate_json('{"within": "-1wd"}').within.before is True


def test_field_accepts_an_existing_spec() -> None:
    spec = DeadlineSpec.parse("3wd")
    assert _Rule(within=spec).within is spec


@pytest.mark.parametrize(
    ("value", "needle"),
    [("1.3wd", "1.3wd"), ("abc", "abc"), (5, "5"), (None, "None")],
    ids=["not-a-half", "word", "integer", "null"],
)
def test_field_reports_bad_value_on_the_field(value: object, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Rule.model_validate({"within": value})
    (error,) = info.value.errors()
    assert error["loc"] == ("within",)
    assert needle in error["msg"]


def test_field_json_schema_is_a_string() -> None:
    schema = _Rule.model_json_schema()
    assert schema["properties"]["within"]["type"] == "string"
