"""What happened to each push in a rehearsal, read back from its ledger (``hub.ops.trace``).

Per push: the API's answer and, per recipient department, when the push reached it (or that it
could not: 投递失败), retries, bounces and fallbacks, reminders, the claim deadline, the claim
(by the department, late, or 超时自动认领), escalations, objection and reply, and every event in
order. Instants are in the routing calendar's time zone; ``to_json`` gives
the machine form (ISO 8601).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from hub.ops.jsonable import jsonable
from hub.ops.trace import DeliveryInfo, EventInfo, trace
from hub.sim.engine import Outcome, Pushed

OUTCOME_LABELS = {
    "delivery_failed": "投递失败",
    "auto_claimed": "超时自动认领",
    "claimed": "已认领",
    "claimed_late": "超时认领",
    "escalated": "已升级",
    "open": "待认领",
    "pending": "投递中",
    "delivered": "已送达",
}


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    type: str
    department_id: str | None
    channel: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Escalation:
    at: dt.datetime
    to: str
    level: int | None
    reason: str | None


@dataclass(frozen=True)
class DeliveryReport:
    department_id: str
    delivery_id: str
    channels: tuple[str, ...]
    outcome: str
    outcome_zh: str
    transport_state: str
    delivered_at: dt.datetime | None
    delivered_channel: str | None
    retries: int
    bounced_at: tuple[dt.datetime, ...]
    fallbacks: tuple[str, ...]
    failed_at: dt.datetime | None
    reminders: tuple[dt.datetime, ...]
    claim_state: str
    claim_due: dt.datetime | None
    claimed_at: dt.datetime | None
    auto_claimed_at: dt.datetime | None
    deadline_missed_at: dt.datetime | None
    escalations: tuple[Escalation, ...]
    objection_state: str
    objection_due: dt.datetime | None
    reply_state: str
    reply_due: dt.datetime | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PushReport:
    file: str
    pushed_at: dt.datetime
    status: int
    detail: str
    message_id: str | None
    subject: str = ""
    accepted_at: dt.datetime | None = None
    push_late: bool = False
    deliveries: tuple[DeliveryReport, ...] = ()


@dataclass(frozen=True)
class ReceivedCount:
    department_id: str
    purpose: str
    notes: int
    repeats: int


@dataclass(frozen=True)
class DepartmentAction:
    """What a department did (claim, object, reply; a bounce of its mail) and the hub's answer."""

    at: dt.datetime
    department_id: str
    delivery_id: str
    kind: str
    status: int  # the API's HTTP status; 0 for a bounce (reported to the hub directly)
    note: str


