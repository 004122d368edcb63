"""Verify the event chain (全程留痕) and report its head for recording outside the hub.

An edited or deleted event is detected by ``hub.ledger.events.verify_chain``. A wholesale
rewrite of the chain (every hash recomputed) is not detectable from inside the database: the
defence is to record ``head_seq``/``head_hash`` elsewhere (a log book, a signed mail, another
system) and check that a later chain still passes through that head — ``audit(expect=…)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.ledger.db import Database
from hub.ledger.events import seal_events, verify_chain
from hub.ledger.schema import EventRow
from hub.ops.jsonable import jsonable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AuditSummary:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    head_at: dt.datetime | None  # when the head event was written
    unsealed: int = 0  # committed events the sealer has not chained yet
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def seal_all(db: Database, *, batch: int = 2000) -> int:
    """Seal every committed event not chained yet (a running hub's sealer does it too);
    stops early when another process holds the sealer's turn. Returns how many it sealed."""
    sealed = 0
    while True:
        with db.transaction() as session:
            count = seal_events(session, limit=batch)
        sealed += count
        if count < batch:
            return sealed


def audit(session: Session, *, expect: tuple[int, str] | None = None) -> AuditSummary:
    """Check every link; ``expect=(seq, hash)`` also checks a head recorded earlier."""
    report = verify_chain(session)
    problems = list(report.problems)
    if expect is not None:
        problems.extend(_check_recorded(session, *expect))
    head = _at_position(session, report.head_seq) if report.head_seq else None
    summary = AuditSummary(
        ok=not problems,
        events=report.events,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        head_at=head.at if head is not None else None,
        unsealed=report.unsealed,
        problems=problems,
    )
    log.info("audit.verified", ok=summary.ok, events=summary.events, head_seq=summary.head_seq)
    return summary


def _check_recorded(session: Session, seq: int, digest: str) -> list[str]:
    event = _at_position(session, seq)
    if event is None:
        return [f"记录的链头 #{seq} 不存在 (recorded head #{seq} is missing)"]
    if event.hash != digest:
        return [
            f"事件 #{seq} 的哈希与记录不符：链被改写 "
            f"(event #{seq} hash differs from the recorded head: the chain was rewritten)"
        ]
    return []


def _at_position(session: Session, chain_seq: int) -> EventRow | None:
    return session.scalars(select(EventRow).where(EventRow.chain_seq == chain_seq)).first()
