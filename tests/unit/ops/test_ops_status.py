"""``hub.ops.status``: queue backlog from outbox rows, department counts from real hub flows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hub.errors import DeliveryError
from hub.ledger.outbox import complete, enqueue, lease
from hub.message import CanonicalMessage, Channel
from hub.ops.status import DeptStatus, QueueStatus, department_status, queue_status, status
from tests.unit.core.conftest import TZ, Rig, make_rig, message


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


def approval(n: int) -> CanonicalMessage:
    return message("guanxian/01*.json", recipients=["scjg"], source__source_id=f"src-{n}")


def push_four_and_settle(rig: Rig) -> list[str]:
    """Given four pushes at 09-30 16:00 (claim due 10-08 24:00): one claimed in time."""
    ids = [rig.push(approval(n)) for n in range(4)]
    rig.clock.set(at(8, 10))
    first = rig.hub.deliveries_of(ids[0])[0].delivery_id
    rig.hub.claim(first, department_id="scjg", actor="李秀英", channel=Channel.PLATFORM)
    return ids


def scjg(rig: Rig, now: dt.datetime) -> DeptStatus:
    with rig.db.transaction() as s:
        (row,) = department_status(s, now)
    assert row.department_id == "scjg"
    return row


def test_open_and_overdue_are_counted_at_the_given_instant(rig: Rig) -> None:
    push_four_and_settle(rig)
    before = scjg(rig, at(8, 23, 59, 59))
    assert (before.open, before.overdue, before.claimed, before.oldest_overdue_due) == (
        3,
        0,
        1,
        None,
    )
    # the deadline has passed but the engine has not run yet: three overdue
    after = scjg(rig, at(9, 0, 0, 1))
    assert (after.open, after.overdue, after.oldest_overdue_due) == (3, 3, at(9))


def test_claims_late_and_auto_claims_are_counted_apart(rig: Rig) -> None:
    ids = push_four_and_settle(rig)
    rig.clock.set(at(9, 0, 0, 5))
    second = rig.hub.deliveries_of(ids[1])[0].delivery_id
    rig.hub.claim(second, department_id="scjg", actor="x", channel=Channel.PLATFORM)
    rig.tick(at(9, 0, 0, 10))  # the engine auto-claims the last two
    row = scjg(rig, at(9, 1))
    assert row == DeptStatus(
        department_id="scjg",
        open=0,
        overdue=0,
        claimed=1,
        claimed_late=1,
        auto_claimed=2,
        escalated=0,
        failed=0,
        replies_awaiting=0,
        oldest_overdue_due=None,
    )
    with rig.db.transaction() as s:
        report = status(s, at(9, 1))
    assert report.totals.messages == {"routed": 4}
    assert (report.totals.quarantine_open, report.totals.dead_lettered) == (0, 0)


def test_escalated_and_failed_deliveries(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: escalate}",
        ),
    )
    rig.push(approval(1))
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("404", retryable=False)]
    rig.channels[Channel.PAPER].failures = [DeliveryError("disk", retryable=False)]
    rig.push(approval(2))  # every channel fails: dead letter, 投递失败
    rig.tick(at(9))  # the delivered one times out and escalates; the failed one has no deadline
    row = scjg(rig, at(9, 8))
    # 待认领 counts what can be claimed: not the push that reached nobody
    assert (row.open, row.overdue, row.escalated, row.failed) == (1, 1, 1, 1)
    with rig.db.transaction() as s:
        assert status(s, at(9, 8)).totals.dead_lettered == 1
    rig.hub.close()


def test_queue_backlog_age_delays_and_leases(sqlite_rig: Rig) -> None:
    now = at(1, 12)
    with sqlite_rig.db.transaction() as s:
        enqueue(s, "hub.route", {"n": 1}, now=now - dt.timedelta(hours=2))
        enqueue(s, "hub.route", {"n": 2}, now=now - dt.timedelta(seconds=3))
        delayed = now + dt.timedelta(minutes=5)
        enqueue(s, "hub.route", {"n": 3}, now=now - dt.timedelta(days=1), available_at=delayed)
        done = enqueue(s, "hub.route", {"n": 4}, now=now - dt.timedelta(days=3))
        held = enqueue(s, "hub.deliver.platform", {"n": 5}, now=now - dt.timedelta(seconds=3))
        s.flush()  # the rows get their ids
        complete(s, done.id, now=now)
        lease(s, held.id, now=now, seconds=60)
    with sqlite_rig.db.transaction() as s:
        queues = queue_status(s, now)
    assert queues == [
        QueueStatus(
            "hub.deliver.platform", pending=1, oldest_age_seconds=3.0, scheduled=0, leased=1
        ),
        QueueStatus("hub.route", pending=3, oldest_age_seconds=7200.0, scheduled=1, leased=0),
    ]
    with sqlite_rig.db.transaction() as s:  # a lease that ran out is not "leased" any more
        (platform, _) = queue_status(s, now + dt.timedelta(minutes=2))
    assert platform.leased == 0


def test_nothing_due_has_no_age(sqlite_rig: Rig) -> None:
    now = at(1, 12)
    with sqlite_rig.db.transaction() as s:
        enqueue(s, "hub.route", {}, now=now, available_at=now + dt.timedelta(seconds=30))
        (q,) = queue_status(s, now)
    assert (q.pending, q.scheduled, q.oldest_age_seconds) == (1, 1, None)


def test_a_fresh_ledger_reports_nothing(rig: Rig) -> None:
    with rig.db.transaction() as s:
        report = status(s, at(1))
    assert (report.queues, report.departments) == ([], [])
    assert report.totals.messages == {} and report.totals.quarantine_open == 0
    assert report.to_json()["at"] == at(1).isoformat()
