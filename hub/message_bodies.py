"""Message bodies: one strict model per ``MessageKind``, tagged by a ``kind`` literal.

Re-exported from ``hub.message``; import them from there. The fields follow the seeds:
审批信息 (周村 第七条(一)2, 保康 第十九条(二), 冠县 第十七条(一)), 监管信息 (周村 第七条(二)2),
监管建议书 and 处理结果 (梁山 第十九条(四)), 联合踏勘联系单 (儋州 附件1), 告知承诺核查
(周村 第八条, 保康 第二十三条).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from hub.message_dates import EventDate, ExpiryDate, PlannedDate, PlannedDatetime
from hub.message_enums import (
    HandlingAction,
    LicenceAction,
    NoticeType,
    PolicyChangeType,
    SupervisionCategory,
    VerificationMode,
    VerificationResult,
)
from hub.message_parts import (
    STRICT,
    Contact,
    ContactPerson,
    DocumentNumber,
    Item,
    LegalDecision,
    LongText,
    Name,
    Party,
    Sha256,
    ShortText,
    Title,
    custom_error,
)


def _require_kind(schema: JsonDict) -> None:
    """The ``kind`` tag has a Python default but must be present in JSON: say so in the schema."""
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "kind" not in required:
        required.insert(0, "kind")


class _Body(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra=_require_kind)


_KIND_DOC = "消息类型标签，须与信封 kind 一致 / body tag, equal to the envelope kind"


class Licence(BaseModel):
    """许可决定的主要信息: the licence as decided."""

    model_config = STRICT

    number: DocumentNumber = Field(description="许可文（编）号 / 法律文书编号 / licence number")
    name: Title | None = Field(default=None, description="证照名称 / licence name")
    decision_date: EventDate = Field(description="许可日期 / date of the licence decision")
    valid_from: PlannedDate | None = Field(default=None, description="有效期起 / valid from")
    valid_until: ExpiryDate | None = Field(
        default=None, description="有效期至；空为长期 / valid until, empty = no expiry"
    )
    content: LongText | None = Field(default=None, description="许可内容 / licensed scope")

    @model_validator(mode="after")
    def _validity_order(self) -> Licence:
        start = self.valid_from or self.decision_date
        if self.valid_until is not None and self.valid_until < start:
            raise custom_error(
                "date_order",
                "有效期截止日期不能早于起始日期（或许可日期）",
                "valid_until must not be before valid_from (or decision_date)",
                field="valid_until",
            )
        return self


class ComprehensiveLicence(BaseModel):
    """一业一证: 行业综合许可证照面信息 (face information of the industry licence)."""

    model_config = STRICT

    licence_number: DocumentNumber = Field(description="综合许可证编号 / licence number")
    industry: Title = Field(description="行业 / industry, e.g. 便利店")
    face_info: dict[Name, ShortText] = Field(
        max_length=50, description="照面信息（项目: 内容） / face information (label: text)"
    )


class ApprovalDecisionBody(_Body):
    """审批信息: a licence decision pushed to the supervisors (审→管)."""

    kind: Literal["approval_decision"] = Field(default="approval_decision", description=_KIND_DOC)
    item: Item = Field(description="审批事项 / approval item")
    party: Party = Field(description="行政相对人（须含联系方式） / licensee, with contact")
    licence: Licence = Field(description="许可决定 / licence decision")
    comprehensive_licence: ComprehensiveLicence | None = Field(
        default=None, description="一业一证综合许可证照面信息 / one-industry-one-licence face info"
    )
    commitment: bool = Field(default=False, description="告知承诺制办理 / issued on commitment")
    commitment_letter_sha256: Sha256 | None = Field(
        default=None, description="告知承诺书附件 sha256（须在 attachments 中） / commitment letter"
    )
    risk_points: tuple[ShortText, ...] = Field(
        default=(), max_length=50, description="审批中发现的监管风险点（冠县） / risk points"
    )

    @model_validator(mode="after")
    def _seed_requirements(self) -> ApprovalDecisionBody:
        if self.party.contact is None:
            raise custom_error(
                "contact_required",
                "审批信息须包含行政相对人联系方式",
                "an approval decision must carry the party's contact",
                field="party.contact",
            )
        if self.commitment != (self.commitment_letter_sha256 is not None):
            raise custom_error(
                "commitment_letter",
                "告知承诺制事项须附告知承诺书：commitment 与 commitment_letter_sha256 须同时出现",
                "commitment=true requires commitment_letter_sha256, and only then may it be set",
                field="commitment_letter_sha256",
            )
        return self


class SupervisionInfoBody(_Body):
    """监管信息: penalties, abnormal operation, training, rule changes (管→审)."""

    kind: Literal["supervision_info"] = Field(default="supervision_info", description=_KIND_DOC)
    category: SupervisionCategory = Field(description="监管信息类别 / category")
    party: Party | None = Field(default=None, description="行政相对人 / party concerned")
    licence_number: DocumentNumber | None = Field(
        default=None, description="涉及的许可证号 / licence concerned"
    )
    decision: LegalDecision | None = Field(
        default=None, description="处罚或处理决定 / penalty or decision"
    )
    summary: LongText = Field(description="内容摘要 / summary")

    @model_validator(mode="after")
    def _party_and_decision(self) -> SupervisionInfoBody:
        if not self.category.concerns_party:
            return self
        for name in ("party", "decision"):
            if getattr(self, name) is None:
                raise custom_error(
                    "required_for_category",
                    f"类别“{self.category.label}”须填写 {name}",
                    f"{name} is required for category {self.category.value}",
                    field=name,
                )
        return self


class RevocationAdviceBody(_Body):
    """监管建议书: asks to change/withdraw/revoke/cancel a licence; decision documents attached."""

    kind: Literal["revocation_advice"] = Field(default="revocation_advice", description=_KIND_DOC)
    requested_action: LicenceAction = Field(description="建议的处理 / requested action")
    party: Party = Field(description="行政相对人 / party")
    licence_number: DocumentNumber = Field(description="许可证号 / licence number")
    reason: LongText = Field(description="理由及依据 / reason and legal basis")
    decision: LegalDecision = Field(description="处罚或案件处理决定 / penalty or handling decision")


class HandlingResultBody(_Body):
    """处理结果: the approval bureau's answer to a 监管建议书 (审→管, correlated)."""

    kind: Literal["handling_result"] = Field(default="handling_result", description=_KIND_DOC)
    action_taken: HandlingAction = Field(description="处理结果 / action taken")
    handled_date: EventDate = Field(description="处理完成日期 / date handled")
    licence_number: DocumentNumber = Field(description="许可证号 / licence number")
    decision: LegalDecision | None = Field(default=None, description="处理决定书 / decision")
    summary: LongText = Field(description="处理情况 / summary")


