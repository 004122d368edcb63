"""A send that outlasts its lease settles nothing (issue 9, finding 4), on SQLite and PostgreSQL.

Hub A leases a push and its channel hangs; the lease runs out, hub B takes the job over, sends
and settles it. When A's send finally returns, its settle finds its fencing token stale and
changes nothing: one delivery, one set of attempts, one ``delivery.sent``. While a send is
still running, the keeper renews the lease so nobody takes it over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from structlog.testing import capture_logs

from hub.channels import OutboundNote, Receipt
from hub.core.dispatch import RetryPolicy
from hub.core.hub import Hub
from hub.ledger.schema import AttemptRow, DeliveryRow, EventRow, OutboxRow
from hub.message import Channel
from tests.support.ledgers import ledger_url
from tests.unit.core.conftest import FakeChannel, Rig, make_rig, message

__all__ = ["ledger_url"]  # the fixture, imported for its tests


class HangingChannel(FakeChannel):
    """Accepts the note only once ``release`` is set; ``entered`` says a send is under way."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.entered, self.release = threading.Event(), threading.Event()

    async def deliver(self, note: OutboundNote) -> Receipt:
        self.entered.set()
        await asyncio.to_thread(self.release.wait, 60)
        return await super().deliver(note)


def _push_job(rig: Rig) -> tuple[int, dict[str, Any]]:
    """Accept one push (routed at ingest); return its deliver job as the bus carries it."""
    rig.hub.accept(message("guanxian/01*.json", recipients=["scjg"]))  # type: ignore[arg-type]
    ((_, job),) = rig.bus.take("hub.deliver.")
    return int(job["outbox_id"]), job


def _hub_with(rig: Rig, channel: FakeChannel, lease: float | None = None) -> Hub:
    retry = RetryPolicy(tries_per_round=1, rounds=2, lease_seconds=lease)
    adapters = {Channel.PLATFORM: channel, Channel.PAPER: rig.channels[Channel.PAPER]}
    return Hub(rig.db, rig.hub.router, rig.bus, clock=rig.clock, adapters=adapters, retry=retry)  # type: ignore[arg-type]


def _count(rig: Rig, query: Any) -> int:
    with rig.db.read() as s:
        return int(s.scalar(query) or 0)


def test_a_settle_that_lost_its_lease_changes_nothing(ledger_url: str, tmp_path: Path) -> None:
    rig = make_rig(tmp_path, url=ledger_url)
    outbox_id, job = _push_job(rig)
    slow = HangingChannel(Channel.PLATFORM)
    hub_a = _hub_with(rig, slow, lease=120.0)
    hub_b = _hub_with(rig, FakeChannel(Channel.PLATFORM), lease=120.0)
    with capture_logs() as logs:
        a = threading.Thread(target=hub_a.handle_delivery, args=(outbox_id, job))
        a.start()
        assert slow.entered.wait(30)
        # the lease runs out while A's channel hangs; B takes the job over and delivers it
        rig.clock.set(rig.clock.now() + dt.timedelta(seconds=121))
        hub_b.handle_delivery(outbox_id, job)
        slow.release.set()
        a.join(30)
    assert not a.is_alive()
    assert len(slow.notes) == 1  # A did send (at-least-once: the same Idempotency-Key twice)
    sent = select(func.count()).select_from(EventRow).where(EventRow.type == "delivery.sent")
    assert _count(rig, sent) == 1  # but the ledger records one delivery
    assert _count(rig, select(func.count()).select_from(AttemptRow)) == 1  # B's attempt only
    with rig.db.read() as s:
        row = s.get(OutboxRow, outbox_id)
        assert row is not None and row.attempts == 2 and row.done_at is not None
        delivery = s.scalars(select(DeliveryRow)).one()
        assert delivery.delivered_at == rig.clock.now()  # B's confirmation, not A's
    assert [e for e in logs if e["event"] == "delivery.lease_lost"]
    for hub in (hub_a, hub_b):
        hub.close()
    rig.hub.close()


def test_the_keeper_renews_a_lease_while_the_send_runs(ledger_url: str, tmp_path: Path) -> None:
    rig = make_rig(tmp_path, url=ledger_url)
    outbox_id, job = _push_job(rig)
    slow = HangingChannel(Channel.PLATFORM)
    lease = 0.9  # renewed every 0.3 s of real time
    hub_a = _hub_with(rig, slow, lease=lease)
    hub_b = _hub_with(rig, FakeChannel(Channel.PLATFORM), lease=lease)
    a = threading.Thread(target=hub_a.handle_delivery, args=(outbox_id, job))
    a.start()
    assert slow.entered.wait(30)
    for _ in range(3):  # three times past the lease it started with
        rig.clock.set(rig.clock.now() + dt.timedelta(seconds=lease * 0.6))
        wanted = rig.clock.now() + dt.timedelta(seconds=lease)
        _wait_for(lambda: _lease_until(rig, outbox_id) == wanted)  # noqa: B023 - used at once
    hub_b.handle_delivery(outbox_id, job)  # the lease is held: B does nothing
    assert hub_b.dispatcher.adapters[Channel.PLATFORM].notes == []  # type: ignore[attr-defined]
    slow.release.set()
    a.join(30)
    sent = select(func.count()).select_from(EventRow).where(EventRow.type == "delivery.sent")
    assert _count(rig, sent) == 1 and len(slow.notes) == 1
    for hub in (hub_a, hub_b):
        hub.close()
    rig.hub.close()


def _lease_until(rig: Rig, outbox_id: int) -> dt.datetime | None:
    with rig.db.read() as s:
        row = s.get(OutboxRow, outbox_id)
        return None if row is None else row.lease_until


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    event = threading.Event()
    deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
    while not condition():
        assert dt.datetime.now() < deadline, "condition not met in time"
        event.wait(0.02)
