"""Batches: route and deliver jobs handled several at a time, one transaction per batch, with a
fallback to one job per transaction that neither loses a job nor sends anything twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select
from structlog.testing import capture_logs

from hub.channels import OutboundNote, Receipt
from hub.core import hub as hub_module
from hub.core import settle as settle_module
from hub.ledger.schema import DeliveryRow, OutboxRow
from hub.message import Channel
from tests.unit.core.conftest import Rig, message

APPROVAL = "guanxian/01*.json"


def _accept(rig: Rig, n: int) -> list[tuple[int | None, str]]:
    rig.hub.route_at_ingest = False  # these tests drive the routing stage (retries, replays)
    for i in range(n):
        rig.hub.accept(message(APPROVAL, recipients=["scjg"], source__source_id=f"batch-{i}"))
    return [(body["outbox_id"], body["message_id"]) for _q, body in rig.bus.take("hub.route")]


def _commits(rig: Rig) -> list[int]:
    count = [0]

    @event.listens_for(rig.db.engine, "commit")
    def on_commit(_conn: Any) -> None:
        count[0] += 1

    return count


def _delivered(rig: Rig) -> int:
    with rig.db.read() as s:
        query = select(func.count()).where(DeliveryRow.transport_state == "delivered")
        return int(s.scalar(query.select_from(DeliveryRow)) or 0)


def test_a_route_batch_is_one_transaction_and_a_repeated_job_routes_once(rig: Rig) -> None:
    jobs = _accept(rig, 4)
    commits = _commits(rig)
    rig.hub.handle_route_batch([*jobs, jobs[0]])  # the first job twice (a redelivery)
    assert commits[0] == 1
    with rig.db.read() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 4
    assert len(rig.bus.take("hub.deliver.")) == 4


def test_a_route_batch_that_fails_is_routed_job_by_job(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _accept(rig, 3)
    broken = jobs[1][1]
    real = hub_module.route_job

    def route_job(session: Any, router: Any, *, message_id: str, **kw: Any) -> Any:
        if message_id == broken:
            raise RuntimeError("database hiccup")
        return real(session, router, message_id=message_id, **kw)

    monkeypatch.setattr(hub_module, "route_job", route_job)
    with capture_logs() as logs:
        rig.hub.handle_route_batch(jobs)
    with rig.db.read() as s:
        routed = set(s.scalars(select(DeliveryRow.message_id)))
        pending = s.scalar(select(OutboxRow.done_at).where(OutboxRow.id == jobs[1][0]))
    assert routed == {jobs[0][1], jobs[2][1]}  # the others went on
    assert pending is None  # the broken job stays in the outbox for the relay
    names = [entry["event"] for entry in logs]
    assert "route.batch_failed" in names and "worker.failed" in names


class BarrierChannel:
    """Answers only when ``parties`` sends are in flight at once (or fails after 2 s)."""

    def __init__(self, parties: int) -> None:
        self.parties, self.sent = parties, 0
        self._barrier: asyncio.Barrier | None = None

    async def deliver(self, note: OutboundNote) -> Receipt:
        if self._barrier is None:
            self._barrier = asyncio.Barrier(self.parties)
        await asyncio.wait_for(self._barrier.wait(), 2.0)
        self.sent += 1
        return Receipt(Channel.PLATFORM, reference=f"together-{self.sent}")

    async def aclose(self) -> None:
        return None


def _routed(rig: Rig, n: int) -> list[tuple[int, dict[str, Any]]]:
    rig.hub.handle_route_batch(_accept(rig, n))
    return [(int(body["outbox_id"]), body) for _q, body in rig.bus.take("hub.deliver.")]


def test_the_deliveries_of_a_batch_are_sent_concurrently(rig: Rig) -> None:
    jobs = _routed(rig, 3)
    channel = BarrierChannel(parties=3)  # sequential sends would each time out
    rig.hub.dispatcher.adapters = {Channel.PLATFORM: channel}  # type: ignore[dict-item]
    commits = _commits(rig)
    rig.hub.handle_delivery_batch(jobs)
    assert channel.sent == 3 and _delivered(rig) == 3
    assert commits[0] == 2  # lease + build the notes, then settle: one transaction each


def test_a_failed_batch_settle_settles_one_by_one_without_sending_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _routed(rig, 3)
    real = settle_module.Settler._confirmed
    calls = [0]

    def confirmed(self: Any, *args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:  # the batch transaction fails on its third delivery
            raise RuntimeError("lost the connection")
        return real(self, *args)

    monkeypatch.setattr(settle_module.Settler, "_confirmed", confirmed)
    with capture_logs() as logs:
        rig.hub.handle_delivery_batch(jobs)
    platform = rig.channels[Channel.PLATFORM]
    assert len(platform.notes) == 3  # each sent once
    assert _delivered(rig) == 3
    assert "delivery.batch_settle_failed" in [entry["event"] for entry in logs]
    with rig.db.read() as s:
        open_jobs = s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None))
        )
    assert open_jobs == 0


def test_a_job_the_hub_did_not_write_is_dropped_and_the_rest_delivered(rig: Rig) -> None:
    jobs = _routed(rig, 2)
    with capture_logs() as logs:
        rig.hub.handle_delivery_batch([*jobs, (999, {"outbox_id": 999, "channel": "platform"})])
    assert _delivered(rig) == 2
    assert any(e["event"] == "delivery.bad_job" and e["outbox_id"] == 999 for e in logs)
