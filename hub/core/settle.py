"""Settling a sent job in the ledger: the attempts, then what ``decide`` says comes next.

Runs in the dispatcher's settle transaction, after the job's fenced lease was confirmed.
    Delivered   a push: transport delivered at the channel's confirmation, deadlines start;
                a note: recorded as sent
    RetryAt     the next round, durable in the outbox until its time
    FallBack    the job on its next channel (a push also moves the delivery's channel index)
    DeadLetter  a push: 投递失败 — the delivery is failed (never claimed by anyone), the sender
                is told, the operator sees it in ``hub status``; a note: given up, on record
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from hub.bus.topology import DEAD
from hub.channels import Purpose
from hub.core.deadline_plan import (
    DeadlinePlan,
    plan_deadlines,
    start_deadlines,
    stop_deadlines,
    timer_still_open,
    timer_values,
)
from hub.core.decide import DeadLetter, Delivered, FallBack, RetryAt, RetryPolicy, decide
from hub.core.jobs import DeliverJob, note_job
from hub.core.states import TransportState
from hub.errors import DeliveryError
from hub.ledger.batch import Publishable, Writes, among
from hub.ledger.events import delivery_event
from hub.ledger.outbox import enqueue
from hub.ledger.schema import AttemptRow, DeliveryRow, MessageRow, OutboxRow, TimerRow
from hub.message import Channel
from hub.routing.router import Router

if TYPE_CHECKING:
    from hub.core.dispatch import Outcome

log = structlog.get_logger(__name__)


class Settler:
    def __init__(self, router: Router, retry: RetryPolicy) -> None:
        self.router, self.retry = router, retry

    def settle_batch(
        self, session: Session, items: Sequence[tuple[DeliverJob, Outcome]], *, now: dt.datetime
    ) -> list[Publishable]:
        """Settle sent jobs in the caller's transaction. Deliveries confirmed on their first
        arming (the common case) are written one statement per table; anything else (a
        failure, a retry, a fallback, a re-delivery after a bounce) goes through ``settle``."""
        rows = _lock_rows(session, [job.delivery_id for job, _ in items])
        armed = _armed(session, [job.delivery_id for job, o in items if o.receipt is not None])
        writes, slow = Writes(), []
        for job, outcome in items:
            row = rows.get(job.delivery_id)
            if row is None:
                continue
            if outcome.receipt is None or job.delivery_id in armed:
                slow.append((job, outcome))
                continue
            self._confirmed(writes, job, row, outcome, now)
        writes.apply(session)
        follow: list[Publishable] = []
        for job, outcome in slow:
            follow.extend(self.settle(session, job, outcome, now=now))
        return follow

    def _confirmed(
        self,
        writes: Writes,
        job: DeliverJob,
        row: dict[str, Any],
        outcome: Outcome,
        now: dt.datetime,
    ) -> None:
        """A job its channel confirmed: attempts, the delivery's state and deadlines (a push
        delivered now), its timers and event, collected in ``writes``."""
        assert outcome.receipt is not None
        for attempt in outcome.attempts:
            row["attempts"] += 1
            writes.add(AttemptRow, _attempt_values(job, row["attempts"], attempt))
        changes: dict[str, Any] = {"attempts": row["attempts"]}
        plan, arrived = None, outcome.confirmed_at or now
        if job.purpose is Purpose.PUSH and row["transport_state"] == TransportState.PENDING:
            plan = plan_deadlines(self.router.calendar, row["rules"], arrived)
            changes |= {
                "transport_state": TransportState.DELIVERED,
                "delivered_at": arrived,
                "delivered_channel": job.channel.value,
                "channel_index": job.channel_index,
                **plan.columns,
            }
            row.update(changes)
            for timer in plan.timers:
                if timer_still_open(row, timer.action):
                    writes.add(TimerRow, timer_values(job.delivery_id, timer))
        data = _sent_data(job, outcome.receipt.reference, arrived, plan)
        writes.change_delivery(job.delivery_id, **changes)
        writes.event(
            "delivery.sent",
            at=now,
            message_id=row["message_id"],
            delivery_id=job.delivery_id,
            department_id=job.target,
            channel=job.channel.value,
            data=data,
        )
        log.info(
            "delivery.sent",
            delivery_id=job.delivery_id,
            message_id=row["message_id"],
            channel=job.channel.value,
            purpose=job.purpose.value,
            reference=outcome.receipt.reference,
        )

    def settle(
        self, session: Session, job: DeliverJob, outcome: Outcome, *, now: dt.datetime
    ) -> list[Publishable]:
        delivery = _locked(session, job.delivery_id)
        if delivery is None:
            return []
        _record_attempts(session, job, delivery, outcome)
        bound = log.bind(
            delivery_id=job.delivery_id,
            message_id=delivery.message_id,
            channel=job.channel.value,
            purpose=job.purpose.value,
        )
        decision = decide(job, outcome.error, self.retry)
        if isinstance(decision, Delivered):
            assert outcome.receipt is not None
            self._delivered(session, job, delivery, outcome, now)
            bound.info("delivery.sent", reference=outcome.receipt.reference)
            return []
        error = outcome.error or DeliveryError("unknown", retryable=False)
        bound.warning("delivery.failed_try", reason=error.reason, retryable=error.retryable)
        if isinstance(decision, RetryAt):
            return self._retry_later(session, decision, delivery, error, now)
        if isinstance(decision, FallBack):
            return [self._fall_back(session, decision.job, job.channel, delivery, error, now)]
        assert isinstance(decision, DeadLetter)
        return self._dead_letter(session, job, delivery, error, now)

    def bounced(
        self, session: Session, delivery_id: str, channel: Channel, reason: str, *, now: dt.datetime
    ) -> list[Publishable]:
        delivery = _locked(session, delivery_id)
        if (
            delivery is None
            or delivery.delivered_channel != channel.value
            or delivery.transport_state != TransportState.DELIVERED
        ):
            return []  # unknown, or already handled: a second bounce changes nothing
        delivery.transport_state, delivery.delivered_at = TransportState.PENDING, None
        stop_deadlines(session, delivery, now=now)
        delivery_event(
            session,
            "delivery.bounced",
            delivery,
            at=now,
            channel=channel.value,
            data={"reason": reason[:500]},
        )
        channels = tuple(Channel(c) for c in delivery.channels)
        index = channels.index(channel) if channel in channels else len(channels) - 1
        job = DeliverJob(
            delivery_id, Purpose.PUSH, delivery.department_id, channels, channel_index=index
        )
        error = DeliveryError(reason, retryable=False)
        decision = decide(job, error, self.retry)
        if isinstance(decision, FallBack):
            return [self._fall_back(session, decision.job, channel, delivery, error, now)]
        return self._dead_letter(session, job, delivery, error, now)

    def _delivered(
        self,
        session: Session,
        job: DeliverJob,
        delivery: DeliveryRow,
        outcome: Outcome,
        now: dt.datetime,
    ) -> None:
        assert outcome.receipt is not None
        plan, arrived = None, outcome.confirmed_at or now
        if job.purpose is Purpose.PUSH and delivery.transport_state == TransportState.PENDING:
            delivery.transport_state = TransportState.DELIVERED
            delivery.delivered_at, delivery.delivered_channel = arrived, job.channel.value
            delivery.channel_index = job.channel_index
            plan = start_deadlines(session, self.router.calendar, delivery, at=arrived)
        data = _sent_data(job, outcome.receipt.reference, arrived, plan)
        delivery_event(
            session,
            "delivery.sent",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data=data,
        )

    def _retry_later(
        self,
        session: Session,
        decision: RetryAt,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> list[Publishable]:
        job = decision.job
        at = now + dt.timedelta(seconds=decision.delay)
        enqueue(session, job.queue, job.to_payload(), now=now, available_at=at)
        delivery_event(
            session,
            "delivery.retry_scheduled",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={
                "purpose": job.purpose.value,
                "round": job.round,
                "at": at.isoformat(),
                "reason": error.reason,
            },
        )
        return []

    def _fall_back(
        self,
        session: Session,
        job: DeliverJob,
        from_channel: Channel,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> OutboxRow:
        if job.purpose is Purpose.PUSH:
            delivery.channel_index = job.channel_index
        row = enqueue(session, job.queue, job.to_payload(), now=now, published=True)
        delivery_event(
            session,
            "delivery.fallback",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={"purpose": job.purpose.value, "from": from_channel.value, "reason": error.reason},
        )
        return row

    def _dead_letter(
        self,
        session: Session,
        job: DeliverJob,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> list[Publishable]:
        dead = enqueue(session, DEAD, {**job.to_payload(), "reason": error.reason}, now=now)
        dead.done_at = now  # kept for the record; nobody consumes it
        delivery_event(
            session,
            "delivery.dead_lettered",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={"purpose": job.purpose.value, "reason": error.reason},
        )
        if job.purpose is not Purpose.PUSH:
            log.error(
                "delivery.note_undeliverable",
                delivery_id=delivery.delivery_id,
                message_id=delivery.message_id,
                purpose=job.purpose.value,
                target=job.target,
            )
            return []
        return self._undeliverable(session, delivery, error, now)

    def _undeliverable(
        self, session: Session, delivery: DeliveryRow, error: DeliveryError, now: dt.datetime
    ) -> list[Publishable]:
        """投递失败: no channel reached the department. No deadline ever runs for it."""
        delivery.transport_state = TransportState.FAILED
        message = session.get(MessageRow, delivery.message_id)
        sender = self.router.departments.get(message.sender_id) if message else None
        delivery_event(
            session,
            "delivery.failed",
            delivery,
            at=now,
            data={
                "reason": error.reason,
                "channels": list(delivery.channels),
                "notify": sender.id if sender else None,
            },
        )
        log.error(
            "delivery.undeliverable",
            delivery_id=delivery.delivery_id,
            message_id=delivery.message_id,
            department_id=delivery.department_id,
            reason=error.reason,
        )
        if sender is None or sender.id == delivery.department_id:
            return []
        job = note_job(
            delivery.delivery_id,
            Purpose.DELIVERY_FAILED,
            sender,
            f"推送无法送达 {delivery.department_id}（各渠道均失败：{error.reason[:200]}），"
            "请人工处理",
            classified=bool(message and message.classified),
        )
        return [enqueue(session, job.queue, job.to_payload(), now=now, published=True)]


_DELIVERIES: Table = DeliveryRow.__table__  # type: ignore[assignment]


def _lock_rows(session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The deliveries, locked in id order (one statement), as column dicts."""
    if not ids:
        return {}
    query = (
        select(_DELIVERIES)
        .where(among(session, _DELIVERIES.c.delivery_id, ids))
        .order_by(_DELIVERIES.c.delivery_id)
        .with_for_update()
    )
    return {row.delivery_id: dict(row._mapping) for row in session.execute(query)}


