"""The deadline engine on PostgreSQL: due timers are found through the partial index, and two
hubs ticking at the same moment fire every timer exactly once (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql

from hub.core.hub import Hub
from hub.ledger.schema import EventRow, TimerRow
from tests.support.postgres import admin_host_port, temporary_database
from tests.unit.core.conftest import TZ, make_rig, message

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(require_server: Callable[[str, str, int], None]) -> Iterator[str]:
    require_server("PostgreSQL", *admin_host_port())
    with temporary_database("hub_engine") as url:
        yield url


def test_due_timers_are_found_through_the_partial_index(pg_url: str, tmp_path: Path) -> None:
    rig = make_rig(tmp_path, url=pg_url)
    query = (
        select(TimerRow)
        .where(
            TimerRow.due_at <= dt.datetime(2026, 10, 9, tzinfo=TZ),
            TimerRow.fired_at.is_(None),
            TimerRow.cancelled_at.is_(None),
        )
        .order_by(TimerRow.due_at)
        .limit(200)
    )
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with rig.db.engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))  # ask: can the planner use an index?
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_timers_due_open" in plan, plan
    rig.hub.close()


def test_two_hubs_ticking_at_once_fire_each_timer_once(pg_url: str, tmp_path: Path) -> None:
    rig = make_rig(tmp_path, url=pg_url)
    for i in range(60):
        rig.push(message("guanxian/01*.json", recipients=["scjg"], source__source_id=f"race-{i}"))
    other = Hub(
        rig.db,
        rig.hub.router,
        rig.bus,
        clock=rig.clock,  # a second hub process
        adapters=rig.channels,
        retry=rig.hub.dispatcher.retry,
    )  # type: ignore[arg-type]
    rig.clock.set(dt.datetime(2026, 10, 9, tzinfo=TZ))
    start = threading.Barrier(2)

    def tick(hub: Hub) -> None:
        start.wait()
        while hub.tick(limit=7):
            pass

    threads = [threading.Thread(target=tick, args=(h,)) for h in (rig.hub, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with rig.db.transaction() as s:
        auto = s.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.type == "claim.auto")
        )
        unfired = s.scalar(
            select(func.count())
            .select_from(TimerRow)
            .where(TimerRow.action == "claim_timeout", TimerRow.fired_at.is_(None))
        )
    assert (auto, unfired) == (60, 0)
    other.close()
    rig.hub.close()
