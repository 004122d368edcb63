"""The append-only event log, hash-chained so that an edited or deleted event is detected.

Writers append without any shared lock: an event gets ``seq`` from the database (insertion
order) and no hash, in the writer's own transaction, so transactions from many processes never
wait for each other on the log. The **sealer** (``seal_events``, one at a time through the
``audit_head`` row, run by every hub process in a loop) takes committed unsealed events in
``seq`` order, gives each the next chain position ``chain_seq``, ``prev_hash`` and
``hash = sha256(prev_hash + canonical JSON of the event)``, and moves the head. An event whose
transaction commits after a later ``seq`` was sealed is sealed in the next pass, further along the
chain: the chain's order is the order of sealing. ``verify_chain`` recomputes every link and the
head and counts events not sealed yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from hub.ledger.batch import event_values
from hub.ledger.schema import AuditHeadRow, DeliveryRow, EventRow

log = structlog.get_logger(__name__)
GENESIS = "0" * 64
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_SEALED_COLUMNS = [
    _EVENTS.c[name]
    for name in (
        "seq",
        "at",
        "type",
        "message_id",
        "delivery_id",
        "department_id",
        "actor",
        "channel",
        "data",
    )
]
_SEAL = (
    update(_EVENTS)
    .where(_EVENTS.c.seq == bindparam("_seq"))
    .values(chain_seq=bindparam("_chain"), prev_hash=bindparam("_prev"), hash=bindparam("_hash"))
)


class _Sealable(Protocol):
    """What the hash covers: an ``EventRow``, or a row of the same columns."""

    @property
    def at(self) -> dt.datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def delivery_id(self) -> str | None: ...
    @property
    def department_id(self) -> str | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


def event_digest(prev_hash: str, event: EventRow) -> str:
    """The hash of ``event`` at its chain position, chained after ``prev_hash``."""
    return _digest(prev_hash, event.chain_seq, event)


def _digest(prev_hash: str, chain_seq: int | None, event: _Sealable) -> str:
    body = [
        chain_seq,
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
    """Append one event in the caller's transaction; the sealer chains it after commit."""
    event = EventRow(
        **event_values(
            type,
            at=at,
            actor=actor,
            message_id=message_id,
            delivery_id=delivery_id,
            department_id=department_id,
            channel=channel,
            data=data,
        )
    )
    session.add(event)
    return event


def seal_events(session: Session, *, limit: int = 2000) -> int:
    """Chain up to ``limit`` committed unsealed events; 0 when none, or another sealer is busy.

    Holds the ``audit_head`` row for the pass (``SKIP LOCKED``: a second sealer returns at once).
    """
    head = session.get(AuditHeadRow, 1, with_for_update={"skip_locked": True})
    if head is None:
        if session.get(AuditHeadRow, 1) is None:
            raise RuntimeError("audit_head row missing: run the migrations (hub db upgrade)")
        return 0  # another process is sealing
    events = session.execute(
        select(*_SEALED_COLUMNS)
        .where(_EVENTS.c.chain_seq.is_(None))
        .order_by(_EVENTS.c.seq)
        .limit(limit)
    ).all()
    if not events:
        return 0
    sealed = []
    seq, prev = head.seq, head.hash
    for event in events:  # rows, not ORM objects: a pass is one SELECT and one executemany
        seq += 1
        digest = _digest(prev, seq, event)
        sealed.append({"_seq": event.seq, "_chain": seq, "_prev": prev, "_hash": digest})
        prev = digest
    session.connection().execute(_SEAL, sealed)
    head.seq, head.hash = seq, prev
    log.debug("audit.sealed", events=len(events), head_seq=head.seq)
    return len(events)


@dataclass
class AuditReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch: int = 5000) -> AuditReport:
    """Recompute the whole chain; every broken link, gap and head mismatch is a problem."""
    report = AuditReport()
    prev_hash, expected_seq = GENESIS, 1
    rows = session.execute(
        select(EventRow)
        .where(EventRow.chain_seq.is_not(None))
        .order_by(EventRow.chain_seq)
        .execution_options(yield_per=batch)
    ).scalars()
    for event in rows:
        position = event.chain_seq or 0
        report.events += 1
        if position != expected_seq:
            report.problems.append(
                f"事件序号 {expected_seq}..{position - 1} 缺失 "
                f"(events {expected_seq}..{position - 1} deleted)"
            )
        if event.prev_hash != prev_hash:
            report.problems.append(
                f"事件 {position} 的前序哈希不符 (event {position}: "
                "prev_hash does not match the previous event)"
            )
        if event_digest(event.prev_hash or "", event) != event.hash:
            report.problems.append(f"事件 {position} 内容被修改 (event {position} was edited)")
        prev_hash, expected_seq = event.hash or "", position + 1
    report.unsealed = (
        session.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.chain_seq.is_(None))
        )
        or 0
    )
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
