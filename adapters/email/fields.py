"""The message's key fields as a clerk reads them: labelled lines by kind, Chinese dates.

``kind_facts(message)`` gives, for each message kind, the fields a department needs to act on
(审批信息: 事项名称, 行政相对人, 统一社会信用代码, 许可文号, 许可日期, 有效期, 许可内容, 一业一证
照面信息 …; 监管信息: 类别, 处罚决定书文号 …; 联合踏勘联系单: 踏勘时间, 踏勘地址, 联系人 …), in
reading order, leaving out what the message does not carry. ``plain`` formats one value (dates as
``2026年9月15日``, instants as ``2026年10月8日（星期四）24:00``, enums by their Chinese label).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from zoneinfo import ZoneInfo

from hub.message import CanonicalMessage, MessageKind

__all__ = ["Fact", "deadline_words", "kind_facts", "plain"]

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_WEEKDAYS = "一二三四五六日"
_LONG = 60  # characters: longer values get a paragraph of their own


@dataclass(frozen=True)
class Fact:
    """One labelled line of the mail (``long`` values get a paragraph)."""

    label: str
    value: str

    @property
    def long(self) -> bool:
        return len(self.value) > _LONG or "\n" in self.value


def deadline_words(instant: dt.datetime) -> str:
    """``2026年10月8日（星期四）24:00`` for an end of day, else ``…（星期五）12:00``."""
    local = instant.astimezone(_SHANGHAI)
    day, clock = local.date(), local.strftime("%H:%M")
    if local.time() == dt.time(0, 0):
        day, clock = day - dt.timedelta(days=1), "24:00"
    return f"{day.year}年{day.month}月{day.day}日（星期{_WEEKDAYS[day.weekday()]}）{clock}"


# --- the message's own fields, by kind -----------------------------------------------------------

# fmt: off
_PARTY = (("行政相对人", "body.party.name"), ("统一社会信用代码", "body.party.uscc"))
_DECISION = (("处罚（处理）决定书文号", "body.decision.document_number"),
             ("决定日期", "body.decision.decision_date"),
             ("公布日期", "body.decision.published_date"))
_FIELDS: dict[MessageKind, tuple[tuple[str, str], ...]] = {
    MessageKind.APPROVAL_DECISION: (
        ("事项名称", "body.item.name"), ("事项编码", "body.item.code"), *_PARTY,
        ("联系人", "body.party.contact.name"), ("联系电话", "body.party.contact.phone"),
        ("地址", "body.party.address"), ("许可文号", "body.licence.number"),
        ("证照名称", "body.licence.name"), ("许可日期", "body.licence.decision_date"),
        ("有效期", "@validity"), ("许可内容", "body.licence.content"),
        ("告知承诺制办理", "body.commitment"), ("", "@comprehensive"),
    ),
    MessageKind.SUPERVISION_INFO: (
        ("监管信息类别", "body.category"), *_PARTY, ("涉及许可证号", "body.licence_number"),
        *_DECISION, ("内容摘要", "body.summary"),
    ),
    MessageKind.REVOCATION_ADVICE: (
        ("建议处理方式", "body.requested_action"), *_PARTY, ("许可证号", "body.licence_number"),
        ("理由及依据", "body.reason"), *_DECISION,
    ),
    MessageKind.HANDLING_RESULT: (
        ("处理结果", "body.action_taken"), ("处理完成日期", "body.handled_date"),
        ("许可证号", "body.licence_number"), *_DECISION, ("处理情况", "body.summary"),
    ),
    MessageKind.POLICY_CHANGE: (
        ("文件标题", "body.title"), ("调整类型", "body.change_type"),
        ("文号", "body.document_number"), ("施行日期", "body.effective_date"),
        ("收到通知日期", "body.notice_received_date"), ("调整内容", "body.summary"),
    ),
    MessageKind.MEETING_NOTICE: (
        ("通知类型", "body.notice_type"), ("名称", "body.title"), ("时间", "body.starts_at"),
        ("地点", "body.location"), ("请派人数", "body.attendees_requested"),
    ),
    MessageKind.INQUIRY: (("函询事项", "body.topic"), ("问题", "body.question")),
    MessageKind.INQUIRY_REPLY: (("答复", "body.answer"),),
    MessageKind.JOINT_INSPECTION_REQUEST: (
        ("事项名称", "body.item.name"), ("申请单位（申请人）", "body.applicant"),
        ("联系人", "body.contact.name"), ("联系电话", "body.contact.phone"),
        ("踏勘地址", "body.site_address"), ("踏勘时间", "body.inspection_at"),
        ("事项简介", "body.summary"), ("行政审批联系人", "body.approval_contact.name"),
        ("审批联系电话", "body.approval_contact.phone"), ("备注", "body.remarks"),
    ),
    MessageKind.JOINT_INSPECTION_REPLY: (
        ("踏勘人员", "body.inspectors"), ("不能参加踏勘", "body.absent"),
        ("不能参加的理由", "body.absence_reason"), ("书面意见", "body.opinion"),
    ),
    MessageKind.COMMITMENT_VERIFICATION: (
        ("承诺人", "body.party.name"), ("统一社会信用代码", "body.party.uscc"),
        ("许可证号", "body.licence_number"), ("作出承诺日期", "body.promise_date"),
        ("承诺期限", "body.promised_deadline"), ("核查方式", "body.verification_mode"),
        ("核查结果", "body.result"), ("核查情况", "body.findings"),
    ),
}
# fmt: on


def kind_facts(message: CanonicalMessage) -> list[Fact]:
    """The message's key fields for its kind, in reading order; absent ones left out."""
    facts: list[Fact] = []
    for label, path in _FIELDS[message.kind]:
        if path.startswith("@"):
            facts += _DERIVED[path](message)
            continue
        if label == "告知承诺制办理" and message.field(path) is not True:
            continue
        text = plain(message.field(path))
        if text:
            facts.append(Fact(label, text))
    if message.correlation is not None:
        facts.append(Fact("所答复的消息", message.correlation.in_reply_to))
    return facts


def _validity(message: CanonicalMessage) -> list[Fact]:
    start = message.field("body.licence.valid_from") or message.field("body.licence.decision_date")
    until = message.field("body.licence.valid_until")
    if until is None:
        return [Fact("有效期", f"长期有效（自{plain(start)}起）")]
    return [Fact("有效期", f"{plain(start)}至{plain(until)}")]


def _comprehensive(message: CanonicalMessage) -> list[Fact]:
    number = plain(message.field("body.comprehensive_licence.licence_number"))
    if not number:
        return []
    facts = [Fact("行业综合许可证编号", number),
             Fact("行业", plain(message.field("body.comprehensive_licence.industry")))]  # fmt: skip
    face = message.field("body.comprehensive_licence.face_info")
    if isinstance(face, dict):
        facts += [Fact(f"照面信息·{k}", str(v)) for k, v in face.items()]
    return facts


_DERIVED: dict[str, Callable[[CanonicalMessage], list[Fact]]] = {
    "@validity": _validity,
    "@comprehensive": _comprehensive,
}


def plain(value: object) -> str:
    """A field value as a clerk reads it: Chinese dates, enum labels, 是/否, lists with 、."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return deadline_words(value)
    if isinstance(value, dt.date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, Enum):
        return str(getattr(value, "label", value.value))
    if isinstance(value, tuple | list):
        return "、".join(plain(v) for v in value)
    return str(value)
