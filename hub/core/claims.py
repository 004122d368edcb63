"""Claims, objections and replies from departments, against the delivery's current state.

Every action locks the delivery row before touching its timers (the hub's one lock order), so a
claim racing the deadline engine's auto-claim has one winner: whichever commits first, and no
deadlock. A claim before the push was confirmed delivered (no deadline yet) is on time. A
claim after the deadline (before the engine fired) is recorded as 超时认领 (``claimed_late``);
a claim after an auto-claim is refused (409) and the refusal is on record too. Repeating a
claim that succeeded is answered with the same result.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy.orm import Session

from hub.clock.deadline import display_instant
from hub.core.api import ActionResult
from hub.core.deadline_plan import cancel_timers
from hub.core.states import CLAIM_TIMERS, ClaimState, ObjectionState, ReplyState
from hub.errors import ForbiddenError, NotFoundError, StateConflictError
from hub.ledger.events import delivery_event
from hub.ledger.schema import ClaimRow, DeliveryRow, ObjectionRow, ReplyRow
from hub.message import Channel

log = structlog.get_logger(__name__)


def load_for_action(
    session: Session, delivery_id: str, department_id: str | None, *, lock: bool = True
) -> DeliveryRow:
    """The delivery (row-locked unless ``lock=False``); NotFound / Forbidden when it is not
    the department's own."""
    row = session.get(DeliveryRow, delivery_id, with_for_update=lock)
    if row is None:
        raise NotFoundError(f"没有这条推送记录 {delivery_id}", f"no delivery {delivery_id!r}")
    if department_id is not None and row.department_id != department_id:
        raise ForbiddenError(
            f"部门 {department_id} 无权操作发给 {row.department_id} 的推送",
            f"department {department_id!r} may not act on this delivery",
        )
    return row


def claim(
    session: Session,
    delivery_id: str,
    *,
    department_id: str,
    actor: str,
    channel: Channel,
    now: dt.datetime,
) -> ActionResult:
    row = load_for_action(session, delivery_id, department_id)
    now = _not_before_delivery(row, now)
    if row.claim_state in (ClaimState.CLAIMED, ClaimState.CLAIMED_LATE):
        return ActionResult(
            delivery_id,
            row.claim_state,
            row.claimed_at or now,
            late=row.claim_state is ClaimState.CLAIMED_LATE,
            note_zh="已认领，无需重复认领",
        )
    if row.claim_state == ClaimState.AUTO_CLAIMED:
        raise StateConflictError(
            f"该推送已于 {display_instant(row.claimed_at)} 超时自动认领",
            f"already auto-claimed at {_iso(row.claimed_at)}",
        )
    late = row.claim_due is not None and now >= row.claim_due
    state = ClaimState.CLAIMED_LATE if late else ClaimState.CLAIMED
    _set_claimed(session, row, state=state, actor=actor, channel=channel, now=now)
    return ActionResult(
        delivery_id, state, now, late=late, note_zh="超时认领，已记录" if late else "认领成功"
    )


def auto_claim(session: Session, row: DeliveryRow, *, now: dt.datetime) -> None:
    """超时自动认领 by the deadline engine (caller holds the row lock and checked it is open)."""
    _set_claimed(session, row, state=ClaimState.AUTO_CLAIMED, actor="hub", channel=None, now=now)


def _set_claimed(
    session: Session,
    row: DeliveryRow,
    *,
    state: ClaimState,
    actor: str,
    channel: Channel | None,
    now: dt.datetime,
) -> None:
    row.claim_state, row.claimed_at, row.version = state, now, row.version + 1
    session.add(
        ClaimRow(
            delivery_id=row.delivery_id,
            kind=state,
            actor=actor,
            channel=channel.value if channel else "system",
            at=now,
            responsible_department=row.department_id,
        )
    )
    cancel_timers(session, row.delivery_id, CLAIM_TIMERS, now=now)
    event = "claim.auto" if state is ClaimState.AUTO_CLAIMED else "claim.recorded"
    delivery_event(
        session,
        event,
        row,
        at=now,
        actor=actor,
        channel=channel.value if channel else None,
        data={"state": state, "claim_due": _iso(row.claim_due)},
    )
    log.info(event, delivery_id=row.delivery_id, message_id=row.message_id, state=state)


def object_to(
    session: Session,
    delivery_id: str,
    *,
    department_id: str,
    reason: str,
    actor: str,
    channel: Channel,
    now: dt.datetime,
) -> ActionResult:
    row = load_for_action(session, delivery_id, department_id)
    now = _not_before_delivery(row, now)
    if row.objection_state == ObjectionState.NONE:
        raise StateConflictError("该类推送未设异议期", "this delivery has no objection window")
    if row.objection_state == ObjectionState.DEEMED_ACCEPTED or (
        row.objection_due is not None and now >= row.objection_due
    ):
        raise StateConflictError(
            f"异议期已于 {display_instant(row.objection_due)} 届满，视为认可",
            "the objection window has closed: deemed accepted",
        )
    row.objection_state, row.version = ObjectionState.RAISED, row.version + 1
    session.add(
        ObjectionRow(
            delivery_id=delivery_id, reason=reason, actor=actor, channel=channel.value, at=now
        )
    )
    cancel_timers(session, delivery_id, ("objection_close",), now=now)
    delivery_event(
        session,
        "objection.recorded",
        row,
        at=now,
        actor=actor,
        department_id=department_id,
        channel=channel.value,
        data={"reason": reason[:500]},
    )
    return ActionResult(delivery_id, "raised", now, note_zh="异议已记录")


def reply(
    session: Session,
    delivery_id: str,
    *,
    department_id: str,
    text: str,
    actor: str,
    channel: Channel,
    now: dt.datetime,
    reply_message_id: str | None = None,
) -> ActionResult:
    row = load_for_action(session, delivery_id, department_id)
    now = _not_before_delivery(row, now)
    if row.reply_state == ReplyState.DEEMED_AGREED:
        raise StateConflictError(
            f"回复期已于 {display_instant(row.reply_due)} 届满，视为同意",
            "the reply window has closed: deemed agreed",
        )
    late = row.reply_due is not None and now >= row.reply_due
    row.reply_state, row.version = ReplyState.REPLIED, row.version + 1
    session.add(
        ReplyRow(
            delivery_id=delivery_id,
            reply_message_id=reply_message_id,
            text=text,
            actor=actor,
            channel=channel.value,
            at=now,
        )
    )
    cancel_timers(session, delivery_id, ("reply_close",), now=now)
    delivery_event(
        session,
        "reply.recorded",
        row,
        at=now,
        actor=actor,
        department_id=department_id,
        channel=channel.value,
        data={"late": late, "reply_message_id": reply_message_id},
    )
    return ActionResult(
        delivery_id, "replied", now, late=late, note_zh="逾期回复，已记录" if late else "回复已记录"
    )


def _not_before_delivery(row: DeliveryRow, at: dt.datetime) -> dt.datetime:
    """A department cannot act on a push before it arrived: a clock behind (a mail server's
    stamp) is raised to the delivery instant."""
    return max(at, row.delivered_at) if row.delivered_at is not None else at


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