class PolicyChangeBody(_Body):
    """政策调整: a law/standard/policy change, to be passed on the day the notice arrives."""

    kind: Literal["policy_change"] = Field(default="policy_change", description=_KIND_DOC)
    title: Title = Field(description="文件或调整标题 / title")
    change_type: PolicyChangeType = Field(description="调整类型 / type of change")
    document_number: DocumentNumber | None = Field(default=None, description="文号 / number")
    effective_date: PlannedDate | None = Field(
        default=None, description="施行日期 / effective date"
    )
    notice_received_date: EventDate = Field(
        description="收到通知日期（当日告知从此起算） / date the notice was received"
    )
    summary: LongText = Field(description="调整内容 / what changes")


class MeetingNoticeBody(_Body):
    """会议/培训/检查考评/资质考试 通知."""

    kind: Literal["meeting_notice"] = Field(default="meeting_notice", description=_KIND_DOC)
    notice_type: NoticeType = Field(description="通知类型 / notice type")
    title: Title = Field(description="名称 / title")
    starts_at: PlannedDatetime = Field(description="开始时间 / start time")
    location: ShortText = Field(description="地点 / location")
    attendees_requested: int | None = Field(
        default=None, gt=0, le=1000, description="请派人数 / attendees requested"
    )


class InquiryBody(_Body):
    """函询: a question; 周村/保康 treat no reply in time as agreement."""

    kind: Literal["inquiry"] = Field(default="inquiry", description=_KIND_DOC)
    topic: Title = Field(description="函询事项 / topic")
    question: LongText = Field(description="问题 / question")


class InquiryReplyBody(_Body):
    """函询回复 (correlated with the inquiry)."""

    kind: Literal["inquiry_reply"] = Field(default="inquiry_reply", description=_KIND_DOC)
    answer: LongText = Field(description="答复 / answer")


class JointInspectionRequestBody(_Body):
    """联合踏勘联系单 (儋州 附件1); the site materials are the envelope attachments."""

    kind: Literal["joint_inspection_request"] = Field(
        default="joint_inspection_request", description=_KIND_DOC
    )
    item: Item = Field(description="事项名称 / item")
    applicant: Title = Field(description="申请单位（申请人） / applicant")
    contact: ContactPerson = Field(description="联系人及联系电话 / applicant contact")
    site_address: ShortText = Field(description="踏勘地址 / site address")
    inspection_at: PlannedDatetime = Field(description="踏勘时间 / inspection time")
    summary: LongText = Field(description="事项简介 / summary of the item")
    approval_contact: ContactPerson = Field(description="行政审批联系人 / approval bureau contact")
    remarks: ShortText | None = Field(default=None, description="备注 / remarks")


