"""The deadline engine: fires due timers exactly once, even with several hub processes.

Due timers are found through the partial index on ``timers.due_at`` (open timers only) and
locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so processes share the work without
waiting on each other; each timer is marked fired in the same transaction as its effects.

Actions:
    remind           提醒 the department before its claim deadline (while unclaimed)
    claim_timeout    超时自动认领, or escalation along the department's chain (on_timeout)
    escalate         the next step of the chain, while still unclaimed
    objection_close  the window closes: silence means accepted (视为认可)
    reply_close      no reply: deemed agreed (视为同意) or overdue
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bus.topology import deliver_queue
from hub.channels import Purpose
from hub.clock.deadline import compute_deadline, display_instant
from hub.clock.spec import DeadlineSpec
from hub.core.claims import auto_claim
from hub.ledger.events import delivery_event
from hub.ledger.outbox import enqueue
from hub.ledger.schema import DeliveryRow, OutboxRow, TimerRow
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
        """Queue a note to ``department_id`` over its best channel for this delivery."""
        channel = self._channel_for(delivery, department_id)
        job = enqueue(
            self.session,
            deliver_queue(channel),
            {
                "delivery_id": delivery.delivery_id,
                "purpose": purpose.value,
                "channel": channel,
                "target": department_id,
                "summary_zh": summary_zh,
                "round": 0,
            },
            now=self.now,
            published=True,
        )
        self.jobs.append(job)

    def _channel_for(self, delivery: DeliveryRow, department_id: str) -> str:
        if department_id == delivery.department_id and delivery.delivered_channel:
            return delivery.delivered_channel
        dept = self.router.departments[department_id]
        for channel in delivery.channels:
            if dept.channels.has(Channel(channel)):
                return str(channel)
        return "paper"

    def event(self, type: str, delivery: DeliveryRow, **data: object) -> None:
        data = {"timer": self.timer.action, "step": self.timer.step, **data}
        delivery_event(self.session, type, delivery, at=self.now, data=data)


def fire_due(
    session: Session, router: Router, *, now: dt.datetime, limit: int = 200
) -> list[OutboxRow]:
    """Fire up to ``limit`` due timers in the caller's transaction; returns jobs to publish."""
    query = (
        select(TimerRow)
        .where(TimerRow.due_at <= now, TimerRow.fired_at.is_(None), TimerRow.cancelled_at.is_(None))
        .order_by(TimerRow.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    jobs: list[OutboxRow] = []
    for timer in session.execute(query).scalars():
        jobs.extend(_fire(session, router, timer, now))
    return jobs


def _fire(session: Session, router: Router, timer: TimerRow, now: dt.datetime) -> list[OutboxRow]:
    timer.fired_at = now
    delivery = session.get(DeliveryRow, timer.delivery_id, with_for_update=True)
    if delivery is None:
        return []
    ctx = TimerContext(session, router, timer, now)
    ACTIONS[timer.action](ctx, delivery)
    log.info(
        "timer.fired",
        delivery_id=delivery.delivery_id,
        message_id=delivery.message_id,
        action=timer.action,
        step=timer.step,
    )
    return ctx.jobs


def _remind(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state != "open":
        return
    due = display_instant(d.claim_due)
    ctx.notify(d, Purpose.REMINDER, d.department_id, f"请于 {due} 前认领")
    ctx.event("reminder.sent", d, claim_due=_iso(d.claim_due))


def _claim_timeout(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state != "open":
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
    _escalate(ctx, d, step=0)


def _escalation_step(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.claim_state == "open":
        _escalate(ctx, d, step=ctx.timer.step)


def _escalate(ctx: TimerContext, d: DeliveryRow, *, step: int) -> None:
    chain = list(d.rules.get("escalation") or [])
    if step >= len(chain):
        ctx.event("escalation.exhausted", d, steps=len(chain))
        return
    target = chain[step]
    d.escalation_level = step + 1
    ctx.notify(
        d,
        Purpose.ESCALATION,
        target,
        f"{d.department_id} 未在 {display_instant(d.claim_due)} 前认领推送，请督促",
    )
    ctx.event("escalation.triggered", d, to=target, level=step + 1)
    _schedule_next_step(ctx, d, step + 1)


def _schedule_next_step(ctx: TimerContext, d: DeliveryRow, step: int) -> None:
    chain = list(d.rules.get("escalation") or [])
    if step >= len(chain):
        return
    dept = ctx.router.departments.get(d.department_id)
    after = dept.escalation[step].after if dept and step < len(dept.escalation) else None
    spec = after or DeadlineSpec.parse("1wd")
    due = compute_deadline(ctx.router.calendar, ctx.now, spec).due
    ctx.session.add(
        TimerRow(
            delivery_id=d.delivery_id, action="escalate", step=step, due_at=due, spec=str(spec)
        )
    )


def _objection_close(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.objection_state == "open":
        d.objection_state = "deemed_accepted"
        ctx.event("objection.deemed_accepted", d, objection_due=_iso(d.objection_due))


def _reply_close(ctx: TimerContext, d: DeliveryRow) -> None:
    if d.reply_state != "awaiting":
        return
    agreed = d.rules.get("reply_silence") == "agreed"
    d.reply_state = "deemed_agreed" if agreed else "overdue"
    ctx.event("reply.deemed_agreed" if agreed else "reply.overdue", d, reply_due=_iso(d.reply_due))


ACTIONS: dict[str, Action] = {
    "remind": _remind,
    "claim_timeout": _claim_timeout,
    "escalate": _escalation_step,
    "objection_close": _objection_close,
    "reply_close": _reply_close,
}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
