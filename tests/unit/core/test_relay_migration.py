"""Migration 0004 upgrades a ledger at 0003 with jobs in the outbox: pending jobs already on
the bus count one publish, the relay then treats them like any other."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import JSON, Integer, column, inspect, select, table

from hub.clock.now import ManualClock
from hub.core.relay import Relay, RelayPolicy
from hub.ledger.db import Database
from hub.ledger.migrate import upgrade
from hub.ledger.schema import Instant, OutboxRow
from tests.unit.core.conftest import RecordingBus

OUTBOX_0003 = table(  # the outbox as revision 0003 left it
    "outbox",
    column("id", Integer),
    column("queue"),
    column("payload", JSON),
    column("created_at", Instant),
    column("available_at", Instant),
    column("published_at", Instant),
    column("lease_until", Instant),
    column("attempts", Integer),
    column("done_at", Instant),
)
AT = dt.datetime(2026, 9, 30, 8, 0, tzinfo=dt.UTC)
LATER = AT + dt.timedelta(hours=1)
# id, published, attempts, done: pending on the bus, pending never published, done
ROWS = [(1, AT, 2, None), (2, None, 0, None), (3, AT, 1, LATER)]


def upgrade_ledger_with_jobs(url: str) -> None:
    db = Database(url)
    upgrade(db.engine, "0003")
    with db.engine.begin() as conn:
        for outbox_id, published, attempts, done in ROWS:
            conn.execute(
                OUTBOX_0003.insert().values(
                    id=outbox_id,
                    queue="hub.route",
                    payload={"message_id": f"M-{outbox_id}"},
                    created_at=AT,
                    available_at=AT,
                    published_at=published,
                    lease_until=None,
                    attempts=attempts,
                    done_at=done,
                )
            )
    upgrade(db.engine)
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("outbox")}
    assert {"ix_outbox_pending", "ix_outbox_done", "ix_outbox_quarantined"} <= indexes
    with db.read() as s:
        rows = s.execute(
            select(
                OutboxRow.id, OutboxRow.publishes, OutboxRow.quarantine_id, OutboxRow.attempts
            ).order_by(OutboxRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [(1, 1, None, 2), (2, 0, None, 0), (3, 0, None, 1)]
    bus = RecordingBus()
    relay = Relay(db, bus, ManualClock(LATER))  # type: ignore[arg-type]
    assert relay.run(RelayPolicy(redeliver_after=30)) == 2  # 1 republished, 2 published
    assert sorted(body["outbox_id"] for _q, body in bus.take()) == [1, 2]
    with db.read() as s:
        counts = s.execute(select(OutboxRow.id, OutboxRow.publishes).order_by(OutboxRow.id))
        assert [tuple(r) for r in counts] == [(1, 2), (2, 1), (3, 0)]
    db.dispose()


def test_migration_0004_upgrades_a_ledger_with_jobs_in_the_outbox(tmp_path: Path) -> None:
    upgrade_ledger_with_jobs(f"sqlite:///{tmp_path}/old.db")
