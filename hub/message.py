"""The canonical message: the one schema every channel's payload is normalized into.

This module owns the message schema: nothing else defines one. Import everything from here;
the pieces live in sibling modules, re-exported:

    hub.message_enums     MessageKind, Direction, Channel, ClassificationLevel, body enums
    hub.message_parts     text types, USCC, Contact, ContactPerson, Item, Party, LegalDecision
    hub.message_envelope  Sender, Classification, AttachmentRef, Correlation, Source
    hub.message_bodies    one body model per kind, the ``MessageBody`` tagged union
    hub.message_paths     dotted-path resolution behind ``CanonicalMessage.field``
    hub.message_dates     plausible dates: bounds for every date, which ones record the past

Every model is strict (``extra="forbid"``, ``strict=True``, ``frozen=True``). Parse JSON with
``hub.validation.parse_message`` (bilingual problems) or ``CanonicalMessage.model_validate_json``.
Checks that span several fields (direction vs kind, body tag, correlation, attachment references,
classified content on an online channel) run last and are reported together.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import NamedTuple

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from hub.message_bodies import (
    BODY_MODELS,
    ApprovalDecisionBody,
    CommitmentVerificationBody,
    ComprehensiveLicence,
    HandlingResultBody,
    InquiryBody,
    InquiryReplyBody,
    JointInspectionReplyBody,
    JointInspectionRequestBody,
    Licence,
    MeetingNoticeBody,
    MessageBody,
    PolicyChangeBody,
    RevocationAdviceBody,
    SupervisionInfoBody,
)
from hub.message_dates import EventDatetime, happened_paths
from hub.message_enums import (
    Channel,
    ClassificationLevel,
    Direction,
    HandlingAction,
    LicenceAction,
    MessageKind,
    NoticeType,
    PolicyChangeType,
    SupervisionCategory,
    VerificationMode,
    VerificationResult,
)
from hub.message_envelope import (
    ALLOWED_MEDIA_TYPES,
    MAX_ATTACHMENT_BYTES,
    AttachmentRef,
    Classification,
    Correlation,
    DepartmentId,
    MessageId,
    Sender,
    Source,
)
from hub.message_parts import (
    STRICT,
    USCC,
    Contact,
    ContactPerson,
    Item,
    LegalDecision,
    Party,
    Title,
)
from hub.message_paths import model_paths, resolve_path

__all__ = [
    "ALLOWED_DIRECTIONS",
    "ALLOWED_MEDIA_TYPES",
    "BODY_BY_KIND",
    "HAPPENED_PATHS",
    "MAX_ATTACHMENT_BYTES",
    "REPLY_KINDS",
    "USCC",
    "ApprovalDecisionBody",
    "AttachmentRef",
    "CanonicalMessage",
    "Channel",
    "Classification",
    "ClassificationLevel",
    "CommitmentVerificationBody",
    "ComprehensiveLicence",
    "Contact",
    "ContactPerson",
    "Correlation",
    "DepartmentId",
    "Direction",
    "HandlingAction",
    "HandlingResultBody",
    "InquiryBody",
    "InquiryReplyBody",
    "Issue",
    "Item",
    "JointInspectionReplyBody",
    "JointInspectionRequestBody",
    "LegalDecision",
    "Licence",
    "LicenceAction",
    "MeetingNoticeBody",
    "MessageBody",
    "MessageId",
    "MessageKind",
    "NoticeType",
    "Party",
    "PolicyChangeBody",
    "PolicyChangeType",
    "RevocationAdviceBody",
    "Sender",
    "Source",
    "SupervisionCategory",
    "SupervisionInfoBody",
    "VerificationMode",
    "VerificationResult",
    "message_field_paths",
]


_BOTH = frozenset(Direction)
ALLOWED_DIRECTIONS: dict[MessageKind, frozenset[Direction]] = {
    kind: _BOTH for kind in MessageKind
} | {
    MessageKind.APPROVAL_DECISION: frozenset({Direction.APPROVAL_TO_SUPERVISION}),
    MessageKind.HANDLING_RESULT: frozenset({Direction.APPROVAL_TO_SUPERVISION}),
    MessageKind.JOINT_INSPECTION_REQUEST: frozenset({Direction.APPROVAL_TO_SUPERVISION}),
    MessageKind.SUPERVISION_INFO: frozenset({Direction.SUPERVISION_TO_APPROVAL}),
    MessageKind.REVOCATION_ADVICE: frozenset({Direction.SUPERVISION_TO_APPROVAL}),
    MessageKind.JOINT_INSPECTION_REPLY: frozenset({Direction.SUPERVISION_TO_APPROVAL}),
}
"""Which directions each kind may travel in (DOMAIN.md, "Message kinds"); unlisted: both.

