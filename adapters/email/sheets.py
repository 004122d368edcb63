"""Spreadsheet pushes: one 审批信息 or 监管信息 per row of an ``.xlsx`` or ``.csv`` (pure, no I/O).

The first row holds the column headers, in any order (a trailing ``*`` or ``✱`` is ignored);
unknown headers are refused. ``.xlsx``: the first worksheet, cell types kept (dates, numbers);
``.csv``: UTF-8 (with or without the BOM Excel writes) or GB18030, comma-separated. Blank rows
are skipped; at most 500 rows. Every problem is named ``<file>:<row>:<column>`` with the
sheet's own row number (the header is row 1), e.g. ``push.xlsx:3:统一社会信用代码``.

======================  =========================================  ==============================
column                  content                                    canonical field
======================  =========================================  ==============================
信息类型 ✱              审批信息 | 监管信息                        kind, direction
事项名称                (✱ 审批信息)                               body.item.name
事项编码                                                           body.item.code
行政相对人              (✱ 审批信息)                               body.party.name
统一社会信用代码        18 characters (upper-cased here)           body.party.uscc
联系人, 联系电话        (审批信息: at least one of them)           body.party.contact
许可文号                (✱ 审批信息; 监管信息: licence concerned)  body.licence.number /
                                                                   body.licence_number
许可日期                (✱ 审批信息) 2026-09-15, 2026/9/15,        body.licence.decision_date
                        20260915, 2026年9月15日 or a date cell
有效期至                a date; empty or 长期 = no expiry          body.licence.valid_until
许可内容                                                           body.licence.content
监管类别                (✱ 监管信息) 责令停产停业, 吊销许可证件,  body.category
                        其他影响许可的行政处罚, 经营异常, 失信名单,
                        业务培训, 法规标准调整
监管内容                (✱ 监管信息) what happened                 body.summary
处罚决定书文号, 决定日期  (✱ 监管信息 about a party)              body.decision
接收部门                department ids, split at , ， ; 、 or      recipients (empty: routing
                        blanks: ``scjg,wsjk``                      decides)
业务流水号              the sender's own id                        source.source_id (default
                                                                   ``<Message-ID>#<row>``)
标题                    default ``<事项名称|监管类别>：<行政相对人>``  subject
附件                    names of files attached to this mail       attachments
======================  =========================================  ==============================

The sender is the department the From address is registered to; ``source`` is
``{channel: email, system: email, received_at: the mail's Date}``; ``occurred_at`` is 许可日期
(审批信息) or 决定日期 (监管信息) at 00:00 Beijing time, else the mail's Date.

Example (CSV, as Excel saves it)::

    信息类型,监管类别,行政相对人,统一社会信用代码,许可文号,处罚决定书文号,决定日期,监管内容,业务流水号
    监管信息,责令停产停业,测试县宏达烧烤店,92370832MA3D2N5P4C,JY23708320009876,测住建罚〔2026〕18号,2026-09-21,责令停业整顿十五日,ZJJ-2026-0018
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hub.errors import FieldProblem
from hub.message import ALLOWED_DIRECTIONS, Channel, MessageKind, SupervisionCategory

__all__ = ["COLUMNS", "Row", "RowContext", "column_for", "read_rows", "row_message"]

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_ROWS = 500
EMAIL_SYSTEM = "email"

COLUMNS = (
    "信息类型", "事项名称", "事项编码", "行政相对人", "统一社会信用代码", "联系人", "联系电话",
    "许可文号", "许可日期", "有效期至", "许可内容", "监管类别", "监管内容", "处罚决定书文号",
    "决定日期", "接收部门", "业务流水号", "标题", "附件",
)  # fmt: skip
_KINDS = {
    "审批信息": MessageKind.APPROVAL_DECISION,
    "监管信息": MessageKind.SUPERVISION_INFO,
    "approval_decision": MessageKind.APPROVAL_DECISION,
    "supervision_info": MessageKind.SUPERVISION_INFO,
}
_S = SupervisionCategory
_CATEGORIES: dict[str, SupervisionCategory] = (
    {c.label: c for c in _S}
    | {c.value: c for c in _S}
    | {"责令停业": _S.SUSPENSION, "停产停业": _S.SUSPENSION, "吊销许可证": _S.LICENCE_REVOKED}
)
_NO_EXPIRY = frozenset({"长期", "永久", "长期有效"})
_COLUMN_OF = {  # canonical path -> the column that fills it (longest prefix wins)
    "kind": "信息类型", "direction": "信息类型", "body": "信息类型", "body.kind": "信息类型",
    "recipients": "接收部门", "subject": "标题", "source.source_id": "业务流水号",
    "attachments": "附件", "body.item": "事项名称", "body.item.code": "事项编码",
    "body.party": "行政相对人", "body.party.uscc": "统一社会信用代码",
    "body.party.contact": "联系电话", "body.party.contact.name": "联系人",
    "body.licence": "许可文号", "body.licence.decision_date": "许可日期",
    "body.licence.valid_from": "许可日期", "body.licence.valid_until": "有效期至",
    "body.licence.content": "许可内容", "body.licence_number": "许可文号",
    "body.category": "监管类别", "body.summary": "监管内容", "body.decision": "处罚决定书文号",
    "body.decision.decision_date": "决定日期",
}  # fmt: skip
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")

Cell = str | dt.date | None


@dataclass(frozen=True)
class Row:
    """One data row: its number in the sheet (header = 1) and its non-empty cells by column."""

    number: int
    cells: dict[str, Cell]


@dataclass(frozen=True)
class RowContext:
    """What a row does not say: who sent it, when, the mail's id and its attached files."""

    file_name: str
    sender_department: str
    mail_id: str  # without angle brackets
    received_at: dt.datetime
    files: Mapping[str, dict[str, object]]  # file name -> attachment reference
    source_prefix: str  # "<Message-ID>#" (first sheet) or "<Message-ID>#<n>." (later ones)


