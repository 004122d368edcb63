"""The canonical message models: round trips, strictness, derived ids, cross-field rules."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import hub
from hub.errors import MessageError
from hub.message import (
    ALLOWED_DIRECTIONS,
    BODY_BY_KIND,
    MAX_ATTACHMENT_BYTES,
    REPLY_KINDS,
    ApprovalDecisionBody,
    CanonicalMessage,
    Channel,
    Classification,
    ClassificationLevel,
    Contact,
    Direction,
    HandlingAction,
    Item,
    Licence,
    LicenceAction,
    MessageKind,
    NoticeType,
    Party,
    PolicyChangeType,
    Sender,
    Source,
    SupervisionCategory,
    VerificationMode,
    VerificationResult,
)
from hub.validation import parse_message

SAMPLES_DIR = Path(hub.__file__).parent / "samples"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*/*.json"))
Dumps = Callable[[dict[str, Any]], str]
CST = timezone(timedelta(hours=8))


def sample_dict(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES_DIR / relative).read_text(encoding="utf-8"))
    return data


def _samples_of(kind: MessageKind) -> list[dict[str, Any]]:
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in SAMPLE_FILES]
    return [row for row in rows if row["kind"] == kind.value]


def _paths(problems: MessageError) -> set[str]:
    return {p.path for p in problems.problems}


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_round_trips_through_json(kind: MessageKind) -> None:
    samples = _samples_of(kind)
    assert samples, f"no sample for {kind}"
    for data in samples:
        # Given a valid message; when dumped and parsed again; then nothing changes
        message = parse_message(json.dumps(data, ensure_ascii=False))
        dumped = message.model_dump_json()
        again = parse_message(dumped)
        assert again == message
        assert again.model_dump_json() == dumped
        assert type(message.body) is BODY_BY_KIND[kind]


def test_dump_carries_the_derived_ids(food: dict[str, Any], dumps: Dumps) -> None:
    dumped = json.loads(parse_message(dumps(food)).model_dump_json())
    assert dumped["message_id"].startswith("M")
    assert len(dumped["idempotency_key"]) == 64


# --- strictness -----------------------------------------------------------------------------


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split(".")
    node: Any = data
    for step in head:
        node = node[int(step)] if step.isdigit() else node[step]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


STRICT_CASES = [
    # (path to set, bad value, path the problem must name)
    ("urgent", True, "urgent"),
    ("sender.fax", "0537-1", "sender.fax"),
    ("body.priority", "high", "body.priority"),
    ("body.party.id_number", "370832199001011234", "body.party.id_number"),
    ("attachments.0.size", "482133", "attachments.0.size"),
    ("attachments.0.size", 4.5, "attachments.0.size"),
    ("attachments.0.size", 0, "attachments.0.size"),
    ("subject", 123, "subject"),
    ("subject", "", "subject"),
    ("subject", "   ", "subject"),
    ("subject", "长" * 201, "subject"),
    ("occurred_at", "2026-09-21T16:30:00", "occurred_at"),
    ("occurred_at", "2026/09/21 16:30", "occurred_at"),
    ("occurred_at", 1790000000, "occurred_at"),
    ("body.decision.decision_date", "2026-09-21T00:00:00+08:00", "body.decision.decision_date"),
    ("body.decision.decision_date", "21/09/2026", "body.decision.decision_date"),
    ("classification", {"offline_only": "true"}, "classification.offline_only"),
    ("classification", {"level": "SECRET"}, "classification.level"),
    ("direction", "审→管", "direction"),
    ("body.category", "Suspension", "body.category"),
    ("sender.department_id", "SCJG", "sender.department_id"),
    ("sender.department_id", "市场监管局", "sender.department_id"),
    ("recipients", "xzsp", "recipients"),
    ("attachments.0.sha256", "ABC", "attachments.0.sha256"),
    ("attachments.0.name", "../../etc/passwd", "attachments.0.name"),
    ("attachments.0.name", "..", "attachments.0.name"),
    ("body.party.contact.phone", "call me", "body.party.contact.phone"),
    ("body.party.contact", {}, "body.party.contact"),
    ("source.system", "SD ZWFW", "source.system"),
    ("source.channel", "fax", "source.channel"),
]


@pytest.mark.parametrize(("path", "value", "expected"), STRICT_CASES)
def test_strict_parsing_rejects(
    suspension: dict[str, Any], dumps: Dumps, path: str, value: Any, expected: str
) -> None:
    _set(suspension, path, value)
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(suspension))
    assert expected in _paths(caught.value)


def test_frozen(food: dict[str, Any], dumps: Dumps) -> None:
    message = parse_message(dumps(food))
    with pytest.raises(ValidationError):
        message.subject = "changed"


# --- derived ids ----------------------------------------------------------------------------


def test_message_id_is_stable_and_known(food: dict[str, Any], dumps: Dumps) -> None:
    # Regression guard: changing the derivation would break every stored correlation.
    message = parse_message(dumps(food))
    raw = b"platform\x1fsd-zwfw\x1fSGHD-370832-20260915-0031"
    assert message.idempotency_key == hashlib.sha256(raw).hexdigest()
    assert message.message_id == "Myjunqr5lc2ocf2proiuwkhdzc"


def test_same_source_triple_same_id_whatever_the_content(
    food: dict[str, Any], dumps: Dumps
) -> None:
    first = parse_message(dumps(food))
    food["subject"] = "食品经营许可证核发（重复推送）"
    food["source"]["received_at"] = "2026-09-16T08:00:00+08:00"
    second = parse_message(dumps(food))
    assert second.message_id == first.message_id
    assert second.idempotency_key == first.idempotency_key


@pytest.mark.parametrize(
    ("part", "value"),
    [("channel", "selfbuilt"), ("system", "gcjs"), ("source_id", "SGHD-370832-20260915-0032")],
)
def test_any_source_component_changes_the_id(
    food: dict[str, Any], dumps: Dumps, part: str, value: str
) -> None:
    before = parse_message(dumps(food))
    food["source"][part] = value
    after = parse_message(dumps(food))
    assert after.message_id != before.message_id
    assert after.idempotency_key != before.idempotency_key


def test_separator_prevents_ambiguous_triples(food: dict[str, Any], dumps: Dumps) -> None:
    food["source"].update(system="ab", source_id="c")
    one = parse_message(dumps(food))
    food["source"].update(system="a", source_id="bc")
    other = parse_message(dumps(food))
    assert one.message_id != other.message_id


def test_echoed_ids_must_match(food: dict[str, Any], dumps: Dumps) -> None:
    message = parse_message(dumps(food))
    food["message_id"] = message.message_id
    food["idempotency_key"] = message.idempotency_key
    assert parse_message(dumps(food)) == message
    food["idempotency_key"] = "0" * 64
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(food))
    assert _paths(caught.value) == {"idempotency_key"}


# --- attachments ----------------------------------------------------------------------------


def test_default_attachment_limit(suspension: dict[str, Any], dumps: Dumps) -> None:
    suspension["attachments"][0]["size"] = MAX_ATTACHMENT_BYTES
    parse_message(dumps(suspension))
    suspension["attachments"][0]["size"] = MAX_ATTACHMENT_BYTES + 1
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(suspension))
    (problem,) = caught.value.problems
    assert problem.path == "attachments.0.size"
    assert str(MAX_ATTACHMENT_BYTES + 1) in problem.en and str(MAX_ATTACHMENT_BYTES) in problem.en
    assert str(MAX_ATTACHMENT_BYTES) in problem.zh


@pytest.mark.parametrize(("limit", "ok"), [(482133, True), (482132, False), (10**9, True)])
def test_attachment_limit_from_context(
    suspension: dict[str, Any], dumps: Dumps, limit: int, ok: bool
) -> None:
    raw = dumps(suspension)  # its attachment is 482133 bytes
    if ok:
        parse_message(raw, max_attachment_bytes=limit)
        CanonicalMessage.model_validate_json(raw, context={"max_attachment_bytes": limit})
        return
    with pytest.raises(MessageError, match=f"limit of {limit} bytes"):
        parse_message(raw, max_attachment_bytes=limit)


# --- cross-field rules ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("direction", list(Direction))
def test_direction_rules(kind: MessageKind, direction: Direction) -> None:
    data = _samples_of(kind)[0]
    data["direction"] = direction.value
    raw = json.dumps(data, ensure_ascii=False)
    if direction in ALLOWED_DIRECTIONS[kind]:
        assert parse_message(raw).direction is direction
        return
    with pytest.raises(MessageError) as caught:
        parse_message(raw)
    (problem,) = caught.value.problems
    assert problem.path == "direction"
    assert kind.label in problem.zh and kind.value in problem.en


def test_one_way_kinds() -> None:
    one_way = {k for k, dirs in ALLOWED_DIRECTIONS.items() if len(dirs) == 1}
    assert one_way == {
        MessageKind.APPROVAL_DECISION,
        MessageKind.HANDLING_RESULT,
        MessageKind.JOINT_INSPECTION_REQUEST,
        MessageKind.JOINT_INSPECTION_REPLY,
        MessageKind.SUPERVISION_INFO,
        MessageKind.REVOCATION_ADVICE,
    }


@pytest.mark.parametrize("kind", sorted(REPLY_KINDS))
def test_replies_need_correlation(kind: MessageKind) -> None:
    data = _samples_of(kind)[0]
    del data["correlation"]
    with pytest.raises(MessageError) as caught:
        parse_message(json.dumps(data, ensure_ascii=False))
    assert _paths(caught.value) == {"correlation"}


def test_cross_field_problems_are_reported_together(food: dict[str, Any], dumps: Dumps) -> None:
    food["direction"] = "supervision_to_approval"
    food["classification"] = {"level": "confidential"}
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(food))
    assert _paths(caught.value) == {"direction", "source.channel"}


@pytest.mark.parametrize(
    ("category", "needs_party"),
    [
        (c, c not in (SupervisionCategory.TRAINING, SupervisionCategory.REGULATION_CHANGE))
        for c in SupervisionCategory
    ],
)
def test_supervision_party_depends_on_category(
    suspension: dict[str, Any], dumps: Dumps, category: SupervisionCategory, needs_party: bool
) -> None:
    suspension["body"]["category"] = category.value
    del suspension["body"]["party"]
    if not needs_party:
        assert parse_message(dumps(suspension)).field("body.party") is None
        return
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(suspension))
    assert _paths(caught.value) == {"body.party"}


def test_joint_inspection_reply_absence() -> None:
    data = _samples_of(MessageKind.JOINT_INSPECTION_REPLY)[0]
    data["body"] = {"kind": "joint_inspection_reply", "absent": True}
    with pytest.raises(MessageError) as caught:
        parse_message(json.dumps(data, ensure_ascii=False))
    assert _paths(caught.value) == {"body.absence_reason"}
    data["body"]["absence_reason"] = "当日全员参加省厅执法检查"
    assert parse_message(json.dumps(data, ensure_ascii=False)).field("body.absent") is True
    data["body"] = {"kind": "joint_inspection_reply"}
    with pytest.raises(MessageError) as caught:
        parse_message(json.dumps(data, ensure_ascii=False))
    assert _paths(caught.value) == {"body.inspectors"}


def test_commitment_without_letter(food: dict[str, Any], dumps: Dumps) -> None:
    food["body"]["commitment"] = True
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(food))
    assert _paths(caught.value) == {"body.commitment_letter_sha256"}


def test_publication_before_decision(suspension: dict[str, Any], dumps: Dumps) -> None:
    suspension["body"]["decision"]["published_date"] = "2026-09-20"
    with pytest.raises(MessageError) as caught:
        parse_message(dumps(suspension))
    assert _paths(caught.value) == {"body.decision.published_date"}


# --- classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "offline_only", "paper_only"),
    [
        (ClassificationLevel.UNCLASSIFIED, False, False),
        (ClassificationLevel.UNCLASSIFIED, True, True),
        (ClassificationLevel.SECRET, False, True),
        (ClassificationLevel.CONFIDENTIAL, False, True),
        (ClassificationLevel.TOP_SECRET, True, True),
    ],
)
def test_paper_only(level: ClassificationLevel, offline_only: bool, paper_only: bool) -> None:
    classification = Classification(level=level, offline_only=offline_only)
    assert classification.paper_only is paper_only
    assert classification.is_classified is level.is_classified


# --- field paths ----------------------------------------------------------------------------

FIELD_CASES = [
    ("kind", MessageKind.APPROVAL_DECISION),
    ("sender.department_id", "xzsp"),
    ("classification.level", ClassificationLevel.UNCLASSIFIED),
    ("classification.paper_only", False),
    ("source.channel", Channel.PLATFORM),
    ("source.idempotency_key", None),  # Source's property is reachable...
    ("body.item.name", "开便利店（一业一证）"),
    ("body.party.uscc", "91370306MA3P6W2E2L"),
    ("body.party.contact.email", "huilin_zc@163.com"),
    ("body.licence.decision_date", date(2026, 9, 9)),
    ("body.comprehensive_licence.face_info.许可事项", "食品经营许可；出版物零售"),
    ("body.commitment", True),
    ("recipients.1", "whly"),
    ("attachments.1.media_type", "application/ofd"),
    ("attachments.7.media_type", None),
    ("body.risk_points.0", None),
    ("body.party.nonexistent", None),
    ("body.decision.decision_date", None),  # not a field of this body
    ("correlation.in_reply_to", None),
    ("field", None),  # methods are not paths
    ("model_dump", None),
    ("_derive_ids", None),
    ("body.party.model_fields_set", None),
]


@pytest.mark.parametrize(("path", "expected"), FIELD_CASES)
def test_field_resolves_dotted_paths(path: str, expected: object) -> None:
    message = parse_message(
        json.dumps(sample_dict("zhoucun/01-approval_decision-yiye-yizheng.json"))
    )
    if path == "source.idempotency_key":
        expected = message.idempotency_key
    assert message.field(path) == expected


def test_field_returns_typed_values(food: dict[str, Any], dumps: Dumps) -> None:
    message = parse_message(dumps(food))
    occurred = message.field("occurred_at")
    assert isinstance(occurred, datetime)
    assert occurred == datetime(2026, 9, 15, 10, 12, tzinfo=CST)
    assert message.field("message_id") == message.message_id


def test_known_field_paths() -> None:
    from hub.message import message_field_paths

    paths = message_field_paths()
    for path in [
        "body.party.uscc",
        "body.item.name",
        "body.decision.published_date",
        "body.notice_received_date",
        "body.inspection_at",
        "sender.department_id",
        "classification.level",
        "classification.paper_only",
        "source.idempotency_key",
        "message_id",
        "correlation.in_reply_to",
    ]:
        assert path in paths, path
    assert not {p for p in paths if p.split(".")[-1] in {"field", "model_dump", "model_extra"}}


# --- Python construction --------------------------------------------------------------------


def test_python_construction_derives_ids() -> None:
    # Strict Python mode: real dates and enums, no strings for them.
    body = ApprovalDecisionBody(
        item=Item(name="公共场所卫生许可（延续）"),
        party=Party(name="周村区丝路宾馆", contact=Contact(phone="0533-6412345")),
        licence=Licence(number="周卫公证字〔2026〕第0101号", decision_date=date(2026, 9, 10)),
    )
    message = CanonicalMessage(
        kind=MessageKind.APPROVAL_DECISION,
        direction=Direction.APPROVAL_TO_SUPERVISION,
        sender=Sender(department_id="xzsp"),
        subject="公共场所卫生许可延续",
        occurred_at=datetime(2026, 9, 10, 9, 0, tzinfo=CST),
        source=Source(
            channel=Channel.PLATFORM,
            system="sd-zwfw",
            source_id="T-1",
            received_at=datetime(2026, 9, 10, 9, 1, tzinfo=CST),
        ),
        body=body,
    )
    assert body.kind == "approval_decision"
    assert message.message_id.startswith("M") and len(message.message_id) == 26
    assert parse_message(message.model_dump_json()) == message


def test_python_mode_is_strict_too() -> None:
    with pytest.raises(ValidationError):
        Licence(number="X", decision_date="2026-09-10")


@pytest.mark.parametrize(
    "enum",
    [
        SupervisionCategory,
        LicenceAction,
        HandlingAction,
        PolicyChangeType,
        NoticeType,
        VerificationMode,
        VerificationResult,
        MessageKind,
        Direction,
        Channel,
        ClassificationLevel,
    ],
)
def test_every_enum_member_has_a_chinese_label(enum: Any) -> None:
    for member in enum:
        assert member.label and not member.label.isascii()
