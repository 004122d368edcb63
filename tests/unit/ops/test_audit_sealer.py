"""The sealer: writers append events without a shared lock; one sealer at a time chains them.

Run on SQLite and on PostgreSQL (the concurrent cases need PostgreSQL's row locks).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from hub.ledger.db import Database
from hub.ledger.events import GENESIS, append_event, event_digest, seal_events, verify_chain
from hub.ledger.migrate import upgrade
from hub.ledger.schema import AuditHeadRow, EventRow
from hub.ops.audit import audit, seal_all

AT = dt.datetime(2026, 9, 30, 8, 0, tzinfo=dt.UTC)


def _ledger(url: str) -> Database:
    db = Database(url)
    upgrade(db.engine)
    return db


def _append(db: Database, n: int, kind: str = "test.event") -> None:
    with db.transaction() as s:
        for i in range(n):
            append_event(s, kind, at=AT + dt.timedelta(seconds=i), data={"i": i})


def test_events_wait_unsealed_until_the_sealer_chains_them(ledger_url: str) -> None:
    db = _ledger(ledger_url)
    _append(db, 5)
    with db.read() as s:
        report = verify_chain(s)
    assert (report.ok, report.events, report.unsealed, report.head_seq) == (True, 0, 5, 0)
    assert seal_all(db, batch=2) == 5  # several passes: 2 + 2 + 1
    with db.read() as s:
        report = verify_chain(s)
        rows = s.scalars(select(EventRow).order_by(EventRow.seq)).all()
        chain = [(r.chain_seq, r.prev_hash, r.hash) for r in rows]
    assert (report.ok, report.events, report.unsealed, report.head_seq) == (True, 5, 0, 5)
    assert [position for position, _, _ in chain] == [1, 2, 3, 4, 5]
    assert chain[0][1] == GENESIS and chain[1][1] == chain[0][2]
    assert report.head_hash == chain[-1][2]
    db.dispose()


def test_a_nulled_chain_position_or_a_deleted_event_is_a_gap(ledger_url: str) -> None:
    db = _ledger(ledger_url)
    _append(db, 4)
    seal_all(db)
    with db.transaction() as s:  # hiding a sealed event among the unsealed ones
        s.execute(update(EventRow).where(EventRow.chain_seq == 2).values(chain_seq=None))
    with db.read() as s:
        report = verify_chain(s)
    assert any("events 2..2 deleted" in p for p in report.problems)
    with db.transaction() as s:
        s.execute(update(EventRow).where(EventRow.seq == 2).values(chain_seq=2))
        s.execute(EventRow.__table__.delete().where(EventRow.chain_seq == 4))
    with db.read() as s:
        report = verify_chain(s)
    assert report.problems == [
        "链头为 4，最后事件为 3：末尾事件被删除或链头被改 (head says 4, log ends at 3)"
    ]
    db.dispose()


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_is_sealed_further_along(pg_url: str) -> None:
    from tests.unit.ops.conftest import empty_postgres

    empty_postgres(pg_url)
    db = _ledger(pg_url)
    slow, fast = db._sessions(), db._sessions()
    with slow.begin(), fast.begin():
        early = append_event(slow, "slow.first", at=AT)
        slow.flush()  # takes the lower seq
        late = append_event(fast, "fast.second", at=AT)
        fast.flush()
        assert early.seq < late.seq
        fast.commit()
        assert seal_all(db) == 1  # only the committed one; the open one is invisible
        slow.commit()
    assert seal_all(db) == 1
    with db.read() as s:
        positions = {r.type: r.chain_seq for r in s.scalars(select(EventRow))}
        report = verify_chain(s)
    assert positions == {"fast.second": 1, "slow.first": 2}
    assert report.ok and report.events == 2
    db.dispose()


@pytest.mark.postgres
def test_a_second_sealer_skips_while_the_first_holds_the_head(pg_url: str) -> None:
    from tests.unit.ops.conftest import empty_postgres

    empty_postgres(pg_url)
    db = _ledger(pg_url)
    _append(db, 3)
    first = db._sessions()
    with first.begin():
        assert first.get(AuditHeadRow, 1, with_for_update=True) is not None
        with db.transaction() as s:
            assert seal_events(s) == 0  # does not wait for the lock
    assert seal_all(db) == 3
    db.dispose()


def test_the_audit_reports_unsealed_events_and_verifies_the_rest(ledger_url: str) -> None:
    db = _ledger(ledger_url)
    _append(db, 2)
    seal_all(db)
    _append(db, 3)
    with db.read() as s:
        summary = audit(s)
    assert (summary.ok, summary.events, summary.unsealed, summary.head_seq) == (True, 2, 3, 2)
    db.dispose()


def test_migration_0003_keeps_a_chain_sealed_by_the_old_scheme(tmp_path: Path) -> None:
    """A ledger at 0002 (events chained at insert, chain position = seq) upgrades intact."""
    url = f"sqlite:///{tmp_path}/old.db"
    db = Database(url)
    upgrade(db.engine, "0002")
    prev = GENESIS
    with db.engine.begin() as conn:
        for seq in (1, 2, 3):
            event = EventRow(
                seq=seq, chain_seq=seq, at=AT, type="old", actor="hub", data={"n": seq}
            )
            digest = event_digest(prev, event)
            conn.execute(
                text(
                    "INSERT INTO events (seq, at, type, actor, data, prev_hash, hash) "
                    "VALUES (:seq, :at, 'old', 'hub', :data, :prev, :hash)"
                ),
                {
                    "seq": seq,
                    "at": "2026-09-30 08:00:00.000000",
                    "data": f'{{"n": {seq}}}',
                    "prev": prev,
                    "hash": digest,
                },
            )
            prev = digest
        conn.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    upgrade(db.engine)
    _append(db, 2)
    seal_all(db)
    with db.read() as s:
        report = verify_chain(s)
        new = s.scalars(select(EventRow.seq).where(EventRow.type == "test.event")).all()
    assert report.ok, report.problems
    assert (report.events, report.head_seq) == (5, 5)
    assert sorted(new) == [4, 5]  # the rowid numbers on after the old events
    db.dispose()
