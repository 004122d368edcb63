"""The relay republishes a lost job per job, with a wait that doubles per publish up to a cap,
also in a queue that never drains (once the job has been overtaken), and gives up after
``max_publishes``. The scenarios take a rig, so the PostgreSQL tests run them too."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from hub.core.relay import RelayPolicy
from hub.ledger.outbox import complete, enqueue
from hub.ledger.schema import EventRow, OutboxRow, QuarantineRow
from tests.unit.core.conftest import Rig

ROUTE = "hub.route"
POLICY = RelayPolicy(redeliver_after=30, max_wait=200, max_publishes=6)


def at(rig: Rig, seconds: float) -> dt.datetime:
    """Move the rig's clock to ``seconds`` after the start of the scenario."""
    start = rig.clock.start  # type: ignore[attr-defined]
    rig.clock.set(start + dt.timedelta(seconds=seconds))
    return rig.clock.now()


def begin(rig: Rig) -> None:
    rig.clock.start = rig.clock.now()  # type: ignore[attr-defined]


def job(rig: Rig, queue: str = ROUTE, *, done: bool = False) -> int:
    """A job published now (the fast path), completed at once when ``done``."""
    now = rig.clock.now()
    with rig.db.transaction() as s:
        row = enqueue(s, queue, {"message_id": "M-none"}, now=now, published=True)
        s.flush()
        if done:
            complete(s, row.id, now=now)
        return row.id


def published(rig: Rig) -> list[int]:
    return sorted(int(body["outbox_id"]) for _q, body in rig.bus.take())


def row(rig: Rig, outbox_id: int) -> OutboxRow:
    with rig.db.read() as s:
        found = s.get(OutboxRow, outbox_id)
        assert found is not None
        s.expunge(found)  # keep its values after the session ends
        return found


def lost_job_in_a_busy_queue_is_republished_once_overtaken(rig: Rig) -> None:
    """Given a queue the bus always reports busy, a job whose message was lost at 0 s,
    when later jobs of the queue complete, then it is republished — and not the backlog."""
    begin(rig)
    rig.bus.depths[ROUTE] = 40
    lost = job(rig)
    at(rig, 15)
    near = job(rig)  # published less than 30 s before the completed job below
    at(rig, 35)
    assert rig.hub.relay(POLICY) == 0  # stale, but nothing shows it is not simply behind
    at(rig, 40)
    job(rig, done=True)  # published 40 s after it and already done: it was overtaken
    at(rig, 45)
    backlog = job(rig)  # waiting behind the others: not overtaken
    now = at(rig, 100)
    assert rig.hub.relay(POLICY) == 1
    assert published(rig) == [lost]
    assert (row(rig, lost).publishes, row(rig, lost).published_at) == (2, now)
    # may still sit in a consumer's batch (the margin): left alone, like the backlog
    assert (row(rig, near).publishes, row(rig, near).published_at) == (1, at(rig, 15))
    assert (row(rig, backlog).publishes, row(rig, backlog).published_at) == (1, at(rig, 45))


def a_busy_queue_with_nothing_completed_gets_no_copies(rig: Rig) -> None:
    begin(rig)
    rig.bus.depths[ROUTE] = 500
    backlog = [job(rig) for _ in range(5)]
    at(rig, 3600)
    assert rig.hub.relay(POLICY) == 0
    assert {row(rig, i).publishes for i in backlog} == {1}


# (publishes before, seconds after the last publish when it is due again)
WAITS = [(1, 30), (2, 60), (3, 120), (4, 200), (5, 200)]  # doubling, capped at max_wait


