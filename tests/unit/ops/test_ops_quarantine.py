"""``hub.ops.quarantine``: replay after fixing the routing config, failed replays, discards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.core.hub import Hub
from hub.errors import (
    FieldProblem,
    NotFoundError,
    RoutingError,
    StateConflictError,
    split_bilingual,
)
from hub.ledger.schema import EventRow, MessageRow, OutboxRow, QuarantineRow
from hub.message import Channel
from hub.ops.handoff import HandoffBus, hand_over
from hub.ops.quarantine import discard, get_entry, list_entries, replay
from hub.routing import load_routing_text
from hub.validation import parse_message
from tests.unit.core.conftest import MINIMAL, ROOT, Rig, make_rig, message

WSJK = """\
  - id: wsjk
    name: 测试县卫生健康局
    channels:
      platform: {endpoint: "http://127.0.0.1:9/wsjk"}
      paper: {address: 测试县卫健局}
"""
WITH_WSJK = MINIMAL.replace("  - id: zjj\n", WSJK + "  - id: zjj\n", 1)
ONLY_INQUIRIES = (
    '    - id: addressed\n      to: ["@recipients"]\n',
    '    - id: addressed\n      match: {kind: inquiry}\n      to: ["@recipients"]\n',
)


def inquiry_bytes(recipient: str) -> bytes:
    """A valid inquiry 审→管 to ``recipient``, as raw JSON."""
    path = next((ROOT / "hub" / "samples" / "zhoucun").glob("04*.json"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data["sender"]["department_id"] = "xzsp"
    data["direction"] = "approval_to_supervision"
    data["recipients"] = [recipient]
    return json.dumps(data, ensure_ascii=False).encode()


def quarantine_unaddressable(hub: Hub, raw: bytes) -> int:
    """What an adapter does when ``accept`` refuses an unknown department."""
    with pytest.raises(RoutingError) as refused:
        hub.accept(parse_message(raw))
    zh, en = split_bilingual(str(refused.value)) or ("", "")
    problem = FieldProblem("recipients", zh, en)
    return hub.quarantine_input(channel=Channel.PLATFORM, raw=raw, problems=[problem])


def with_router(rig: Rig, text: str) -> Hub:
    """The rig's ledger, bus, clock and channels behind a hub with another routing config."""
    rig.hub.close()
    router = load_routing_text(text).router
    bus: Any = rig.bus
    adapters: Any = rig.channels
    rig.hub = Hub(rig.db, router, bus, clock=rig.clock, adapters=adapters)
    return rig.hub


def event_types(rig: Rig) -> list[str]:
    with rig.db.transaction() as s:
        return list(s.scalars(select(EventRow.type).order_by(EventRow.seq)))


