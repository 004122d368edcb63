"""Fenced leases taken, renewed and settled for many outbox rows in one statement each (issue 10),
on SQLite and on PostgreSQL: the same rules as one row at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.ledger import leases
from hub.ledger.db import Database
from hub.ledger.migrate import upgrade
from hub.ledger.outbox import enqueue
from hub.ledger.schema import OutboxRow
from tests.support.ledgers import ledger_url
from tests.unit.core.conftest import TZ

__all__ = ["ledger_url"]  # the fixture, imported for its tests

T0 = dt.datetime(2026, 10, 8, 9, 0, tzinfo=TZ)
LEASE = 60.0


@pytest.fixture
def db(ledger_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(ledger_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def jobs(db: Database, n: int) -> list[int]:
    with db.transaction() as s:
        rows = [enqueue(s, "hub.deliver.platform", {"n": i}, now=T0) for i in range(n)]
        s.flush()
        return [row.id for row in rows]


def outbox(db: Database) -> dict[int, OutboxRow]:
    with db.read() as s:
        rows = list(s.scalars(select(OutboxRow)))
        s.expunge_all()
    return {row.id: row for row in rows}


def test_take_many_leases_only_free_rows_and_tokens_fence_them(db: Database) -> None:
    free, held, done = jobs(db, 3)
    with db.transaction() as s:
        assert leases.take(s, held, now=T0, seconds=LEASE) == 1
        assert leases.take(s, done, now=T0, seconds=LEASE) == 1
        assert leases.settle(s, done, 1, now=T0)

    with db.transaction() as s:
        tokens = leases.take_many(s, [free, held, done, free, 999], now=T0, seconds=LEASE)
    assert tokens == {free: 1}  # a row twice is leased once; held, done and unknown not at all
    rows = outbox(db)
    assert rows[free].lease_until == T0 + dt.timedelta(seconds=LEASE)
    assert (rows[free].attempts, rows[held].attempts, rows[done].attempts) == (1, 1, 1)

    with db.transaction() as s:  # still held by then
        assert (
            leases.take_many(s, [free, held], now=T0 + dt.timedelta(seconds=59), seconds=LEASE)
            == {}
        )
    later = T0 + dt.timedelta(seconds=LEASE)
    with db.transaction() as s:  # both leases ran out: taken again, with new tokens
        assert leases.take_many(s, [free, held], now=later, seconds=LEASE) == {free: 2, held: 2}


def test_settle_many_marks_done_only_the_rows_whose_token_holds(db: Database) -> None:
    a, b, c = jobs(db, 3)
    with db.transaction() as s:
        first = leases.take_many(s, [a, b, c], now=T0, seconds=LEASE)
    later = T0 + dt.timedelta(seconds=LEASE)
    with db.transaction() as s:  # b's lease ran out and another worker took it
        assert leases.take_many(s, [b], now=later, seconds=LEASE) == {b: 2}

    with db.transaction() as s:
        assert leases.settle_many(s, first, now=later) == {a, c}
    rows = outbox(db)
    assert (rows[a].done_at, rows[b].done_at, rows[c].done_at) == (later, None, later)
    with db.transaction() as s:  # settling twice changes nothing
        assert leases.settle_many(s, {a: 1, b: 2}, now=later) == {b}
    with db.transaction() as s:
        assert leases.settle_many(s, {}, now=later) == set()
        assert leases.take_many(s, [], now=later, seconds=LEASE) == {}


def test_renew_many_extends_only_the_leases_still_held(db: Database) -> None:
    a, b = jobs(db, 2)
    with db.transaction() as s:
        tokens = leases.take_many(s, [a, b], now=T0, seconds=LEASE)
        assert leases.settle_many(s, {b: tokens[b]}, now=T0) == {b}
    later = T0 + dt.timedelta(seconds=30)
    with db.transaction() as s:
        assert leases.renew_many(s, {**tokens, a: tokens[a]}, now=later, seconds=LEASE) == {a}
        assert leases.renew_many(s, {a: tokens[a] + 1}, now=later, seconds=LEASE) == set()
    assert outbox(db)[a].lease_until == later + dt.timedelta(seconds=LEASE)