def the_wait_doubles_per_publish_up_to_the_cap(rig: Rig, *, busy: bool) -> None:
    """Republish times and counts of a job lost every time, in an idle or a busy queue
    (in the busy one a later job completes 30 s after each publish: the job is overtaken)."""
    begin(rig)
    rig.bus.depths[ROUTE] = 40 if busy else 0
    lost = job(rig)
    last = 0.0
    for publishes, wait in WAITS:
        assert row(rig, lost).publishes == publishes
        at(rig, last + 29)
        assert rig.hub.relay(POLICY) == 0
        at(rig, last + 30)
        if busy:
            job(rig, done=True)
        if wait > 30:
            at(rig, last + wait - 1)
            assert rig.hub.relay(POLICY) == 0, (publishes, wait)
        now = at(rig, last + wait)
        assert rig.hub.relay(POLICY) == 1, (publishes, wait)
        assert published(rig) == [lost]
        assert (row(rig, lost).publishes, row(rig, lost).published_at) == (publishes + 1, now)
        last += wait


def a_job_published_max_publishes_times_is_quarantined(rig: Rig) -> None:
    begin(rig)
    policy = RelayPolicy(redeliver_after=30, max_wait=200, max_publishes=3)
    lost = job(rig)
    for seconds in (30, 90):  # publishes 2 and 3
        at(rig, seconds)
        assert rig.hub.relay(policy) == 1 and published(rig) == [lost]
    at(rig, 90 + 119)
    assert rig.hub.relay(policy) == 0
    now = at(rig, 90 + 120)
    assert rig.hub.relay(policy) == 1  # quarantined, not published
    assert published(rig) == []
    closed = row(rig, lost)
    assert (closed.done_at, closed.publishes) == (now, 3) and closed.quarantine_id is not None
    with rig.db.read() as s:
        entry = s.get(QuarantineRow, closed.quarantine_id)
        events = s.scalars(select(EventRow).where(EventRow.type == "job.quarantined")).all()
        s.expunge_all()
    assert entry is not None and (entry.stage, entry.state, entry.source_id) == (
        "relay",
        "open",
        f"outbox:{lost}",
    )
    assert f"hub.route 的任务 #{lost} 已发布 3 次" in entry.reason_zh
    assert "published 3 times" in entry.reason_en and "limit 3 publishes" in entry.reason_en
    assert [e.data["outbox_id"] for e in events] == [lost]
    assert events[0].data["cause"] == "publishes"
    at(rig, 100_000)
    assert rig.hub.relay(policy) == 0 and published(rig) == []


def test_lost_job_in_a_busy_queue_is_republished_once_overtaken(rig: Rig) -> None:
    lost_job_in_a_busy_queue_is_republished_once_overtaken(rig)


def test_a_busy_queue_with_nothing_completed_gets_no_copies(rig: Rig) -> None:
    a_busy_queue_with_nothing_completed_gets_no_copies(rig)


def test_a_pass_with_nothing_to_do_takes_no_write_transaction(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has one writer: a relay pass over a backlog must not hold it for nothing."""
    begin(rig)
    rig.bus.depths[ROUTE] = 500
    for _ in range(3):
        job(rig)
    at(rig, 3600)

    def no_writes() -> None:
        raise AssertionError("the relay took a write transaction with nothing to do")

    monkeypatch.setattr(rig.db, "transaction", no_writes)
    assert rig.hub.relay(POLICY) == 0


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_the_wait_doubles_per_publish_up_to_the_cap(rig: Rig, busy: bool) -> None:
    the_wait_doubles_per_publish_up_to_the_cap(rig, busy=busy)


def test_a_job_published_max_publishes_times_is_quarantined(rig: Rig) -> None:
    a_job_published_max_publishes_times_is_quarantined(rig)


@pytest.mark.parametrize(
    ("redeliver_after", "max_wait", "expected"),
    [
        (30, 3600, [30, 60, 120, 240, 480, 960, 1920, 3600]),
        (30, 200, [30, 60, 120, 200]),
        (30, 30, [30]),
        (100, 50, [100]),  # a cap below the first wait: the first wait holds
    ],
)
def test_policy_waits(redeliver_after: float, max_wait: float, expected: list[float]) -> None:
    policy = RelayPolicy(redeliver_after=redeliver_after, max_wait=max_wait)
    assert [w.total_seconds() for w in policy.waits()] == expected
    assert [policy.wait(n) for n in range(1, len(expected) + 3)] == [
        *expected,
        expected[-1],
        expected[-1],
    ]
    assert policy.wait(0) == expected[0]