def test_ingest_replay_fails_until_the_department_is_configured(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    entry_id = quarantine_unaddressable(rig.hub, inquiry_bytes("wsjk"))
    # When replayed with the same config: still unknown, the entry stays open
    failed = replay(rig.hub, entry_id, actor="cli:ops")
    assert (failed.ok, failed.state, failed.stage) == (False, "open", "ingest")
    assert failed.problems == [
        {"path": "", "zh": "未知的收件部门 'wsjk'", "en": "unknown department 'wsjk'"}
    ]
    # When the department is added to routing.yaml and the entry replayed
    hub = with_router(rig, WITH_WSJK)
    result = replay(hub, entry_id, actor="cli:ops")
    assert (result.ok, result.state, result.duplicate, result.jobs) == (True, "replayed", False, 1)
    rig.drain()
    (delivery,) = hub.deliveries_of(result.message_id or "")
    assert (delivery.department_id, delivery.transport_state) == ("wsjk", "delivered")
    entry = _entry(rig, entry_id)
    assert (entry.state, entry.message_id) == ("replayed", result.message_id)
    assert entry.resolved_at == rig.clock.now()
    types = event_types(rig)
    assert types[:2] == ["message.quarantined", "quarantine.replay_failed"]
    assert types.index("quarantine.replayed") > types.index("message.received")
    # Then a second replay is refused: the entry is resolved
    with pytest.raises(StateConflictError, match="already replayed"):
        replay(hub, entry_id)


def test_ingest_replay_of_a_message_accepted_meanwhile_is_a_duplicate(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    raw = inquiry_bytes("wsjk")
    entry_id = quarantine_unaddressable(rig.hub, raw)
    hub = with_router(rig, WITH_WSJK)
    hub.accept(parse_message(raw))  # the sender pushed it again after the fix
    result = replay(hub, entry_id)
    assert (result.ok, result.duplicate, result.jobs) == (True, True, 0)


def test_an_invalid_payload_cannot_be_replayed(sqlite_rig: Rig) -> None:
    raw = b'{"kind": "approval_decision", "subject": ""}'
    problem = FieldProblem("", "不是有效消息", "not a valid message")
    entry_id = sqlite_rig.hub.quarantine_input(channel=Channel.EMAIL, raw=raw, problems=[problem])
    result = replay(sqlite_rig.hub, entry_id)
    assert not result.ok and result.state == "open"
    paths = {p["path"] for p in result.problems}
    assert {"direction", "sender", "source"} <= paths
    assert _entry(sqlite_rig, entry_id).state == "open"


def test_route_replay_after_fixing_the_config(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ONLY_INQUIRIES)
    notice = message(
        "guanxian/05*.json",
        recipients=["scjg"],
        sender__department_id="xzsp",
        direction="approval_to_supervision",
    )
    message_id = rig.push(notice)
    (entry,) = _entries(rig)
    # When replayed before the fix: nothing changes, no second entry
    failed = replay(rig.hub, entry.id)
    assert (failed.ok, failed.message_id) == (False, message_id)
    assert "no route" in failed.problems[0]["en"]
    assert [e.id for e in _entries(rig)] == [entry.id]
    assert _message_state(rig, message_id) == "quarantined"
    # When the route is fixed
    hub = with_router(rig, MINIMAL)
    result = replay(hub, entry.id)
    assert (result.ok, result.state, result.jobs) == (True, "replayed", 1)
    assert _message_state(rig, message_id) == "routed"
    rig.drain()
    (delivery,) = hub.deliveries_of(message_id)
    assert (delivery.department_id, delivery.route_id, delivery.transport_state) == (
        "scjg",
        "addressed",
        "delivered",
    )
    with rig.db.transaction() as s:
        replayed = s.scalar(select(EventRow).where(EventRow.type == "quarantine.replayed"))
    assert replayed is not None and replayed.message_id == message_id
    assert replayed.data == {"quarantine_id": entry.id, "stage": "route", "duplicate": False}
    rig.hub.close()


def test_discard_puts_the_reason_on_record(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    entry_id = quarantine_unaddressable(rig.hub, inquiry_bytes("wsjk"))
    with rig.db.transaction() as s:
        entry = discard(s, entry_id, "测试数据", now=rig.clock.now(), actor="cli:ops")
    assert (entry.state, entry.resolved_at) == ("discarded", rig.clock.now())
    with rig.db.transaction() as s:
        event = s.scalar(select(EventRow).where(EventRow.type == "quarantine.discarded"))
        assert event is not None and event.actor == "cli:ops"
        assert event.data == {"quarantine_id": entry_id, "stage": "ingest", "reason": "测试数据"}
        with pytest.raises(StateConflictError):
            discard(s, entry_id, "again", now=rig.clock.now(), actor="x")
        with pytest.raises(NotFoundError):
            discard(s, 999, "none", now=rig.clock.now(), actor="x")
        with pytest.raises(ValueError, match="reason"):
            discard(s, entry_id, "  ", now=rig.clock.now(), actor="x")
    with pytest.raises(StateConflictError, match="discarded"):
        replay(rig.hub, entry_id)


def test_list_and_get(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    first = quarantine_unaddressable(rig.hub, inquiry_bytes("wsjk"))
    second = quarantine_unaddressable(rig.hub, inquiry_bytes("mzj"))
    with rig.db.transaction() as s:
        discard(s, first, "x", now=rig.clock.now(), actor="x")
        assert [e.id for e in list_entries(s)] == [second]
        assert [e.id for e in list_entries(s, state=None)] == [second, first]
        assert [e.id for e in list_entries(s, state=None, limit=1)] == [second]
        listed = list_entries(s)[0]
        shown = get_entry(s, second)
        assert get_entry(s, 12345) is None
    assert shown is not None and shown.raw == inquiry_bytes("mzj")
    assert listed.raw == b"" and listed.raw_size == len(shown.raw)
    assert "raw" not in listed.to_json() and listed.to_json()["raw_size"] == listed.raw_size
    with pytest.raises(NotFoundError):
        replay(rig.hub, 12345)


def test_handoff_leaves_jobs_for_the_running_hubs_relay(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    entry_id = quarantine_unaddressable(rig.hub, inquiry_bytes("wsjk"))
    bus = HandoffBus()
    hub = Hub(rig.db, load_routing_text(WITH_WSJK).router, bus, clock=rig.clock)
    assert replay(hub, entry_id).ok
    hub.close()
    (outbox_id,) = bus.outbox_ids
    assert hand_over(rig.db, bus) == 1 and bus.outbox_ids == []
    with rig.db.transaction() as s:
        row = s.get(OutboxRow, outbox_id)
        # routed at ingest: the push job itself, left unpublished for the running hub
        assert row is not None and (row.queue, row.published_at) == ("hub.deliver.platform", None)
    assert rig.hub.relay() == 1  # the running hub publishes it on its next pass


def _entry(rig: Rig, entry_id: int) -> QuarantineRow:
    with rig.db.transaction() as s:
        row = s.get(QuarantineRow, entry_id)
        assert row is not None
        return row


def _entries(rig: Rig) -> list[QuarantineRow]:
    with rig.db.transaction() as s:
        return list(s.scalars(select(QuarantineRow).order_by(QuarantineRow.id)))


def _message_state(rig: Rig, message_id: str) -> str:
    with rig.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(MessageRow)) == 1
        row = s.get(MessageRow, message_id)
        assert row is not None
        return row.state
