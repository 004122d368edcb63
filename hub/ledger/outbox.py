"""The transactional outbox: work is written with the state change that causes it.

A producer ``enqueue``s in its own transaction; after commit the row is published on the bus
(fast path) or by the relay (any row not published yet, or published and not completed before
its lease ran out). A consumer ``lease``s the row before working and ``complete``s it in the
transaction that records its effects: a second copy of the same bus message then finds the row
done or leased and does nothing. Delays are rows with ``available_at`` in the future.
``publishes`` counts how often a row went on the bus (the relay's growing wait, see
``hub.core.relay``); a row the relay gave up on is closed (``done_at``) with its ``quarantine_id``.
The UPDATEs here leave row objects loaded in the session as they were (no caller reads them
afterwards), which spares the ORM a synchronisation per statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from hub.ledger.batch import among
from hub.ledger.leases import take
from hub.ledger.schema import Instant, OutboxRow


def enqueue(
    session: Session,
    queue: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    available_at: dt.datetime | None = None,
    published: bool = False,
) -> OutboxRow:
    """Add work for ``queue``; the row gets its id when the session flushes (at the latest at
    commit), so a batch of jobs goes to the database as one statement.

    ``published=True`` says the caller publishes it right after commit (the fast path); if the
    process dies first, the relay republishes it once ``redeliver_after`` has passed.
    """
    published_now = published and available_at is None
    row = OutboxRow(
        queue=queue,
        payload=payload,
        created_at=now,
        available_at=available_at or now,
        attempts=0,
        published_at=now if published_now else None,
        publishes=1 if published_now else 0,
    )
    session.add(row)
    return row


def lease(session: Session, outbox_id: int, *, now: dt.datetime, seconds: float) -> bool:
    """Take the row for ``seconds``; False when it is done or someone else holds it. Workers
    that must not settle after losing the lease use ``hub.ledger.leases.take`` (a token)."""
    return take(session, outbox_id, now=now, seconds=seconds) is not None


def record_error(session: Session, ids: Sequence[int], error: str) -> None:
    """Note on still-open rows why their handler failed (shown when the relay gives up)."""
    if ids:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(sorted(set(ids))), OutboxRow.done_at.is_(None))
            .values(last_error=error[:1000])
            .execution_options(synchronize_session=False)
        )


def complete(session: Session, outbox_id: int, *, now: dt.datetime) -> bool:
    """Mark the row done; False when it already was (the caller must then not apply effects)."""
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.done_at.is_(None))
        .values(done_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, outbox_id: int, *, available_at: dt.datetime) -> None:
    """Give the row back for another try at ``available_at`` (a delayed retry): it is published
    afresh then, and its publish count (the relay's growing wait) starts again."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.done_at.is_(None))
        .values(available_at=available_at, lease_until=None, published_at=None, publishes=0)
        .execution_options(synchronize_session=False)
    )


def unmark_published(session: Session, ids: Sequence[int]) -> None:
    """Open rows whose publish failed after all: back to never published (one statement)."""
    if ids:
        session.execute(
            update(OutboxRow)
            .where(
                among(session, OutboxRow.id, ids),
                OutboxRow.done_at.is_(None),
                OutboxRow.publishes > 0,
            )
            .values(published_at=None, publishes=OutboxRow.publishes - 1)
            .execution_options(synchronize_session=False)
        )


