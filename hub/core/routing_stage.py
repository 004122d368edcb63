"""Routing stage: a committed message becomes one delivery per recipient, with its timers.

Runs as the consumer of ``hub.route``. The outbox row is completed in the same transaction as
the deliveries, so a redelivered job changes nothing. A message that cannot be routed is
quarantined with the reason, and can be replayed after the config is fixed.
"""

from __future__ import annotations

import datetime as dt
import json

import structlog
from sqlalchemy.orm import Session

from hub.bus.topology import deliver_queue
from hub.channels import Purpose
from hub.core.codec import message_from_json
from hub.core.ids import delivery_id
from hub.errors import FieldProblem, HubError
from hub.ledger.events import append_event
from hub.ledger.outbox import complete, enqueue
from hub.ledger.schema import DeliveryRow, MessageRow, OutboxRow, QuarantineRow, TimerRow
from hub.message import CanonicalMessage
from hub.routing.decision import RecipientDecision, RoutingResult
from hub.routing.router import Router
from hub.validation import split_bilingual

log = structlog.get_logger(__name__)


def route_job(
    session: Session, router: Router, *, outbox_id: int | None, message_id: str, now: dt.datetime
) -> list[OutboxRow]:
    """Route one message in the caller's transaction; returns the jobs to publish."""
    if outbox_id is not None and not complete(session, outbox_id, now=now):
        return []  # another copy of this job already ran
    row = session.get(MessageRow, message_id)
    if row is None or row.state != "accepted":
        return []
    message = message_from_json(row.payload)
    try:
        result = router.resolve(message, now)  # deadlines count from routing (= arrival, or replay)
    except HubError as exc:
        _quarantine_unroutable(session, row, exc, now)
        return []
    published = _record(session, row, message, result, now)
    log.info("message.routed", message_id=message_id, recipients=len(result.recipients))
    return published


def _record(
    session: Session,
    row: MessageRow,
    message: CanonicalMessage,
    result: RoutingResult,
    now: dt.datetime,
) -> list[OutboxRow]:
    row.state = "routed"
    out: list[OutboxRow] = []
    for decision in result.recipients:
        delivery = _delivery(row, decision, now)
        session.add(delivery)
        session.flush()
        _timers(session, delivery, decision)
        append_event(
            session,
            "delivery.created",
            at=now,
            message_id=row.message_id,
            delivery_id=delivery.delivery_id,
            department_id=decision.department_id,
            data={
                "route": decision.route_id,
                "policy": decision.policy_id,
                "channels": [c.value for c in decision.channels],
                "claim_due": _iso(delivery.claim_due),
                "provisional": delivery.provisional,
            },
        )
        if decision.push_check is not None and decision.push_check.late:
            row.push_late = True
        job = enqueue(
            session,
            deliver_queue(decision.channels[0].value),
            {
                "delivery_id": delivery.delivery_id,
                "purpose": Purpose.PUSH.value,
                "channel": decision.channels[0].value,
                "target": decision.department_id,
                "round": 0,
            },
            now=now,
            published=True,
        )
        out.append(job)
    if row.push_late:
        append_event(
            session,
            "push.late",
            at=now,
            message_id=row.message_id,
            department_id=message.sender.department_id,
            data={"due": _push_due(result)},
        )
    return out


def _delivery(row: MessageRow, decision: RecipientDecision, now: dt.datetime) -> DeliveryRow:
    rules = {
        "claim": _spec(decision.claim_due),
        "reminders": [str(r.spec) for r in decision.reminders],
        "objection": _spec(decision.objection_due),
        "reply": _spec(decision.reply_due),
        "reply_silence": decision.reply_silence,
        "escalation": list(decision.escalation),
        "basis": list(decision.basis),
    }
    return DeliveryRow(
        delivery_id=delivery_id(row.message_id, decision.department_id),
        message_id=row.message_id,
        department_id=decision.department_id,
        route_id=decision.route_id,
        policy_id=decision.policy_id,
        channels=[c.value for c in decision.channels],
        channel_index=0,
        arrived_at=now,
        rules=rules,
        calendar_version=_calendar_version(decision),
        provisional=decision.provisional,
        transport_state="pending",
        attempts=0,
        claim_state="open" if decision.claim_due else "none",
        claim_due=decision.claim_due.due if decision.claim_due else None,
        on_timeout=decision.on_timeout,
        escalation_level=0,
        objection_state="open" if decision.objection_due else "none",
        objection_due=decision.objection_due.due if decision.objection_due else None,
        reply_state="awaiting" if decision.reply_due else "none",
        reply_due=decision.reply_due.due if decision.reply_due else None,
        version=0,
    )


def _timers(session: Session, delivery: DeliveryRow, decision: RecipientDecision) -> None:
    plan: list[tuple[str, int, dt.datetime, str]] = []
    if decision.claim_due is not None:
        for step, reminder in enumerate(decision.reminders):
            plan.append(("remind", step, reminder.due, str(reminder.spec)))
        plan.append(("claim_timeout", 0, decision.claim_due.due, str(decision.claim_due.spec)))
    if decision.objection_due is not None:
        plan.append(
            ("objection_close", 0, decision.objection_due.due, str(decision.objection_due.spec))
        )
    if decision.reply_due is not None:
        plan.append(("reply_close", 0, decision.reply_due.due, str(decision.reply_due.spec)))
    for action, step, due, spec in plan:
        session.add(
            TimerRow(
                delivery_id=delivery.delivery_id, action=action, step=step, due_at=due, spec=spec
            )
        )


def _quarantine_unroutable(
    session: Session, row: MessageRow, exc: HubError, now: dt.datetime
) -> None:
    zh, en = split_bilingual(str(exc)) or (str(exc), str(exc))
    problem = FieldProblem("", zh, en)
    row.state = "quarantined"
    entry = QuarantineRow(
        at=now,
        stage="route",
        channel=row.channel,
        source_id=row.source_id,
        message_id=row.message_id,
        raw=json.dumps(row.payload, ensure_ascii=False).encode(),
        reason_zh=problem.zh,
        reason_en=problem.en,
        problems=[{"path": "", "zh": problem.zh, "en": problem.en}],
        state="open",
    )
    session.add(entry)
    session.flush()
    append_event(
        session,
        "message.quarantined",
        at=now,
        message_id=row.message_id,
        data={"quarantine_id": entry.id, "stage": "route", "reason": problem.en},
    )
    log.warning(
        "message.unroutable", message_id=row.message_id, quarantine_id=entry.id, reason=problem.en
    )


def _spec(deadline: object) -> str | None:
    spec = getattr(deadline, "spec", None)
    return None if spec is None else str(spec)


def _calendar_version(decision: RecipientDecision) -> str:
    for deadline in (decision.claim_due, decision.objection_due, decision.reply_due):
        if deadline is not None:
            return deadline.calendar_version
    return ""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _push_due(result: RoutingResult) -> str | None:
    for decision in result.recipients:
        if decision.push_check is not None:
            return decision.push_check.deadline.due.isoformat()
    return None
