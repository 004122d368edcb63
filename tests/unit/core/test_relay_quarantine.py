"""A job whose handler always fails is quarantined by the relay after ``max_attempts`` leases,
with its reason, is not offered again, shows in ``hub status`` and ``hub quarantine``, and a
replay puts it back in the outbox. The scenarios take a rig (the PostgreSQL tests run them)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from hub.channels import OutboundNote, Receipt
from hub.core.relay import RelayPolicy
from hub.ledger.outbox import complete, enqueue, lease
from hub.ledger.schema import EventRow, OutboxRow, QuarantineRow
from hub.message import Channel
from hub.ops.quarantine import get_entry, list_entries, replay
from hub.ops.status import status
from tests.unit.core.conftest import Rig, message

POLICY = RelayPolicy(redeliver_after=30, max_attempts=3)
HOUR = dt.timedelta(hours=1)  # longer than any lease and any wait here


class Broken:
    """The platform channel's ``deliver``, raising a bug (not a DeliveryError) while on."""

    def __init__(self) -> None:
        self.on, self.calls = True, 0

    async def __call__(self, note: OutboundNote) -> Receipt:
        self.calls += 1
        if self.on:
            raise RuntimeError("boom: adapter bug")
        return Receipt(Channel.PLATFORM, reference="ok-after-fix")


def deliver_all(rig: Rig) -> int:
    """Hand every published deliver job to the hub, as a worker would (errors logged, kept)."""
    handled = 0
    for _queue, body in rig.bus.take("hub.deliver."):
        # the worker logs the bug; the lease runs out and the relay offers the job again
        with contextlib.suppress(RuntimeError):
            rig.hub.handle_delivery(body["outbox_id"], body)
        handled += 1
    return handled


def push_with_broken_platform(rig: Rig) -> tuple[Broken, str]:
    broken = Broken()
    rig.channels[Channel.PLATFORM].deliver = broken  # type: ignore[method-assign]
    accepted = rig.hub.accept(message("guanxian/01*.json", recipients=["scjg"]))
    for _queue, body in rig.bus.take("hub.route"):
        rig.hub.handle_route(body["outbox_id"], body["message_id"])
    return broken, accepted.message_id


def deliver_row(rig: Rig) -> OutboxRow:
    with rig.db.read() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.queue == "hub.deliver.platform")).one()
        s.expunge(row)
        return row


def failing_handler_ends_quarantined(rig: Rig) -> None:
    """Given a push whose platform send raises every time, when the relay keeps offering its
    job, then after 3 leases the job is quarantined with its reason and offered no more."""
    broken, message_id = push_with_broken_platform(rig)
    for attempt in (1, 2, 3):
        assert deliver_all(rig) == 1, attempt
        assert (deliver_row(rig).attempts, broken.calls) == (attempt, attempt)
        rig.clock.advance(HOUR)
        assert rig.hub.relay(POLICY) == 1  # republished, or at the third time quarantined
    assert rig.bus.take() == []  # not published a fourth time
    row = deliver_row(rig)
    assert row.done_at == rig.clock.now() and row.quarantine_id is not None
    with rig.db.read() as s:
        entry = get_entry(s, row.quarantine_id)
        (event,) = s.scalars(select(EventRow).where(EventRow.type == "job.quarantined")).all()
        event_data, event_message = dict(event.data), event.message_id
    assert entry is not None
    assert (entry.stage, entry.state, entry.channel, entry.message_id) == (
        "relay",
        "open",
        "platform",
        message_id,
    )
    assert entry.reason_zh.startswith(
        f"队列 hub.deliver.platform 的任务 #{row.id} 已被领取处理 3 次均未完成（上限 3 次）"
    )
    assert f"job #{row.id} of queue hub.deliver.platform was taken 3 times" in entry.reason_en
    # the bug left no delivery attempt, but the handler's failure was noted on the job
    assert "last error: RuntimeError: boom: adapter bug" in entry.reason_en
    assert (event_message, event_data["cause"], event_data["attempts"]) == (
        message_id,
        "attempts",
        3,
    )
    rig.clock.advance(24 * HOUR)  # never offered again, and a late copy changes nothing
    assert rig.hub.relay(POLICY) == 0 and rig.bus.take() == []
    rig.hub.handle_delivery(row.id, {**row.payload, "outbox_id": row.id})
    assert broken.calls == 3


def replay_puts_the_job_back(rig: Rig) -> None:
    """After the fix, ``hub quarantine replay`` enqueues the same job again; it is delivered."""
    broken, message_id = push_with_broken_platform(rig)
    for _ in range(3):
        deliver_all(rig)
        rig.clock.advance(HOUR)
        rig.hub.relay(POLICY)
    with rig.db.read() as s:
        (entry,) = list_entries(s)
    assert entry.stage == "relay"
    broken.on = False
    result = replay(rig.hub, entry.id, actor="operator")
    assert (result.ok, result.state, result.jobs, result.message_id) == (
        True,
        "replayed",
        1,
        message_id,
    )
    assert deliver_all(rig) == 1 and broken.calls == 4
    with rig.db.read() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.queue == "hub.deliver.platform"))
        states = sorted((r.quarantine_id is not None, r.done_at is not None) for r in rows)
        assert states == [(False, True), (True, True)]  # the new row done, the old one closed
        assert list_entries(s) == []
        replayed = s.scalars(select(EventRow).where(EventRow.type == "quarantine.replayed"))
        assert [e.data["stage"] for e in replayed] == ["relay"]


