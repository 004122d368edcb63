"""Pushes by mail: the files a push carries, their limits, and the canonical messages in them.

A department pushes by sending a mail whose subject starts with ``【审管推送】`` (or
``[HUB-PUSH]``) to the hub's mailbox, carrying one or more of:

* ``*.json`` — a canonical message (``hub samples`` / the JSON Schema from ``hub schema``), or
  a JSON list of them. ``source.channel`` is set to ``email`` whatever the file says (so
  classified content is refused as on any online channel); the rest of ``source`` is kept, so
  the same push sent twice, by mail or another channel, is one message. Problems are named
  ``push.json:body.party.uscc`` (``push.json:2:…`` for the second item of a list).
* ``*.xlsx`` / ``*.csv`` — one message per row (:mod:`adapters.email.sheets`); problems are
  named ``push.xlsx:3:统一社会信用代码`` (file, row, column).

Every other attachment is a document the messages refer to: a JSON message's
``attachments[].sha256`` must match a file attached to the same mail, and a row's ``附件``
column names them. Their bytes go to the blob store (by the caller) before the messages are
accepted. Limits: the attachments together at most ``max_attachment_bytes``; each file's media
type in ``hub.message.ALLOWED_MEDIA_TYPES`` (a generic ``application/octet-stream`` is read from
the file name's extension).

Example::

    From: 测试县住建局 <zjj@dept.test>
    To: hub@hub.test
    Subject: 【审管推送】2026年9月 行政处罚信息
    Attachments: push.xlsx (two 监管信息 rows), 处罚决定书.pdf (named in the 附件 column)
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from adapters.email.sheets import RowContext, column_for, read_rows, row_message
from hub.errors import FieldProblem, MessageError, NormalizeError
from hub.message import ALLOWED_MEDIA_TYPES, CanonicalMessage
from hub.validation import parse_message

__all__ = ["PUSH_PREFIXES", "MailFile", "is_push_subject", "mail_date", "mail_files", "read_push"]

PUSH_PREFIXES = ("【审管推送】", "[HUB-PUSH]")
MAX_JSON_ITEMS = 500
_DATA_SUFFIXES = (".json", ".xlsx", ".csv")
_GENERIC_TYPES = frozenset(
    {"application/octet-stream", "application/x-zip-compressed", "application/csv",
     "text/comma-separated-values", "text/x-csv", "application/x-ofd"}
)  # fmt: skip
_ALLOWED_LIST = "、".join(sorted(ALLOWED_MEDIA_TYPES))
_BY_SUFFIX = {
    ".ofd": "application/ofd",
    ".csv": "text/csv",
    ".json": "application/json",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class MailFile:
    """One attached file: its (plain) name, media type and bytes."""

    name: str
    media_type: str
    data: bytes
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def is_data(self) -> bool:
        """True for the files that carry messages (.json, .xlsx, .csv)."""
        return self.name.lower().endswith(_DATA_SUFFIXES)

    def reference(self) -> dict[str, object]:
        """The canonical ``AttachmentRef`` JSON of this file."""
        return {
            "sha256": self.sha256,
            "size": len(self.data),
            "media_type": self.media_type,
            "name": self.name,
        }


def is_push_subject(subject: str) -> bool:
    text = subject.strip()
    return text.startswith(PUSH_PREFIXES[0]) or text.upper().startswith(PUSH_PREFIXES[1])


def mail_date(msg: Message) -> dt.datetime | None:
    """The mail's Date as an aware datetime (``-0000`` read as UTC); None when absent or bad."""
    try:
        parsed = email.utils.parsedate_to_datetime(str(msg.get("Date", "") or ""))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def mail_files(msg: EmailMessage) -> list[MailFile]:
    """Every attached file (a part with a file name), with its media type resolved."""
    files = []
    for part in msg.walk():
        name = part.get_filename()
        if part.is_multipart() or not name:
            continue
        data = part.get_payload(decode=True)
        base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "attachment"
        files.append(
            MailFile(base, _media_type(part, base), data if isinstance(data, bytes) else b"")
        )
    return files


def _media_type(part: Message, name: str) -> str:
    declared = part.get_content_type()
    if declared in ALLOWED_MEDIA_TYPES and not (
        declared == "application/vnd.ms-excel" and name.lower().endswith(".csv")
    ):
        return declared
    if declared in _GENERIC_TYPES or declared == "application/vnd.ms-excel":
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        guessed = _BY_SUFFIX.get(suffix) or mimetypes.types_map.get(suffix)
        return guessed or declared
    return declared


def file_problems(files: list[MailFile], limit: int) -> list[FieldProblem]:
    """Files of a type not allowed, and the total size over ``limit``, by file name."""
    problems = [
        FieldProblem(
            f.name,
            f"附件 {f.name} 的类型 {f.media_type} 不允许（允许：{_ALLOWED_LIST}）",
            f"attachment {f.name!r} has media type {f.media_type}, which is not allowed",
        )
        for f in files
        if f.media_type not in ALLOWED_MEDIA_TYPES
    ]
    total = sum(len(f.data) for f in files)
    if total > limit:
        big = max(files, key=lambda f: len(f.data))
        problems.append(FieldProblem(
            big.name,
            f"附件总大小 {total} 字节超过上限 {limit} 字节"
            f"（最大的是 {big.name}，{len(big.data)} 字节）",
            f"attachments total {total} bytes, over the limit of {limit} bytes "
            f"(largest: {big.name!r}, {len(big.data)} bytes)",
        ))  # fmt: skip
    return problems