def column_for(path: str) -> str:
    """The column behind a canonical field path (``body.party.uscc`` → 统一社会信用代码)."""
    parts = path.split(".") if path else []
    for end in range(len(parts), 0, -1):
        column = _COLUMN_OF.get(".".join(parts[:end]))
        if column is not None:
            return column
    return path


def read_rows(name: str, data: bytes) -> tuple[list[Row], list[FieldProblem]]:
    """The data rows of an .xlsx or .csv file, or the problems that stop reading it."""
    try:
        table = _xlsx_table(data) if name.lower().endswith(".xlsx") else _csv_table(data)
    except ValueError as exc:
        return [], [FieldProblem(name, *_split(exc))]
    if not table:
        return [], [FieldProblem(name, "表格是空的", "the sheet is empty")]
    columns, problems = _header(name, table[0])
    rows = [Row(n, _cells(columns, values)) for n, values in enumerate(table[1:], start=2)]
    rows = [row for row in rows if row.cells]
    if len(rows) > MAX_ROWS:
        problems.append(FieldProblem(name, f"行数超过上限 {MAX_ROWS}", f"over {MAX_ROWS} rows"))
    return rows, problems


def _split(exc: ValueError) -> tuple[str, str]:
    zh, _, en = str(exc).partition("|")
    return zh, en or zh


def _xlsx_table(data: bytes) -> list[tuple[Any, ...]]:
    import openpyxl  # type: ignore[import-untyped]  # only a pushed spreadsheet needs it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to open is "not an xlsx file"
        raise ValueError("不是有效的 xlsx 文件|not a valid xlsx file") from exc
    try:
        sheet = book.worksheets[0]
        return [tuple(r) for r in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2)]
    finally:
        book.close()


def _csv_table(data: bytes) -> list[tuple[Any, ...]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("CSV 须为 UTF-8 或 GB18030 编码|the CSV must be UTF-8 or GB18030")
    try:
        return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""))][: MAX_ROWS + 2]
    except csv.Error as exc:
        raise ValueError(f"CSV 格式错误：{exc}|malformed CSV: {exc}") from exc


def _header(name: str, values: Iterable[object]) -> tuple[list[str | None], list[FieldProblem]]:
    columns: list[str | None] = []
    problems: list[FieldProblem] = []
    for value in values:
        header = re.sub(r"\s+", "", str(value or "")).rstrip("*✱")
        if header and header not in COLUMNS:
            problems.append(FieldProblem(f"{name}:1:{header}", "不认识的列", "unknown column"))
        if header and header in columns:
            problems.append(FieldProblem(f"{name}:1:{header}", "列名重复", "duplicate column"))
        columns.append(header if header in COLUMNS else None)
    if "信息类型" not in columns:
        problems.append(FieldProblem(f"{name}:1:信息类型", "缺少列", "missing column"))
    return columns, problems


def _cells(columns: list[str | None], values: tuple[Any, ...]) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for column, value in zip(columns, values, strict=False):
        cell = _cell(value)
        if column is not None and cell not in (None, ""):
            cells[column] = cell
    return cells


def _cell(value: object) -> Cell:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed as a number
    return None if value is None else str(value).strip()


def row_message(row: Row, ctx: RowContext) -> tuple[dict[str, object], list[FieldProblem]]:
    """The canonical message JSON object for a row, and the problems found while mapping it."""
    mapping = _RowMapping(row, ctx)
    return mapping.message(), mapping.problems


