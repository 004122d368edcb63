"""The deadline engine: fires due timers exactly once, even with several hub processes.

Due timers are found through the partial index on ``timers.due_at`` (open timers only). Locks
are taken in one order everywhere in the hub — the delivery row first, then its timers — so a
claim racing the engine cannot deadlock: the engine locks each due delivery with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL (one a claim or another engine holds is left for the next tick),
then re-reads its timers still open and marks each fired in the transaction of its effects.
Timers exist only for delivered pushes (see ``hub/core/deadline_plan.py``): nothing undelivered
is reminded, auto-claimed or escalated.

Actions:
    remind           提醒 the department before its claim deadline (while unclaimed)
    claim_timeout    超时自动认领, or escalation along the department's chain (on_timeout)
    escalate         a step of the chain, while still unclaimed: its ``action`` says what the
                     target is asked to do (remind: 提醒, the late department is reminded too;
                     notify: 督促; interview: 约谈); each step waits its ``after`` (none: at once)
    objection_close  the window closes: silence means accepted (视为认可)
    reply_close      no reply: deemed agreed (视为同意) or overdue
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.channels import Purpose
from hub.clock.deadline import compute_deadline, display_instant
from hub.clock.spec import DeadlineSpec
from hub.core.claims import auto_claim
from hub.core.jobs import note_job
from hub.core.states import ClaimState, ObjectionState, ReplyState, TimerAction, TransportState
from hub.ledger.events import delivery_event
from hub.ledger.outbox import enqueue
from hub.ledger.schema import DeliveryRow, MessageRow, OutboxRow, TimerRow
from hub.message import Channel
from hub.routing.router import Router

log = structlog.get_logger(__name__)
Action = Callable[["TimerContext", DeliveryRow], None]


class TimerContext:
    """What a firing timer may use: its session, the router, the time, the jobs it creates."""

    def __init__(self, session: Session, router: Router, timer: TimerRow, now: dt.datetime):
        self.session, self.router, self.timer, self.now = session, router, timer, now
        self.jobs: list[OutboxRow] = []

    def notify(
        self, delivery: DeliveryRow, purpose: Purpose, department_id: str, summary_zh: str
    ) -> None:
        """Queue a note to ``department_id``: the channel that reached it for this delivery
        first, then its other channels, paper last."""
        target = self.router.departments.get(department_id)
        if target is None:
            log.error(
                "escalation.unknown_target", delivery_id=delivery.delivery_id, to=department_id
            )
            self.event("notice.undeliverable", delivery, to=department_id)
            return
        reached = delivery.delivered_channel if department_id == delivery.department_id else None
        prefer = Channel(reached) if reached else None  # what reached it before goes first
        message = self.session.get(MessageRow, delivery.message_id)
        job = note_job(
            delivery.delivery_id,
            purpose,
            target,
            summary_zh,
            prefer=prefer,
            classified=bool(message and message.classified),
        )
        row = enqueue(self.session, job.queue, job.to_payload(), now=self.now, published=True)
        self.jobs.append(row)

    def event(self, type: str, delivery: DeliveryRow, **data: object) -> None:
        data = {"timer": self.timer.action, "step": self.timer.step, **data}
        delivery_event(self.session, type, delivery, at=self.now, data=data)


def fire_due(
    session: Session, router: Router, *, now: dt.datetime, limit: int = 200
) -> list[OutboxRow]:
    """Fire up to ``limit`` due timers in the caller's transaction; returns jobs to publish."""
    due = session.execute(
        select(TimerRow.id, TimerRow.delivery_id)
        .where(TimerRow.due_at <= now, TimerRow.fired_at.is_(None), TimerRow.cancelled_at.is_(None))
        .order_by(TimerRow.due_at)
        .limit(limit)
    ).all()
    by_delivery: dict[str, list[int]] = {}
    for timer_id, delivery_id in due:
        by_delivery.setdefault(delivery_id, []).append(timer_id)
    jobs: list[OutboxRow] = []
    for delivery_id in sorted(by_delivery):  # one order: no two engines wait on each other
        delivery = _lock_delivery(session, delivery_id)
        if delivery is None:
            continue  # a claim or another engine holds it: the next tick sees what is left
        for timer in _open_timers(session, by_delivery[delivery_id]):
            jobs.extend(_fire(session, router, timer, delivery, now))
    return jobs


def _lock_delivery(session: Session, delivery_id: str) -> DeliveryRow | None:
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.delivery_id == delivery_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return session.execute(query).scalar_one_or_none()


