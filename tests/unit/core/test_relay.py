"""The relay: publishes what was never published, and republishes stale jobs of a queue with a
backlog only once they are overtaken (a queue with a backlog is behind, not missing messages).
Per-job waits, overtaking, quarantine: ``test_relay_republish.py``, ``test_relay_quarantine.py``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from hub.core.relay import RelayPolicy
from hub.ledger.outbox import enqueue
from hub.ledger.schema import OutboxRow
from tests.unit.core.conftest import Rig

POLICY = RelayPolicy(redeliver_after=30)


def _jobs(rig: Rig, queue: str, n: int, *, published_ago: float | None) -> list[int]:
    now = rig.clock.now()
    with rig.db.transaction() as s:
        rows = [enqueue(s, queue, {"n": i}, now=now) for i in range(n)]
        s.flush()
        for row in rows:
            if published_ago is not None:
                row.published_at = now - dt.timedelta(seconds=published_ago)
        return [row.id for row in rows]


def _published_ids(rig: Rig) -> list[int]:
    return sorted(int(body["outbox_id"]) for _q, body in rig.bus.take())


def test_stale_jobs_of_a_queue_with_a_backlog_wait_until_it_drains(rig: Rig) -> None:
    stale = _jobs(rig, "hub.route", 3, published_ago=120)
    rig.bus.depths["hub.route"] = 40  # the broker still holds messages for hub.route
    assert rig.hub.relay(POLICY) == 0
    assert _published_ids(rig) == []
    rig.bus.depths["hub.route"] = 0  # drained, and the jobs are still not done: lost
    assert rig.hub.relay(POLICY) == 3
    assert _published_ids(rig) == stale
    with rig.db.read() as s:
        again = s.scalars(select(OutboxRow.published_at).where(OutboxRow.id.in_(stale))).all()
    assert set(again) == {rig.clock.now()}  # republished now: not again for 60 s
    assert rig.hub.relay(POLICY) == 0


def test_jobs_never_published_go_out_whatever_the_backlog(rig: Rig) -> None:
    _jobs(rig, "hub.route", 5, published_ago=120)  # older, and first in available_at order
    fresh = _jobs(rig, "hub.deliver.platform", 1, published_ago=None)
    rig.bus.depths["hub.route"] = 40
    assert rig.hub.relay(RelayPolicy(limit=2, redeliver_after=30)) == 1
    assert _published_ids(rig) == fresh


def test_a_job_published_recently_is_left_alone(rig: Rig) -> None:
    _jobs(rig, "hub.route", 2, published_ago=5)
    assert rig.hub.relay(POLICY) == 0
