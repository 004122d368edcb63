"""Ingest: a valid canonical message is committed once, with its routing job in the outbox.

A push is acknowledged to its sender only after this transaction commits. The same source id
twice gives one message (the idempotency key is unique); the second call reports a duplicate.
Input that is not a valid message is quarantined with its reason, never dropped.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.bus.topology import ROUTE
from hub.core.api import Accepted
from hub.core.codec import message_to_json
from hub.errors import FieldProblem, RoutingError
from hub.ledger.db import Database
from hub.ledger.events import append_event
from hub.ledger.outbox import enqueue
from hub.ledger.schema import MessageRow, OutboxRow, QuarantineRow
from hub.message import CanonicalMessage, Channel
from hub.routing.router import Router

log = structlog.get_logger(__name__)


def check_addressable(router: Router, message: CanonicalMessage) -> None:
    """Reject at once what routing would certainly reject: unknown sender or recipients."""
    known = router.departments
    if message.sender.department_id not in known:
        raise RoutingError(
            f"未知的发送部门 {message.sender.department_id!r} "
            f"(unknown sender department {message.sender.department_id!r})"
        )
    for dept in message.recipients:
        if dept not in known:
            raise RoutingError(f"未知的收件部门 {dept!r} (unknown department {dept!r})")


def accept_message(
    db: Database,
    router: Router,
    message: CanonicalMessage,
    *,
    now: dt.datetime,
    actor: str,
    published: bool = True,
) -> tuple[Accepted, OutboxRow | None]:
    """Commit ``message`` and its routing job; returns the job to publish (None if dup)."""
    check_addressable(router, message)
    try:
        with db.transaction() as session:
            if _exists(session, message):
                return Accepted(message.message_id, duplicate=True), None
            job = _insert(session, message, now=now, actor=actor, published=published)
    except IntegrityError:  # a concurrent accept of the same source id won the race
        return Accepted(message.message_id, duplicate=True), None
    log.info(
        "message.received",
        message_id=message.message_id,
        kind=message.kind.value,
        channel=message.source.channel.value,
    )
    return Accepted(message.message_id, duplicate=False), job


def _exists(session: Session, message: CanonicalMessage) -> bool:
    query = select(MessageRow.message_id).where(
        MessageRow.idempotency_key == message.idempotency_key
    )
    return session.scalar(query) is not None


def _insert(
    session: Session, message: CanonicalMessage, *, now: dt.datetime, actor: str, published: bool
) -> OutboxRow:
    session.add(
        MessageRow(
            message_id=message.message_id,
            idempotency_key=message.idempotency_key,
            kind=message.kind.value,
            direction=message.direction.value,
            sender_id=message.sender.department_id,
            subject=message.subject,
            classified=message.classification.is_classified,
            channel=message.source.channel.value,
            source_id=message.source.source_id,
            in_reply_to=message.correlation.in_reply_to if message.correlation else None,
            payload=message_to_json(message),
            received_at=message.source.received_at,
            accepted_at=now,
            state="accepted",
            push_late=False,
        )
    )
    session.flush()
    append_event(
        session,
        "message.received",
        at=now,
        actor=actor,
        message_id=message.message_id,
        department_id=message.sender.department_id,
        channel=message.source.channel.value,
        data={"kind": message.kind.value, "source_id": message.source.source_id},
    )
    return enqueue(session, ROUTE, {"message_id": message.message_id}, now=now, published=published)


def quarantine(
    db: Database,
    *,
    stage: str,
    channel: Channel,
    raw: bytes,
    problems: list[FieldProblem],
    now: dt.datetime,
    source_id: str = "",
    message_id: str | None = None,
) -> int:
    """Record input that could not go on, with every problem; returns the quarantine id."""
    zh = "；".join(f"{p.path}: {p.zh}" if p.path else p.zh for p in problems)
    en = "; ".join(f"{p.path}: {p.en}" if p.path else p.en for p in problems)
    with db.transaction() as session:
        row = QuarantineRow(
            at=now,
            stage=stage,
            channel=channel.value,
            source_id=source_id,
            message_id=message_id,
            raw=raw,
            reason_zh=zh,
            reason_en=en,
            problems=[{"path": p.path, "zh": p.zh, "en": p.en} for p in problems],
            state="open",
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            "message.quarantined",
            at=now,
            message_id=message_id,
            channel=channel.value,
            data={"quarantine_id": row.id, "stage": stage, "reason": en[:500]},
        )
    log.warning(
        "message.quarantined",
        quarantine_id=row.id,
        stage=stage,
        message_id=message_id,
        channel=channel.value,
    )
    return row.id