def unpublished_rows(session: Session, *, now: dt.datetime, limit: int) -> list[OutboxRow]:
    """Due rows never published (delayed retries coming due, deferred fast-path publishes)."""
    query = (
        select(OutboxRow)
        .where(
            OutboxRow.done_at.is_(None),
            OutboxRow.available_at <= now,
            OutboxRow.published_at.is_(None),
        )
        .order_by(OutboxRow.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def _not_held(now: dt.datetime) -> ColumnElement[bool]:
    return or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now)


def _due_again(now: dt.datetime, waits: Sequence[dt.timedelta]) -> ColumnElement[bool]:
    """``published_at + waits[publishes - 1] <= now``; the last wait holds for every later
    publish (the cap), and a count of 0 counts as 1. One CASE on the count per row."""
    latest = [literal(now - wait, Instant) for wait in waits]
    levels = [(OutboxRow.publishes <= 1, latest[0])]
    levels += [(OutboxRow.publishes == n, latest[n - 1]) for n in range(2, len(waits))]
    return OutboxRow.published_at <= case(*levels, else_=latest[-1])


def is_stale(now: dt.datetime, waits: Sequence[dt.timedelta]) -> ColumnElement[bool]:
    """Pending, due, published, not leased, and its wait (``waits`` by publish count) passed:
    a row whose bus message may be lost."""
    return and_(
        OutboxRow.done_at.is_(None),
        OutboxRow.available_at <= now,
        OutboxRow.published_at.is_not(None),
        _not_held(now),
        _due_again(now, waits),
    )


@dataclass(frozen=True)
class QueueSummary:
    """A queue's pending rows as the relay sees them (one pass, one scan)."""

    unpublished: int  # due, never published
    exhausted: bool  # some row leased ``max_attempts`` times, its lease run out
    oldest_stale: dt.datetime | None  # the earliest publish of a stale row (None: no stale row)


def pending_summary(
    session: Session, *, now: dt.datetime, waits: Sequence[dt.timedelta], max_attempts: int
) -> dict[str, QueueSummary]:
    """Per queue with pending rows: what the relay may have to do, in one aggregate query over
    the pending rows (``ix_outbox_pending``), so that a pass over a backlog with nothing to do
    costs one scan. Stale: published, not leased, its wait (``waits`` by publish count) passed."""
    o = OutboxRow
    query = (
        select(
            o.queue,
            func.count(case((and_(o.available_at <= now, o.published_at.is_(None)), 1))),
            func.max(case((_not_held(now), o.attempts))),
            func.min(case((is_stale(now, waits), o.published_at))),
        )
        .where(o.done_at.is_(None))
        .group_by(o.queue)
    )
    return {
        queue: QueueSummary(unpublished, (attempts or 0) >= max_attempts, oldest)
        for queue, unpublished, attempts, oldest in session.execute(query)
    }


def stale_rows(
    session: Session,
    *,
    now: dt.datetime,
    limit: int,
    waits: Sequence[dt.timedelta],
    bounds: Mapping[str, dt.datetime | None],
) -> list[OutboxRow]:
    """Stale rows (published, not done, not leased, their wait by publish count in ``waits``
    passed) of the queues in ``bounds``, oldest publish first; for a queue with a bound, only
    those published at or before it. Their bus message may be lost."""
    if not bounds or limit <= 0:
        return []
    scope = [
        OutboxRow.queue == queue
        if bound is None
        else and_(OutboxRow.queue == queue, OutboxRow.published_at <= bound)
        for queue, bound in sorted(bounds.items())
    ]
    query = (
        select(OutboxRow)
        .where(is_stale(now, waits), or_(*scope))
        .order_by(OutboxRow.published_at, OutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def exhausted_rows(
    session: Session, *, now: dt.datetime, max_attempts: int, limit: int
) -> list[OutboxRow]:
    """Pending rows leased ``max_attempts`` times whose last lease ran out: never completed."""
    query = (
        select(OutboxRow)
        .where(
            OutboxRow.done_at.is_(None),
            OutboxRow.attempts >= max_attempts,
            _not_held(now),
        )
        .order_by(OutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def queue_head_query(queue: str, *, sample: int = 20) -> Select[dt.datetime | None]:
    """See :func:`queue_head` (apart, so a test can ask the planner about it)."""
    recent = (
        select(OutboxRow.published_at)
        .where(
            OutboxRow.queue == queue,
            OutboxRow.done_at.is_not(None),
            OutboxRow.quarantine_id.is_(None),
        )
        .order_by(OutboxRow.done_at.desc())
        .limit(sample)
        .subquery()
    )
    return select(func.max(recent.c.published_at))


def queue_head(session: Session, queue: str, *, sample: int = 20) -> dt.datetime | None:
    """The newest publish among the queue's last ``sample`` completed jobs: how far along the
    queue its consumers have got (None: nothing completed yet). Found through ``ix_outbox_done``."""
    head: dt.datetime | None = session.scalar(queue_head_query(queue, sample=sample))
    return head


def mark_published(session: Session, ids: list[int], *, now: dt.datetime) -> None:
    if ids:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids))
            .values(published_at=now, publishes=OutboxRow.publishes + 1)
            .execution_options(synchronize_session=False)
        )


def close_quarantined(
    session: Session, outbox_id: int, *, quarantine_id: int, now: dt.datetime
) -> bool:
    """Close a row the relay gave up on: done (``lease`` and ``complete`` refuse it from now
    on, so a late handler applies nothing) and linked to its quarantine entry."""
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.done_at.is_(None))
        .values(done_at=now, lease_until=None, quarantine_id=quarantine_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