A joint inspection reply answers a 审→管 request, so it travels 管→审 only.
"""

REPLY_KINDS: frozenset[MessageKind] = frozenset(
    {MessageKind.HANDLING_RESULT, MessageKind.INQUIRY_REPLY, MessageKind.JOINT_INSPECTION_REPLY}
)
"""Kinds that answer an earlier message and therefore require ``correlation``."""


# --- the canonical message ----------------------------------------------------------------------


class CanonicalMessage(BaseModel):
    """The hub's one message: an envelope (who, what kind, where from) around a typed body.

    ``message_id`` and ``idempotency_key`` are derived from ``source`` while validating; to
    change ``source`` build a new message (``model_copy(update=...)`` does not re-derive them).
    """

    model_config = STRICT

    message_id: str = Field(
        default="",
        pattern=r"^(M[a-z2-7]{25})?$",
        description="消息编号：'M' + 幂等摘要 base32 前 25 位，由 source 推导；可省略，提供则须一致"
        " / message id derived from source; optional on input, checked when given",
        json_schema_extra={"readOnly": True},
    )
    idempotency_key: str = Field(
        default="",
        pattern=r"^([0-9a-f]{64})?$",
        description="幂等键：sha256(channel␟system␟source_id)；可省略，提供则须一致"
        " / idempotency key derived from source; optional on input, checked when given",
        json_schema_extra={"readOnly": True},
    )
    kind: MessageKind = Field(description="消息类型 / message kind")
    direction: Direction = Field(description="审→管 或 管→审 / direction")
    sender: Sender = Field(description="推送部门 / sending department")
    recipients: tuple[DepartmentId, ...] = Field(
        default=(),
        max_length=50,
        description="指定接收部门（通常由路由决定） / explicit recipients",
    )
    subject: Title = Field(description="标题 / subject")
    occurred_at: EventDatetime = Field(
        description="事件发生时间（作出决定、收到通知），推送时限起算 / when the event happened"
    )
    classification: Classification = Field(
        default_factory=Classification, description="密级 / classification"
    )
    attachments: tuple[AttachmentRef, ...] = Field(
        default=(), max_length=100, description="附件 / attachments"
    )
    correlation: Correlation | None = Field(
        default=None, description="答复关联（回复类消息必填） / what this replies to"
    )
    source: Source = Field(description="来源 / where the hub got it")
    body: MessageBody = Field(description="消息内容，按 kind 区分 / body, tagged by kind")

    def field(self, path: str) -> object | None:
        """Value at a dotted path ("body.party.uscc", "classification.level"), None if absent."""
        return resolve_path(self, path)

    @model_validator(mode="after")
    def _check_consistency(self) -> CanonicalMessage:
        """Derive the ids, then run the cross-field checks, reported together as one error.

        The ids are set here (not computed properties) so that a dumped message validates again
        unchanged; a caller-supplied id that disagrees with ``source`` is an issue.
        """
        issues = self._derive_ids()
        issues += [issue for check in _CHECKS for issue in check(self)]
        if issues:
            raise PydanticCustomError(
                "message_inconsistent",
                "{en}",
                {
                    "zh": "；".join(i.zh for i in issues),
                    "en": "; ".join(i.en for i in issues),
                    "issues": tuple(i._asdict() for i in issues),
                },
            )
        return self

    def _derive_ids(self) -> list[Issue]:
        issues = []
        derived = {"idempotency_key": self.source.idempotency_key}
        digest = bytes.fromhex(derived["idempotency_key"])
        derived["message_id"] = "M" + base64.b32encode(digest).decode("ascii").lower()[:25]
        for name, value in derived.items():
            given = getattr(self, name)
            if given and given != value:
                issues.append(
                    Issue(
                        name,
                        "derived_id_mismatch",
                        f"{name} 与由 source 推导出的值 {value} 不一致",
                        f"{name} does not match {value}, derived from source",
                    )
                )
            object.__setattr__(self, name, value)  # frozen model: set once, while validating
        return issues


class Issue(NamedTuple):
    """One cross-field problem: absolute dotted path, stable type, Chinese and English text."""

    path: str
    type: str
    zh: str
    en: str


def _check_body_kind(m: CanonicalMessage) -> list[Issue]:
    if m.body.kind == m.kind:
        return []
    return [
        Issue(
            "body.kind",
            "body_kind_mismatch",
            f"body.kind（{m.body.kind}）与 kind（{m.kind.value}）不一致",
            f"body.kind {m.body.kind} does not match kind {m.kind.value}",
        )
    ]


def _check_direction(m: CanonicalMessage) -> list[Issue]:
    if m.direction in ALLOWED_DIRECTIONS[m.kind]:
        return []
    (allowed,) = ALLOWED_DIRECTIONS[m.kind]
    return [
        Issue(
            "direction",
            "direction_mismatch",
            f"{m.kind.label}只能{allowed.label}推送，不能{m.direction.label}",
            f"{m.kind.value} must go {allowed.value}, not {m.direction.value}",
        )
    ]


def _check_correlation(m: CanonicalMessage) -> list[Issue]:
    if m.kind not in REPLY_KINDS or m.correlation is not None:
        return []
    return [
        Issue(
            "correlation",
            "correlation_required",
            f"{m.kind.label}是答复类消息，须填写 correlation.in_reply_to",
            f"{m.kind.value} is a reply and requires correlation.in_reply_to",
        )
    ]


def _check_attachments(m: CanonicalMessage) -> list[Issue]:
    hashes = {a.sha256 for a in m.attachments}
    letter = getattr(m.body, "commitment_letter_sha256", None)
    if letter is not None and letter not in hashes:
        return [
            Issue(
                "body.commitment_letter_sha256",
                "attachment_missing",
                "告知承诺书未列入 attachments（按 sha256 查找）",
                "the commitment letter is not among the attachments (by sha256)",
            )
        ]
    if m.kind is MessageKind.REVOCATION_ADVICE and not hashes:
        return [
            Issue(
                "attachments",
                "attachment_required",
                "监管建议书须附处罚或处理决定文书",
                "a revocation advice must attach the penalty or handling decision documents",
            )
        ]
    return []


def _check_classified_channel(m: CanonicalMessage) -> list[Issue]:
    if not m.classification.is_classified or not m.source.channel.is_online:
        return []
    return [
        Issue(
            "source.channel",
            "classified_online",
            f"涉密（{m.classification.level.label}）信息只能纸质推送，不能经{m.source.channel.label}渠道",
            f"classified ({m.classification.level.value}) content may only travel on paper, "
            f"not by {m.source.channel.value}",
        )
    ]


_CHECKS: tuple[Callable[[CanonicalMessage], list[Issue]], ...] = (
    _check_body_kind,
    _check_direction,
    _check_correlation,
    _check_attachments,
    _check_classified_channel,
)

BODY_BY_KIND: dict[MessageKind, type[BaseModel]] = {
    MessageKind(model.model_fields["kind"].default): model for model in BODY_MODELS
}
"""The body model for each kind."""

HAPPENED_PATHS: frozenset[str] = happened_paths(CanonicalMessage)
"""Paths of the fields that record what has already happened (``hub.message_dates``)."""


def message_field_paths() -> frozenset[str]:
    """Every dotted path ``CanonicalMessage.field`` can resolve (any kind's body included)."""
    return model_paths(CanonicalMessage)
