"""A department is held only to a push it received (issue 9, findings 1, 2 and 6), on SQLite and
on PostgreSQL: deadlines count from the channel's confirmation, undeliverable pushes are never
auto-claimed, sender lateness counts from acceptance, escalation steps do what the file says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.states import ClaimState, TransportState
from hub.errors import DeliveryError
from hub.ledger.schema import ClaimRow, DeliveryRow, EventRow, MessageRow, TimerRow
from hub.message import Channel
from tests.support.ledgers import ledger_url
from tests.unit.core.conftest import TZ, Rig, make_rig, message

__all__ = ["ledger_url"]  # the fixture, imported for its tests


def at(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=TZ)


def approval(n: int = 0) -> object:
    return message("guanxian/01*.json", recipients=["scjg"], source__source_id=f"dl-{n}")


def the_delivery(rig: Rig) -> DeliveryRow:
    with rig.db.read() as s:
        row = s.scalars(select(DeliveryRow)).one()
        s.expunge(row)
        return row


def event_types(rig: Rig) -> list[str]:
    with rig.db.read() as s:
        return list(s.scalars(select(EventRow.type).order_by(EventRow.seq)))


def timers(rig: Rig) -> list[TimerRow]:
    with rig.db.read() as s:
        rows = list(s.scalars(select(TimerRow)))
        s.expunge_all()
        return rows


@pytest.fixture
def rig(ledger_url: str, tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path, url=ledger_url)
    yield r
    r.hub.close()
    r.db.dispose()


def test_an_undeliverable_push_is_never_auto_claimed(rig: Rig) -> None:
    # Given every channel of scjg fails for good
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("404", retryable=False)]
    rig.channels[Channel.PAPER].failures = [DeliveryError("printer gone", retryable=False)]
    rig.push(approval())  # type: ignore[arg-type]
    d = the_delivery(rig)
    assert d.transport_state == TransportState.FAILED
    assert (d.claim_due, d.objection_due, d.reply_due) == (None, None, None)
    assert timers(rig) == []
    # When weeks pass
    rig.tick(at(30, 12))
    # Then nobody claimed it in the department's name, and the sender was told
    d = the_delivery(rig)
    assert d.claim_state == ClaimState.OPEN and d.claimed_at is None
    with rig.db.read() as s:
        assert s.scalars(select(ClaimRow)).all() == []
    kinds = event_types(rig)
    assert "delivery.failed" in kinds and "claim.auto" not in kinds
    assert "deadline.missed" not in kinds
    sent = rig.channels[Channel.PLATFORM].notes
    assert [(n.purpose.value, n.department_id) for n in sent] == [("delivery_failed", "xzsp")]


def test_a_push_in_retry_rounds_has_no_deadline_until_it_arrives(rig: Rig) -> None:
    # Given the platform answers 503 on the first round (2 tries), accepted on 09-30 16:00
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("503", retryable=True)] * 2
    rig.push(approval())  # type: ignore[arg-type]
    d = the_delivery(rig)
    assert d.transport_state == TransportState.PENDING and d.claim_due is None
    assert timers(rig) == []
    # When the claim deadline it would have had passes (1wd from 09-30: 10-08 24:00 after the
    # National Day holiday) while the retry round is still waiting, nothing fires
    rig.tick(at(9, 9))
    assert the_delivery(rig).claim_state == ClaimState.OPEN
    assert "deadline.missed" not in event_types(rig)
    # and when it finally goes through on 10-12 10:00, the claim deadline counts from then
    rig.clock.set(at(12, 10))
    rig.hub.relay()
    rig.drain()
    d = the_delivery(rig)
    assert d.transport_state == TransportState.DELIVERED
    assert d.delivered_at == at(12, 10)
    assert d.claim_due == at(14)  # 1 个工作日 after Mon 10-12: end of Tue 10-13
    (timer,) = [t for t in timers(rig) if t.action == "claim_timeout"]
    assert timer.due_at == d.claim_due
    rig.tick(at(13, 23))
    assert the_delivery(rig).claim_state == ClaimState.OPEN
    rig.tick(at(14, 0, 1))
    assert the_delivery(rig).claim_state == ClaimState.AUTO_CLAIMED


def test_a_bounce_stops_the_deadlines_until_the_next_channel_delivers(rig: Rig) -> None:
    rig.push(approval())  # type: ignore[arg-type]
    d = the_delivery(rig)
    assert d.delivered_channel == "platform" and d.claim_due is not None
    # the platform later says the push never arrived (a DSN, a callback queue lost it)
    rig.clock.set(at(30, 17, 0, month=9))
    rig.hub.report_bounce(d.delivery_id, channel=Channel.PLATFORM, reason="5.1.1 unknown user")
    rig.drain()
    d = the_delivery(rig)
    # it went on to paper right away, and the deadline counts from the paper hand-over
    assert (d.transport_state, d.delivered_channel) == (TransportState.DELIVERED, "paper")
    assert d.delivered_at == at(30, 17, 0, month=9)
    open_timers = [t for t in timers(rig) if t.cancelled_at is None and t.fired_at is None]
    assert {t.action for t in open_timers} == {"claim_timeout"}
    assert open_timers[0].due_at == d.claim_due
    assert "delivery.bounced" in event_types(rig)


def test_sender_lateness_counts_from_acceptance_not_from_routing(
    ledger_url: str, tmp_path: Path
) -> None:
    # Given supervision info must be pushed within 3wd of the penalty (occurred Mon 10-12 17:00):
    # late from 24:00 of Thu 10-15
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 3wd, on_timeout: escalate}",
            "    push: {within: 3wd}\n    claim: {within: 3wd, on_timeout: escalate}",
        ),
        url=ledger_url,
    )
    penalty = message("guanxian/03*.json", source__source_id="late-check")
    # When it is accepted at 23:00 of that Thursday and routed at 00:30 (a backlog)
    rig.clock.set(at(15, 23))
    rig.hub.accept(penalty)  # type: ignore[arg-type]
    rig.clock.set(at(16, 0, 30))
    rig.drain()
    # Then it is not late, and a push accepted after midnight is
    late = message("guanxian/03*.json", source__source_id="late-check-2")
    rig.hub.accept(late)  # type: ignore[arg-type]
    rig.drain()
    with rig.db.read() as s:
        rows = {r.source_id: r for r in s.scalars(select(MessageRow))}
        assert rows["late-check"].state == "routed" and rows["late-check"].push_late is False
        assert rows["late-check-2"].push_late is True
    assert event_types(rig).count("push.late") == 1
    rig.hub.close()


def test_an_escalation_step_waits_its_after_and_falls_back_to_paper(
    ledger_url: str, tmp_path: Path
) -> None:
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: escalate}",
        ),
        ("      - {to: xzsp, action: remind}", "      - {to: xzsp, action: interview, after: 2wd}"),
        url=ledger_url,
    )
    rig.push(approval())  # type: ignore[arg-type]
    rig.tick(at(10))  # the claim deadline (10-08 24:00) passed: step 0 waits 2 working days
    assert "escalation.scheduled" in event_types(rig)
    assert "escalation.triggered" not in event_types(rig)
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("410", retryable=False)]
    rig.tick(at(14))  # from Sat 10-10 (a 调休 working day) 2wd: 10-12, 10-13 -> end of 10-13
    d = the_delivery(rig)
    assert d.escalation_level == 1
    # the 约谈 notice to xzsp failed on the platform and went out on paper
    printed = rig.channels[Channel.PAPER].notes
    assert [(n.purpose.value, n.department_id) for n in printed] == [("escalation", "xzsp")]
    assert "约谈" in printed[0].summary_zh
    rig.hub.close()


def test_a_claim_counts_from_when_the_department_acted_bounded_by_the_hub(rig: Rig) -> None:
    rig.push(approval())  # type: ignore[arg-type]
    d = the_delivery(rig)
    assert d.claim_due == at(9)  # delivered 09-30 16:00: 1wd -> end of 10-08 (after 国庆)
    # a mail that reached our server at 23:50 on the last day, read by the hub at 00:10
    rig.clock.set(at(9, 0, 10))
    result = rig.hub.claim(
        d.delivery_id,
        department_id="scjg",
        actor="scjg@dept.test",
        channel=Channel.EMAIL,
        at=at(8, 23, 50),
    )
    assert (result.state, result.late) == ("claimed", False)
    assert the_delivery(rig).claimed_at == at(8, 23, 50)


def test_a_claim_stamp_is_bounded_by_the_hub_clock_and_the_delivery(rig: Rig) -> None:
    rig.push(approval(1))  # type: ignore[arg-type]
    rig.push(approval(2))  # type: ignore[arg-type]
    with rig.db.read() as s:
        first, second = sorted(s.scalars(select(DeliveryRow.delivery_id)))
    rig.clock.set(at(8, 10))  # before the deadline (end of 10-08)
    future = rig.hub.claim(
        first, department_id="scjg", actor="x", channel=Channel.EMAIL, at=at(20)
    )  # a mail server clock ahead: no later than the hub's now
    assert future.at == at(8, 10)
    past = rig.hub.claim(
        second, department_id="scjg", actor="x", channel=Channel.EMAIL, at=at(1, month=1)
    )  # before the push was even delivered: raised to the delivery instant
    assert past.at == at(30, 16, month=9)


def _instant(value: object) -> dt.datetime:
    assert isinstance(value, str)
    return dt.datetime.fromisoformat(value)


def _sent_events(rig: Rig) -> list[dict[str, object]]:
    with rig.db.read() as s:
        query = select(EventRow.data).where(EventRow.type == "delivery.sent").order_by(EventRow.seq)
        return list(s.scalars(query))


def test_the_record_of_a_delivery_states_the_deadlines_it_started(rig: Rig) -> None:
    rig.push(approval())  # type: ignore[arg-type]  # the batched settle
    first = the_delivery(rig)
    rig.clock.set(at(30, 17, 0, month=9))
    rig.hub.report_bounce(first.delivery_id, channel=Channel.PLATFORM, reason="5.1.1 unknown")
    rig.drain()  # the re-delivery on paper: the general settle
    again = the_delivery(rig)
    recorded = _sent_events(rig)
    assert len(recorded) == 2
    for data, delivery in zip(recorded, (first, again), strict=True):
        assert delivery.delivered_at is not None and delivery.claim_due is not None
        assert _instant(data["delivered_at"]) == delivery.delivered_at
        assert _instant(data["claim_due"]) == delivery.claim_due
        assert data["provisional"] is delivery.provisional
