"""The dispatcher: sends one outbound note per job over its channel, and decides what next.

Per job: lease the outbox row (another copy finds it leased or done), build the note, try the
channel a few times in-process (tenacity: exponential backoff with jitter, retryable errors
only), then in one transaction record every attempt and either
    * mark it delivered (push) and complete the job, or
    * schedule a durable retry round (the outbox row comes back at ``available_at``), or
    * fall back to the route's next channel, or
    * when every channel is exhausted: dead-letter it, mark the delivery failed and escalate.
Classified (涉密) content is refused on any online channel here too, whatever the router said.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.orm import Session
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from hub.bus.topology import DEAD, deliver_queue
from hub.channels import ChannelAdapter, OutboundNote, Purpose, Receipt
from hub.clock.deadline import display_instant
from hub.clock.now import Clock
from hub.clock.spec import DeadlineSpec
from hub.core.asyncrunner import AsyncRunner
from hub.core.codec import message_from_json
from hub.errors import DeliveryError
from hub.ledger.db import Database
from hub.ledger.events import delivery_event
from hub.ledger.outbox import complete, enqueue, lease
from hub.ledger.schema import AttemptRow, DeliveryRow, MessageRow, OutboxRow
from hub.message import Channel
from hub.routing.router import Router

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """In-process tries per round, then durable rounds through the outbox, then fallback."""

    tries_per_round: int = 3
    try_wait_initial: float = 0.5
    try_wait_max: float = 5.0
    rounds: int = 5
    round_wait_initial: float = 60.0
    round_wait_max: float = 3600.0
    lease_seconds: float = 120.0


@dataclass
class _Outcome:
    receipt: Receipt | None = None
    error: DeliveryError | None = None
    attempts: list[tuple[dt.datetime, dt.datetime, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    outbox_id: int
    delivery_id: str
    purpose: Purpose
    channel: Channel
    target: str
    summary_zh: str
    round: int


class Dispatcher:
    def __init__(
        self,
        db: Database,
        router: Router,
        adapters: Mapping[Channel, ChannelAdapter],
        clock: Clock,
        runner: AsyncRunner,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.db, self.router, self.adapters, self.clock = db, router, adapters, clock
        self.runner, self.retry = runner, retry or RetryPolicy()

    def handle(self, outbox_id: int, payload: dict[str, Any]) -> list[OutboxRow]:
        """Process one deliver job; returns follow-up jobs to publish."""
        job = _parse(outbox_id, payload)
        with self.db.transaction() as session:
            if not lease(
                session, outbox_id, now=self.clock.now(), seconds=self.retry.lease_seconds
            ):
                return []
            note = self._note(session, job)
        if note is None:
            with self.db.transaction() as session:
                complete(session, outbox_id, now=self.clock.now())
            return []
        outcome = self._send(job, note)
        with self.db.transaction() as session:
            return self._settle(session, job, note, outcome)

    def handle_batch(self, items: Sequence[tuple[int, dict[str, Any]]]) -> list[OutboxRow]:
        """Process several deliver jobs: lease them in one transaction, send them concurrently,
        settle them in one transaction (each in its own if that fails: nothing is sent twice
        because a settle failed). Returns follow-up jobs to publish."""
        if len(items) == 1:
            return self.handle(items[0][0], dict(items[0][1]))
        jobs = sorted(_parse_all(items), key=_by_row)  # rows locked in one order: no deadlock
        with self.db.transaction() as session:
            now = self.clock.now()
            work: list[tuple[_Job, OutboundNote]] = []
            for job in jobs:
                if not lease(session, job.outbox_id, now=now, seconds=self.retry.lease_seconds):
                    continue
                note = self._note(session, job)
                if note is None:
                    complete(session, job.outbox_id, now=now)
                else:
                    work.append((job, note))
        if not work:
            return []
        outcomes = self.runner.run(self._send_all(work))
        settled = list(zip(work, outcomes, strict=True))
        try:
            with self.db.transaction() as session:
                return [
                    row
                    for (job, note), outcome in settled
                    for row in self._settle(session, job, note, outcome)
                ]
        except Exception:  # noqa: BLE001 - settle one by one; the sends are not repeated
            log.warning("delivery.batch_settle_failed", jobs=len(settled), exc_info=True)
        follow: list[OutboxRow] = []
        for (job, note), outcome in settled:
            try:
                with self.db.transaction() as session:
                    follow.extend(self._settle(session, job, note, outcome))
            except Exception:  # noqa: BLE001 - the lease runs out; the relay offers it again
                log.exception(
                    "delivery.settle_failed", delivery_id=job.delivery_id, outbox_id=job.outbox_id
                )
        return follow

    async def _send_all(self, work: list[tuple[_Job, OutboundNote]]) -> list[_Outcome]:
        return list(await asyncio.gather(*(self._send_async(job, note) for job, note in work)))

    def bounced(self, delivery_id: str, channel: Channel, reason: str) -> list[OutboxRow]:
        """A channel reported, after accepting it, that the push never arrived (a bounce/DSN):
        the delivery goes back to pending and on to the route's next channel."""
        now = self.clock.now()
        with self.db.transaction() as session:
            delivery = session.get(DeliveryRow, delivery_id, with_for_update=True)
            if (
                delivery is None
                or delivery.delivered_channel != channel.value
                or (delivery.transport_state != "delivered")
            ):
                return []  # unknown, or already handled: a second bounce changes nothing
            delivery.transport_state, delivery.delivered_at = "pending", None
            delivery_event(
                session,
                "delivery.bounced",
                delivery,
                at=now,
                channel=channel.value,
                data={"reason": reason[:500]},
            )
            job = _Job(0, delivery_id, Purpose.PUSH, channel, delivery.department_id, "", 0)
            return self._fall_back(
                session, job, delivery, DeliveryError(reason, retryable=False), now
            )

    def _note(self, session: Session, job: _Job) -> OutboundNote | None:
        delivery = session.get(DeliveryRow, job.delivery_id)
        message_row = session.get(MessageRow, delivery.message_id) if delivery else None
        if delivery is None or message_row is None:
            return None
        if job.purpose is Purpose.PUSH and delivery.transport_state != "pending":
            return None  # already delivered or given up: a stale copy of the job
        dept = self.router.departments.get(job.target)
        if dept is None:
            return None
        about = (
            None
            if job.target == delivery.department_id
            else self.router.departments.get(delivery.department_id)
        )
        return OutboundNote(
            delivery_id=delivery.delivery_id,
            purpose=job.purpose,
            message=message_from_json(message_row.payload),
            department_id=dept.id,
            department_name=dept.name,
            address=getattr(dept.channels, job.channel.value),
            attempt=job.round + 1,
            claim_due=self._local(delivery.claim_due),
            objection_due=self._local(delivery.objection_due),
            reply_due=self._local(delivery.reply_due),
            deadlines_zh=_deadlines_zh(delivery),
            summary_zh=job.summary_zh,
            about_department_id=None if about is None else about.id,
            about_department_name=None if about is None else about.name,
        )

    def _local(self, instant: dt.datetime | None) -> dt.datetime | None:
        """Ledger instants are UTC; departments read the calendar's time zone."""
        return instant.astimezone(self.router.calendar.tz) if instant else None

    def _send(self, job: _Job, note: OutboundNote) -> _Outcome:
        return self.runner.run(self._send_async(job, note))

    async def _send_async(self, job: _Job, note: OutboundNote) -> _Outcome:
        outcome = _Outcome()
        if note.message.classification.is_classified and job.channel.is_online:
            log.error(
                "security.classified_online",
                delivery_id=job.delivery_id,
                message_id=note.message.message_id,
                channel=job.channel.value,
            )
            outcome.error = DeliveryError(
                "涉密信息不得线上推送 (classified: online refused)", retryable=False
            )
            return outcome
        adapter = self.adapters.get(job.channel)
        if adapter is None or note.address is None:
            outcome.error = DeliveryError(
                f"渠道 {job.channel.value} 未启用或部门无地址 (channel not configured)",
                retryable=False,
            )
            return outcome
        try:
            outcome.receipt = await self._tries(adapter, note, outcome)
        except DeliveryError as exc:
            outcome.error = exc
        return outcome

    async def _tries(
        self, adapter: ChannelAdapter, note: OutboundNote, outcome: _Outcome
    ) -> Receipt:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.tries_per_round),
            wait=wait_exponential_jitter(
                multiplier=self.retry.try_wait_initial, max=self.retry.try_wait_max
            ),
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                started = self.clock.now()
                try:
                    receipt = await adapter.deliver(note)
                except DeliveryError as exc:
                    kind = "retryable" if exc.retryable else "permanent"
                    outcome.attempts.append((started, self.clock.now(), kind, exc.reason))
                    raise
                outcome.attempts.append((started, self.clock.now(), "ok", receipt.reference))
                return receipt
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(
        self, session: Session, job: _Job, note: OutboundNote, outcome: _Outcome
    ) -> list[OutboxRow]:
        now = self.clock.now()
        delivery = session.get(DeliveryRow, job.delivery_id, with_for_update=True)
        assert delivery is not None
        self._record_attempts(session, job, delivery, outcome)
        bound = log.bind(
            delivery_id=job.delivery_id,
            message_id=delivery.message_id,
            channel=job.channel.value,
            purpose=job.purpose.value,
        )
        if outcome.receipt is not None:
            complete(session, job.outbox_id, now=now)
            self._delivered(session, job, delivery, outcome.receipt, now)
            bound.info("delivery.sent", reference=outcome.receipt.reference)
            return []
        error = outcome.error or DeliveryError("unknown", retryable=False)
        bound.warning("delivery.failed", reason=error.reason, retryable=error.retryable)
        if error.retryable and job.round + 1 < self.retry.rounds:
            return self._retry_later(session, job, delivery, error, now)
        complete(session, job.outbox_id, now=now)
        return self._fall_back(session, job, delivery, error, now)

    def _record_attempts(
        self, session: Session, job: _Job, delivery: DeliveryRow, outcome: _Outcome
    ) -> None:
        for started, finished, kind, detail in outcome.attempts:
            delivery.attempts += 1
            session.add(
                AttemptRow(
                    delivery_id=job.delivery_id,
                    purpose=job.purpose.value,
                    channel=job.channel.value,
                    number=delivery.attempts,
                    started_at=started,
                    finished_at=finished,
                    outcome=kind,
                    detail=detail[:1000],
                )
            )

    def _delivered(
        self, session: Session, job: _Job, delivery: DeliveryRow, receipt: Receipt, now: dt.datetime
    ) -> None:
        if job.purpose is Purpose.PUSH:
            delivery.transport_state = "delivered"
            delivery.delivered_at, delivery.delivered_channel = now, job.channel.value
        delivery_event(
            session,
            "delivery.sent",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={"purpose": job.purpose.value, "reference": receipt.reference},
        )

    def _retry_later(
        self,
        session: Session,
        job: _Job,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> list[OutboxRow]:
        wait = min(self.retry.round_wait_initial * 2**job.round, self.retry.round_wait_max)
        at = now + dt.timedelta(seconds=wait)
        payload = {**_payload(job), "round": job.round + 1}
        complete(session, job.outbox_id, now=now)
        enqueue(session, deliver_queue(job.channel.value), payload, now=now, available_at=at)
        delivery_event(
            session,
            "delivery.retry_scheduled",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={"round": job.round + 1, "at": at.isoformat(), "reason": error.reason},
        )
        return []

    def _fall_back(
        self,
        session: Session,
        job: _Job,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> list[OutboxRow]:
        channels = [Channel(c) for c in delivery.channels]
        index = channels.index(job.channel) if job.channel in channels else len(channels)
        if job.purpose is not Purpose.PUSH:
            index = len(channels)  # notes: one channel is enough; give up after it
        if index + 1 < len(channels):
            nxt = channels[index + 1]
            if job.purpose is Purpose.PUSH:
                delivery.channel_index = index + 1
            row = enqueue(
                session,
                deliver_queue(nxt.value),
                {**_payload(job), "channel": nxt.value, "round": 0},
                now=now,
                published=True,
            )
            delivery_event(
                session,
                "delivery.fallback",
                delivery,
                at=now,
                department_id=job.target,
                channel=nxt.value,
                data={"from": job.channel.value, "reason": error.reason},
            )
            return [row]
        return self._dead_letter(session, job, delivery, error, now)

    def _dead_letter(
        self,
        session: Session,
        job: _Job,
        delivery: DeliveryRow,
        error: DeliveryError,
        now: dt.datetime,
    ) -> list[OutboxRow]:
        out: list[OutboxRow] = []
        dead = enqueue(session, DEAD, {**_payload(job), "reason": error.reason}, now=now)
        complete(session, dead.id, now=now)  # kept for the record; nobody consumes it
        delivery_event(
            session,
            "delivery.dead_lettered",
            delivery,
            at=now,
            department_id=job.target,
            channel=job.channel.value,
            data={"purpose": job.purpose.value, "reason": error.reason},
        )
        if job.purpose is Purpose.PUSH:
            delivery.transport_state = "failed"
            out.extend(self._escalate_failure(session, delivery, now))
        return out

    def _escalate_failure(
        self, session: Session, delivery: DeliveryRow, now: dt.datetime
    ) -> list[OutboxRow]:
        chain = list(delivery.rules.get("escalation") or [])
        target = chain[0] if chain else self.router.config.approval_bureau
        dept = self.router.departments[target]
        channel = next(
            (c for c in Channel if dept.channels.has(c) and c is not Channel.PAPER), Channel.PAPER
        )
        row = enqueue(
            session,
            deliver_queue(channel.value),
            {
                "delivery_id": delivery.delivery_id,
                "purpose": Purpose.ESCALATION.value,
                "channel": channel.value,
                "target": target,
                "round": 0,
                "summary_zh": f"推送无法送达 {delivery.department_id}（渠道均失败），请人工处理",
            },
            now=now,
            published=True,
        )
        delivery_event(
            session,
            "escalation.triggered",
            delivery,
            at=now,
            data={"to": target, "reason": "undeliverable"},
        )
        return [row]


def _parse(outbox_id: int, payload: dict[str, Any]) -> _Job:
    return _Job(
        outbox_id=outbox_id,
        delivery_id=str(payload["delivery_id"]),
        purpose=Purpose(payload.get("purpose", "push")),
        channel=Channel(payload["channel"]),
        target=str(payload.get("target") or payload.get("department_id") or ""),
        summary_zh=str(payload.get("summary_zh", "")),
        round=int(payload.get("round", 0)),
    )


def _parse_all(items: Sequence[tuple[int, dict[str, Any]]]) -> list[_Job]:
    jobs = []
    for outbox_id, payload in items:
        try:
            jobs.append(_parse(outbox_id, dict(payload)))
        except (KeyError, ValueError, TypeError) as exc:  # not a job this hub wrote: drop it
            log.error("delivery.bad_job", outbox_id=outbox_id, error=repr(exc))
    return jobs


def _by_row(job: _Job) -> tuple[str, int]:
    return job.delivery_id, job.outbox_id


def _payload(job: _Job) -> dict[str, Any]:
    return {
        "delivery_id": job.delivery_id,
        "purpose": job.purpose.value,
        "channel": job.channel.value,
        "target": job.target,
        "summary_zh": job.summary_zh,
        "round": job.round,
    }


def _deadlines_zh(delivery: DeliveryRow) -> dict[str, str]:
    """ "认领期限": "2026-10-08 24:00" (with 暂定 when provisional), "认领时限": "1个工作日" …"""
    out: dict[str, str] = {}
    mark = "（暂定）" if delivery.provisional else ""
    for name, value, rule in (
        ("认领", delivery.claim_due, "claim"),
        ("异议", delivery.objection_due, "objection"),
        ("回复", delivery.reply_due, "reply"),
    ):
        if value is not None:
            out[f"{name}期限"] = display_instant(value) + mark
            spec = delivery.rules.get(rule)
            if spec:
                out[f"{name}时限"] = DeadlineSpec.parse(spec).label
    return out