def read_push(
    msg: EmailMessage, *, sender_department: str | None, max_attachment_bytes: int
) -> tuple[list[CanonicalMessage], list[MailFile]]:
    """The messages a push carries and the files they refer to; NormalizeError lists all
    problems (nothing is accepted from a mail with any problem)."""
    files = mail_files(msg)
    problems = file_problems(files, max_attachment_bytes)
    data_files = [f for f in files if f.is_data]
    if not data_files:
        problems.append(_NO_DATA)
    if problems:
        raise NormalizeError(problems)
    found: list[tuple[str, CanonicalMessage]] = []
    sheets = 0
    for f in data_files:
        if f.name.lower().endswith(".json"):
            items, more = _json_messages(f, max_attachment_bytes)
        else:
            sheets += 1
            items, more = _sheet_messages(f, msg, files, sender_department, sheets)
        found += items
        problems += more
    problems += _missing_references(found, files)
    if problems:
        raise NormalizeError(problems)
    if not found:
        raise NormalizeError([_NO_ROWS])
    used = {ref.sha256 for _origin, m in found for ref in m.attachments}
    return [m for _origin, m in found], [f for f in files if f.sha256 in used and not f.is_data]


_NO_DATA = FieldProblem(
    "",
    "推送邮件须附 .json（统一消息格式）或 .xlsx/.csv（每行一条）文件",
    "a push mail must attach a .json canonical message or an .xlsx/.csv sheet",
)
_NO_ROWS = FieldProblem("", "附件中没有任何消息", "the attached files hold no message")


def _json_messages(
    f: MailFile, limit: int
) -> tuple[list[tuple[str, CanonicalMessage]], list[FieldProblem]]:
    try:
        data = json.loads(f.data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return [], [FieldProblem(f.name, "不是合法的 UTF-8 JSON", "not valid UTF-8 JSON")]
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_JSON_ITEMS:
        return [], [FieldProblem(f.name, f"超过 {MAX_JSON_ITEMS} 条", f"over {MAX_JSON_ITEMS}")]
    found, problems = [], []
    for index, item in enumerate(items, start=1):
        origin = f"{f.name}:{index}" if isinstance(data, list) else f.name
        if isinstance(item, dict) and isinstance(item.get("source"), dict):
            item["source"] = {**item["source"], "channel": "email"}  # the channel it came by
        try:
            raw = json.dumps(item, ensure_ascii=False)
            found.append((origin, parse_message(raw, max_attachment_bytes=limit)))
        except MessageError as exc:
            problems += [FieldProblem(f"{origin}:{p.path}", p.zh, p.en) for p in exc.problems]
    return found, problems


def _sheet_messages(
    f: MailFile, msg: Message, files: list[MailFile], department: str | None, number: int
) -> tuple[list[tuple[str, CanonicalMessage]], list[FieldProblem]]:
    received_at, mid = mail_date(msg), str(msg.get("Message-ID", "") or "").strip().strip("<>")
    problems = _context_problems(f.name, department, received_at, mid)
    rows, more = read_rows(f.name, f.data)
    if problems or more or department is None or received_at is None:
        return [], problems + more
    refs = {g.name: g.reference() for g in files if not g.is_data}
    prefix = f"{mid}#" if number == 1 else f"{mid}#{number}."
    ctx = RowContext(f.name, department, mid, received_at, refs, prefix)
    found = []
    for row in rows:
        data, row_problems = row_message(row, ctx)
        where = f"{f.name}:{row.number}"
        if row_problems or not data:
            problems += row_problems
            continue
        try:
            found.append((where, parse_message(json.dumps(data, ensure_ascii=False))))
        except MessageError as exc:
            problems += [FieldProblem(f"{where}:{column_for(p.path)}", p.zh, p.en)
                         for p in exc.problems]  # fmt: skip
    return found, problems


def _context_problems(
    name: str, department: str | None, received_at: dt.datetime | None, mid: str
) -> list[FieldProblem]:
    problems = []
    if department is None:
        problems.append(FieldProblem(
            name, "发件地址未登记为任何部门的邮箱，不能按表格推送",
            "the From address is not a registered department mailbox: a sheet cannot be pushed",
        ))  # fmt: skip
    if received_at is None:
        problems.append(FieldProblem("Date", "邮件缺少有效的 Date 头", "no valid Date header"))
    if not mid:
        problems.append(FieldProblem("Message-ID", "邮件缺少 Message-ID", "no Message-ID header"))
    return problems


def _missing_references(
    found: list[tuple[str, CanonicalMessage]], files: list[MailFile]
) -> list[FieldProblem]:
    attached = {f.sha256 for f in files}
    return [
        FieldProblem(
            f"{origin}:attachments.{index}.sha256",
            f"邮件中没有该附件（{ref.name}，sha256 {ref.sha256[:12]}…）",
            f"the mail does not attach {ref.name!r} (sha256 {ref.sha256[:12]}…)",
        )
        for origin, message in found
        for index, ref in enumerate(message.attachments)
        if ref.sha256 not in attached
    ]
