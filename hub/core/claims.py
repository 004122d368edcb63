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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import Table, bindparam, literal_column, select, update
from sqlalchemy.orm import Session

from hub.clock.deadline import display_instant
from hub.core.api import ActionResult
from hub.core.deadline_plan import cancel_timers
from hub.core.states import CLAIM_TIMERS, ClaimState, ObjectionState, ReplyState
from hub.errors import ActionError, ForbiddenError, NotFoundError, StateConflictError
from hub.ledger.batch import NewJob, Writes, among
from hub.ledger.events import delivery_event
from hub.ledger.schema import ClaimRow, DeliveryRow, ObjectionRow, ReplyRow, TimerRow
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
    _check_owner(row.department_id, department_id)
    return row


@dataclass(frozen=True)
class ClaimRequest:
    """A department's claim; ``at`` is when it acted (bounded by the hub's clock)."""

    delivery_id: str
    department_id: str
    actor: str
    channel: Channel
    at: dt.datetime


_DELIVERIES: Table = DeliveryRow.__table__  # type: ignore[assignment]
_TIMERS: Table = TimerRow.__table__  # type: ignore[assignment]
_CLAIM_COLUMNS = (
    "delivery_id",
    "message_id",
    "department_id",
    "claim_state",
    "claim_due",
    "claimed_at",
    "delivered_at",
    "version",
)


def claim_batch(
    session: Session, requests: Sequence[ClaimRequest]
) -> tuple[list[ActionResult | ActionError], list[NewJob]]:
    """Claims in the caller's transaction: the deliveries locked in one statement (in id
    order), then one statement per table for what changes. Per request its result, or the
    error that refused it (on record as ``claim.refused`` unless the delivery is unknown)."""
    rows = _lock_for_claims(session, [r.delivery_id for r in requests])
    writes, cancels = Writes(), []
    results: list[ActionResult | ActionError] = []
    for request in requests:
        try:
            result, changed = _claim_one(rows.get(request.delivery_id), request, writes)
        except ActionError as exc:
            if not isinstance(exc, NotFoundError):
                _refused(writes, "claim", request, exc)
            results.append(exc)
            continue
        if changed:
            cancels.append({"_id": request.delivery_id, "_at": result.at})
        results.append(result)
    writes.apply(session)
    if cancels:
        session.connection().execute(_CANCEL_CLAIM_TIMERS, cancels)
    return results, []


