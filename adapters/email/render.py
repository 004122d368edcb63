"""Render one ``OutboundNote`` as the mail a department's clerk reads (pure: no I/O but blobs).

``render(note, config, blobs)`` returns an ``EmailMessage`` under ``email.policy.SMTP`` (RFC 2047
subject, CRLF, base64 UTF-8 bodies, RFC 2231 attachment names; ``POLICY`` only refolds the
Subject so the space before its tag survives)::

    From         审管互动 Hub <hub@hub.test>
    To           梁山县市场监督管理局 <scjg@dept.test>
    Subject      【审管互动】推送：<message subject> [审管互动 D…·token]
    Message-ID   <D….push@hub.test> for the push (a resend is the same mail);
                 <D….reminder.2.x7k2@hub.test> for any other note, with
    In-Reply-To / References  the push's id, so reminders and notices thread under it
    Auto-Submitted  auto-generated for escalations and notices only: a push, a reminder or an
                 auto-claim notice must stay answerable (auto-submitted mail often has replies
                 suppressed)
    X-Auto-Response-Suppress  OOF, AutoReply (no out-of-office answers to the hub's mailbox)
    X-Hub-Delivery, X-Hub-Purpose, X-Hub-Message

The body is multipart/alternative (plain text, then HTML from the same view), in Chinese: what
happened, what to do and by when (a claim is a reply whose first line is “认领”), the message's
key fields by kind (``fields.py``), the deadlines, and the attachments. Attachments whose bytes
the blob store has are attached while their total stays within ``max_attachment_bytes``; the
others are listed by name, size and SHA-256 as being on the platform. Classified content never
reaches this module: the adapter refuses it first.
"""

from __future__ import annotations

import datetime as dt
import email.policy
from collections.abc import Iterable
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import jinja2

from adapters.email.config import EmailConfig
from adapters.email.fields import Fact, deadline_words, kind_facts
from adapters.email.threading import note_message_id, root_message_id, subject_tag
from hub.blobs import BlobError
from hub.channels import OutboundNote, Purpose
from hub.clock.deadline import display_instant
from hub.message import CanonicalMessage

__all__ = ["POLICY", "BlobSource", "MailView", "render", "subject", "view"]

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_AUTO_SUBMITTED = frozenset({Purpose.ESCALATION, Purpose.NOTICE, Purpose.DELIVERY_FAILED})
_ANSWERABLE = frozenset({Purpose.PUSH, Purpose.REMINDER})

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("adapters.email", "templates"),
    autoescape=lambda name: bool(name and name.endswith(".html.j2")),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


class _Subject(UnstructuredHeader, BaseHeader):
    """A Subject folded by ``email.header.Header``: CPython's own folder can drop the space
    before ``[审管互动 …]`` when it falls between two encoded words (CPython 3.11)."""

    def fold(self, *, policy: Policy) -> str:
        if str(self).isascii():
            return str(super().fold(policy=policy))
        limit = policy.max_line_length or 78
        header = Header(str(self), charset="utf-8", header_name=self.name, maxlinelen=limit)
        return f"{self.name}: {header.encode(linesep=policy.linesep)}{policy.linesep}"


def _policy() -> email.policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    registry.map_to_type("subject", _Subject)
    return email.policy.SMTP.clone(header_factory=registry)


POLICY = _policy()
"""``email.policy.SMTP`` with a Subject that keeps its spaces (see ``_Subject``)."""


class BlobSource(Protocol):
    """Where attachment bytes come from (``hub.blobs.BlobStore``)."""

    def get(self, sha256: str) -> bytes | None: ...


@dataclass(frozen=True)
class AttachmentLine:
    name: str
    size: str
    sha256: str
    attached: bool


@dataclass(frozen=True)
class MailView:
    """Everything the templates show; both parts render the same view."""

    greeting: str
    intro: str
    summary: str
    deadline_sentences: tuple[str, ...]
    actions: tuple[str, ...]
    overview: tuple[Fact, ...]
    kind_label: str
    facts: tuple[Fact, ...]
    risk_points: tuple[str, ...]
    deadlines: tuple[Fact, ...]
    attachments: tuple[AttachmentLine, ...]
    references: str


