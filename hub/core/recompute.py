"""Provisional deadlines (past the calendar's known data) are recomputed once it knows more.

A delivery routed while its deadline fell in a year with no holiday schedule was computed
Monday–Friday and flagged provisional, with the calendar version it used. When the operator adds
that year (``calendar.years`` in routing.yaml) the version changes; this pass recomputes each
such delivery from its arrival instant and the specs it was routed with, moves its open timers,
and records ``deadline.recomputed`` with the old and new instants.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock.calendar import WorkCalendar
from hub.clock.deadline import Deadline, compute_deadline
from hub.clock.spec import DeadlineSpec
from hub.ledger.events import delivery_event
from hub.ledger.schema import DeliveryRow, TimerRow

log = structlog.get_logger(__name__)
_TIMER_FOR = {
    "claim_due": "claim_timeout",
    "objection_due": "objection_close",
    "reply_due": "reply_close",
}
_SPEC_FOR = {"claim_due": "claim", "objection_due": "objection", "reply_due": "reply"}


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
    provisional = False
    for field, rule in _SPEC_FOR.items():
        spec_text = delivery.rules.get(rule)
        if not spec_text:
            continue
        deadline = compute_deadline(calendar, delivery.arrived_at, DeadlineSpec.parse(spec_text))
        provisional = provisional or deadline.provisional
        old = getattr(delivery, field)
        if old != deadline.due:
            setattr(delivery, field, deadline.due)
            _move_timer(session, delivery.delivery_id, _TIMER_FOR[field], deadline.due)
            changes[field] = {"from": _iso(old), "to": deadline.due.isoformat()}
        if field == "claim_due":
            _move_reminders(session, calendar, delivery, deadline)
    old_version, delivery.calendar_version = delivery.calendar_version, calendar.version
    delivery.provisional = provisional
    delivery_event(
        session,
        "deadline.recomputed",
        delivery,
        at=now,
        data={
            "calendar_from": old_version,
            "calendar_to": calendar.version,
            "provisional": provisional,
            "changes": changes,
        },
    )
    log.info(
        "deadline.recomputed",
        delivery_id=delivery.delivery_id,
        message_id=delivery.message_id,
        provisional=provisional,
    )


def _move_timer(session: Session, delivery_id: str, action: str, due: dt.datetime) -> None:
    timer = session.scalar(
        select(TimerRow).where(
            TimerRow.delivery_id == delivery_id,
            TimerRow.action == action,
            TimerRow.fired_at.is_(None),
            TimerRow.cancelled_at.is_(None),
        )
    )
    if timer is not None:
        timer.due_at = due


def _move_reminders(
    session: Session, calendar: WorkCalendar, delivery: DeliveryRow, claim: Deadline
) -> None:
    for step, text in enumerate(delivery.rules.get("reminders") or []):
        timer = session.scalar(
            select(TimerRow).where(
                TimerRow.delivery_id == delivery.delivery_id,
                TimerRow.action == "remind",
                TimerRow.step == step,
                TimerRow.fired_at.is_(None),
                TimerRow.cancelled_at.is_(None),
            )
        )
        if timer is not None:
            timer.due_at = compute_deadline(calendar, claim.due, DeadlineSpec.parse(text)).due


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
