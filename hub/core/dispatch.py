"""The dispatcher: sends deliver jobs over their channels and records what happened.

Per batch of jobs: lease the outbox rows (fenced: each lease has a token), build the notes,
send them concurrently while a keeper renews the leases, then settle in one transaction: record
every attempt and apply ``decide``'s verdict (delivered / retry round / fall back / dead letter,
see ``hub/core/decide.py``). A settle whose lease was taken over meanwhile changes nothing.
A push is delivered when its channel confirms (HTTP 2xx, SMTP accepted, paper slip spooled):
only then do its claim, objection and reply deadlines start (``hub/core/deadline_plan.py``).
A push no channel could deliver is 投递失败: the delivery is marked failed, never claimed, and
its sender is told. Classified or offline-only content is refused on any online channel here,
whatever the router said: the dispatcher owns that guard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from hub.backoff import backoff_wait
from hub.channels import ChannelAdapter, OutboundNote, Receipt
from hub.clock.now import Clock
from hub.core.asyncrunner import AsyncRunner
from hub.core.decide import RetryPolicy
from hub.core.jobs import DeliverJob
from hub.core.message_cache import MessageCache
from hub.core.notes import build_note
from hub.core.settle import Settler
from hub.errors import DeliveryError
from hub.ledger import leases
from hub.ledger.batch import Publishable, among
from hub.ledger.db import Database
from hub.ledger.schema import DeliveryRow
from hub.message import Channel
from hub.routing.router import Router

__all__ = ["Dispatcher", "RetryPolicy"]
log = structlog.get_logger(__name__)
DEFAULT_SEND_TIMEOUT = 30.0


@dataclass
class Outcome:
    """What the tries of one job gave: a receipt, or the last error; every attempt."""

    receipt: Receipt | None = None
    error: DeliveryError | None = None
    attempts: list[tuple[dt.datetime, dt.datetime, str, str]] = field(default_factory=list)

    @property
    def confirmed_at(self) -> dt.datetime | None:
        """When the channel confirmed the delivery (the end of the successful attempt)."""
        return self.attempts[-1][1] if self.receipt is not None and self.attempts else None


@dataclass(frozen=True)
class Work:
    job: DeliverJob
    outbox_id: int
    token: int
    note: OutboundNote


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
        self.settler = Settler(router, self.retry)
        self.keeper = leases.LeaseKeeper(db.transaction, clock.now, self.lease_seconds)
        self.messages = MessageCache()

    @property
    def lease_seconds(self) -> float:
        """The policy's lease, or one that outlasts a round of tries on the slowest channel:
        tries × the channel's send timeout + the waits between tries + a margin."""
        if self.retry.lease_seconds is not None:
            return self.retry.lease_seconds
        timeouts = [
            getattr(a, "send_timeout", DEFAULT_SEND_TIMEOUT) for a in self.adapters.values()
        ]
        slowest = max([DEFAULT_SEND_TIMEOUT, *timeouts])
        tries = self.retry.tries_per_round
        return slowest * tries + self.retry.try_wait_max * (tries - 1) + 30.0

    def handle(self, outbox_id: int, payload: dict[str, Any]) -> list[Publishable]:
        """Process one deliver job; returns follow-up jobs to publish."""
        return self.handle_batch([(outbox_id, payload)])

    def handle_batch(self, items: Sequence[tuple[int, Mapping[str, Any]]]) -> list[Publishable]:
        """Lease, send concurrently, settle in one transaction (one by one if that fails:
        nothing is sent twice because a settle failed). Returns follow-up jobs to publish."""
        work = self._lease_all(_parse_all(items))
        if not work:
            return []
        with self.keeper.kept({w.outbox_id: w.token for w in work}):
            outcomes = self.runner.run(self._send_all(work))
        settled = list(zip(work, outcomes, strict=True))
        if len(settled) > 1:
            try:
                with self.db.transaction() as session:
                    return self._settle_batch(session, settled)
            except Exception:  # noqa: BLE001 - settle one by one; the sends are not repeated
                log.warning("delivery.batch_settle_failed", jobs=len(settled), exc_info=True)
        follow: list[Publishable] = []
        for w, outcome in settled:
            follow.extend(self._settle_alone(w, outcome))
        return follow

    def _lease_all(self, jobs: list[tuple[int, DeliverJob]]) -> list[Work]:
        """Lease the jobs' rows (one statement) and build their notes; a job with nothing left
        to do (a stale copy) is completed at once."""
        if not jobs:
            return []
        unique = dict(jobs)  # a job twice in one batch (a redelivery) is leased once
        with self.db.transaction() as session:
            now = self.clock.now()
            tokens = leases.take_many(session, list(unique), now=now, seconds=self.lease_seconds)
            held = sorted(
                ((oid, job) for oid, job in unique.items() if oid in tokens),
                key=lambda j: (j[1].delivery_id, j[0]),
            )
            deliveries = _deliveries(session, [job.delivery_id for _, job in held])
            messages = self.messages.load(session, {d.message_id for d in deliveries.values()})
            work, stale = [], {}
            for oid, job in held:
                delivery = deliveries.get(job.delivery_id)
                message = messages.get(delivery.message_id) if delivery else None
                note = build_note(self.router, job, delivery, message, now=now)
                if note is None:
                    stale[oid] = tokens[oid]
                else:
                    work.append(Work(job, oid, tokens[oid], note))
            leases.settle_many(session, stale, now=now)
        return work

    def _settle_batch(
        self, session: Session, settled: list[tuple[Work, Outcome]]
    ) -> list[Publishable]:
        """Settle every job whose lease still holds, in one transaction; a job whose lease was
        taken over meanwhile applies nothing."""
        now = self.clock.now()
        held = leases.settle_many(session, {w.outbox_id: w.token for w, _ in settled}, now=now)
        for w, _ in settled:
            if w.outbox_id not in held:
                log.warning(
                    "delivery.lease_lost", delivery_id=w.job.delivery_id, outbox_id=w.outbox_id
                )
        items = [(w.job, o) for w, o in settled if w.outbox_id in held]
        return self.settler.settle_batch(session, items, now=now)

    def _settle(self, session: Session, work: Work, outcome: Outcome) -> list[Publishable]:
        now = self.clock.now()
        if not leases.settle(session, work.outbox_id, work.token, now=now):
            raise leases.LeaseLost(work.outbox_id)
        return self.settler.settle(session, work.job, outcome, now=now)

    def _settle_alone(self, work: Work, outcome: Outcome) -> list[Publishable]:
        bound = log.bind(delivery_id=work.job.delivery_id, outbox_id=work.outbox_id)
        try:
            with self.db.transaction() as session:
                return self._settle(session, work, outcome)
        except leases.LeaseLost:
            bound.warning("delivery.lease_lost", purpose=work.job.purpose.value)
        except Exception:  # noqa: BLE001 - the lease runs out; the relay offers it again
            bound.exception("delivery.settle_failed")
        return []

    def bounced(self, delivery_id: str, channel: Channel, reason: str) -> list[Publishable]:
        """A channel reported, after accepting it, that the push never arrived (a bounce/DSN):
        its deadlines stop, and it goes on to the route's next channel (or 投递失败)."""
        with self.db.transaction() as session:
            return self.settler.bounced(session, delivery_id, channel, reason, now=self.clock.now())

    async def _send_all(self, work: list[Work]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._send(w.job, w.note) for w in work)))

    async def _send(self, job: DeliverJob, note: OutboundNote) -> Outcome:
        outcome = Outcome()
        if note.message.classification.paper_only and job.channel.is_online:
            log.error(
                "security.classified_online",
                delivery_id=job.delivery_id,
                message_id=note.message.message_id,
                channel=job.channel.value,
            )
            outcome.error = DeliveryError(
                "涉密或不宜线上的信息不得线上推送 (classified/offline-only: online refused)",
                retryable=False,
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
        self, adapter: ChannelAdapter, note: OutboundNote, outcome: Outcome
    ) -> Receipt:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.tries_per_round),
            wait=backoff_wait(self.retry.try_wait_initial, self.retry.try_wait_max),
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


def _deliveries(session: Session, ids: list[str]) -> dict[str, DeliveryRow]:
    if not ids:
        return {}
    query = select(DeliveryRow).where(among(session, DeliveryRow.delivery_id, ids))
    return {d.delivery_id: d for d in session.scalars(query)}


def _parse_all(items: Sequence[tuple[int, Mapping[str, Any]]]) -> list[tuple[int, DeliverJob]]:
    jobs = []
    for outbox_id, payload in items:
        try:
            jobs.append((outbox_id, DeliverJob.from_payload(payload)))
        except (KeyError, ValueError, TypeError) as exc:  # not a job this hub wrote: drop it
            log.error("delivery.bad_job", outbox_id=outbox_id, error=repr(exc))
    return jobs
