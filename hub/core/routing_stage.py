"""Routing stage: a committed message becomes one delivery per recipient, with its push job.

Runs as the consumer of ``hub.route``. Sender lateness counts from the instant the hub accepted
the message, however long it waited for routing; the deliveries' claim, objection and reply
deadlines are only rules here and start when the push reaches the department
(``hub/core/deadline_plan.py``). The outbox row is completed in the same transaction as
the deliveries, so a redelivered job changes nothing. A message that cannot be routed is
quarantined with the reason, and can be replayed after the config is fixed.
"""

from __future__ import annotations

import datetime as dt
import json

import structlog
from sqlalchemy.orm import Session

from hub.core.codec import message_from_json
from hub.core.ids import delivery_id
from hub.core.jobs import push_job
from hub.core.states import ClaimState, MessageState, ObjectionState, ReplyState, TransportState
from hub.errors import FieldProblem, HubError, RoutingError, split_bilingual
from hub.ledger.events import append_event
from hub.ledger.outbox import complete, enqueue
from hub.ledger.schema import DeliveryRow, MessageRow, OutboxRow, QuarantineRow
from hub.message import CanonicalMessage
from hub.routing.decision import RecipientDecision, RoutingResult
from hub.routing.router import Router

log = structlog.get_logger(__name__)


def route_job(
    session: Session, router: Router, *, outbox_id: int | None, message_id: str, now: dt.datetime
) -> list[OutboxRow]:
    """Route one message in the caller's transaction; returns the jobs to publish."""
    if outbox_id is not None and not complete(session, outbox_id, now=now):
        return []  # another copy of this job already ran
    row = session.get(MessageRow, message_id)
    if row is None or row.state != MessageState.ACCEPTED:
        return []
    try:  # sender lateness counts from acceptance, whenever the backlog lets routing run
        message = message_from_json(row.payload)
        result = router.resolve(message, row.accepted_at)
    except HubError as exc:
        _quarantine_unroutable(session, row, _problem(exc), now)
        return []
    except Exception as exc:  # noqa: BLE001 - a message routing cannot handle: quarantined
        log.exception("message.routing_crashed", message_id=message_id)
        problem = FieldProblem(
            "", f"路由时出错：{type(exc).__name__}: {exc}", f"routing failed: {exc!r}"
        )
        _quarantine_unroutable(session, row, problem, now)
        return []
    published = _record(session, router, row, message, result, now)
    log.info("message.routed", message_id=message_id, recipients=len(result.recipients))
    return published


def _record(
    session: Session,
    router: Router,
    row: MessageRow,
    message: CanonicalMessage,
    result: RoutingResult,
    now: dt.datetime,
) -> list[OutboxRow]:
    row.state = MessageState.ROUTED
    out: list[OutboxRow] = []
    for decision in result.recipients:
        delivery = _delivery(row, decision, router)
        session.add(delivery)
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
                "claim": delivery.rules["claim"],  # counted from delivery, not from here
                "accepted_at": row.accepted_at.isoformat(),
            },
        )
        if decision.push_check is not None and decision.push_check.late:
            row.push_late = True
        job = push_job(delivery.delivery_id, decision.department_id, delivery.channels)
        out.append(enqueue(session, job.queue, job.to_payload(), now=now, published=True))
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


def _delivery(row: MessageRow, decision: RecipientDecision, router: Router) -> DeliveryRow:
    """The delivery as routed: its rules, and no deadline yet (they start on delivery)."""
    dept = router.departments[decision.department_id]
    rules = {
        "claim": _spec(decision.claim_due),
        "reminders": [str(r.spec) for r in decision.reminders],
        "objection": _spec(decision.objection_due),
        "reply": _spec(decision.reply_due),
        "reply_silence": decision.reply_silence,
        "escalation": [
            {"to": s.to, "action": s.action, "after": None if s.after is None else str(s.after)}
            for s in dept.escalation
        ],
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
        arrived_at=row.accepted_at,
        rules=rules,
        calendar_version="",
        provisional=False,
        transport_state=TransportState.PENDING,
        attempts=0,
        claim_state=ClaimState.OPEN if decision.claim_due else ClaimState.NONE,
        claim_due=None,
        on_timeout=decision.on_timeout,
        escalation_level=0,
        objection_state=ObjectionState.OPEN if decision.objection_due else ObjectionState.NONE,
        objection_due=None,
        reply_state=ReplyState.AWAITING if decision.reply_due else ReplyState.NONE,
        reply_due=None,
        version=0,
    )


def _problem(exc: HubError) -> FieldProblem:
    if isinstance(exc, RoutingError):
        return FieldProblem(exc.path, exc.zh, exc.en)
    zh, en = split_bilingual(str(exc)) or (str(exc), str(exc))
    return FieldProblem("", zh, en)


def _quarantine_unroutable(
    session: Session, row: MessageRow, problem: FieldProblem, now: dt.datetime
) -> None:
    row.state = MessageState.QUARANTINED
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


def _push_due(result: RoutingResult) -> str | None:
    for decision in result.recipients:
        if decision.push_check is not None:
            return decision.push_check.deadline.due.isoformat()
    return None