def render(
    note: OutboundNote,
    config: EmailConfig,
    blobs: BlobSource | None = None,
    *,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The mail for ``note`` (see the module docstring for its headers and parts)."""
    files, lines = _pick_attachments(note.message, blobs, config.max_attachment_bytes)
    mail = EmailMessage(policy=POLICY)
    _set_headers(mail, note, config, now or dt.datetime.now(_SHANGHAI))
    page = view(note, lines)
    mail.set_content(_ENV.get_template("mail.txt.j2").render(v=page), cte="base64")
    mail.add_alternative(_ENV.get_template("mail.html.j2").render(v=page), subtype="html",
                         cte="base64")  # fmt: skip
    for name, media_type, data in files:
        maintype, _, subtype = media_type.partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    mail["Content-Language"] = "zh-CN"
    return mail


def subject(note: OutboundNote, config: EmailConfig) -> str:
    tag = subject_tag(note.delivery_id, config.token_secret)
    return f"【审管互动】{note.purpose.label}：{note.message.subject} {tag}"


def _set_headers(mail: EmailMessage, note: OutboundNote, config: EmailConfig,
                 now: dt.datetime) -> None:  # fmt: skip
    root = root_message_id(note.delivery_id, config.domain)
    mail["From"] = Address(config.from_name, addr_spec=config.from_address)
    mail["To"] = [Address(note.department_name, addr_spec=a) for a in _addresses(note)]
    mail["Subject"] = subject(note, config)
    mail["Date"] = format_datetime(now.astimezone(_SHANGHAI))
    if note.purpose is Purpose.PUSH:
        mail["Message-ID"] = root
    else:
        mail["Message-ID"] = note_message_id(
            note.delivery_id, note.purpose.value, note.attempt, config.domain
        )
        mail["In-Reply-To"] = root
        mail["References"] = root
    if note.purpose in _AUTO_SUBMITTED:
        mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # no out-of-office answers to the hub
    mail["X-Hub-Delivery"] = note.delivery_id
    mail["X-Hub-Purpose"] = note.purpose.value
    mail["X-Hub-Message"] = note.message.message_id


def _addresses(note: OutboundNote) -> tuple[str, ...]:
    addresses = getattr(note.address, "addresses", ())
    return tuple(str(a) for a in addresses)


# --- the view ------------------------------------------------------------------------------------


def view(note: OutboundNote, attachments: Iterable[AttachmentLine] = ()) -> MailView:
    """What the mail says about ``note``, independent of plain text or HTML."""
    message = note.message
    return MailView(
        greeting=f"{note.department_name}：",
        intro=_intro(note),
        summary=note.summary_zh,
        deadline_sentences=_deadline_sentences(note),
        actions=_actions(note),
        overview=_overview(message),
        kind_label=message.kind.label,
        facts=tuple(kind_facts(message)),
        risk_points=tuple(getattr(message.body, "risk_points", ())),
        deadlines=_deadline_facts(note),
        attachments=tuple(attachments),
        references=f"推送编号 {note.delivery_id}；消息编号 {message.message_id}",
    )


def _intro(note: OutboundNote) -> str:
    sender = note.message.sender.name or note.message.sender.department_id
    kind = note.message.kind.label
    late = note.about_department_name or note.about_department_id or "相关部门"
    return {
        Purpose.PUSH: f"{sender}通过审管互动平台向贵单位推送一条{kind}，请及时认领。",
        Purpose.REMINDER: f"贵单位尚未认领{sender}推送的以下{kind}，认领期限将至，请尽快认领。",
        Purpose.ESCALATION: f"{late}未在期限内认领以下{kind}，按规定报送贵单位，请督促办理。",
        Purpose.AUTO_CLAIMED: f"贵单位未在期限内认领以下{kind}，已按规定视为认领（超时自动认领），"
        "自认领时起由贵单位承担相应监管责任。",
        Purpose.NOTICE: f"关于以下{kind}的通知。",
        Purpose.DELIVERY_FAILED: f"贵单位推送的以下{kind}未能送达{late}（各渠道均失败），"
        "请人工处理。",
    }[note.purpose]


def _actions(note: OutboundNote) -> tuple[str, ...]:
    keep_tag = "回复时请保留邮件主题中方括号内的编号（[审管互动 …]），不要修改主题。"
    if note.purpose in _ANSWERABLE:
        steps = ["认领：直接回复本邮件，正文第一行写“认领”即可完成认领。",
                 "异议：如有异议，正文第一行写“异议：”后接理由。"]  # fmt: skip
        if note.reply_due is not None:
            steps.append("答复：请于回复期限前登录审管互动平台提交答复。")
        return (*steps, keep_tag, "也可登录审管互动平台办理。")
    if note.purpose is Purpose.AUTO_CLAIMED:
        return ("如有异议，直接回复本邮件，正文第一行写“异议：”后接理由。", keep_tag)
    return ("本邮件由系统自动发送，仅供知悉，无需回复；如需处理请登录审管互动平台。",)


def _overview(message: CanonicalMessage) -> tuple[Fact, ...]:
    sender = message.sender
    who = sender.name or sender.department_id
    contact = sender.contact
    if contact is not None:
        reach = "，".join(x for x in (contact.name, contact.phone, contact.email) if x)
        who = f"{who}（联络员 {reach}）"
    return (
        Fact("信息类型", f"{message.kind.label}（{message.direction.label}）"),
        Fact("发送部门", who),
        Fact("标题", message.subject),
    )


# --- deadlines -----------------------------------------------------------------------------------


_DEADLINES: tuple[tuple[str, str, str], ...] = (
    ("claim_due", "认领期限", "认领"),
    ("objection_due", "异议期限", "提出异议（逾期未提出的视为认可）"),
    ("reply_due", "回复期限", "回复"),
)


def _deadline_sentences(note: OutboundNote) -> tuple[str, ...]:
    if note.purpose not in (*_ANSWERABLE, Purpose.AUTO_CLAIMED):
        return ()
    sentences = []
    for attribute, label, verb in _DEADLINES:
        due: dt.datetime | None = getattr(note, attribute)
        if due is None or (attribute == "claim_due" and note.purpose is Purpose.AUTO_CLAIMED):
            continue
        span = note.deadlines_zh.get(label.replace("期限", "时限"))  # "认领时限": "1个工作日"
        within = f"（{span}内）" if span else ""
        sentences.append(f"请于 {deadline_words(due)} 前{verb}{within}。")
    return tuple(sentences)


def _deadline_facts(note: OutboundNote) -> tuple[Fact, ...]:
    facts = {label: note.deadlines_zh.get(label) for _, label, _ in _DEADLINES}
    for attribute, label, _ in _DEADLINES:
        due: dt.datetime | None = getattr(note, attribute)
        if due is not None and not facts[label]:
            facts[label] = display_instant(due)
    extra = {k: v for k, v in note.deadlines_zh.items() if k not in facts}
    return tuple(Fact(k, v) for k, v in (facts | extra).items() if v)


# --- attachments ---------------------------------------------------------------------------------


def _pick_attachments(
    message: CanonicalMessage, blobs: BlobSource | None, limit: int
) -> tuple[list[tuple[str, str, bytes]], list[AttachmentLine]]:
    """The files to attach (within ``limit`` in total) and a line per attachment for the body."""
    files: list[tuple[str, str, bytes]] = []
    lines: list[AttachmentLine] = []
    total = 0
    for ref in message.attachments:
        data = _bytes(blobs, ref.sha256) if total + ref.size <= limit else None
        attached = data is not None
        if data is not None:
            total += len(data)
            files.append((ref.name, ref.media_type, data))
        lines.append(AttachmentLine(ref.name, file_size(ref.size), ref.sha256, attached))
    return files, lines


def _bytes(blobs: BlobSource | None, sha256: str) -> bytes | None:
    if blobs is None:
        return None
    try:
        return blobs.get(sha256)
    except BlobError:
        return None  # a damaged blob is listed like a missing one; the platform has the file


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