def _open_timers(session: Session, ids: list[int]) -> list[TimerRow]:
    query = (
        select(TimerRow)
        .where(TimerRow.id.in_(ids), TimerRow.fired_at.is_(None), TimerRow.cancelled_at.is_(None))
        .order_by(TimerRow.due_at, TimerRow.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.execute(query).scalars())


def _fire(
    session: Session, router: Router, timer: TimerRow, delivery: DeliveryRow, now: dt.datetime
) -> list[OutboxRow]:
    timer.fired_at = now
    ctx = TimerContext(session, router, timer, now)
    ACTIONS[TimerAction(timer.action)](ctx, delivery)
    log.info(
        "timer.fired",
        delivery_id=delivery.delivery_id,
        message_id=delivery.message_id,
        action=timer.action,
        step=timer.step,
    )
    return ctx.jobs


def _remind(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state != ClaimState.OPEN:
        return
    due = display_instant(d.claim_due)
    ctx.notify(d, Purpose.REMINDER, d.department_id, f"请于 {due} 前认领")
    ctx.event("reminder.sent", d, claim_due=_iso(d.claim_due))


def _claim_timeout(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state != ClaimState.OPEN:
        return
    if d.transport_state != TransportState.DELIVERED:  # a push that never arrived binds nobody
        log.error("deadline.undelivered", delivery_id=d.delivery_id, message_id=d.message_id)
        ctx.event("deadline.ignored_undelivered", d, transport=d.transport_state)
        return
    ctx.event("deadline.missed", d, claim_due=_iso(d.claim_due), on_timeout=d.on_timeout)
    if d.on_timeout == "auto_claim":
        auto_claim(ctx.session, d, now=ctx.now)
        ctx.notify(
            d,
            Purpose.AUTO_CLAIMED,
            d.department_id,
            f"未在 {display_instant(d.claim_due)} 前认领，已超时自动认领，责任由本部门承担",
        )
        return
    _next_step(ctx, d, 0)


def _escalation_step(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state == ClaimState.OPEN:
        _escalate(ctx, d, ctx.timer.step)


def _next_step(ctx: TimerContext, d: DeliveryRow, step: int) -> None:
    """Step ``step`` of the chain: at once, or a timer ``after`` from now."""
    chain = escalation_chain(d)
    if step >= len(chain):
        if not chain:
            log.error("escalation.no_chain", delivery_id=d.delivery_id, message_id=d.message_id)
        ctx.event("escalation.exhausted", d, steps=len(chain))
        return
    after = chain[step].after
    if after is None:
        _escalate(ctx, d, step)
        return
    due = compute_deadline(ctx.router.calendar, ctx.now, DeadlineSpec.parse(after)).due
    ctx.session.add(
        TimerRow(
            delivery_id=d.delivery_id,
            action=TimerAction.ESCALATE.value,
            step=step,
            due_at=due,
            spec=after,
        )
    )
    ctx.event("escalation.scheduled", d, step=step, to=chain[step].to, at=due.isoformat())


def _escalate(ctx: TimerContext, d: DeliveryRow, step: int) -> None:
    chain = escalation_chain(d)
    if step >= len(chain):
        return
    target = chain[step]
    late, due = _name(ctx, d.department_id), display_instant(d.claim_due)
    d.escalation_level = step + 1
    ctx.notify(d, Purpose.ESCALATION, target.to, _ESCALATION_ZH[target.action].format(late, due))
    if target.action == "remind":
        by = _name(ctx, target.to)
        ctx.notify(
            d, Purpose.REMINDER, d.department_id, f"{by}提醒：已超过认领期限 {due}，请立即认领"
        )
    ctx.event("escalation.triggered", d, to=target.to, action=target.action, level=step + 1)
    _next_step(ctx, d, step + 1)


_ESCALATION_ZH = {
    "remind": "{0} 未在 {1} 前认领推送，请予以提醒（已同时提醒该部门）",
    "notify": "{0} 未在 {1} 前认领推送，请督促",
    "interview": "{0} 未在 {1} 前认领推送，经提醒仍未认领，请按规定约谈",
}


def _name(ctx: TimerContext, department_id: str) -> str:
    dept = ctx.router.departments.get(department_id)
    return dept.name if dept else department_id


@dataclass(frozen=True)
class EscalationStep:
    to: str
    action: str = "notify"
    after: str | None = None


def escalation_chain(d: DeliveryRow) -> list[EscalationStep]:
    """The chain as routed (a snapshot in the delivery's rules; older rows kept only ids)."""
    steps: list[EscalationStep] = []
    for item in d.rules.get("escalation") or []:
        if isinstance(item, str):
            steps.append(EscalationStep(item, "notify", None if not steps else "1wd"))
        else:
            steps.append(
                EscalationStep(item["to"], item.get("action", "notify"), item.get("after"))
            )
    return steps


def _objection_close(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.objection_state == ObjectionState.OPEN:
        d.objection_state = ObjectionState.DEEMED_ACCEPTED
        ctx.event("objection.deemed_accepted", d, objection_due=_iso(d.objection_due))


def _reply_close(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.reply_state != ReplyState.AWAITING:
        return
    agreed = d.rules.get("reply_silence") == "agreed"
    d.reply_state = ReplyState.DEEMED_AGREED if agreed else ReplyState.OVERDUE
    ctx.event("reply.deemed_agreed" if agreed else "reply.overdue", d, reply_due=_iso(d.reply_due))


ACTIONS: dict[TimerAction, Action] = {
    TimerAction.REMIND: _remind,
    TimerAction.CLAIM_TIMEOUT: _claim_timeout,
    TimerAction.ESCALATE: _escalation_step,
    TimerAction.OBJECTION_CLOSE: _objection_close,
    TimerAction.REPLY_CLOSE: _reply_close,
}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
