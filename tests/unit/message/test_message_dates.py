"""Implausible dates are refused at ingest, field by field; event dates are checked against a clock.

Every date and datetime field of every kind is in ``FIELDS``: 0001-01-01 (.NET's zero date),
9999-12-31 (the "forever" placeholder) and a just-valid value. ``test_every_date_field_is_listed``
finds the date fields from the JSON Schema, so a new date field without a row fails.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import hub
from hub.errors import FieldProblem, MessageError
from hub.message import HAPPENED_PATHS, CanonicalMessage
from hub.message_dates import EARLIEST, LATEST
from hub.validation import future_problems, message_json_schema, parse_message

SAMPLES = Path(hub.__file__).parent / "samples"
TZ = ZoneInfo("Asia/Shanghai")

# (sample carrying the field, field path, a just-valid value)
FIELDS: list[tuple[str, str, str]] = [
    ("liangshan/01-approval_decision-food-licence.json", "occurred_at",
     "1949-10-01T00:00:00+08:00"),
    ("liangshan/01-approval_decision-food-licence.json", "source.received_at",
     "2099-12-31T23:59:59+08:00"),
    ("baokang/01-approval_decision-food-production.json", "body.licence.decision_date",
     "1949-10-01"),
    ("baokang/01-approval_decision-food-production.json", "body.licence.valid_from", "1949-10-01"),
    ("baokang/01-approval_decision-food-production.json", "body.licence.valid_until", "2099-12-31"),
    ("guanxian/03-supervision_info-other-penalty.json", "body.decision.decision_date",
     "1949-10-01"),
    ("guanxian/03-supervision_info-other-penalty.json", "body.decision.published_date",
     "2099-12-31"),
    ("liangshan/04-handling_result-revoked.json", "body.handled_date", "1949-10-01"),
    ("guanxian/04-policy_change-eia-catalogue.json", "body.effective_date", "2099-12-31"),
    ("guanxian/04-policy_change-eia-catalogue.json", "body.notice_received_date", "1949-10-01"),
    ("zhoucun/06-meeting_notice-liaison-meeting.json", "body.starts_at",
     "2099-12-31T23:59:59+08:00"),
    ("danzhou/02-joint_inspection_request-ktv.json", "body.inspection_at",
     "2099-12-31T09:00:00-10:00"),
    ("baokang/02-commitment_verification-untrue.json", "body.promise_date", "1949-10-01"),
    ("baokang/02-commitment_verification-untrue.json", "body.promised_deadline", "2099-12-31"),
]  # fmt: skip
IDS = [path for _, path, _ in FIELDS]
HAPPENED = {
    "occurred_at", "source.received_at", "body.licence.decision_date",
    "body.decision.decision_date", "body.decision.published_date", "body.handled_date",
    "body.notice_received_date", "body.promise_date",
}  # fmt: skip


def sample(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / relative).read_text(encoding="utf-8"))
    return data


def with_value(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``data`` with the value at a dotted path set (``None``: removed)."""
    *parents, last = path.split(".")
    node = data
    for step in parents:
        node = node[step]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def is_datetime(value: str) -> bool:
    return "T" in value


def problems(data: dict[str, Any]) -> list[FieldProblem]:
    with pytest.raises(MessageError) as caught:
        parse_message(json.dumps(data, ensure_ascii=False))
    return caught.value.problems


# --- fixed bounds, every field ----------------------------------------------------------------


@pytest.mark.parametrize(("relative", "path", "valid"), FIELDS, ids=IDS)
@pytest.mark.parametrize(
    ("day", "word"),
    [("0001-01-01", "1949-10-01"), ("9999-12-31", "2099-12-31")],
    ids=["dotnet-zero", "forever"],
)
def test_placeholder_dates_are_refused_with_the_field_named(
    relative: str, path: str, valid: str, day: str, word: str
) -> None:
    value = f"{day}T00:00:00+08:00" if is_datetime(valid) else day
    found = problems(with_value(sample(relative), path, value))
    (problem,) = [p for p in found if p.path == path]
    assert word in problem.zh and word in problem.en
    assert "日期不合理" in problem.zh and "implausible date" in problem.en


@pytest.mark.parametrize(("relative", "path", "valid"), FIELDS, ids=IDS)
def test_a_just_valid_date_is_accepted(relative: str, path: str, valid: str) -> None:
    message = parse_message(json.dumps(with_value(sample(relative), path, valid)))
    assert str(message.field(path)) == str(
        dt.datetime.fromisoformat(valid) if is_datetime(valid) else dt.date.fromisoformat(valid)
    )


@pytest.mark.parametrize(
    ("path", "value", "accepted"),
    [
        ("body.licence.decision_date", str(EARLIEST), True),
        ("body.licence.decision_date", str(EARLIEST - dt.timedelta(days=1)), False),
        ("body.licence.valid_until", str(LATEST), True),
        ("body.licence.valid_until", str(LATEST + dt.timedelta(days=1)), False),
        ("occurred_at", "1949-10-01T00:00:00+08:00", True),
        ("occurred_at", "1949-09-30T23:59:59+08:00", False),
        ("occurred_at", "1949-09-30T20:00:00-08:00", False),  # its own wall date counts
        ("occurred_at", "2099-12-31T23:59:59+14:00", True),
        ("occurred_at", "2100-01-01T00:00:00+08:00", False),
        ("occurred_at", "2026-09-16T09:40:00+14:00", True),
        ("occurred_at", "2026-09-16T09:40:00+14:01", False),
        ("occurred_at", "2026-09-16T09:40:00-14:01", False),
        ("occurred_at", "9999-12-31T23:59:59-10:00", False),  # would overflow in UTC
    ],
)
def test_the_bounds_are_inclusive(path: str, value: str, accepted: bool) -> None:
    data = with_value(sample(FIELDS[2][0]), path, value)
    if accepted:
        parse_message(json.dumps(data))
    else:
        assert [p.path for p in problems(data)] == [path]