def _armed(session: Session, ids: Sequence[str]) -> set[str]:
    """Deliveries that have timers already (delivered before, then bounced): re-armed by the
    general path, which reuses their rows."""
    if not ids:
        return set()
    query = select(TimerRow.delivery_id).where(among(session, TimerRow.delivery_id, ids)).distinct()
    return set(session.scalars(query))


def _locked(session: Session, delivery_id: str) -> DeliveryRow | None:
    return session.get(DeliveryRow, delivery_id, with_for_update=True)


def _record_attempts(
    session: Session, job: DeliverJob, delivery: DeliveryRow, outcome: Outcome
) -> None:
    for attempt in outcome.attempts:
        delivery.attempts += 1
        session.add(AttemptRow(**_attempt_values(job, delivery.attempts, attempt)))


def _attempt_values(
    job: DeliverJob, number: int, attempt: tuple[dt.datetime, dt.datetime, str, str]
) -> dict[str, Any]:
    started, finished, kind, detail = attempt
    return {
        "delivery_id": job.delivery_id,
        "purpose": job.purpose.value,
        "channel": job.channel.value,
        "number": number,
        "started_at": started,
        "finished_at": finished,
        "outcome": kind,
        "detail": detail[:1000],
    }


def _sent_data(
    job: DeliverJob, reference: str, arrived: dt.datetime, plan: DeadlinePlan | None
) -> dict[str, Any]:
    """The ``delivery.sent`` event's data; with the deadlines when the push arrived now."""
    data: dict[str, Any] = {"purpose": job.purpose.value, "reference": reference}
    if plan is not None:
        claim, objection, reply = plan.dues
        data |= {
            "delivered_at": arrived.isoformat(),
            "claim_due": _iso(claim),
            "objection_due": _iso(objection),
            "reply_due": _iso(reply),
            "provisional": plan.provisional,
        }
    return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