def status_shows_quarantined_and_stale_jobs(rig: Rig) -> None:
    now = rig.clock.now()
    with rig.db.transaction() as s:
        stale = enqueue(s, "hub.route", {"message_id": "M-x"}, now=now, published=True)
        taken = [enqueue(s, "hub.deliver.email", {}, now=now, published=True) for _ in range(2)]
        done = enqueue(s, "hub.route", {"message_id": "M-y"}, now=now, published=True)
        s.flush()
        complete(s, done.id, now=now)
        for row in taken:
            for hours in (3, 2, 1):  # taken three times, the handler died each time
                assert lease(s, row.id, now=now - hours * HOUR, seconds=60)
        stale_id = stale.id
    rig.clock.advance(dt.timedelta(minutes=5))
    assert rig.hub.relay(RelayPolicy(redeliver_after=600, max_attempts=3)) == 2  # quarantined
    with rig.db.read() as s:
        report = status(s, rig.clock.now())
    assert report.relay.quarantined == {"hub.deliver.email": 2}
    oldest = report.relay.oldest_stale
    assert oldest is not None
    assert (oldest.outbox_id, oldest.queue, oldest.age_seconds, oldest.publishes) == (
        stale_id,
        "hub.route",
        300.0,
        1,
    )
    json_report: dict[str, Any] = report.to_json()
    assert json_report["relay"]["quarantined"] == {"hub.deliver.email": 2}
    with rig.db.transaction() as s:
        for entry in s.scalars(select(QuarantineRow)):
            entry.state = "discarded"  # resolved entries no longer count
    with rig.db.read() as s:
        assert status(s, rig.clock.now()).relay.quarantined == {}
        assert status(s, rig.clock.now(), stale_after=301).relay.oldest_stale is None


def failing_route_job_ends_quarantined(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Route jobs are not leased (routing commits or rolls back at once), so one that fails every
    time is caught by its publish count: republished at 30 s, then 60 s, then given up."""
    import hub.core.hub as hub_module

    def broken_route_job(*args: object, **kwargs: object) -> list[OutboxRow]:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(hub_module, "route_job", broken_route_job)
    rig.hub.route_at_ingest = False  # a routing job that always fails
    policy = RelayPolicy(redeliver_after=30, max_publishes=3)
    accepted = rig.hub.accept(message("guanxian/01*.json", recipients=["scjg"]))
    start = rig.clock.now()
    for seconds in (30, 90, 210):  # publishes 1 → 2 → 3 → given up
        for _queue, body in rig.bus.take("hub.route"):
            with contextlib.suppress(OverflowError):
                rig.hub.handle_route(body["outbox_id"], body["message_id"])
        rig.clock.set(start + dt.timedelta(seconds=seconds))
        assert rig.hub.relay(policy) == 1, seconds
    assert rig.bus.take() == []
    with rig.db.read() as s:
        (entry,) = list_entries(s)
    # the channel of a route job's entry is the one the message came in by
    assert (entry.stage, entry.message_id, entry.channel) == (
        "relay",
        accepted.message_id,
        "selfbuilt",
    )
    assert "队列 hub.route 的任务 #1 已发布 3 次、被领取 0 次" in entry.reason_zh
    monkeypatch.undo()  # fixed: the replay routes the message
    assert replay(rig.hub, entry.id).ok
    for _queue, body in rig.bus.take("hub.route"):
        rig.hub.handle_route(body["outbox_id"], body["message_id"])
    assert len(rig.hub.deliveries_of(accepted.message_id)) == 1


def test_a_failing_route_job_ends_quarantined_by_its_publish_count(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_route_job_ends_quarantined(rig, monkeypatch)


def test_a_failing_handler_ends_quarantined_and_is_not_offered_again(rig: Rig) -> None:
    failing_handler_ends_quarantined(rig)


def test_giving_up_is_logged_with_the_job_message_and_delivery(rig: Rig) -> None:
    _broken, message_id = push_with_broken_platform(rig)
    with capture_logs() as logs:
        for _ in range(3):
            deliver_all(rig)
            rig.clock.advance(HOUR)
            rig.hub.relay(POLICY)
    (given_up,) = [e for e in logs if e["event"] == "job.quarantined"]
    row = deliver_row(rig)
    assert given_up["log_level"] == "warning"
    assert (given_up["message_id"], given_up["delivery_id"], given_up["outbox_id"]) == (
        message_id,
        row.payload["delivery_id"],
        row.id,
    )
    assert (given_up["queue"], given_up["cause"], given_up["quarantine_id"]) == (
        "hub.deliver.platform",
        "attempts",
        row.quarantine_id,
    )


def test_replay_puts_the_job_back_in_the_outbox(rig: Rig) -> None:
    replay_puts_the_job_back(rig)


def test_status_shows_quarantined_and_stale_jobs(rig: Rig) -> None:
    status_shows_quarantined_and_stale_jobs(rig)
