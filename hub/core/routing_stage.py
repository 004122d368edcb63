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
from typing import Any

import structlog
from sqlalchemy.orm import Session

from hub.core.codec import message_from_json
from hub.core.ids import delivery_id
from hub.core.jobs import push_job
from hub.core.states import ClaimState, MessageState, ObjectionState, ReplyState, TransportState
from hub.errors import FieldProblem, HubError, RoutingError, split_bilingual
from hub.ledger.batch import NewJob, Writes
from hub.ledger.events import append_event
from hub.ledger.outbox import complete
from hub.ledger.schema import DeliveryRow, MessageRow, QuarantineRow
from hub.message import CanonicalMessage
from hub.routing.decision import RecipientDecision, RoutingResult
from hub.routing.router import Router

log = structlog.get_logger(__name__)


def route_job(
    session: Session, router: Router, *, outbox_id: int | None, message_id: str, now: dt.datetime
) -> list[NewJob]:
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
) -> list[NewJob]:
    row.state = MessageState.ROUTED
    writes = Writes()
    row.push_late = record_routing(writes, router, message, result, row.accepted_at, now=now)
    session.flush()  # the message row's state before the deliveries that reference it
    return writes.apply(session)


def record_routing(
    writes: Writes,
    router: Router,
    message: CanonicalMessage,
    result: RoutingResult,
    accepted_at: dt.datetime,
    *,
    now: dt.datetime,
) -> bool:
    """Collect the deliveries, their events and push jobs of a routed message; True when the
    sender pushed late (its ``push.late`` event is collected too)."""
    late = False
    for decision in result.recipients:
        delivery = delivery_values(message.message_id, accepted_at, decision, router)
        writes.add(DeliveryRow, delivery)
        writes.event(
            "delivery.created",
            at=now,
            message_id=message.message_id,
            delivery_id=delivery["delivery_id"],
            department_id=decision.department_id,
            data={
                "route": decision.route_id,
                "policy": decision.policy_id,
                "channels": delivery["channels"],
                "claim": delivery["rules"]["claim"],  # counted from delivery, not from here
                "accepted_at": accepted_at.isoformat(),
            },
        )
        late = late or (decision.push_check is not None and decision.push_check.late)
        job = push_job(delivery["delivery_id"], decision.department_id, decision.channels)
        writes.job(job.queue, job.to_payload(), now=now)
    if late:
        writes.event(
            "push.late",
            at=now,
            message_id=message.message_id,
            department_id=message.sender.department_id,
            data={"due": _push_due(result)},
        )
    return late


def delivery_values(
    message_id: str, accepted_at: dt.datetime, decision: RecipientDecision, router: Router
) -> dict[str, Any]:
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
    return {
        "delivery_id": delivery_id(message_id, decision.department_id),
        "message_id": message_id,
        "department_id": decision.department_id,
        "route_id": decision.route_id,
        "policy_id": decision.policy_id,
        "channels": [c.value for c in decision.channels],
        "channel_index": 0,
        "arrived_at": accepted_at,
        "rules": rules,
        "calendar_version": "",
        "provisional": False,
        "transport_state": TransportState.PENDING,
        "delivered_at": None,
        "delivered_channel": None,
        "attempts": 0,
        "claim_state": ClaimState.OPEN if decision.claim_due else ClaimState.NONE,
        "claim_due": None,
        "on_timeout": decision.on_timeout,
        "claimed_at": None,
        "escalation_level": 0,
        "objection_state": ObjectionState.OPEN if decision.objection_due else ObjectionState.NONE,
        "objection_due": None,
        "reply_state": ReplyState.AWAITING if decision.reply_due else ReplyState.NONE,
        "reply_due": None,
        "version": 0,
    }


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
