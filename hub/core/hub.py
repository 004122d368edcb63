"""The hub: the ledger, the router, the clock and the bus behind one facade (``HubApi``).

Every public method is one unit of work: it commits to the ledger, then publishes the jobs the
commit created (the outbox fast path). Anything not published — a crash, a bus outage — is
published later by the relay, and every consumer ignores a job it has already done.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bus.base import Bus
from hub.channels import ChannelAdapter
from hub.clock.now import Clock, SystemClock
from hub.core import claims
from hub.core.api import Accepted, ActionResult, DeliveryView
from hub.core.asyncrunner import AsyncRunner
from hub.core.claims import ActionRequest, ClaimRequest
from hub.core.deadlines import fire_due
from hub.core.dispatch import Dispatcher, RetryPolicy
from hub.core.group_commit import GroupCommit, Work
from hub.core.ingest import accept_batch, quarantine
from hub.core.recompute import recompute_provisional
from hub.core.relay import Relay, RelayPolicy
from hub.core.routing_stage import route_job
from hub.core.tokens import TokenCache
from hub.errors import FieldProblem, RoutingError
from hub.ledger.batch import NewJob, Publishable
from hub.ledger.db import Database
from hub.ledger.events import append_event, seal_events
from hub.ledger.outbox import record_error, unmark_published
from hub.ledger.schema import ApiTokenRow, DeliveryRow
from hub.message import CanonicalMessage, Channel
from hub.routing.router import Router

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Hub:
    """Implements :class:`hub.core.api.HubApi` and the worker-side stages."""

    def __init__(
        self,
        db: Database,
        router: Router,
        bus: Bus,
        *,
        clock: Clock | None = None,
        adapters: Mapping[Channel, ChannelAdapter] | None = None,
        retry: RetryPolicy | None = None,
        token_cache_seconds: float = 10.0,
    ) -> None:
        self.db, self.router, self.bus = db, router, bus
        self.clock: Clock = clock or SystemClock()
        self.runner = AsyncRunner()
        self.fast_path = True  # publish jobs right after commit; False leaves them to a relay
        self.route_at_ingest = True  # False: a routing job per message (the routing stage)
        self.dispatcher = Dispatcher(db, router, adapters or {}, self.clock, self.runner, retry)
        self.commits = GroupCommit(db, self.publish)
        self.tokens = TokenCache(token_cache_seconds)
        self._accept_work: Work[Sequence[CanonicalMessage], list[Accepted | RoutingError]] = Work(
            "accept", self._accept_batch
        )
        self._claim_work: Work[ClaimRequest, ActionResult] = Work("claim", claims.claim_batch)
        self._action_work: Work[ActionRequest, ActionResult] = Work("action", claims.action_batch)

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, jobs: Iterable[Publishable | None]) -> None:
        """Publish committed jobs (fast path). A failure is logged: the relay will retry."""
        items = [(job.queue, {"outbox_id": job.id, **job.payload}) for job in jobs if job]
        if not items:
            return
        try:
            self.bus.publish_many(items)
        except Exception as exc:  # noqa: BLE001 - any bus failure: the relay republishes
            log.warning("bus.publish_deferred", jobs=len(items), error=str(exc))
            self._unpublished([int(body["outbox_id"]) for _, body in items])

    def _unpublished(self, outbox_ids: list[int]) -> None:
        """Mark jobs whose fast-path publish failed as never published: the relay's next pass
        (``HUB_RELAY_INTERVAL``) sends them, not the lost-job pass ``HUB_REDELIVER_AFTER``
        later. Should this fail too, that later pass still finds them."""
        try:
            with self.db.transaction() as session:
                unmark_published(session, outbox_ids)
        except Exception:  # noqa: BLE001 - only sooner; the relay finds them anyway
            log.warning("bus.unpublish_failed", jobs=len(outbox_ids), exc_info=True)

    def relay(self, policy: RelayPolicy | None = None) -> int:
        """One outbox relay pass (``hub.core.relay``): publish due jobs, republish lost ones,
        quarantine jobs that always fail. Returns how many jobs it published or quarantined."""
        return Relay(self.db, self.bus, self.clock).run(policy or RelayPolicy())

    # -- HubApi -------------------------------------------------------------------------------
    def accept(self, message: CanonicalMessage) -> Accepted:
        results = self.accept_many([message])
        return _single(results)

    def accept_many(self, messages: Sequence[CanonicalMessage]) -> list[Accepted | RoutingError]:
        results = self.commits.run_now(self._accept_work, [messages])
        return _single(results)

    async def accept_async(self, message: CanonicalMessage) -> Accepted:
        results = await self.commits.run(self._accept_work, [message])
        return _single(results)

    async def accept_many_async(
        self, messages: Sequence[CanonicalMessage]
    ) -> list[Accepted | RoutingError]:
        return await self.commits.run(self._accept_work, messages)

    def _accept_batch(
        self, session: Session, batches: Sequence[Sequence[CanonicalMessage]]
    ) -> tuple[list[list[Accepted | RoutingError]], list[NewJob]]:
        """Every submitted list of messages in one ``accept_batch``; results split back."""
        flat = [message for batch in batches for message in batch]
        results, jobs = accept_batch(
            session,
            self.router,
            flat,
            now=self.clock.now(),
            route=self.route_at_ingest,
            published=self.fast_path,
        )
        self.dispatcher.messages.remember(  # what the ledger now holds: new ones only
            m
            for m, r in zip(flat, results, strict=True)
            if isinstance(r, Accepted) and not r.duplicate
        )
        out, start = [], 0
        for batch in batches:
            out.append(results[start : start + len(batch)])
            start += len(batch)
        return out, jobs

    async def authenticate_async(self, token: str) -> str | None:
        cached = self.tokens.get(token)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.authenticate, token)

    async def delivery_view_async(
        self, delivery_id: str, *, department_id: str | None = None
    ) -> DeliveryView:
        return await asyncio.to_thread(
            functools.partial(self.delivery_view, delivery_id, department_id=department_id)
        )

    def quarantine_input(
        self, *, channel: Channel, raw: bytes, problems: list[FieldProblem], source_id: str = ""
    ) -> int:
        return quarantine(
            self.db,
            stage="ingest",
            channel=channel,
            raw=raw,
            problems=problems,
            now=self.clock.now(),
            source_id=source_id,
        )

    def authenticate(self, token: str) -> str | None:
        """The token's department; a valid token is remembered for ``token_cache_seconds``, so
        a revocation takes effect within that time (unknown tokens are never cached)."""
        cached = self.tokens.get(token)
        if cached is not None:
            return cached
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self.db.read() as session:
            row = session.get(ApiTokenRow, digest)
            department = row.department_id if row is not None and row.revoked_at is None else None
        if department is not None:
            self.tokens.put(token, department)
        return department

    def issue_token(self, department_id: str, label: str = "") -> str:
        """A new bearer token for ``department_id`` (only its sha256 is stored)."""
        if department_id not in self.router.departments:
            raise KeyError(department_id)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.db.transaction() as session:
            session.add(
                ApiTokenRow(
                    token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                    department_id=department_id,
                    label=label,
                    created_at=now,
                )
            )
            append_event(
                session, "token.issued", at=now, department_id=department_id, data={"label": label}
            )
        return token

    def _acted_at(self, at: dt.datetime | None) -> dt.datetime:
        """When the department acted: ``at`` when the channel knows it better than the hub's
        clock (a mail's arrival at the mail server), bounded by the hub's clock, never later
        than now (and, in ``claims``, never before the push was delivered)."""
        now = self.clock.now()
        return min(at or now, now)

    def _claim_request(
        self,
        delivery_id: str,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None,
    ) -> ClaimRequest:
        return ClaimRequest(delivery_id, department_id, actor, channel, self._acted_at(at))

    def claim(
        self,
        delivery_id: str,
        *,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._claim_request(delivery_id, department_id, actor, channel, at)
        results = self.commits.run_now(self._claim_work, [request])
        return _single(results)

    async def claim_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._claim_request(delivery_id, department_id, actor, channel, at)
        return await self.commits.run(self._claim_work, request)

    def object(
        self,
        delivery_id: str,
        *,
        department_id: str,
        reason: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._action("objection", delivery_id, department_id, actor, channel, at, reason)
        results = self.commits.run_now(self._action_work, [request])
        return _single(results)

    async def object_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        reason: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._action("objection", delivery_id, department_id, actor, channel, at, reason)
        return await self.commits.run(self._action_work, request)

    def reply(
        self,
        delivery_id: str,
        *,
        department_id: str,
        text: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._action("reply", delivery_id, department_id, actor, channel, at, text)
        results = self.commits.run_now(self._action_work, [request])
        return _single(results)

    async def reply_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        text: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        request = self._action("reply", delivery_id, department_id, actor, channel, at, text)
        return await self.commits.run(self._action_work, request)

    def _action(
        self,
        action: str,
        delivery_id: str,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None,
        text: str,
    ) -> ActionRequest:
        acted = self._acted_at(at)
        return ActionRequest(action, delivery_id, department_id, actor, channel, acted, text)

    def delivery_view(self, delivery_id: str, *, department_id: str | None = None) -> DeliveryView:
        with self.db.transaction() as session:
            row = claims.load_for_action(session, delivery_id, department_id, lock=False)
            return _view(row, self.router.calendar.tz)

    def deliveries_of(self, message_id: str) -> list[DeliveryView]:
        with self.db.read() as session:
            rows = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.message_id == message_id)
                .order_by(DeliveryRow.department_id)
            )
            return [_view(r, self.router.calendar.tz) for r in rows]

    def report_bounce(self, delivery_id: str, *, channel: Channel, reason: str) -> None:
        """A bounce (DSN) for a push the channel had accepted: fall back or escalate."""
        self.publish(self.dispatcher.bounced(delivery_id, channel, reason))

    # -- worker stages ------------------------------------------------------------------------
    def handle_route(self, outbox_id: int | None, message_id: str) -> None:
        with self.db.transaction() as session:
            jobs = route_job(
                session,
                self.router,
                outbox_id=outbox_id,
                message_id=message_id,
                now=self.clock.now(),
            )
        self.publish(jobs)

    def handle_route_batch(self, jobs: Sequence[tuple[int | None, str]]) -> None:
        """Route several messages in one transaction (one commit, one publish); when that
        transaction fails, each message is routed in its own, so one bad job spoils nothing."""
        if len(jobs) > 1:
            try:
                with self.db.transaction() as session:
                    now = self.clock.now()
                    created = [
                        job
                        for outbox_id, message_id in sorted(jobs, key=lambda j: (j[0] or 0, j[1]))
                        for job in route_job(
                            session,
                            self.router,
                            outbox_id=outbox_id,
                            message_id=message_id,
                            now=now,
                        )
                    ]
            except Exception:  # noqa: BLE001 - retried one by one below
                log.warning("route.batch_failed", jobs=len(jobs), exc_info=True)
            else:
                self.publish(created)
                return
        for outbox_id, message_id in jobs:
            try:
                self.handle_route(outbox_id, message_id)
            except Exception as exc:  # noqa: BLE001 - the outbox keeps the job; the relay offers it again
                log.exception(
                    "worker.failed", stage="route", outbox_id=outbox_id, message_id=message_id
                )
                self._record_error([outbox_id] if outbox_id is not None else [], exc)

    def handle_delivery(self, outbox_id: int, payload: dict[str, Any]) -> None:
        self.handle_delivery_batch([(outbox_id, payload)])

    def handle_delivery_batch(self, jobs: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Send several deliver jobs concurrently, leased and settled in one transaction each.
        A failure of the batch is noted on its jobs (the relay's reason if it gives up)."""
        try:
            follow = self.dispatcher.handle_batch(jobs)
        except Exception as exc:
            self._record_error([outbox_id for outbox_id, _ in jobs], exc)
            raise
        self.publish(follow)

    def _record_error(self, outbox_ids: list[int], exc: BaseException) -> None:
        try:
            with self.db.transaction() as session:
                record_error(session, outbox_ids, f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - only a note; the failure itself is logged
            log.warning("worker.error_not_recorded", outbox_ids=outbox_ids[:20], exc_info=True)

    def tick(self, *, limit: int = 200) -> int:
        """One deadline-engine step: fire due timers; returns how many jobs it created."""
        now = self.clock.now()
        jobs = self.db.retrying(lambda s: fire_due(s, self.router, now=now, limit=limit))
        self.publish(jobs)
        return len(jobs)

    def seal(self, *, limit: int = 2000) -> int:
        """One sealer pass: chain committed events; returns how many it sealed."""
        with self.db.transaction() as session:
            return seal_events(session, limit=limit)

    def recompute_provisional(self) -> int:
        """Recompute provisional deadlines the current calendar can now settle."""
        now = self.clock.now()
        return self.db.retrying(lambda s: recompute_provisional(s, self.router.calendar, now=now))

    def close(self) -> None:
        self.commits.close()
        self.dispatcher.keeper.close()
        for adapter in self.dispatcher.adapters.values():  # pooled connections, on their loop
            with contextlib.suppress(Exception):
                self.runner.run(adapter.aclose(), timeout=5)
        self.runner.close()


def _single(results: Sequence[T | BaseException]) -> T:
    """The one result of a one-item batch; its refusal raised."""
    (result,) = results
    if isinstance(result, BaseException):
        raise result
    return result


def _view(row: DeliveryRow, tz: dt.tzinfo) -> DeliveryView:
    def local(instant: dt.datetime | None) -> dt.datetime | None:
        return instant.astimezone(tz) if instant else None

    return DeliveryView(
        delivery_id=row.delivery_id,
        message_id=row.message_id,
        department_id=row.department_id,
        route_id=row.route_id,
        channels=tuple(row.channels),
        transport_state=row.transport_state,
        delivered_channel=row.delivered_channel,
        claim_state=row.claim_state,
        claim_due=local(row.claim_due),
        on_timeout=row.on_timeout,
        objection_state=row.objection_state,
        objection_due=local(row.objection_due),
        reply_state=row.reply_state,
        reply_due=local(row.reply_due),
        provisional=row.provisional,
    )
