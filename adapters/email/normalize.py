"""Inbound mail, classified (pure, no I/O): a claim or objection by reply, a push, a bounce.

``classify(msg, secret=…, domain=…, sender_department=…)`` looks at one parsed mail and returns
one of four frozen dataclasses; the watcher acts on it, after the trust check
(:mod:`adapters.email.trust`). Nothing here renders HTML, follows a link or opens a file other
than a pushed ``.json``/``.xlsx``/``.csv`` attachment.

1. **Bounce** — a delivery status notification (``multipart/report;
   report-type=delivery-status``) for one of our pushes: the delivery comes from the returned
   message's headers (its subject tag or our Message-ID), the failed recipient, status and
   diagnostic from the ``message/delivery-status`` part. Only permanent failures (``5.x.x``)
   count; a "delayed" DSN (``4.x.x``) is :class:`Unrecognized`, logged and kept::

       Final-Recipient: rfc822; scjg@dept.test
       Action: failed
       Status: 5.1.1
       Diagnostic-Code: smtp; 550 5.1.1 <scjg@dept.test>: Recipient address rejected

2. **Push** — a department pushes by mail: the subject starts with ``【审管推送】`` (or
   ``[HUB-PUSH]``) and the mail carries one or more ``*.json`` canonical messages (an object or
   a list) and/or ``*.xlsx``/``*.csv`` sheets, one message per row (:mod:`adapters.email.sheets`
   documents the columns; :mod:`adapters.email.pushes` the rules)::

       From: 测试县住建局 <zjj@dept.test>
       Subject: 【审管推送】9月处罚信息
       Attachments: push.xlsx, 行政处罚决定书.pdf

3. **Reply** — an answer to one of our mails. The delivery is found by the subject tag
   ``[审管互动 D…·token]`` (HMAC-checked) or our Message-IDs in In-Reply-To/References
   (:func:`adapters.email.threading.find_delivery`). The action is the FIRST meaningful line of
   the reply's own text (blank lines skipped; reading stops at a ``>`` line or a reply header
   such as ``在 … 写道：``, ``-----原始邮件-----``, ``On … wrote:``, ``发件人:``, ``From:``)::

       认领 / 已认领 / 确认认领 / 收到 / 已收到 / 同意   → claim (alone, or followed only by
                                                       punctuation or spaces: “收到！”, “认领。”)
       异议：理由……  (also 有异议 / 提出异议, with “：”, “:” or a space; the reason may go on
                    over the next lines, up to 2000 characters) → objection
       异议          (no reason)                          → Unrecognized “异议须写明理由”

   HTML is never rendered: the text/plain part is read; an HTML-only mail has its tags stripped
   (``html.parser``) just to read its first line, with ``<blockquote>`` treated as quoted text.
   Auto-replies (``Auto-Submitted``, ``X-Autoreply``, ``Precedence: auto_reply``) never claim.

4. **Unrecognized** — anything else, with a bilingual reason (the watcher quarantines it).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Literal

from adapters.email.bounces import is_delivery_report, read_report
from adapters.email.pushes import is_push_subject, read_push
from adapters.email.threading import find_delivery
from hub.errors import FieldProblem, NormalizeError
from hub.message import MAX_ATTACHMENT_BYTES, CanonicalMessage

__all__ = [
    "Bounce",
    "Inbound",
    "Push",
    "Reply",
    "Unrecognized",
    "classify",
    "from_address",
    "mail_id",
    "normalize_email",
    "parse_mail",
    "sender_header",
]

MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class Reply:
    """A claim or an objection answering a delivery (``sender``: the From address)."""

    delivery_id: str
    sender: str
    action: Literal["claim", "objection"]
    reason: str
    text: str  # the reply's own text above any quote (never logged)
    sender_header: str | None = None  # the Sender: address, when the mail has one


@dataclass(frozen=True)
class Push:
    """Canonical messages pushed by mail, and the attachment files they refer to."""

    sender: str
    messages: list[CanonicalMessage]
    attachments: list[tuple[str, str, bytes]]  # (file name, media type, bytes)
    sender_header: str | None = None


@dataclass(frozen=True)
class Bounce:
    """A permanent delivery failure (DSN 5.x.x) of one of our mails."""

    delivery_id: str
    recipient: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Unrecognized:
    """Mail the hub does not act on, and why."""

    reason_zh: str
    reason_en: str


Inbound = Reply | Push | Bounce | Unrecognized


def parse_mail(raw: bytes) -> EmailMessage:
    """Raw RFC 5322 bytes (CRLF or LF) as an ``EmailMessage`` (modern header parsing)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def arrived_at(msg: Message) -> dt.datetime | None:
    """When our mail server received the mail: the date of the topmost ``Received`` header
    (the last hop, written by our own server; the ones below it are the sender's to forge).
    None when it is missing or unreadable."""
    received = msg.get_all("Received") or []
    if not received:
        return None
    _, _, stamp = str(received[0]).rpartition(";")
    try:
        when = parsedate_to_datetime(stamp.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def mail_id(msg: Message) -> str:
    """The mail's Message-ID (with its angle brackets), or ``""``."""
    return str(msg.get("Message-ID", "") or "").strip()[:200]


def from_address(msg: Message) -> str | None:
    """The one From address, lower-cased; None when there is none or more than one."""
    return _single_address(msg, "From")


def sender_header(msg: Message) -> str | None:
    """The Sender: address, lower-cased, when present."""
    return _single_address(msg, "Sender")


def _single_address(msg: Message, header: str) -> str | None:
    values = [str(v) for v in msg.get_all(header, [])]
    found = [addr for _name, addr in getaddresses(values) if "@" in addr]
    return found[0].strip().lower() if len(found) == 1 else None


def classify(
    msg: EmailMessage,
    *,
    secret: str,
    domain: str,
    sender_department: str | None = None,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
) -> Inbound:
    """What the mail is. Raises ``NormalizeError`` for a push whose content is invalid."""
    if is_delivery_report(msg):
        return _bounce(msg, secret, domain)
    sender = from_address(msg)
    if sender is None:
        return _NO_SENDER
    subject = str(msg.get("Subject", "") or "")
    if is_push_subject(subject):
        messages, files = read_push(
            msg, sender_department=sender_department, max_attachment_bytes=max_attachment_bytes
        )
        attachments = [(f.name, f.media_type, f.data) for f in files]
        return Push(sender, messages, attachments, sender_header(msg))
    if _is_auto_reply(msg):
        return _AUTO_REPLY
    return _reply(msg, subject, sender, secret, domain)


def normalize_email(
    raw: bytes,
    *,
    sender_department: str | None = None,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
) -> CanonicalMessage:
    """The ``ChannelAdapter.normalize`` hook: the first message a pushed mail carries."""
    msg = parse_mail(raw)
    if not is_push_subject(str(msg.get("Subject", "") or "")):
        raise NormalizeError([FieldProblem("Subject", _NOT_PUSH.reason_zh, _NOT_PUSH.reason_en)])
    messages, _files = read_push(
        msg, sender_department=sender_department, max_attachment_bytes=max_attachment_bytes
    )
    return messages[0]


# --- replies -------------------------------------------------------------------------------

_CLAIM = re.compile(r"^(?:确认认领|已认领|认领|已收到|收到|同意)(?P<rest>.*)$", re.S)
_OBJECTION = re.compile(r"^(?:提出异议|有异议|异议)(?:[:：\s](?P<rest>.*))?$", re.S)
_QUOTE_START = re.compile(
    r"""^(?:>
        | -{2,}\s*(?:原始邮件|Original\s+Message)\s*-{2,}
        | _{5,}
        | .*写道\s*[:：]?$
        | On\s.+\swrote:$
        | (?:发件人|寄件者|From)\s*[:：]
        | --$
    )""",
    re.X | re.I,
)
_NO_SENDER = Unrecognized(
    "发件人地址缺失或不唯一", "the From header is missing or names several addresses"
)
_AUTO_REPLY = Unrecognized("自动回复不视为认领", "an auto-reply never counts as a claim")
_NOT_PUSH = Unrecognized(
    "主题不以【审管推送】开头，不是推送邮件",
    "the subject does not start with 【审管推送】: not a push",
)
_NO_DELIVERY = Unrecognized(
    "未能对应到任何推送：主题中没有有效的[审管互动 …]标记，引用中也没有本系统的邮件编号",
    "no delivery found: no valid [审管互动 …] subject tag and none of our Message-IDs referenced",
)
_NO_ACTION = Unrecognized(
    "无法识别回复内容：回复的第一行须为“认领”（或“收到”“同意”），或“异议：理由”",
    "reply not understood: its first line must be 认领 (or 收到, 同意) or 异议：<reason>",
)
_NO_REASON = Unrecognized("异议须写明理由", "an objection must state its reason")


def _reply(msg: EmailMessage, subject: str, sender: str, secret: str, domain: str) -> Inbound:
    references = " ".join(str(msg.get(h, "") or "") for h in ("In-Reply-To", "References"))
    delivery_id = find_delivery(subject, references, secret, domain)
    if delivery_id is None:
        return _NO_DELIVERY
    lines = own_lines(body_text(msg))
    if not lines:
        return _NO_ACTION
    text = "\n".join(lines)[:MAX_REASON_CHARS]
    first, rest = lines[0], lines[1:]
    claim = _CLAIM.match(first)
    if claim and _only_punctuation(claim.group("rest")):
        return Reply(delivery_id, sender, "claim", "", text, sender_header(msg))
    objection = _OBJECTION.match(first)
    if objection is None:
        return _NO_ACTION
    reason = "\n".join([objection.group("rest") or "", *rest]).strip()[:MAX_REASON_CHARS]
    if not reason.strip("：:，,。. \u3000"):
        return _NO_REASON
    return Reply(delivery_id, sender, "objection", reason, text, sender_header(msg))


def _only_punctuation(text: str) -> bool:
    return all(c.isspace() or unicodedata.category(c)[0] in "PZ" or c in "~～" for c in text)


def own_lines(text: str) -> list[str]:
    """The reply's own non-blank lines (stripped), up to the first quote or reply header."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if _QUOTE_START.match(line):
            break
        if line:
            lines.append(line)
    return lines


def body_text(msg: EmailMessage) -> str:
    """The text/plain body; an HTML-only mail's text with the tags stripped; else ``""``."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if not isinstance(part, Message):
        return ""
    text = _decode_text(part)
    return html_text(text) if part.get_content_type() == "text/html" else text


_GB = frozenset({"gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn"})


def _decode_text(part: Message) -> str:
    """A text part's content; GB2312/GBK labels read as GB18030 (their superset)."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    try:
        return data.decode("gb18030" if charset in _GB else charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


class _TextOnly(HTMLParser):
    """Collects text, one line per block element; quoted blocks become one ``>`` line."""

    _BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.quoted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag == "blockquote":
            self.parts.append("\n>\n")
            self.quoted += 1
        elif tag == "hr":
            self.parts.append("\n_____\n")
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quoted = max(0, self.quoted - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping and not self.quoted:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The text of an HTML body, tags stripped (nothing rendered, fetched or followed)."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _is_auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "no") or "no").strip().lower()
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    return (
        auto != "no"
        or precedence in ("auto_reply", "bulk", "junk", "list")
        or any(msg.get(h) is not None for h in ("X-Autoreply", "X-Autorespond"))
    )


# --- bounces -------------------------------------------------------------------------------

_DELAYED = Unrecognized(
    "投递延迟通知（状态 4.x.x）不是退信：对方邮件系统仍在重试",
    "a delayed-delivery notice (4.x.x) is not a bounce: the mail system is still retrying",
)
_NO_STATUS = Unrecognized("投递状态通知中没有失败的收件人", "the DSN reports no failed recipient")
_UNKNOWN_BOUNCE = Unrecognized(
    "退信无法对应到任何推送（退回的邮件不是本系统发出的）",
    "the bounce matches no delivery (the returned mail is not one of ours)",
)


def _bounce(msg: EmailMessage, secret: str, domain: str) -> Bounce | Unrecognized:
    """A permanent failure of one of our mails, or why the report is not one."""
    report = read_report(msg)
    failed = report.failed
    if not failed:
        return _DELAYED if report.delayed else _NO_STATUS
    delivery_id = find_delivery(report.subject, report.thread_ids, secret, domain)
    if delivery_id is None:
        return _UNKNOWN_BOUNCE
    first = failed[0]
    return Bounce(delivery_id, first.address, first.status, first.diagnostic)
