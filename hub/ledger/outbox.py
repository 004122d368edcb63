"""The transactional outbox: work is written with the state change that causes it.

A producer ``enqueue``s in its own transaction; after commit the row is published on the bus
(fast path) or by the relay (any row not published yet, or published and not completed before
its lease ran out). A consumer ``lease``s the row before working and ``complete``s it in the
transaction that records its effects: a second copy of the same bus message then finds the row
done or leased and does nothing. Delays are rows with ``available_at`` in the future.
The UPDATEs here leave row objects loaded in the session as they were (no caller reads them
afterwards), which spares the ORM a synchronisation per statement.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from hub.ledger.schema import OutboxRow


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
    row = OutboxRow(
        queue=queue,
        payload=payload,
        created_at=now,
        available_at=available_at or now,
        attempts=0,
        published_at=now if published and available_at is None else None,
    )
    session.add(row)
    return row


def lease(session: Session, outbox_id: int, *, now: dt.datetime, seconds: float) -> bool:
    """Take the row for ``seconds``; False when it is done or someone else holds it."""
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == outbox_id,
            OutboxRow.done_at.is_(None),
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now),
        )
        .values(lease_until=now + dt.timedelta(seconds=seconds), attempts=OutboxRow.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
    """Give the row back for another try at ``available_at`` (a delayed retry)."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.done_at.is_(None))
        .values(available_at=available_at, lease_until=None, published_at=None)
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


def _stale(now: dt.datetime, redeliver_after: dt.timedelta) -> Any:
    return and_(
        OutboxRow.done_at.is_(None),
        OutboxRow.available_at <= now,
        OutboxRow.published_at <= now - redeliver_after,
        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now),
    )


def stale_queues(session: Session, *, now: dt.datetime, redeliver_after: dt.timedelta) -> set[str]:
    """Queues with rows published ``redeliver_after`` ago, still not done and not leased."""
    query = select(OutboxRow.queue).where(_stale(now, redeliver_after)).distinct()
    return set(session.scalars(query))


def stale_rows(
    session: Session,
    *,
    now: dt.datetime,
    limit: int,
    redeliver_after: dt.timedelta,
    queues: set[str],
) -> list[OutboxRow]:
    """Rows of ``queues`` published ``redeliver_after`` ago, still not done and not leased:
    their bus message may be lost."""
    if not queues or limit <= 0:
        return []
    query = (
        select(OutboxRow)
        .where(_stale(now, redeliver_after), OutboxRow.queue.in_(sorted(queues)))
        .order_by(OutboxRow.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def mark_published(session: Session, ids: list[int], *, now: dt.datetime) -> None:
    if ids:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids))
            .values(published_at=now)
            .execution_options(synchronize_session=False)
        )
