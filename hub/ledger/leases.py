"""Fenced leases on outbox rows: a worker that lost its lease can change nothing.

``take`` leases a row and returns a fencing token: the row's ``attempts`` after this lease (each
lease increments it). ``renew`` extends the lease while the token still holds, ``settle`` marks
the row done only while it holds: a worker whose send outlasted its lease, and whose row was
leased again by another worker meanwhile, finds its token stale and must roll back its effects.
``LeaseKeeper`` renews the leases of the sends in flight from one background thread per process.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.orm import Session

from hub.ledger.batch import among, pairs_among
from hub.ledger.schema import OutboxRow

log = structlog.get_logger(__name__)


def take(session: Session, outbox_id: int, *, now: dt.datetime, seconds: float) -> int | None:
    """Lease the row for ``seconds``; its fencing token, or None when it is done or held."""
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == outbox_id,
            OutboxRow.done_at.is_(None),
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now),
        )
        .values(lease_until=now + dt.timedelta(seconds=seconds), attempts=OutboxRow.attempts + 1)
        .returning(OutboxRow.attempts)
        .execution_options(synchronize_session=False)
    )
    token = result.scalar_one_or_none()
    return None if token is None else int(token)


def take_many(
    session: Session, outbox_ids: Sequence[int], *, now: dt.datetime, seconds: float
) -> dict[int, int]:
    """``take`` for several rows in one statement: the fencing token of each row leased."""
    if not outbox_ids:
        return {}
    result = session.execute(
        update(OutboxRow)
        .where(
            among(session, OutboxRow.id, outbox_ids),
            OutboxRow.done_at.is_(None),
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now),
        )
        .values(lease_until=now + dt.timedelta(seconds=seconds), attempts=OutboxRow.attempts + 1)
        .returning(OutboxRow.id, OutboxRow.attempts)
        .execution_options(synchronize_session=False)
    )
    return {int(row.id): int(row.attempts) for row in result}


def settle_many(session: Session, tokens: Mapping[int, int], *, now: dt.datetime) -> set[int]:
    """``settle`` for several rows in one statement: the rows whose token still held."""
    return _update_held(session, tokens, done_at=now)


def _update_held(session: Session, tokens: Mapping[int, int], **values: Any) -> set[int]:
    """Set ``values`` on the rows whose token still holds (one statement); their ids."""
    if not tokens:
        return set()
    result = session.execute(
        update(OutboxRow)
        .where(
            pairs_among(session, OutboxRow.id, OutboxRow.attempts, tokens.items()),
            OutboxRow.done_at.is_(None),
        )
        .values(**values)
        .returning(OutboxRow.id)
        .execution_options(synchronize_session=False)
    )
    return {int(i) for i in result.scalars()}


def _held(outbox_id: int, token: int) -> ColumnElement[bool]:
    return and_(OutboxRow.id == outbox_id, OutboxRow.attempts == token, OutboxRow.done_at.is_(None))


def renew_many(
    session: Session, tokens: Mapping[int, int], *, now: dt.datetime, seconds: float
) -> set[int]:
    """``renew`` for several rows in one statement: the rows whose token still held."""
    return _update_held(session, tokens, lease_until=now + dt.timedelta(seconds=seconds))


def settle(session: Session, outbox_id: int, token: int, *, now: dt.datetime) -> bool:
    """Mark the row done while the token holds; False: the lease was lost, apply nothing."""
    result = session.execute(
        update(OutboxRow)
        .where(_held(outbox_id, token))
        .values(done_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class LeaseLost(Exception):
    """The worker's lease on an outbox row was taken over: its transaction must roll back."""


class LeaseKeeper:
    """Renews the leases of every ``with keeper.kept(tokens):`` block of the process, every
    ``seconds / 3``, from one background thread (started on first use), in one statement.

    The period is real time and the lease is clock time: under a scaled clock (the demo) give
    leases long enough in clock time to cover a send in real time."""

    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[Session]],
        now: Callable[[], dt.datetime],
        seconds: float,
    ) -> None:
        self._transaction, self._now, self._seconds = transaction, now, seconds
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        """Stop the thread (leases still held run out by themselves)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    @contextmanager
    def kept(self, tokens: Mapping[int, int]) -> Iterator[None]:
        with self._lock:
            self._held.update(tokens)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="hub-lease-keeper", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                for oid, token in tokens.items():
                    if self._held.get(oid) == token:
                        del self._held[oid]

    def _run(self) -> None:
        while True:
            with self._lock:
                self._wake.wait(self._seconds / 3)
                if self._closed:
                    return
                tokens = dict(self._held)
            if tokens:
                self._renew(tokens)

    def _renew(self, tokens: dict[int, int]) -> None:
        try:
            with self._transaction() as session:
                kept = renew_many(session, tokens, now=self._now(), seconds=self._seconds)
        except Exception:  # noqa: BLE001 - try again next period; settle is fenced anyway
            log.warning("lease.renew_failed", jobs=len(tokens), exc_info=True)
            return
        lost = set(tokens) - kept
        with self._lock:
            for oid in lost:
                if self._held.get(oid) == tokens[oid]:
                    log.warning("lease.lost", outbox_id=oid)
                    del self._held[oid]
