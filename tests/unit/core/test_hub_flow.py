"""The running hub's stages on SQLite with an injected clock: push → route → deliver → claim,
timeouts, windows, retries, fallback, quarantine and the audit chain."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hub.errors import DeliveryError, ForbiddenError, NotFoundError, StateConflictError
from hub.ledger.events import verify_chain
from hub.ledger.schema import (
    DeliveryRow,
    EventRow,
    MessageRow,
    OutboxRow,
    QuarantineRow,
    TimerRow,
)
from hub.message import Channel
from tests.unit.core.conftest import TZ, Rig, make_rig, message

APPROVAL = "guanxian/01*.json"  # sender xzsp, recipient zjj (unknown in minimal: not used)


def approval(**changes: object) -> object:
    return message(APPROVAL, recipients=["scjg"], **changes)


def events(rig: Rig, **where: str) -> list[str]:
    with rig.db.transaction() as s:
        query = select(EventRow.type).order_by(EventRow.seq)
        for key, value in where.items():
            query = query.where(getattr(EventRow, key) == value)
        return list(s.scalars(query))


def delivery(rig: Rig, message_id: str, dept: str = "scjg") -> DeliveryRow:
    with rig.db.transaction() as s:
        row = s.scalar(
            select(DeliveryRow).where(
                DeliveryRow.message_id == message_id, DeliveryRow.department_id == dept
            )
        )
        assert row is not None
        return row


def at(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=TZ)


def test_push_is_routed_delivered_and_claimed(rig: Rig) -> None:
    message_id = rig.push(approval())  # type: ignore[arg-type]
    d = delivery(rig, message_id)
    # Given arrival 2026-09-30 16:00, 1 working day = end of 10-08 (after National Day)
    assert d.claim_due == at(9)
    assert (d.transport_state, d.delivered_channel, d.claim_state) == (
        "delivered",
        "platform",
        "open",
    )
    (note,) = rig.channels[Channel.PLATFORM].notes
    assert note.delivery_id == d.delivery_id and note.deadlines_zh["认领期限"] == "2026-10-08 24:00"
    rig.clock.set(at(8, 10))
    result = rig.hub.claim(
        d.delivery_id, department_id="scjg", actor="李秀英", channel=Channel.PLATFORM
    )
    assert (result.state, result.late) == ("claimed", False)
    assert events(rig, message_id=message_id) == [
        "message.received",
        "delivery.created",
        "delivery.sent",
        "claim.recorded",
    ]
    rig.tick(at(20))  # the claim cancelled the timeout: nothing fires later
    assert delivery(rig, message_id).claim_state == "claimed"


def test_the_same_source_id_twice_gives_one_message(rig: Rig) -> None:
    first = rig.hub.accept(approval())  # type: ignore[arg-type]
    second = rig.hub.accept(approval())  # type: ignore[arg-type]
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.message_id == second.message_id
    with rig.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(MessageRow)) == 1
    assert events(rig).count("message.received") == 1


def test_a_redelivered_route_job_creates_nothing_twice(rig: Rig) -> None:
    rig.hub.route_at_ingest = False  # the routing stage (retries, replays)
    rig.hub.accept(approval())  # type: ignore[arg-type]
    ((_, body),) = rig.bus.take("hub.route")
    rig.hub.handle_route(body["outbox_id"], body["message_id"])
    rig.hub.handle_route(body["outbox_id"], body["message_id"])  # a second copy of the job
    with rig.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 1
    assert len(rig.bus.take("hub.deliver.")) == 1


def test_a_redelivered_push_job_sends_once(rig: Rig) -> None:
    rig.hub.accept(approval())  # type: ignore[arg-type]  # routed at ingest
    ((_, job),) = rig.bus.take("hub.deliver.")
    rig.hub.handle_delivery(job["outbox_id"], job)
    rig.hub.handle_delivery(job["outbox_id"], job)
    assert len(rig.channels[Channel.PLATFORM].notes) == 1


def test_timeout_auto_claims_and_a_later_claim_is_refused(rig: Rig) -> None:
    message_id = rig.push(approval())  # type: ignore[arg-type]
    d = delivery(rig, message_id)
    rig.tick(at(8, 23, 59))
    assert delivery(rig, message_id).claim_state == "open"
    rig.tick(at(9))
    after = delivery(rig, message_id)
    assert (after.claim_state, after.claimed_at) == ("auto_claimed", at(9))
    assert "claim.auto" in events(rig, delivery_id=d.delivery_id)
    purposes = [n.purpose.value for n in rig.channels[Channel.PLATFORM].notes]
    assert purposes == ["push", "auto_claimed"]
    with pytest.raises(StateConflictError, match="auto-claimed"):
        rig.hub.claim(d.delivery_id, department_id="scjg", actor="x", channel=Channel.PLATFORM)
    assert events(rig, delivery_id=d.delivery_id)[-1] == "claim.refused"


def test_a_claim_after_the_deadline_but_before_the_engine_is_late(rig: Rig) -> None:
    message_id = rig.push(approval())  # type: ignore[arg-type]
    d = delivery(rig, message_id)
    rig.clock.set(at(9, 0, 5))  # the engine has not run yet
    result = rig.hub.claim(d.delivery_id, department_id="scjg", actor="x", channel=Channel.PLATFORM)
    assert (result.state, result.late) == ("claimed_late", True)
    rig.tick(at(9, 0, 10))
    assert delivery(rig, message_id).claim_state == "claimed_late"  # the engine lost the race


def test_timers_fire_exactly_once(rig: Rig) -> None:
    rig.push(approval())  # type: ignore[arg-type]
    rig.tick(at(9))
    rig.tick(at(10))
    assert events(rig).count("claim.auto") == 1
    with rig.db.transaction() as s:
        fired = s.scalars(select(TimerRow.fired_at).where(TimerRow.action == "claim_timeout"))
        assert list(fired) == [at(9)]


def test_escalation_policy_notifies_the_chain(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            '    claim: {within: 1wd, on_timeout: escalate, reminders: ["-0.5wd"]}',
        ),
    )
    message_id = rig.push(approval())  # type: ignore[arg-type]
    rig.tick(at(8, 13, 30))  # the reminder: the last half day before the deadline
    rig.tick(at(9))
    d = delivery(rig, message_id)
    assert (d.claim_state, d.escalation_level) == ("open", 1)
    notes = rig.channels[Channel.PLATFORM].notes
    # the chain's first step is {to: xzsp, action: remind}: xzsp is told, and reminds scjg
    assert [(n.purpose.value, n.department_id) for n in notes] == [
        ("push", "scjg"),
        ("reminder", "scjg"),
        ("escalation", "xzsp"),
        ("reminder", "scjg"),
    ]
    assert notes[2].about_department_id == "scjg"
    assert "请予以提醒" in notes[2].summary_zh and "提醒：已超过认领期限" in notes[3].summary_zh
    assert "escalation.triggered" in events(rig, delivery_id=d.delivery_id)
    late = rig.hub.claim(d.delivery_id, department_id="scjg", actor="x", channel=Channel.PLATFORM)
    assert late.state == "claimed_late"
    rig.hub.close()


def test_objection_window_and_silence_means_accepted(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: auto_claim}\n    objection: {within: 1wd}",
        ),
    )
    first = delivery(rig, rig.push(approval()))  # type: ignore[arg-type]
    second = delivery(rig, rig.push(approval(source__source_id="other-1")))  # type: ignore[arg-type]
    rig.clock.set(at(8, 9))
    raised = rig.hub.object(
        first.delivery_id,
        department_id="scjg",
        reason="许可范围有误",
        actor="李秀英",
        channel=Channel.PLATFORM,
    )
    assert raised.state == "raised"
    rig.tick(at(9))
    assert delivery(rig, second.message_id).objection_state == "deemed_accepted"
    assert delivery(rig, first.message_id).objection_state == "raised"
    with pytest.raises(StateConflictError, match="deemed accepted"):
        rig.hub.object(
            second.delivery_id,
            department_id="scjg",
            reason="晚了",
            actor="x",
            channel=Channel.PLATFORM,
        )
    rig.hub.close()


def test_reply_window_silence_means_agreed(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 3wd, on_timeout: escalate}",
            "    claim: {within: 3wd, on_timeout: escalate}\n"
            "    reply: {within: 2wd, silence: agreed}",
        ),
    )
    inquiry = message(
        "zhoucun/04*.json",
        sender__department_id="xzsp",
        direction="approval_to_supervision",
        recipients=["scjg"],
    )
    d = delivery(rig, rig.push(inquiry))
    assert d.reply_due == at(10)  # 10-08, 10-09 (end of the 2nd working day)
    rig.tick(at(10))
    assert delivery(rig, d.message_id).reply_state == "deemed_agreed"
    assert "reply.deemed_agreed" in events(rig, delivery_id=d.delivery_id)
    rig.hub.close()


def test_departments_act_only_on_their_own_deliveries(rig: Rig) -> None:
    d = delivery(rig, rig.push(approval()))  # type: ignore[arg-type]
    with pytest.raises(ForbiddenError):
        rig.hub.claim(d.delivery_id, department_id="zjj", actor="x", channel=Channel.PLATFORM)
    with pytest.raises(NotFoundError):
        rig.hub.claim("Dnosuch", department_id="scjg", actor="x", channel=Channel.PLATFORM)


def test_retryable_failures_retry_later_then_fall_back(rig: Rig) -> None:
    platform = rig.channels[Channel.PLATFORM]
    platform.failures = [DeliveryError("503", retryable=True)] * 2
    message_id = rig.push(approval())  # type: ignore[arg-type]
    d = delivery(rig, message_id)
    assert d.transport_state == "pending" and d.attempts == 2
    with rig.db.transaction() as s:
        retry = s.scalar(select(OutboxRow).where(OutboxRow.done_at.is_(None)))
        assert retry is not None and retry.available_at == at(30, 16, 1, month=9)
    platform.failures = [DeliveryError("503", retryable=True)] * 2
    rig.clock.set(at(30, 16, 2, month=9))
    rig.hub.relay()
    rig.drain()
    # round 2 of 2 failed too: fall back to email (not configured here) and then paper
    d = delivery(rig, message_id)
    assert (d.transport_state, d.delivered_channel) == ("delivered", "paper")
    assert events(rig, delivery_id=d.delivery_id).count("delivery.fallback") == 2


def test_permanent_failure_falls_back_at_once(rig: Rig) -> None:
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("404", retryable=False)]
    d = delivery(rig, rig.push(approval()))  # type: ignore[arg-type]
    # one try on the platform (404 is not retried), email has no adapter here, one on paper
    assert (d.transport_state, d.delivered_channel, d.attempts) == ("delivered", "paper", 2)


def test_all_channels_failing_dead_letters_and_escalates(rig: Rig) -> None:
    rig.channels[Channel.PLATFORM].failures = [DeliveryError("404", retryable=False)]
    rig.channels[Channel.PAPER].failures = [DeliveryError("disk", retryable=False)]
    d = delivery(rig, rig.push(approval()))  # type: ignore[arg-type]
    assert d.transport_state == "failed" and d.claim_due is None
    kinds = events(rig, delivery_id=d.delivery_id)
    assert "delivery.dead_lettered" in kinds and "delivery.failed" in kinds
    assert "escalation.triggered" not in kinds  # 投递失败 is not a late claim
    notice = rig.channels[Channel.PLATFORM].notes[-1]  # the sender is told
    assert (notice.purpose.value, notice.department_id) == ("delivery_failed", "xzsp")
    assert notice.about_department_id == "scjg"
    with rig.db.transaction() as s:  # no deadline, no timer: it can never be auto-claimed
        assert s.scalars(select(TimerRow).where(TimerRow.delivery_id == d.delivery_id)).all() == []


def test_classified_messages_are_only_ever_printed(rig: Rig) -> None:
    secret = approval(
        classification={"level": "secret"}, source__channel="paper", source__system="paper-registry"
    )
    d = delivery(rig, rig.push(secret))  # type: ignore[arg-type]
    assert d.channels == ["paper"] and d.delivered_channel == "paper"
    assert rig.channels[Channel.PLATFORM].notes == []


def test_unroutable_message_is_quarantined_and_kept(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        (
            '    - id: addressed\n      to: ["@recipients"]\n',
            '    - id: addressed\n      match: {kind: inquiry}\n      to: ["@recipients"]\n',
        ),
    )
    # a meeting notice 审→管 matches no route of this variant
    notice = message(
        "guanxian/05*.json",
        recipients=["scjg"],
        sender__department_id="xzsp",
        direction="approval_to_supervision",
    )
    message_id = rig.push(notice)
    with rig.db.transaction() as s:
        entry = s.scalar(select(QuarantineRow))
        assert entry is not None and entry.stage == "route" and entry.message_id == message_id
        assert "no route" in entry.reason_en
        assert s.get(MessageRow, message_id).state == "quarantined"  # type: ignore[union-attr]
    rig.hub.close()


def test_the_audit_chain_detects_edits_and_deletions(rig: Rig) -> None:
    rig.push(approval())  # type: ignore[arg-type]
    with rig.db.transaction() as s:
        assert verify_chain(s).ok
        s.execute(update(EventRow).where(EventRow.chain_seq == 2).values(actor="someone else"))
    with rig.db.transaction() as s:
        report = verify_chain(s)
        assert not report.ok and any("event 2 was edited" in p for p in report.problems)
        s.execute(update(EventRow).where(EventRow.chain_seq == 2).values(actor="hub"))
    with rig.db.transaction() as s:
        assert verify_chain(s).ok
        s.execute(EventRow.__table__.delete().where(EventRow.chain_seq == 2))
    with rig.db.transaction() as s:
        assert any("deleted" in p for p in verify_chain(s).problems)


def test_a_push_past_the_senders_deadline_is_recorded_and_reported(tmp_path: Path) -> None:
    from hub.ops.status import totals

    rig = make_rig(
        tmp_path,
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: auto_claim}\n"
            "    push: {within: 1wd, from: body.licence.decision_date}",
        ),
    )
    # decided 2026-09-16, so due by the end of 09-17; it arrives 09-30
    message_id = rig.push(approval())  # type: ignore[arg-type]
    rig.push(
        approval(
            source__source_id="on-time",  # type: ignore[arg-type]
            body__licence__decision_date="2026-09-30",
        )
    )
    assert "push.late" in events(rig, message_id=message_id)
    with rig.db.transaction() as s:
        assert totals(s).late_pushes == {"xzsp": 1}
    rig.hub.close()


def test_a_bounce_after_acceptance_falls_back_to_the_next_channel(rig: Rig) -> None:
    d = delivery(rig, rig.push(approval()))  # type: ignore[arg-type]
    assert d.delivered_channel == "platform"
    rig.hub.report_bounce(d.delivery_id, channel=Channel.PLATFORM, reason="550 unknown mailbox")
    rig.drain()
    after = delivery(rig, d.message_id)
    # email has no adapter here: on to paper
    assert (after.transport_state, after.delivered_channel) == ("delivered", "paper")
    assert "delivery.bounced" in events(rig, delivery_id=d.delivery_id)
    rig.hub.report_bounce(d.delivery_id, channel=Channel.PLATFORM, reason="late duplicate DSN")
    assert events(rig, delivery_id=d.delivery_id).count("delivery.bounced") == 1
