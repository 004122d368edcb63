"""``hub.ops.trace`` and ``hub.ops.audit`` on both ledger backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from hub.errors import StateConflictError
from hub.ledger.schema import EventRow
from hub.message import Channel
from hub.ops.audit import audit
from hub.ops.trace import trace
from tests.unit.core.conftest import TZ, Rig, message


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=TZ)


def test_trace_lists_deliveries_and_every_event_in_order(rig: Rig) -> None:
    message_id = rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    (view,) = rig.hub.deliveries_of(message_id)
    rig.tick(at(9))  # auto-claimed at the deadline
    with pytest.raises(StateConflictError):
        rig.hub.claim(view.delivery_id, department_id="scjg", actor="x", channel=Channel.PLATFORM)
    with rig.db.transaction() as s:
        found = trace(s, message_id)
    assert found is not None
    assert (found.message.kind, found.message.sender_id, found.message.state) == (
        "approval_decision",
        "xzsp",
        "routed",
    )
    (d,) = found.deliveries
    assert (d.department_id, d.route_id, d.claim_state, d.claim_due) == (
        "scjg",
        "approval",
        "auto_claimed",
        at(9),
    )
    assert d.channels == ("platform", "email", "paper")
    # the refused claim names only the delivery: it is found through the delivery id
    assert [e.type for e in found.events] == [
        "message.received",
        "delivery.created",
        "delivery.sent",
        "deadline.missed",
        "claim.auto",
        "delivery.sent",  # the notice of the auto-claim
        "claim.refused",
    ]
    seqs = [e.seq for e in found.events]
    assert seqs == sorted(seqs)
    assert found.events[0].at == dt.datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    refused = found.events[-1]
    assert (refused.delivery_id, refused.actor) == (view.delivery_id, "x")
    assert "already auto-claimed" in refused.data["reason"]


def test_trace_by_delivery_id_and_unknown_ids(rig: Rig) -> None:
    message_id = rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    (view,) = rig.hub.deliveries_of(message_id)
    with rig.db.transaction() as s:
        by_delivery = trace(s, view.delivery_id)
        assert by_delivery is not None and by_delivery.message.message_id == message_id
        assert trace(s, "Mnosuchmessage") is None
    due = by_delivery.to_json()["deliveries"][0]["claim_due"]
    assert dt.datetime.fromisoformat(due) == at(9)


def test_audit_passes_on_an_intact_chain_and_reports_its_head(rig: Rig) -> None:
    rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    with rig.db.transaction() as s:
        summary = audit(s)
        last = s.scalars(select(EventRow).where(EventRow.chain_seq == 3)).one()
    assert last is not None
    assert (summary.ok, summary.events, summary.head_seq) == (True, 3, 3)
    assert summary.head_hash == last.hash and summary.head_at == last.at
    with rig.db.transaction() as s:  # a head recorded earlier is still on the chain
        second = s.scalars(select(EventRow).where(EventRow.chain_seq == 2)).one()
        assert audit(s, expect=(2, second.hash or "")).ok


def test_audit_detects_an_edited_event_and_a_rewritten_head(rig: Rig) -> None:
    rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    with rig.db.transaction() as s:
        recorded = audit(s)
        s.execute(update(EventRow).where(EventRow.chain_seq == 2).values(actor="someone else"))
    with rig.db.transaction() as s:
        summary = audit(s)
    assert not summary.ok
    assert summary.problems == ["事件 2 内容被修改 (event 2 was edited)"]
    with rig.db.transaction() as s:
        rewritten = audit(s, expect=(recorded.head_seq, "f" * 64))
    assert any("the chain was rewritten" in p for p in rewritten.problems)
