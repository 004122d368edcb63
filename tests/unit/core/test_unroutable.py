"""Any message whose routing fails is quarantined with its reason, once (issue 9, finding 9)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.ledger.schema import MessageRow, OutboxRow, QuarantineRow
from hub.routing.router import Router
from tests.unit.core.conftest import Rig, message


def _quarantined(rig: Rig) -> list[QuarantineRow]:
    with rig.db.read() as s:
        rows = list(s.scalars(select(QuarantineRow)))
        s.expunge_all()
        return rows


def test_a_crash_inside_the_router_quarantines_the_message(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(self: Router, *args: object, **kwargs: object) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(Router, "resolve", overflow)
    message_id = rig.push(message("guanxian/01*.json"))
    (entry,) = _quarantined(rig)
    assert (entry.stage, entry.message_id) == ("route", message_id)
    assert "OverflowError" in entry.reason_zh and "date value out of range" in entry.reason_en
    with rig.db.read() as s:
        assert s.scalar(select(MessageRow.state)) == "quarantined"
        assert s.scalar(select(OutboxRow.done_at).where(OutboxRow.queue == "hub.route"))
    rig.hub.relay()  # nothing left to offer again
    assert rig.bus.published == []


def test_a_stored_message_that_no_longer_parses_is_quarantined(rig: Rig, tmp_path: Path) -> None:
    rig.hub.fast_path = rig.hub.route_at_ingest = False  # accepted, not yet routed
    message_id = rig.hub.accept(message("guanxian/01*.json")).message_id
    with rig.db.transaction() as s:  # a row written before today's date checks
        row = s.get(MessageRow, message_id)
        assert row is not None
        payload = dict(row.payload)
        payload["occurred_at"] = "0001-01-01T00:00:00+08:00"
        s.execute(
            update(MessageRow).where(MessageRow.message_id == message_id).values(payload=payload)
        )
    rig.clock.set(rig.clock.now() + dt.timedelta(seconds=1))
    rig.hub.relay()
    rig.drain()
    (entry,) = _quarantined(rig)
    assert entry.message_id == message_id and "occurred_at" in entry.reason_en
