"""What is waiting, and who is behind: the outbox per queue and deliveries per department.

Every figure is one aggregate query (``GROUP BY`` with conditional counts) — no row is loaded
into Python — so ``hub status`` stays fast on a ledger of millions of deliveries. The outbox
query reads only pending rows (the partial index ``ix_outbox_pending``).

Definitions, at ``now``:
    queue.pending            outbox rows not done (published or not, leased or not)
    queue.scheduled          pending rows with ``available_at`` in the future (delayed retries)
    queue.leased             pending rows a worker holds (``lease_until`` in the future)
    queue.oldest_age_seconds how long the oldest *due* pending row has been due — the backlog's
                             lag; intended delays are not counted (None: nothing due)
    dept.open                delivered or on their way, not claimed yet (``claim_state = open``,
                             not 投递失败: a push that reached nobody cannot be claimed)
    dept.overdue             open and ``claim_due <= now`` (the deadline engine has not acted yet,
                             or the policy escalates instead of auto-claiming)
    dept.escalated           open with ``escalation_level > 0``
    dept.failed              every channel failed (``transport_state = failed``: dead letter)
    relay.quarantined        per queue, jobs the relay gave up on whose quarantine entry is still
                             open (``hub quarantine list``; found through ``ix_outbox_quarantined``)
    relay.oldest_stale       the pending, due, unleased job published longest ago, if that was at
                             least ``stale_after`` (``HUB_REDELIVER_AFTER`` in the CLI; 30 s)
                             ago: a job whose bus message may be lost, waiting for the relay
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from hub.core.states import ClaimState, ReplyState, TransportState
from hub.ledger.outbox import is_stale
from hub.ledger.schema import DeliveryRow, MessageRow, OutboxRow, QuarantineRow
from hub.ops.jsonable import jsonable


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    pending: int
    oldest_age_seconds: float | None
    scheduled: int
    leased: int


@dataclass(frozen=True)
class DeptStatus:
    department_id: str
    open: int
    overdue: int
    claimed: int
    claimed_late: int
    auto_claimed: int
    escalated: int
    failed: int
    replies_awaiting: int
    oldest_overdue_due: dt.datetime | None


@dataclass(frozen=True)
class Totals:
    messages: dict[str, int]  # by state: accepted | routed | quarantined
    quarantine_open: int
    dead_lettered: int
    late_pushes: dict[str, int]  # sender department -> pushes that missed the sender's deadline


@dataclass(frozen=True)
class StaleJob:
    outbox_id: int
    queue: str
    published_at: dt.datetime
    age_seconds: float
    publishes: int
    attempts: int


@dataclass(frozen=True)
class RelayStatus:
    quarantined: dict[str, int]  # queue -> jobs given up, entry still open
    oldest_stale: StaleJob | None


@dataclass(frozen=True)
class StatusReport:
    at: dt.datetime
    queues: list[QueueStatus]
    departments: list[DeptStatus]
    totals: Totals
    relay: RelayStatus

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def queue_status(session: Session, now: dt.datetime) -> list[QueueStatus]:
    """One row per queue with pending work, by queue name."""
    o = OutboxRow
    query = (
        select(
            o.queue,
            func.count().label("pending"),
            func.min(case((o.available_at <= now, o.available_at))).label("oldest_due"),
            _count(o.available_at > now).label("scheduled"),
            _count(o.lease_until > now).label("leased"),
        )
        .where(o.done_at.is_(None))
        .group_by(o.queue)
        .order_by(o.queue)
    )
    return [
        QueueStatus(
            queue=row.queue,
            pending=row.pending,
            oldest_age_seconds=_age(now, row.oldest_due),
            scheduled=row.scheduled,
            leased=row.leased,
        )
        for row in session.execute(query)
    ]


def _age(now: dt.datetime, since: dt.datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def department_status(session: Session, now: dt.datetime) -> list[DeptStatus]:
    """One row per department that has deliveries, by department id."""
    d = DeliveryRow
    failed = d.transport_state == TransportState.FAILED
    is_open = and_(d.claim_state == ClaimState.OPEN, ~failed)
    overdue = and_(is_open, d.claim_due <= now)
    query = (
        select(
            d.department_id,
            _count(is_open).label("open"),
            _count(overdue).label("overdue"),
            _count(d.claim_state == ClaimState.CLAIMED).label("claimed"),
            _count(d.claim_state == ClaimState.CLAIMED_LATE).label("claimed_late"),
            _count(d.claim_state == ClaimState.AUTO_CLAIMED).label("auto_claimed"),
            _count(and_(is_open, d.escalation_level > 0)).label("escalated"),
            _count(failed).label("failed"),
            _count(d.reply_state == ReplyState.AWAITING).label("replies_awaiting"),
            func.min(case((overdue, d.claim_due))).label("oldest_overdue_due"),
        )
        .group_by(d.department_id)
        .order_by(d.department_id)
    )
    return [DeptStatus(**row._asdict()) for row in session.execute(query)]


def totals(session: Session, departments: list[DeptStatus] | None = None) -> Totals:
    """Messages by state, open quarantine entries and dead-lettered deliveries."""
    by_state = session.execute(
        select(MessageRow.state, func.count()).group_by(MessageRow.state)
    ).all()
    quarantined = session.scalar(
        select(func.count()).select_from(QuarantineRow).where(QuarantineRow.state == "open")
    )
    if departments is None:
        failed = DeliveryRow.transport_state == "failed"
        dead = session.scalar(select(func.count()).select_from(DeliveryRow).where(failed))
    else:
        dead = sum(dept.failed for dept in departments)
    late = session.execute(
        select(MessageRow.sender_id, func.count())
        .where(MessageRow.push_late.is_(True))
        .group_by(MessageRow.sender_id)
    ).all()
    return Totals(
        messages={state: count for state, count in by_state},
        quarantine_open=quarantined or 0,
        dead_lettered=dead or 0,
        late_pushes={sender: count for sender, count in late},
    )


def relay_status(session: Session, now: dt.datetime, stale_after: float = 30.0) -> RelayStatus:
    """Jobs the relay quarantined (open entries, per queue) and the oldest stale job."""
    o, q = OutboxRow, QuarantineRow
    given_up = session.execute(
        select(o.queue, func.count())
        .join(q, q.id == o.quarantine_id)
        .where(o.quarantine_id.is_not(None), q.state == "open")
        .group_by(o.queue)
        .order_by(o.queue)
    ).all()
    oldest = session.execute(
        select(o.id, o.queue, o.published_at, o.publishes, o.attempts)
        .where(is_stale(now, [dt.timedelta(seconds=stale_after)]))
        .order_by(o.published_at, o.id)
        .limit(1)
    ).first()
    stale = None
    if oldest is not None:
        stale = StaleJob(
            outbox_id=oldest.id,
            queue=oldest.queue,
            published_at=oldest.published_at,
            age_seconds=max(0.0, (now - oldest.published_at).total_seconds()),
            publishes=oldest.publishes,
            attempts=oldest.attempts,
        )
    return RelayStatus(quarantined={queue: n for queue, n in given_up}, oldest_stale=stale)


def status(session: Session, now: dt.datetime, stale_after: float = 30.0) -> StatusReport:
    """Queues, departments, totals and the relay's state, as of ``now``."""
    departments = department_status(session, now)
    return StatusReport(
        at=now,
        queues=queue_status(session, now),
        departments=departments,
        totals=totals(session, departments),
        relay=relay_status(session, now, stale_after),
    )