class JointInspectionReplyBody(_Body):
    """踏勘人员名单, absence notice (0.5 day ahead) or written opinion (保康: 3 days)."""

    kind: Literal["joint_inspection_reply"] = Field(
        default="joint_inspection_reply", description=_KIND_DOC
    )
    inspectors: tuple[Name, ...] = Field(default=(), max_length=20, description="踏勘人员 / names")
    absent: bool = Field(default=False, description="不能参加踏勘 / cannot attend")
    absence_reason: ShortText | None = Field(default=None, description="不能参加的理由 / reason")
    opinion: LongText | None = Field(default=None, description="书面意见 / written opinion")

    @model_validator(mode="after")
    def _inspectors_or_absence(self) -> JointInspectionReplyBody:
        if self.absent and self.absence_reason is None:
            raise custom_error(
                "absence_reason_required",
                "不能参加踏勘须说明理由",
                "absent=true requires absence_reason",
                field="absence_reason",
            )
        if not self.absent and not self.inspectors:
            raise custom_error(
                "inspectors_required",
                "须至少报送一名踏勘人员（或声明不能参加）",
                "name at least one inspector (or set absent=true)",
                field="inspectors",
            )
        return self


class CommitmentVerificationBody(_Body):
    """告知承诺核查结果: verification of a commitment made by an applicant."""

    kind: Literal["commitment_verification"] = Field(
        default="commitment_verification", description=_KIND_DOC
    )
    party: Party = Field(description="承诺人 / applicant who made the commitment")
    licence_number: DocumentNumber = Field(description="许可证号 / licence number")
    promise_date: EventDate = Field(description="作出承诺日期 / date of the commitment")
    promised_deadline: PlannedDate | None = Field(
        default=None, description="承诺补正或达标期限 / promised deadline"
    )
    verification_mode: VerificationMode = Field(description="核查方式 / verification mode")
    result: VerificationResult = Field(description="核查结果 / result")
    findings: LongText | None = Field(default=None, description="核查情况 / findings")

    @model_validator(mode="after")
    def _dates_and_findings(self) -> CommitmentVerificationBody:
        if self.promised_deadline is not None and self.promised_deadline < self.promise_date:
            raise custom_error(
                "date_order",
                "承诺期限不能早于承诺日期",
                "promised_deadline must not be before promise_date",
                field="promised_deadline",
            )
        if self.result in (VerificationResult.UNTRUE, VerificationResult.OVERDUE) and not (
            self.findings
        ):
            raise custom_error(
                "findings_required",
                "核查结果为承诺不实或逾期时须说明核查情况",
                "findings are required when the result is untrue or overdue",
                field="findings",
            )
        return self


MessageBody = Annotated[
    ApprovalDecisionBody
    | SupervisionInfoBody
    | RevocationAdviceBody
    | HandlingResultBody
    | PolicyChangeBody
    | MeetingNoticeBody
    | InquiryBody
    | InquiryReplyBody
    | JointInspectionRequestBody
    | JointInspectionReplyBody
    | CommitmentVerificationBody,
    Field(discriminator="kind"),
]

BODY_MODELS: tuple[type[_Body], ...] = (
    ApprovalDecisionBody,
    SupervisionInfoBody,
    RevocationAdviceBody,
    HandlingResultBody,
    PolicyChangeBody,
    MeetingNoticeBody,
    InquiryBody,
    InquiryReplyBody,
    JointInspectionRequestBody,
    JointInspectionReplyBody,
    CommitmentVerificationBody,
)

__all__ = [
    "BODY_MODELS",
    "ApprovalDecisionBody",
    "CommitmentVerificationBody",
    "ComprehensiveLicence",
    "Contact",
    "HandlingAction",
    "HandlingResultBody",
    "InquiryBody",
    "InquiryReplyBody",
    "JointInspectionReplyBody",
    "JointInspectionRequestBody",
    "Licence",
    "LicenceAction",
    "MeetingNoticeBody",
    "MessageBody",
    "NoticeType",
    "PolicyChangeBody",
    "PolicyChangeType",
    "RevocationAdviceBody",
    "SupervisionCategory",
    "SupervisionInfoBody",
    "VerificationMode",
    "VerificationResult",
]