def _lock_for_claims(session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    columns = [_DELIVERIES.c[name] for name in _CLAIM_COLUMNS]
    query = (
        select(*columns)
        .where(among(session, _DELIVERIES.c.delivery_id, ids))
        .order_by(_DELIVERIES.c.delivery_id)
        .with_for_update()
    )
    return {row.delivery_id: dict(row._mapping) for row in session.execute(query)}


def _claim_one(
    row: dict[str, Any] | None, request: ClaimRequest, writes: Writes
) -> tuple[ActionResult, bool]:
    """The claim's result and whether it changed the delivery (``row`` is updated in place,
    so a second claim of the same delivery in the batch sees the first)."""
    if row is None:
        raise NotFoundError(
            f"没有这条推送记录 {request.delivery_id}", f"no delivery {request.delivery_id!r}"
        )
    _check_owner(row["department_id"], request.department_id)
    now = _not_before_delivery(row["delivered_at"], request.at)
    state = row["claim_state"]
    if state in (ClaimState.CLAIMED, ClaimState.CLAIMED_LATE):
        late = state is ClaimState.CLAIMED_LATE
        at = row["claimed_at"] or now
        return ActionResult(request.delivery_id, state, at, late, "已认领，无需重复认领"), False
    if state == ClaimState.AUTO_CLAIMED:
        raise StateConflictError(
            f"该推送已于 {display_instant(row['claimed_at'])} 超时自动认领",
            f"already auto-claimed at {_iso(row['claimed_at'])}",
        )
    late = row["claim_due"] is not None and now >= row["claim_due"]
    state = ClaimState.CLAIMED_LATE if late else ClaimState.CLAIMED
    row.update(claim_state=state, claimed_at=now, version=row["version"] + 1)
    writes.change_delivery(
        request.delivery_id, claim_state=state, claimed_at=now, version=row["version"]
    )
    writes.add(
        ClaimRow,
        {
            "delivery_id": request.delivery_id,
            "kind": state,
            "actor": request.actor,
            "channel": request.channel.value,
            "at": now,
            "responsible_department": row["department_id"],
        },
    )
    writes.event(
        "claim.recorded",
        at=now,
        actor=request.actor,
        message_id=row["message_id"],
        delivery_id=request.delivery_id,
        department_id=row["department_id"],
        channel=request.channel.value,
        data={"state": state, "claim_due": _iso(row["claim_due"])},
    )
    log.info(
        "claim.recorded",
        delivery_id=request.delivery_id,
        message_id=row["message_id"],
        state=state,
    )
    note = "超时认领，已记录" if late else "认领成功"
    return ActionResult(request.delivery_id, state, now, late=late, note_zh=note), True


_CANCEL_CLAIM_TIMERS = (
    update(_TIMERS)
    .where(
        _TIMERS.c.delivery_id == bindparam("_id"),
        _TIMERS.c.action.in_([literal_column(f"'{a}'") for a in CLAIM_TIMERS]),  # constants
        _TIMERS.c.fired_at.is_(None),
        _TIMERS.c.cancelled_at.is_(None),
    )
    .values(cancelled_at=bindparam("_at"))
)


class _Acting(Protocol):
    """What a refusal records of a request (a claim, objection or reply)."""

    @property
    def delivery_id(self) -> str: ...
    @property
    def department_id(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def at(self) -> dt.datetime: ...


def _refused(writes: Writes, action: str, request: _Acting, exc: ActionError) -> None:
    writes.event(
        f"{action}.refused",
        at=request.at,
        actor=request.actor,
        delivery_id=request.delivery_id,
        department_id=request.department_id,
        channel=request.channel.value,
        data={"reason": exc.en},
    )


def _check_owner(owner: str, department_id: str | None) -> None:
    if department_id is not None and owner != department_id:
        raise ForbiddenError(
            f"部门 {department_id} 无权操作发给 {owner} 的推送",
            f"department {department_id!r} may not act on this delivery",
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
    now = _not_before_delivery(row.delivered_at, now)
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
    now = _not_before_delivery(row.delivered_at, now)
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


def _not_before_delivery(delivered_at: dt.datetime | None, at: dt.datetime) -> dt.datetime:
    """A department cannot act on a push before it arrived: a clock behind (a mail server's
    stamp) is raised to the delivery instant."""
    return max(at, delivered_at) if delivered_at is not None else at


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ActionRequest:
    """An objection (``text`` is the reason) or a reply, as a department sent it."""

    action: str  # "objection" | "reply"
    delivery_id: str
    department_id: str
    actor: str
    channel: Channel
    at: dt.datetime
    text: str


def action_batch(
    session: Session, requests: Sequence[ActionRequest]
) -> tuple[list[ActionResult | ActionError], list[NewJob]]:
    """Objections and replies (rare next to claims: one by one, in the caller's transaction).
    A refusal is answered and on record (``objection.refused`` / ``reply.refused``)."""
    results: list[ActionResult | ActionError | None] = [None] * len(requests)
    for i in sorted(range(len(requests)), key=lambda i: requests[i].delivery_id):  # lock order
        results[i] = _act(session, requests[i])
    return [r for r in results if r is not None], []


def _act(session: Session, r: ActionRequest) -> ActionResult | ActionError:
    act = object_to if r.action == "objection" else reply
    kw: dict[str, Any] = {"reason" if r.action == "objection" else "text": r.text}
    try:
        return act(
            session,
            r.delivery_id,
            department_id=r.department_id,
            actor=r.actor,
            channel=r.channel,
            now=r.at,
            **kw,
        )
    except ActionError as exc:
        if not isinstance(exc, NotFoundError):
            writes = Writes()
            _refused(writes, r.action, r, exc)
            writes.apply(session)
        return exc
