"""The append-only event log, hash-chained so that an edited or deleted row is detected.

Each event's hash is sha256(previous hash + canonical JSON of the event). The chain head
(``audit_head``) is locked for the length of the appending transaction, so events from several
processes form one total order. ``verify_chain`` recomputes every link and the head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.ledger.schema import AuditHeadRow, DeliveryRow, EventRow

log = structlog.get_logger(__name__)
GENESIS = "0" * 64


def event_digest(prev_hash: str, event: EventRow) -> str:
    """The hash of ``event`` chained after ``prev_hash``."""
    body = [
        event.seq,
        event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        event.type,
        event.message_id,
        event.delivery_id,
        event.department_id,
        event.actor,
        event.channel,
        event.data,
    ]
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append_event(
    session: Session,
    type: str,
    *,
    at: dt.datetime,
    actor: str = "hub",
    message_id: str | None = None,
    delivery_id: str | None = None,
    department_id: str | None = None,
    channel: str | None = None,
    data: dict[str, Any] | None = None,
) -> EventRow:
    """Append one event in the caller's transaction (the chain head stays locked until commit)."""
    head = session.get(AuditHeadRow, 1, with_for_update=True)
    if head is None:
        raise RuntimeError("audit_head row missing: run the migrations (hub db upgrade)")
    event = EventRow(
        seq=head.seq + 1,
        at=at,
        type=type,
        message_id=message_id,
        delivery_id=delivery_id,
        department_id=department_id,
        actor=actor,
        channel=channel,
        data=data or {},
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_digest(head.hash, event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    return event


@dataclass
class AuditReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch: int = 5000) -> AuditReport:
    """Recompute the whole chain; every broken link, gap and head mismatch is a problem."""
    report = AuditReport()
    prev_hash, expected_seq = GENESIS, 1
    rows = session.execute(
        select(EventRow).order_by(EventRow.seq).execution_options(yield_per=batch)
    ).scalars()
    for event in rows:
        report.events += 1
        if event.seq != expected_seq:
            report.problems.append(
                f"事件序号 {expected_seq}..{event.seq - 1} 缺失 "
                f"(events {expected_seq}..{event.seq - 1} deleted)"
            )
        if event.prev_hash != prev_hash:
            report.problems.append(
                f"事件 {event.seq} 的前序哈希不符 (event {event.seq}: "
                "prev_hash does not match the previous event)"
            )
        if event_digest(event.prev_hash, event) != event.hash:
            report.problems.append(f"事件 {event.seq} 内容被修改 (event {event.seq} was edited)")
        prev_hash, expected_seq = event.hash, event.seq + 1
    head = session.get(AuditHeadRow, 1)
    if head is None:
        report.problems.append("链头缺失 (audit_head missing)")
        return report
    report.head_seq, report.head_hash = head.seq, head.hash
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        report.problems.append(
            f"链头为 {head.seq}，最后事件为 {expected_seq - 1}：末尾事件被删除或链头被改 "
            f"(head says {head.seq}, log ends at {expected_seq - 1})"
        )
    return report


def delivery_event(
    session: Session,
    type: str,
    delivery: DeliveryRow,
    *,
    at: dt.datetime,
    actor: str = "hub",
    channel: str | None = None,
    department_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> EventRow:
    """An event about ``delivery`` (its message and, unless given, its department)."""
    return append_event(
        session,
        type,
        at=at,
        actor=actor,
        message_id=delivery.message_id,
        delivery_id=delivery.delivery_id,
        department_id=department_id or delivery.department_id,
        channel=channel,
        data=data,
    )
