"""The relay on PostgreSQL: the SQLite scenarios again (republish once overtaken, doubling wait,
quarantine after the attempts or the publishes, replay, status, migration 0004), a queue's head
found through ``ix_outbox_done``, and two relays at once quarantining each job once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql

from hub.core.relay import RelayPolicy
from hub.ledger.db import Database
from hub.ledger.outbox import enqueue, lease, queue_head_query
from hub.ledger.schema import EventRow, OutboxRow, QuarantineRow
from tests.support.postgres import admin_host_port, temporary_database
from tests.unit.core import test_relay_quarantine as quarantine
from tests.unit.core import test_relay_republish as republish
from tests.unit.core.conftest import Rig, make_rig
from tests.unit.core.test_relay_migration import upgrade_ledger_with_jobs

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(require_server: Callable[[str, str, int], None]) -> Iterator[str]:
    require_server("PostgreSQL", *admin_host_port())
    with temporary_database("hub_relay") as url:
        yield url


@pytest.fixture
def pg_rig(pg_url: str, tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(tmp_path, url=pg_url)
    yield rig
    rig.hub.close()
    rig.db.dispose()


def _doubling(busy: bool) -> Callable[[Rig], None]:
    return lambda rig: republish.the_wait_doubles_per_publish_up_to_the_cap(rig, busy=busy)


SCENARIOS: dict[str, Callable[[Rig], None]] = {
    "busy-queue-overtaken": republish.lost_job_in_a_busy_queue_is_republished_once_overtaken,
    "busy-queue-no-copies": republish.a_busy_queue_with_nothing_completed_gets_no_copies,
    "wait-doubles-idle": _doubling(busy=False),
    "wait-doubles-busy": _doubling(busy=True),
    "max-publishes": republish.a_job_published_max_publishes_times_is_quarantined,
    "failing-handler": quarantine.failing_handler_ends_quarantined,
    "replay": quarantine.replay_puts_the_job_back,
    "status": quarantine.status_shows_quarantined_and_stale_jobs,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_relay_scenario_on_postgres(pg_rig: Rig, name: str) -> None:
    SCENARIOS[name](pg_rig)


def test_migration_0004_on_postgres(pg_url: str) -> None:
    db = Database(pg_url)  # temporary_database migrated it to head: start again from nothing
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()
    upgrade_ledger_with_jobs(pg_url)


def test_a_queue_head_is_found_through_its_index(pg_rig: Rig) -> None:
    query = queue_head_query("hub.route")
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with pg_rig.db.engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))  # ask: can the planner use an index?
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_outbox_done" in plan, plan


def test_two_relays_at_once_quarantine_each_job_once(pg_rig: Rig, tmp_path: Path) -> None:
    """Given 40 jobs whose one allowed lease ran out, when two hubs' relays run at the same
    moment, then each job is quarantined once (FOR UPDATE SKIP LOCKED)."""
    rig = pg_rig
    (tmp_path / "other").mkdir()
    other = make_rig(tmp_path / "other", url=rig.db.engine.url.render_as_string(False))
    now = rig.clock.now()
    with rig.db.transaction() as s:
        rows = [enqueue(s, "hub.deliver.email", {}, now=now, published=True) for _ in range(40)]
        s.flush()
        for row in rows:
            assert lease(s, row.id, now=now, seconds=1)
    for r in (rig, other):
        r.clock.set(now + dt.timedelta(seconds=5))
    policy = RelayPolicy(redeliver_after=30, max_attempts=1, limit=25)
    start = threading.Barrier(2)
    counts: list[int] = []

    def run(r: Rig) -> None:
        start.wait()
        counts.append(r.hub.relay(policy))

    threads = [threading.Thread(target=run, args=(r,)) for r in (rig, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts.append(rig.hub.relay(policy))  # whatever the limit left for a next pass
    with rig.db.read() as s:
        entries = s.scalar(select(func.count()).select_from(QuarantineRow))
        events = s.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.type == "job.quarantined")
        )
        still_open = s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None))
        )
    assert (sum(counts), entries, events, still_open) == (40, 40, 40, 0)
    assert rig.bus.take() == [] and other.bus.take() == []
    other.hub.close()
    other.db.dispose()


def test_failing_route_job_on_postgres(pg_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    quarantine.failing_route_job_ends_quarantined(pg_rig, monkeypatch)