class _RowMapping:
    def __init__(self, row: Row, ctx: RowContext) -> None:
        self.row, self.ctx = row, ctx
        self.problems: list[FieldProblem] = []

    def get(self, column: str) -> str | None:
        value = self.row.cells.get(column)
        return value.isoformat() if isinstance(value, dt.date) else value

    def problem(self, column: str, zh: str, en: str) -> None:
        path = f"{self.ctx.file_name}:{self.row.number}:{column}"
        self.problems.append(FieldProblem(path, zh, en))

    def message(self) -> dict[str, object]:
        kind = _KINDS.get(self.get("信息类型") or "")
        if kind is None:
            self.problem("信息类型", "须为“审批信息”或“监管信息”", "must be 审批信息 or 监管信息")
            return {}
        approval = kind is MessageKind.APPROVAL_DECISION
        return _compact(
            kind=kind.value,
            direction=next(iter(ALLOWED_DIRECTIONS[kind])).value,
            sender={"department_id": self.ctx.sender_department},
            recipients=_split_list(self.get("接收部门")),
            subject=self.get("标题") or self.subject(approval),
            occurred_at=self.occurred_at("许可日期" if approval else "决定日期"),
            attachments=self.attachments(),
            source=self.source(),
            body=self.approval() if approval else self.supervision(),
        )

    def subject(self, approval: bool) -> str:
        head = self.get("事项名称" if approval else "监管类别") or (
            "审批信息" if approval else "监管信息"
        )
        party = self.get("行政相对人")
        return (f"{head}：{party}" if party else head)[:200]

    def occurred_at(self, column: str) -> str:
        day = _parse_date(self.row.cells.get(column))
        if day is not None:
            return dt.datetime.combine(day, dt.time(), BEIJING).isoformat()
        return self.ctx.received_at.isoformat()

    def source(self) -> dict[str, object]:
        source_id = self.get("业务流水号") or f"{self.ctx.source_prefix}{self.row.number}"
        return {
            "channel": Channel.EMAIL.value,
            "system": EMAIL_SYSTEM,
            "source_id": source_id,
            "received_at": self.ctx.received_at.isoformat(),
        }

    def attachments(self) -> list[dict[str, object]] | None:
        refs = []
        for name in _split_list(self.get("附件"), r"[,，;；、\n]+") or []:
            ref = self.ctx.files.get(name)
            if ref is None:
                self.problem("附件", f"邮件中没有名为 {name} 的附件", f"no attached file {name!r}")
            else:
                refs.append(dict(ref))
        return refs or None

    def party(self) -> dict[str, object] | None:
        uscc = self.get("统一社会信用代码")
        contact = _compact(name=self.get("联系人"), phone=self.get("联系电话"))
        party = _compact(
            name=self.get("行政相对人"),
            uscc=re.sub(r"\s+", "", uscc).upper() if uscc else None,
            contact=contact or None,
        )
        return party or None

    def approval(self) -> dict[str, object]:
        until = self.get("有效期至")
        return _compact(
            kind=MessageKind.APPROVAL_DECISION.value,
            item=_compact(name=self.get("事项名称"), code=self.get("事项编码")) or None,
            party=self.party(),
            licence=_compact(
                number=self.get("许可文号"),
                decision_date=_date(self.get("许可日期")),
                valid_until=None if until in _NO_EXPIRY else _date(until),
                content=self.get("许可内容"),
            )
            or None,
        )

    def supervision(self) -> dict[str, object]:
        category = self.get("监管类别")
        found = _CATEGORIES.get(category) if category else None
        if category and found is None:
            self.problem("监管类别", f"须为 {'、'.join(c.label for c in _S)} 之一",
                         f"must be one of {', '.join(c.value for c in _S)}")  # fmt: skip
        decision = _compact(
            document_number=self.get("处罚决定书文号"), decision_date=_date(self.get("决定日期"))
        )
        return _compact(
            kind=MessageKind.SUPERVISION_INFO.value,
            category=found.value if found else None,
            party=self.party(),
            licence_number=self.get("许可文号"),
            decision=decision or None,
            summary=self.get("监管内容"),
        )


def _compact(**fields: object) -> dict[str, object]:
    return {name: value for name, value in fields.items() if value not in (None, "", [], {})}


def _split_list(value: str | None, pattern: str = r"[,，;；、\s]+") -> list[str] | None:
    parts = [part for part in re.split(pattern, value or "") if part]
    return parts or None


def _date(value: object) -> object:
    """ISO text for a recognised date; anything else is returned for validation to reject."""
    day = _parse_date(value)
    return day.isoformat() if day is not None else value


def _parse_date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    found = _DATE.match(text) or re.match(r"^(\d{4})(\d{2})(\d{2})$", text)
    if found is None:
        return None
    try:
        return dt.date(*(int(g) for g in found.groups()))
    except ValueError:
        return None