@dataclass(frozen=True)
class Report:
    start: dt.datetime
    end: dt.datetime
    pushes: tuple[PushReport, ...]
    received: tuple[ReceivedCount, ...]
    refused: dict[str, int] = field(default_factory=dict)
    actions: tuple[DepartmentAction, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data

    def push(self, file: str) -> PushReport:
        return next(p for p in self.pushes if p.file == file)


def build_report(outcome: Outcome) -> Report:
    tz = outcome.router.calendar.tz
    with outcome.db.read() as session:
        pushes = []
        for pushed in outcome.pushed:
            found = trace(session, pushed.message_id) if pushed.message_id else None
            pushes.append(_push_report(pushed, found, tz))
    return Report(
        start=outcome.start.astimezone(tz),
        end=outcome.end.astimezone(tz),
        pushes=tuple(pushes),
        received=_received(outcome),
        refused=_refused(outcome),
        actions=tuple(
            DepartmentAction(
                a.action.at.astimezone(tz),
                a.action.department_id,
                a.action.delivery_id,
                a.action.kind,
                a.status,
                a.detail,
            )
            for a in outcome.actions
        ),
    )


def _push_report(pushed: Pushed, found: Any, tz: dt.tzinfo) -> PushReport:
    base = PushReport(
        pushed.file, pushed.at.astimezone(tz), pushed.status, pushed.detail, pushed.message_id
    )
    if found is None:
        return base
    deliveries = tuple(
        _delivery(d, [e for e in found.events if e.delivery_id == d.delivery_id], tz)
        for d in found.deliveries
    )
    return replace(
        base,
        subject=found.message.subject,
        accepted_at=found.message.accepted_at.astimezone(tz),
        push_late=found.message.push_late,
        deliveries=deliveries,
    )


def _delivery(d: DeliveryInfo, events: list[EventInfo], tz: dt.tzinfo) -> DeliveryReport:
    def local(value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(tz) if value else None

    def first(kind: str) -> dt.datetime | None:
        return next((local(e.at) for e in events if e.type == kind), None)

    mine = [e for e in events if (e.department_id or d.department_id) == d.department_id]
    pushes = [e for e in mine if e.type == "delivery.sent" and e.data.get("purpose") == "push"]
    failed = first("delivery.failed") or next(
        (
            local(e.at)
            for e in events
            if e.type == "delivery.dead_lettered" and e.data.get("purpose") == "push"
        ),
        None,
    )
    return DeliveryReport(
        department_id=d.department_id,
        delivery_id=d.delivery_id,
        channels=d.channels,
        outcome=(key := _outcome(d, failed)),
        outcome_zh=OUTCOME_LABELS[key],
        transport_state=d.transport_state,
        delivered_at=local(pushes[-1].at) if pushes else None,
        delivered_channel=d.delivered_channel,
        retries=sum(
            e.type == "delivery.retry_scheduled" and e.data.get("purpose", "push") == "push"
            for e in mine
        ),
        bounced_at=tuple(local(e.at) for e in events if e.type == "delivery.bounced"),  # type: ignore[misc]
        fallbacks=tuple(
            str(e.channel)
            for e in events
            if e.type == "delivery.fallback" and e.data.get("purpose", "push") == "push"
        ),
        failed_at=failed,
        reminders=tuple(local(e.at) for e in events if e.type == "reminder.sent"),  # type: ignore[misc]
        claim_state=d.claim_state,
        claim_due=local(d.claim_due),
        claimed_at=local(d.claimed_at) if d.claim_state != "auto_claimed" else None,
        auto_claimed_at=first("claim.auto"),
        deadline_missed_at=first("deadline.missed"),
        escalations=tuple(_escalations(events, tz)),
        objection_state=d.objection_state,
        objection_due=local(d.objection_due),
        reply_state=d.reply_state,
        reply_due=local(d.reply_due),
        steps=tuple(_step(e, tz) for e in events),
    )


def _outcome(d: DeliveryInfo, failed: dt.datetime | None) -> str:
    if failed is not None or d.transport_state == "failed":
        return "delivery_failed"
    if d.claim_state in ("auto_claimed", "claimed", "claimed_late"):
        return d.claim_state
    if d.escalation_level:
        return "escalated"
    if d.transport_state != "delivered":
        return "pending"
    return "open" if d.claim_state == "open" else "delivered"


def _escalations(events: list[EventInfo], tz: dt.tzinfo) -> list[Escalation]:
    return [
        Escalation(
            e.at.astimezone(tz),
            str(e.data.get("to")),
            e.data.get("level") if isinstance(e.data.get("level"), int) else None,
            e.data.get("reason") if isinstance(e.data.get("reason"), str) else None,
        )
        for e in events
        if e.type == "escalation.triggered"
    ]


def _step(e: EventInfo, tz: dt.tzinfo) -> Step:
    return Step(e.at.astimezone(tz), e.type, e.department_id, e.channel, dict(e.data))


def _received(outcome: Outcome) -> tuple[ReceivedCount, ...]:
    counts: dict[tuple[str, str], list[int]] = {}
    for r in outcome.desk.received:
        entry = counts.setdefault((r.department_id, r.purpose), [0, 0])
        entry[1 if r.repeat else 0] += 1
    return tuple(
        ReceivedCount(dept, purpose, notes, repeats)
        for (dept, purpose), (notes, repeats) in sorted(counts.items())
    )


def _refused(outcome: Outcome) -> dict[str, int]:
    return dict(Counter(department_id for _at, department_id, _answer in outcome.desk.refused))
