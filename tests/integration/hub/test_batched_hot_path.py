"""The batched hot path (issue 10) on SQLite and on PostgreSQL: pushes routed at ingest in one
transaction of a fixed number of statements, a push the router cannot handle left to the routing
stage, claims and settles of many deliveries in one transaction each, group commit under
concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from structlog.testing import capture_logs

from hub.core.api import Accepted, ActionResult
from hub.core.deadline_plan import plan_deadlines
from hub.core.hub import Hub
from hub.core.ids import delivery_id
from hub.core.ingest import accept_batch
from hub.core.settle import Settler
from hub.core.states import ClaimState, MessageState, TransportState
from hub.errors import ForbiddenError, NotFoundError, RoutingError
from hub.ledger.db import Database
from hub.ledger.schema import (
    ClaimRow,
    DeliveryRow,
    EventRow,
    MessageRow,
    QuarantineRow,
    TimerRow,
)
from hub.message import CanonicalMessage, Channel
from hub.routing.router import Router
from tests.support.ledgers import ledger_url
from tests.support.waits import scaled, wait_until
from tests.unit.core.conftest import TZ, FakeChannel, RecordingBus, Rig, make_rig, message
from tests.unit.core.held_batch import EarlyAnswers, in_one_batch

__all__ = ["ledger_url"]  # the fixture, imported for its tests

APPROVAL = "guanxian/01*.json"
DEPARTMENTS = ("scjg", "zjj")
ROUTING = (
    ("      to: [scjg]", "      to: [scjg, zjj]"),  # two deliveries per approval
    (
        "claim: {within: 1wd, on_timeout: auto_claim}",
        'claim: {within: 2wd, on_timeout: auto_claim, reminders: ["-1wd"]}\n'
        "    objection: {within: 3wd}",
    ),
)
CLAIM_ACTIONS = {"remind", "claim_timeout"}


def at(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=TZ)


def approval(source_id: str, **changes: Any) -> CanonicalMessage:
    changes.setdefault("recipients", ["scjg"])
    return message(APPROVAL, source__source_id=source_id, **changes)


class CheckingBus(RecordingBus):
    """Records, for every job published, whether its rows were committed by then (as another
    connection of the ledger sees them)."""

    def __init__(self) -> None:
        super().__init__()
        self.visible: Callable[[dict[str, Any]], bool] = lambda body: True
        self.seen_committed: list[bool] = []

    def publish_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        self.seen_committed.extend(self.visible(body) for _q, body in items)
        super().publish_many(items)


@pytest.fixture
def rig(ledger_url: str, tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path, *ROUTING, url=ledger_url)
    r.bus = r.hub.bus = CheckingBus()  # type: ignore[assignment]
    r.bus.visible = lambda body: _committed(r, body)
    r.channels[Channel.EMAIL] = FakeChannel(Channel.EMAIL)
    r.hub.dispatcher.adapters = r.channels
    yield r
    r.hub.close()
    r.db.dispose()


def _committed(rig: Rig, body: dict[str, Any]) -> bool:
    with rig.db.read() as s:
        if "delivery_id" in body:
            return s.get(DeliveryRow, body["delivery_id"]) is not None
        return s.get(MessageRow, body["message_id"]) is not None


def deliveries(rig: Rig) -> dict[str, DeliveryRow]:
    with rig.db.read() as s:
        rows = list(s.scalars(select(DeliveryRow)))
        s.expunge_all()
    return {r.delivery_id: r for r in rows}


def events(rig: Rig) -> list[EventRow]:
    with rig.db.read() as s:
        rows = list(s.scalars(select(EventRow).order_by(EventRow.seq)))
        s.expunge_all()
    return rows


def timers(rig: Rig) -> list[TimerRow]:
    with rig.db.read() as s:
        rows = list(s.scalars(select(TimerRow).order_by(TimerRow.id)))
        s.expunge_all()
    return rows


def ids_of(m: CanonicalMessage) -> list[str]:
    return [delivery_id(m.message_id, d) for d in DEPARTMENTS]


def statements_of(rig: Rig, work: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(rig.db.engine, "before_cursor_execute", before)
    try:
        work()
    finally:
        event.remove(rig.db.engine, "before_cursor_execute", before)
    return seen


# -- 1. accept_many: routed at ingest, one transaction --------------------------------------


def test_accept_many_records_routes_and_publishes_after_commit(rig: Rig) -> None:
    before = approval("hp-before")
    rig.hub.accept(before)
    rig.bus.published.clear()
    rig.bus.seen_committed.clear()  # type: ignore[attr-defined]
    new = [approval(f"hp-{i}") for i in range(3)]
    unknown = approval("hp-unknown", recipients=["nobody"])

    results = rig.hub.accept_many([new[0], new[1], new[0], before, unknown, new[2]])

    assert results[:4] == [
        Accepted(new[0].message_id, duplicate=False),
        Accepted(new[1].message_id, duplicate=False),
        Accepted(new[0].message_id, duplicate=True),  # the same source id twice in the batch
        Accepted(before.message_id, duplicate=True),  # accepted before
    ]
    assert isinstance(results[4], RoutingError) and "nobody" in str(results[4])
    assert results[5] == Accepted(new[2].message_id, duplicate=False)
    assert len(results) == 6
    # messages: the new ones routed; nothing of the unknown recipient's push
    with rig.db.read() as s:
        states = {r.message_id: r.state for r in s.scalars(select(MessageRow))}
    assert states == {m.message_id: MessageState.ROUTED for m in [before, *new]}
    # deliveries: one per recipient, pending, no deadline yet, no timer
    rows = deliveries(rig)
    fresh = [d for m in new for d in ids_of(m)]
    assert set(rows) == set(fresh) | set(ids_of(before))
    for did in fresh:
        row = rows[did]
        assert (row.transport_state, row.delivered_at, row.claim_due) == (
            TransportState.PENDING,
            None,
            None,
        )
        assert (row.claim_state, row.objection_due, row.reply_due) == (ClaimState.OPEN, None, None)
    assert timers(rig) == []
    # events: one message.received per message, one delivery.created per delivery
    recorded = events(rig)
    received = Counter(e.message_id for e in recorded if e.type == "message.received")
    created = Counter(e.delivery_id for e in recorded if e.type == "delivery.created")
    assert received == Counter({m.message_id: 1 for m in [before, *new]})
    assert created == Counter(dict.fromkeys(rows, 1))
    assert not [e for e in recorded if e.message_id == unknown.message_id]
    # jobs: a deliver job per new delivery, published only after the commit; no routing job
    published = rig.bus.take()
    assert sorted(body["delivery_id"] for _q, body in published) == sorted(fresh)
    assert {q for q, _b in published} == {"hub.deliver.platform"}
    assert rig.bus.seen_committed == [True] * len(fresh)  # type: ignore[attr-defined]


def test_the_statements_of_accept_many_do_not_grow_with_the_batch(rig: Rig) -> None:
    rig.bus.visible = lambda body: True  # type: ignore[attr-defined]  # count the batch only
    counts = []
    for size in (5, 50):
        batch = [approval(f"hp-size{size}-{i}") for i in range(size)]
        seen = statements_of(rig, lambda batch=batch: rig.hub.accept_many(batch))  # type: ignore[misc]
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 7, counts  # (BEGIN,) known ids, 4 inserts, the outbox ids
    with rig.db.read() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 2 * 55


# -- 2. a push the router cannot handle at ingest -------------------------------------------


def test_a_push_the_router_cannot_route_at_ingest_is_quarantined_by_the_routing_stage(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [approval(f"hp-route-{i}") for i in range(3)]
    broken = batch[1].message_id
    real = Router.resolve

    def resolve(self: Router, m: CanonicalMessage, *args: Any, **kw: Any) -> Any:
        if m.message_id == broken:
            raise OverflowError("date value out of range")
        return real(self, m, *args, **kw)

    monkeypatch.setattr(Router, "resolve", resolve)

    results = rig.hub.accept_many(batch)

    assert results == [Accepted(m.message_id, duplicate=False) for m in batch]
    (route_job,) = rig.bus.take("hub.route")
    assert route_job[1]["message_id"] == broken
    routed = [d for m in (batch[0], batch[2]) for d in ids_of(m)]
    assert sorted(b["delivery_id"] for _q, b in rig.bus.take("hub.deliver.")) == sorted(routed)
    with rig.db.read() as s:
        states = {r.message_id: r.state for r in s.scalars(select(MessageRow))}
    assert states == {
        batch[0].message_id: MessageState.ROUTED,
        broken: MessageState.ACCEPTED,
        batch[2].message_id: MessageState.ROUTED,
    }
    assert set(deliveries(rig)) == set(routed)
    # the routing stage takes the job and quarantines the message with the reason
    rig.hub.handle_route(route_job[1]["outbox_id"], broken)
    with rig.db.read() as s:
        (entry,) = s.scalars(select(QuarantineRow)).all()
        assert (entry.stage, entry.message_id) == ("route", broken)
        assert "OverflowError" in entry.reason_zh
        assert s.get(MessageRow, broken).state == MessageState.QUARANTINED  # type: ignore[union-attr]
    assert set(deliveries(rig)) == set(routed)


# -- 3. group commit under concurrency, on both ledgers -------------------------------------


@pytest.mark.anyio
async def test_concurrent_pushes_are_group_committed(rig: Rig) -> None:
    batch = [approval(f"hp-gc-{i}") for i in range(60)]
    before = rig.hub.commits.batches

    async def push(m: CanonicalMessage) -> tuple[Accepted, bool]:
        accepted = await rig.hub.accept_async(m)
        return accepted, _committed(rig, {"message_id": m.message_id})

    with EarlyAnswers(rig.hub.commits, rig.db.engine) as watch:
        answers = await asyncio.gather(*(push(m) for m in batch))
    assert watch.violations == [] and len(watch.futures) == len(batch)
    assert answers == [(Accepted(m.message_id, duplicate=False), True) for m in batch]
    assert 1 <= rig.hub.commits.batches - before < len(batch)
    assert all(rig.bus.seen_committed)  # type: ignore[attr-defined]
    assert len(rig.bus.take("hub.deliver.")) == 2 * len(batch)


# -- 4. claims of many deliveries in one transaction ----------------------------------------


def deliver_all(rig: Rig) -> None:
    jobs = [(int(b["outbox_id"]), b) for _q, b in rig.bus.take("hub.deliver.")]
    rig.hub.handle_delivery_batch(jobs)


def claim(rig: Rig, did: str, dept: str) -> Any:
    return rig.hub.claim_async(
        did, department_id=dept, actor=f"{dept}-clerk", channel=Channel.PLATFORM
    )


@pytest.mark.anyio
async def test_claims_in_one_batch(rig: Rig) -> None:
    m0, m1, m2 = (approval(f"hp-claim-{i}") for i in range(3))
    rig.hub.accept_many([m0, m1, m2])
    deliver_all(rig)
    (a, b), (c, d), (e, f) = ids_of(m0), ids_of(m1), ids_of(m2)  # scjg's, zjj's
    assert len(timers(rig)) == 6 * 3  # remind, claim_timeout, objection_close each
    rig.clock.set(at(8, 9))
    batches_before = rig.hub.commits.batches

    with capture_logs() as logs:
        results = await in_one_batch(
            rig.hub.commits,
            [
                claim(rig, a, "scjg"),
                claim(rig, a, "scjg"),  # the same delivery twice in one batch
                claim(rig, b, "scjg"),  # zjj's delivery
                claim(rig, "Dnosuchdelivery", "scjg"),
                claim(rig, c, "scjg"),
                claim(rig, d, "zjj"),
            ],
        )

    # one transaction for all six (not failed and run again one by one)
    assert "group_commit.batch_failed" not in [entry["event"] for entry in logs]
    assert rig.hub.commits.batches - batches_before == 2  # the gate's, then the claims'

    first, second, forbidden, missing, on_c, on_d = results
    assert first == ActionResult(a, ClaimState.CLAIMED, at(8, 9), False, "认领成功")
    assert second == ActionResult(a, ClaimState.CLAIMED, at(8, 9), False, "已认领，无需重复认领")
    assert isinstance(forbidden, ForbiddenError)
    assert isinstance(missing, NotFoundError)
    assert [(r.delivery_id, r.state) for r in (on_c, on_d)] == [  # type: ignore[union-attr]
        (c, ClaimState.CLAIMED),
        (d, ClaimState.CLAIMED),
    ]
    with rig.db.read() as s:
        claimed = Counter(s.scalars(select(ClaimRow.delivery_id)))
    assert claimed == Counter({a: 1, c: 1, d: 1})
    recorded = events(rig)
    assert Counter(e.delivery_id for e in recorded if e.type == "claim.recorded") == Counter(
        {a: 1, c: 1, d: 1}
    )
    refused = [(e.delivery_id, e.department_id) for e in recorded if e.type == "claim.refused"]
    assert refused == [(b, "scjg")]
    assert not [e for e in recorded if e.delivery_id == "Dnosuchdelivery"]
    states = {k: v.claim_state for k, v in deliveries(rig).items()}
    assert states == {
        a: ClaimState.CLAIMED,
        b: ClaimState.OPEN,
        c: ClaimState.CLAIMED,
        d: ClaimState.CLAIMED,
        e: ClaimState.OPEN,
        f: ClaimState.OPEN,
    }
    # the claim timers of each claimed delivery are cancelled, nothing else
    cancelled = {(t.delivery_id, t.action) for t in timers(rig) if t.cancelled_at is not None}
    assert cancelled == {(x, action) for x in (a, c, d) for action in CLAIM_ACTIONS}
    assert all(t.cancelled_at == at(8, 9) for t in timers(rig) if t.cancelled_at is not None)

    # a claim after the deadline (before the engine fired) is 超时认领
    due = deliveries(rig)[e].claim_due
    assert due is not None
    rig.clock.set(due + dt.timedelta(hours=9))
    late = await claim(rig, e, "scjg")
    assert (late.state, late.late, late.note_zh) == (
        ClaimState.CLAIMED_LATE,
        True,
        "超时认领，已记录",
    )
    with rig.db.read() as s:
        kinds = list(s.scalars(select(ClaimRow.kind).where(ClaimRow.delivery_id == e)))
    assert kinds == [ClaimState.CLAIMED_LATE]
    # and claimed again later: the same answer, nothing new on record
    again = await claim(rig, e, "scjg")
    assert (again.state, again.late, again.at) == (ClaimState.CLAIMED_LATE, True, late.at)
    assert again.note_zh == "已认领，无需重复认领"
    assert [x.type for x in events(rig) if x.delivery_id == e].count("claim.recorded") == 1


# -- 5. settles of many deliveries in one transaction ---------------------------------------


def test_settle_batch_arms_each_delivery_and_rearms_after_a_bounce(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    general = []
    real_settle = Settler.settle

    def settle(self: Settler, session: Any, job: Any, outcome: Any, **kw: Any) -> Any:
        general.append(job.delivery_id)
        return real_settle(self, session, job, outcome, **kw)

    monkeypatch.setattr(Settler, "settle", settle)
    m0, m1, m2 = (approval(f"hp-settle-{i}") for i in range(3))
    rig.hub.accept_many([m0, m1, m2])
    deliver_all(rig)

    first = at(30, 16, month=9)
    rows = deliveries(rig)
    assert len(rows) == 6 and general == []  # all confirmed on the batch's own path
    expect_plan(rig, rows.values(), first)

    # two bounce; they go on to email and arrive there, with a fresh push in the same batch
    a, b = ids_of(m0)[0], ids_of(m1)[1]
    rig.clock.set(at(9, 10))
    for did in (a, b):
        rig.hub.report_bounce(did, channel=Channel.PLATFORM, reason="5.1.1 unknown user")
    bounced = deliveries(rig)
    assert bounced[a].claim_due is None and bounced[a].transport_state == TransportState.PENDING
    m3 = approval("hp-settle-3")
    rig.hub.accept(m3)
    rig.clock.set(at(12, 10))
    jobs = [(int(body["outbox_id"]), body) for _q, body in rig.bus.take("hub.deliver.")]
    assert sorted(body["delivery_id"] for _i, body in jobs) == sorted([a, b, *ids_of(m3)])
    rig.hub.handle_delivery_batch(jobs)

    rows = deliveries(rig)
    assert sorted(general) == sorted([a, b])  # re-armed by the general path
    assert (rows[a].delivered_channel, rows[b].delivered_channel) == ("email", "email")
    expect_plan(rig, [rows[a], rows[b], *(rows[x] for x in ids_of(m3))], at(12, 10))
    expect_plan(rig, [r for k, r in rows.items() if k not in {a, b, *ids_of(m3)}], first)
    keys = Counter((t.delivery_id, t.action, t.step) for t in timers(rig))
    assert set(keys.values()) == {1}  # one row per (delivery, action, step): no duplicate
    assert len(keys) == 8 * 3


def expect_plan(rig: Rig, rows: Any, arrived: dt.datetime) -> None:
    """Each delivery delivered at ``arrived`` with its deadlines and open timers from then."""
    by_delivery: dict[str, dict[tuple[str, int], TimerRow]] = {}
    for t in timers(rig):
        by_delivery.setdefault(t.delivery_id, {})[(t.action, t.step)] = t
    for row in rows:
        plan = plan_deadlines(rig.hub.router.calendar, row.rules, arrived)
        assert row.transport_state == TransportState.DELIVERED
        assert row.delivered_at == arrived, row.delivery_id
        assert (row.claim_due, row.objection_due, row.reply_due) == plan.dues
        assert row.claim_due is not None and row.claim_due > arrived
        armed = by_delivery.get(row.delivery_id, {})
        assert {k: (t.due_at, t.fired_at, t.cancelled_at) for k, t in armed.items()} == {
            (p.action.value, p.step): (p.due, None, None) for p in plan.timers
        }
        assert len(plan.timers) == 3


# -- the same push through two processes at once --------------------------------------------


def test_the_same_push_accepted_by_two_processes_at_once_is_one_message(rig: Rig) -> None:
    m = approval("hp-two-processes")
    other_db = Database(rig.db.url)
    other = Hub(other_db, rig.hub.router, RecordingBus(), clock=rig.clock)  # type: ignore[arg-type]
    answers: list[Accepted | RoutingError | BaseException] = []

    def push_from_the_other_process() -> None:
        try:
            answers.extend(other.accept_many([m]))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            answers.append(exc)

    try:
        with rig.db.transaction() as session:  # this process inserts first, not yet committed
            first, _jobs = accept_batch(session, rig.hub.router, [m], now=rig.clock.now())
            thread = threading.Thread(target=push_from_the_other_process)
            thread.start()
            if rig.db.is_postgres:  # the other insert waits for this transaction
                wait_until(lambda: lock_waits(other_db) > 0, 10, "the other insert waiting")
        thread.join(scaled(30))
        assert not thread.is_alive()
    finally:
        other.close()
        other_db.dispose()

    assert first == [Accepted(m.message_id, duplicate=False)]
    assert answers == [Accepted(m.message_id, duplicate=True)]
    with rig.db.read() as s:
        assert s.scalar(select(func.count()).select_from(MessageRow)) == 1
    assert sorted(deliveries(rig)) == sorted(ids_of(m))
    assert [e.type for e in events(rig)].count("message.received") == 1


def lock_waits(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)
