"""Everything the ledger knows about one message: header, deliveries, and its events in order.

``trace`` accepts a message id (``M…``) or a delivery id (``D…``, resolved to its message). The
events are those carrying the message id *or* one of its delivery ids (a refused claim, for
one, names only the delivery), in chain order (``seq``) — the order they were committed.
Quarantine entries that name the message are listed by id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.ledger.schema import DeliveryRow, EventRow, MessageRow, QuarantineRow
from hub.ops.jsonable import jsonable


@dataclass(frozen=True)
class MessageInfo:
    message_id: str
    kind: str
    direction: str
    subject: str
    sender_id: str
    channel: str
    source_id: str
    classified: bool
    received_at: dt.datetime
    accepted_at: dt.datetime
    state: str
    push_late: bool


@dataclass(frozen=True)
class DeliveryInfo:
    delivery_id: str
    department_id: str
    route_id: str
    policy_id: str
    channels: tuple[str, ...]
    transport_state: str
    delivered_channel: str | None
    delivered_at: dt.datetime | None  # the channel confirmed it: deadlines count from here
    attempts: int
    claim_state: str
    claim_due: dt.datetime | None
    claimed_at: dt.datetime | None
    escalation_level: int
    objection_state: str
    objection_due: dt.datetime | None
    reply_state: str
    reply_due: dt.datetime | None
    provisional: bool


@dataclass(frozen=True)
class EventInfo:
    seq: int
    at: dt.datetime
    type: str
    delivery_id: str | None
    department_id: str | None
    actor: str
    channel: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Trace:
    message: MessageInfo
    deliveries: list[DeliveryInfo]
    events: list[EventInfo]
    quarantine_ids: list[int]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def trace(session: Session, ident: str) -> Trace | None:
    """The trace of message (or delivery) ``ident``; None when the ledger has neither."""
    message = _find_message(session, ident)
    if message is None:
        return None
    deliveries = list(
        session.scalars(
            select(DeliveryRow)
            .where(DeliveryRow.message_id == message.message_id)
            .order_by(DeliveryRow.department_id)
        )
    )
    delivery_ids = [d.delivery_id for d in deliveries]
    return Trace(
        message=_message_info(message),
        deliveries=[_delivery_info(d) for d in deliveries],
        events=_events(session, message.message_id, delivery_ids),
        quarantine_ids=list(
            session.scalars(
                select(QuarantineRow.id)
                .where(QuarantineRow.message_id == message.message_id)
                .order_by(QuarantineRow.id)
            )
        ),
    )


def _find_message(session: Session, ident: str) -> MessageRow | None:
    message = session.get(MessageRow, ident)
    if message is not None:
        return message
    delivery = session.get(DeliveryRow, ident)
    return None if delivery is None else session.get(MessageRow, delivery.message_id)


def _events(session: Session, message_id: str, delivery_ids: list[str]) -> list[EventInfo]:
    about = EventRow.message_id == message_id
    if delivery_ids:
        about = or_(about, EventRow.delivery_id.in_(delivery_ids))
    rows = session.scalars(select(EventRow).where(about).order_by(EventRow.seq))
    return [
        EventInfo(
            seq=e.seq,
            at=e.at,
            type=e.type,
            delivery_id=e.delivery_id,
            department_id=e.department_id,
            actor=e.actor,
            channel=e.channel,
            data=dict(e.data),
        )
        for e in rows
    ]


def _message_info(row: MessageRow) -> MessageInfo:
    return MessageInfo(
        message_id=row.message_id,
        kind=row.kind,
        direction=row.direction,
        subject=row.subject,
        sender_id=row.sender_id,
        channel=row.channel,
        source_id=row.source_id,
        classified=row.classified,
        received_at=row.received_at,
        accepted_at=row.accepted_at,
        state=row.state,
        push_late=row.push_late,
    )


def _delivery_info(row: DeliveryRow) -> DeliveryInfo:
    return DeliveryInfo(
        delivery_id=row.delivery_id,
        department_id=row.department_id,
        route_id=row.route_id,
        policy_id=row.policy_id,
        channels=tuple(str(c) for c in row.channels),
        transport_state=row.transport_state,
        delivered_channel=row.delivered_channel,
        delivered_at=row.delivered_at,
        attempts=row.attempts,
        claim_state=row.claim_state,
        claim_due=row.claim_due,
        claimed_at=row.claimed_at,
        escalation_level=row.escalation_level,
        objection_state=row.objection_state,
        objection_due=row.objection_due,
        reply_state=row.reply_state,
        reply_due=row.reply_due,
        provisional=row.provisional,
    )
