"""Provisional deadlines (past the calendar's known data) are recomputed once it knows more.

A delivery whose deadline fell in a year with no complete holiday schedule was computed with
the statutory holidays (no 调休) and flagged provisional, with the calendar version it used.
When the operator adds that year (``calendar.years`` in routing.yaml, ``complete: true``) the
version changes; this pass recomputes each
such delivery from the instant it was delivered and the specs it was routed with, moves its
open timers (the delivery row is locked first, then its timers: the hub's one lock order),
and records ``deadline.recomputed`` with the old and new instants.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock.calendar import WorkCalendar
from hub.core.deadline_plan import DeadlinePlan, plan_deadlines
from hub.ledger.events import delivery_event
from hub.ledger.schema import DeliveryRow, TimerRow

log = structlog.get_logger(__name__)


def recompute_provisional(
    session: Session, calendar: WorkCalendar, *, now: dt.datetime, limit: int = 1000
) -> int:
    """Recompute up to ``limit`` provisional deliveries made with another calendar version."""
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.provisional.is_(True), DeliveryRow.calendar_version != calendar.version)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for delivery in session.execute(query).scalars():
        _recompute(session, calendar, delivery, now)
        count += 1
    return count


def _recompute(
    session: Session, calendar: WorkCalendar, delivery: DeliveryRow, now: dt.datetime
) -> None:
    changes: dict[str, Any] = {}
    if delivery.delivered_at is None:  # bounced meanwhile: deadlines start on the next delivery
        plan = None
    else:
        plan = plan_deadlines(calendar, delivery.rules, delivery.delivered_at)
        for field, deadline in (
            ("claim_due", plan.claim),
            ("objection_due", plan.objection),
            ("reply_due", plan.reply),
        ):
            old, new = getattr(delivery, field), deadline.due if deadline else None
            if old != new:
                setattr(delivery, field, new)
                changes[field] = {"from": _iso(old), "to": _iso(new)}
        _move_timers(session, delivery.delivery_id, plan)
    old_version, delivery.calendar_version = delivery.calendar_version, calendar.version
    delivery.provisional = bool(plan and plan.provisional)
    delivery_event(
        session,
        "deadline.recomputed",
        delivery,
        at=now,
        data={
            "calendar_from": old_version,
            "calendar_to": calendar.version,
            "provisional": delivery.provisional,
            "changes": changes,
        },
    )
    log.info(
        "deadline.recomputed",
        delivery_id=delivery.delivery_id,
        message_id=delivery.message_id,
        provisional=delivery.provisional,
    )


def _move_timers(session: Session, delivery_id: str, plan: DeadlinePlan) -> None:
    """Move the delivery's open timers to the plan's instants (fired ones stay as they were)."""
    due = {(t.action.value, t.step): t.due for t in plan.timers}
    timers = session.scalars(
        select(TimerRow).where(
            TimerRow.delivery_id == delivery_id,
            TimerRow.fired_at.is_(None),
            TimerRow.cancelled_at.is_(None),
        )
    )
    for timer in timers:
        new = due.get((timer.action, timer.step))
        if new is not None:
            timer.due_at = new


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