def test_an_implausible_expiry_says_how_to_write_no_expiry() -> None:
    data = with_value(sample(FIELDS[2][0]), "body.licence.valid_until", "9999-12-31")
    (problem,) = problems(data)
    assert "长期有效请不填此项" in problem.zh and "no expiry" in problem.en
    message = parse_message(json.dumps(with_value(data, "body.licence.valid_until", None)))
    assert message.field("body.licence.valid_until") is None  # 长期 stays valid


def test_a_bad_offset_is_named_as_such() -> None:
    data = with_value(sample(FIELDS[0][0]), "occurred_at", "2026-09-15T10:12:00+23:00")
    (problem,) = problems(data)
    assert problem.path == "occurred_at" and "+08:00" in problem.zh and "offset" in problem.en


def _date_paths(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> set[str]:
    """Dotted paths of every date/date-time property reachable from ``node`` in ``schema``."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    alternatives = node.get("anyOf", []) + node.get("oneOf", [])
    if alternatives:
        return set().union(*(_date_paths(schema, alt, prefix) for alt in alternatives))
    if node.get("format") in ("date", "date-time"):
        return {prefix.rstrip(".")}
    found: set[str] = set()
    for name, child in node.get("properties", {}).items():
        found |= _date_paths(schema, child, f"{prefix}{name}.")
    return found


def test_every_date_field_is_listed() -> None:
    schema = message_json_schema()
    assert _date_paths(schema, schema, "") == set(IDS)


def test_the_event_fields_are_the_ones_that_record_the_past() -> None:
    assert HAPPENED_PATHS == HAPPENED
    assert set(IDS) > HAPPENED


# --- the clock's half: events not in the future ------------------------------------------------

NOW = dt.datetime(2026, 11, 2, 10, 30, tzinfo=TZ)  # after every sample's dates
SOON = "2026-11-03T10:30:00+08:00"  # now + 1 day: still fine (clock skew)
LATE = "2026-11-03T10:31:00+08:00"
FUTURE_CASES: list[tuple[str, str, dict[str, object]]] = [
    # (sample, event field, other changes that keep the sample consistent)
    (FIELDS[0][0], "occurred_at", {}),
    (FIELDS[0][0], "source.received_at", {}),
    (FIELDS[2][0], "body.licence.decision_date", {}),
    (FIELDS[5][0], "body.decision.decision_date", {"body.decision.published_date": None}),
    (FIELDS[5][0], "body.decision.published_date", {}),
    (FIELDS[7][0], "body.handled_date", {}),
    (FIELDS[8][0], "body.notice_received_date", {}),
    (FIELDS[12][0], "body.promise_date", {"body.promised_deadline": "2027-01-31"}),
]


def _message(relative: str, path: str, value: str, changes: dict[str, object]) -> CanonicalMessage:
    """The sample with ``value`` at ``path`` (cut to its date for a date field)."""
    original = path_value(relative, path)
    data = with_value(sample(relative), path, value if is_datetime(original) else value[:10])
    for other, new in changes.items():
        with_value(data, other, new)
    return parse_message(json.dumps(data, ensure_ascii=False))


def path_value(relative: str, path: str) -> str:
    node: Any = sample(relative)
    for step in path.split("."):
        node = node[step]
    return str(node)


def test_future_cases_cover_every_event_field() -> None:
    assert {path for _, path, _ in FUTURE_CASES} == HAPPENED


@pytest.mark.parametrize(
    ("relative", "path", "changes"), FUTURE_CASES, ids=[path for _, path, _ in FUTURE_CASES]
)
def test_an_event_more_than_a_day_ahead_of_the_clock_is_named(
    relative: str, path: str, changes: dict[str, object]
) -> None:
    assert future_problems(_message(relative, path, SOON, changes), NOW) == []
    day_after = "2026-11-04T00:00:00+08:00"
    late = LATE if is_datetime(path_value(relative, path)) else day_after
    (problem,) = future_problems(_message(relative, path, late, changes), NOW)
    assert problem.path == path
    assert "2026-11-02 10:30" in problem.zh and "not yet happened" in problem.en


def test_dates_are_days_in_beijing_time() -> None:
    # 2026-11-02 20:00 UTC is already 2026-11-03 04:00 in Beijing: the 4th is within a day.
    utc_now = dt.datetime(2026, 11, 2, 20, 0, tzinfo=dt.UTC)
    message = _message(FIELDS[7][0], "body.handled_date", "2026-11-04", {})
    assert future_problems(message, utc_now) == []
    assert [p.path for p in future_problems(message, NOW)] == ["body.handled_date"]


def test_planned_dates_may_lie_far_ahead() -> None:
    changes: dict[str, object] = {"body.promised_deadline": "2099-12-31"}
    message = _message(FIELDS[12][0], "body.promise_date", "2026-09-16", changes)
    assert future_problems(message, NOW) == []
    meeting = _message(FIELDS[10][0], "body.starts_at", "2099-12-31T09:00:00+08:00", {})
    assert future_problems(meeting, NOW) == []
