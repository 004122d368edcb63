"""A delivery's deadlines start when it reaches its department, and not before.

Routing records the rules (claim, reminders, objection, reply as deadline specs) on the
delivery; ``start_deadlines`` computes the instants from the moment the channel confirmed the
delivery (HTTP 2xx, SMTP accepted, paper slip handed to the print spool) and creates the timers.
Until then the delivery has no claim deadline and no timer: a push that never arrived can be
neither reminded nor auto-claimed. ``stop_deadlines`` undoes it when the channel later reports
that the push did not arrive after all (a bounce); the next delivery starts them again.
``plan_deadlines`` is the pure part, shared with the recompute of provisional deadlines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.clock.calendar import WorkCalendar
from hub.clock.deadline import Deadline, compute_deadline
from hub.clock.spec import DeadlineSpec
from hub.core.states import ClaimState, ObjectionState, ReplyState, TimerAction
from hub.ledger.schema import DeliveryRow, TimerRow


@dataclass(frozen=True)
class PlannedTimer:
    action: TimerAction
    step: int
    due: dt.datetime
    spec: str


@dataclass(frozen=True)
class DeadlinePlan:
    claim: Deadline | None
    objection: Deadline | None
    reply: Deadline | None
    timers: tuple[PlannedTimer, ...]

    @property
    def dues(self) -> tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]:
        """The claim, objection and reply instants (None where the rules set none)."""
        claim, objection, reply = (
            d.due if d else None for d in (self.claim, self.objection, self.reply)
        )
        return claim, objection, reply

    @property
    def provisional(self) -> bool:
        return any(d.provisional for d in (self.claim, self.objection, self.reply) if d)

    @property
    def calendar_version(self) -> str:
        return next((d.calendar_version for d in (self.claim, self.objection, self.reply) if d), "")

    @property
    def columns(self) -> dict[str, Any]:
        """The delivery's columns this plan sets."""
        claim, objection, reply = self.dues
        return {
            "claim_due": claim,
            "objection_due": objection,
            "reply_due": reply,
            "provisional": self.provisional,
            "calendar_version": self.calendar_version,
        }


def plan_deadlines(
    calendar: WorkCalendar, rules: Mapping[str, Any], start: dt.datetime
) -> DeadlinePlan:
    """The deadlines and timers of a delivery that reached its department at ``start``."""
    claim = _deadline(calendar, start, rules.get("claim"))
    objection = _deadline(calendar, start, rules.get("objection"))
    reply = _deadline(calendar, start, rules.get("reply"))
    timers: list[PlannedTimer] = []
    if claim is not None:
        for step, text in enumerate(rules.get("reminders") or []):
            due = compute_deadline(calendar, claim.due, DeadlineSpec.parse(text)).due
            if start < due < claim.due:  # a reminder at or before arrival has nothing to remind
                timers.append(PlannedTimer(TimerAction.REMIND, step, due, text))
        timers.append(PlannedTimer(TimerAction.CLAIM_TIMEOUT, 0, claim.due, str(claim.spec)))
    if objection is not None:
        timers.append(
            PlannedTimer(TimerAction.OBJECTION_CLOSE, 0, objection.due, str(objection.spec))
        )
    if reply is not None:
        timers.append(PlannedTimer(TimerAction.REPLY_CLOSE, 0, reply.due, str(reply.spec)))
    return DeadlinePlan(claim, objection, reply, tuple(timers))


def _deadline(calendar: WorkCalendar, start: dt.datetime, spec: object) -> Deadline | None:
    if not spec:
        return None
    return compute_deadline(calendar, start, DeadlineSpec.parse(str(spec)))


def start_deadlines(
    session: Session, calendar: WorkCalendar, delivery: DeliveryRow, *, at: dt.datetime
) -> DeadlinePlan:
    """Set the delivery's deadlines from ``at`` and create the timers of what is still open."""
    plan = plan_deadlines(calendar, delivery.rules, at)
    for column, value in plan.columns.items():
        setattr(delivery, column, value)
    _put_timers(session, delivery, [t for t in plan.timers if _still_open(delivery, t.action)])
    return plan


def _still_open(delivery: DeliveryRow, action: TimerAction) -> bool:
    return timer_still_open(
        {
            "claim_state": delivery.claim_state,
            "objection_state": delivery.objection_state,
            "reply_state": delivery.reply_state,
        },
        action,
    )


def timer_still_open(states: Mapping[str, Any], action: TimerAction) -> bool:
    """Whether a timer of ``action`` still has something to do, given the delivery's
    ``claim_state``, ``objection_state`` and ``reply_state``."""
    if action in (TimerAction.REMIND, TimerAction.CLAIM_TIMEOUT):
        return bool(states["claim_state"] == ClaimState.OPEN)
    if action is TimerAction.OBJECTION_CLOSE:
        return bool(states["objection_state"] == ObjectionState.OPEN)
    return bool(states["reply_state"] == ReplyState.AWAITING)


def timer_values(delivery_id: str, timer: PlannedTimer) -> dict[str, Any]:
    """The columns of a new timer row."""
    return {
        "delivery_id": delivery_id,
        "action": timer.action.value,
        "step": timer.step,
        "due_at": timer.due,
        "spec": timer.spec,
        "fired_at": None,
        "cancelled_at": None,
    }


def _put_timers(session: Session, delivery: DeliveryRow, planned: list[PlannedTimer]) -> None:
    """Insert the timers, or re-arm the rows a bounced earlier delivery left (one per
    (delivery, action, step))."""
    existing = {
        (t.action, t.step): t
        for t in session.scalars(
            select(TimerRow).where(TimerRow.delivery_id == delivery.delivery_id)
        )
    }
    for timer in planned:
        row = existing.get((timer.action.value, timer.step))
        if row is None:
            session.add(TimerRow(**timer_values(delivery.delivery_id, timer)))
        else:
            row.due_at, row.spec, row.fired_at, row.cancelled_at = timer.due, timer.spec, None, None


def stop_deadlines(session: Session, delivery: DeliveryRow, *, now: dt.datetime) -> None:
    """The push did not arrive after all: no deadline runs until it is delivered again."""
    cancel_timers(session, delivery.delivery_id, tuple(a.value for a in TimerAction), now=now)
    delivery.claim_due = delivery.objection_due = delivery.reply_due = None
    delivery.provisional = False


def cancel_timers(
    session: Session, delivery_id: str, actions: tuple[str, ...], *, now: dt.datetime
) -> None:
    """Cancel the delivery's open timers of ``actions``."""
    session.execute(
        update(TimerRow)
        .where(
            TimerRow.delivery_id == delivery_id,
            TimerRow.action.in_(actions),
            TimerRow.fired_at.is_(None),
            TimerRow.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)  # loaded timers: only fired_at is written
    )
