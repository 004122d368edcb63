"""Group commit (issue 10): concurrent pushes and claims from one event loop share transactions,
every caller gets its own answer only once its transaction committed (and its jobs were
published), and a request whose work fails spoils nothing for the others."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select
from structlog.testing import capture_logs

from hub.core import hub as hub_module
from hub.core import ingest as ingest_module
from hub.core.api import Accepted, ActionResult
from hub.core.ids import delivery_id
from hub.core.states import ClaimState
from hub.ledger.schema import ClaimRow, DeliveryRow, MessageRow
from hub.message import CanonicalMessage, Channel
from tests.support.waits import scaled
from tests.unit.core.conftest import Rig, message
from tests.unit.core.held_batch import EarlyAnswers, WriterGate, in_one_batch

pytestmark = pytest.mark.anyio

APPROVAL = "guanxian/01*.json"  # routed to scjg by the minimal routing


def approval(source_id: str) -> CanonicalMessage:
    return message(APPROVAL, recipients=["scjg"], source__source_id=source_id)


def commit_counter(rig: Rig) -> list[int]:
    count = [0]

    @event.listens_for(rig.db.engine, "commit")
    def on_commit(_conn: Any) -> None:
        count[0] += 1

    return count


def committed_message(rig: Rig, message_id: str) -> bool:
    """Whether the message is in the ledger as another connection sees it."""
    with rig.db.read() as s:
        return s.get(MessageRow, message_id) is not None


def published_deliveries(rig: Rig) -> set[str]:
    return {body["delivery_id"] for queue, body in rig.bus.published if "delivery_id" in body}


def count(rig: Rig, row: type[Any]) -> int:
    with rig.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(row)) or 0)


async def test_concurrent_pushes_share_transactions_each_answered_after_its_commit(
    rig: Rig,
) -> None:
    messages = [approval(f"gc-{i}") for i in range(60)]
    commits = commit_counter(rig)
    batches_before = rig.hub.commits.batches
    seen_at_answer: dict[str, tuple[bool, bool]] = {}

    async def push(m: CanonicalMessage) -> Accepted:
        accepted = await rig.hub.accept_async(m)
        # the caller is answered: its push must be committed and its deliver job published
        seen_at_answer[m.message_id] = (
            committed_message(rig, m.message_id),
            delivery_id(m.message_id, "scjg") in published_deliveries(rig),
        )
        return accepted

    with EarlyAnswers(rig.hub.commits, rig.db.engine) as watch:
        results = await asyncio.gather(*(push(m) for m in messages))

    assert watch.violations == []  # nobody answered before the COMMIT of their batch
    assert len(watch.futures) == len(messages)
    assert results == [Accepted(m.message_id, duplicate=False) for m in messages]
    assert seen_at_answer == {m.message_id: (True, True) for m in messages}
    batches = rig.hub.commits.batches - batches_before
    assert 1 <= batches < len(messages)  # fewer transactions than requests
    assert commits[0] == batches  # one commit per batch, nothing committed besides
    assert count(rig, MessageRow) == count(rig, DeliveryRow) == len(messages)


async def test_the_same_push_from_many_callers_is_one_message(rig: Rig) -> None:
    m = approval("gc-same")
    results = await asyncio.gather(*(rig.hub.accept_async(m) for _ in range(20)))
    assert {r.message_id for r in results} == {m.message_id}
    assert [r.duplicate for r in results].count(False) == 1
    assert count(rig, MessageRow) == count(rig, DeliveryRow) == 1
    assert len(rig.bus.take("hub.deliver.")) == 1


async def test_concurrent_claims_share_transactions_each_with_its_own_answer(rig: Rig) -> None:
    messages = [approval(f"gc-claim-{i}") for i in range(50)]
    rig.hub.accept_many(messages)
    ids = [delivery_id(m.message_id, "scjg") for m in messages]
    commits = commit_counter(rig)
    batches_before = rig.hub.commits.batches
    seen_at_answer: dict[str, bool] = {}

    async def claim(did: str) -> ActionResult:
        result = await rig.hub.claim_async(
            did, department_id="scjg", actor="张三", channel=Channel.PLATFORM
        )
        with rig.db.read() as s:
            seen_at_answer[did] = (
                s.scalar(
                    select(func.count()).select_from(ClaimRow).where(ClaimRow.delivery_id == did)
                )
                == 1
            )
        return result

    with EarlyAnswers(rig.hub.commits, rig.db.engine) as watch:
        results = await asyncio.gather(*(claim(did) for did in ids))

    assert watch.violations == [] and len(watch.futures) == len(ids)

    assert [r.delivery_id for r in results] == ids
    assert {(r.state, r.late, r.note_zh) for r in results} == {
        (ClaimState.CLAIMED, False, "认领成功")
    }
    assert seen_at_answer == dict.fromkeys(ids, True)
    batches = rig.hub.commits.batches - batches_before
    assert 1 <= batches < len(ids)
    assert commits[0] == batches
    assert count(rig, ClaimRow) == len(ids)


async def test_one_batch_is_one_transaction_for_pushes_and_claims_together(rig: Rig) -> None:
    earlier = [approval(f"gc-early-{i}") for i in range(3)]
    rig.hub.accept_many(earlier)
    commits = commit_counter(rig)
    batches_before = rig.hub.commits.batches
    fresh = [approval(f"gc-mixed-{i}") for i in range(5)]
    calls: list[Any] = [rig.hub.accept_async(m) for m in fresh]
    calls += [
        rig.hub.claim_async(
            delivery_id(m.message_id, "scjg"),
            department_id="scjg",
            actor="李四",
            channel=Channel.PLATFORM,
        )
        for m in earlier
    ]
    results = await in_one_batch(rig.hub.commits, calls)
    assert results[:5] == [Accepted(m.message_id, duplicate=False) for m in fresh]
    assert [r.state for r in results[5:]] == [ClaimState.CLAIMED] * 3  # type: ignore[union-attr]
    assert rig.hub.commits.batches - batches_before == 2  # the gate's, then all the others
    assert commits[0] == 1  # (the gate's transaction uses no connection)


async def test_a_request_whose_work_fails_fails_alone(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest_module.accept_batch

    def accept_batch(session: Any, router: Any, messages: Any, **kw: Any) -> Any:
        if any(m.source.source_id == "gc-bad" for m in messages):
            raise RuntimeError("a bug in one request")
        return real(session, router, messages, **kw)

    monkeypatch.setattr(hub_module, "accept_batch", accept_batch)
    messages = [approval(f"gc-ok-{i}") for i in range(4)]
    bad = approval("gc-bad")
    messages.insert(2, bad)
    with capture_logs() as logs:
        results = await in_one_batch(rig.hub.commits, [rig.hub.accept_async(m) for m in messages])

    assert isinstance(results[2], RuntimeError) and "a bug in one request" in str(results[2])
    good = [m for m in messages if m is not bad]
    assert [r for r in results if not isinstance(r, BaseException)] == [
        Accepted(m.message_id, duplicate=False) for m in good
    ]
    assert "group_commit.batch_failed" in [entry["event"] for entry in logs]
    assert not committed_message(rig, bad.message_id)
    assert all(committed_message(rig, m.message_id) for m in good)
    assert published_deliveries(rig) == {delivery_id(m.message_id, "scjg") for m in good}
    # and the writer goes on serving
    assert (await rig.hub.accept_async(approval("gc-after"))).duplicate is False


async def test_a_refusal_in_a_batch_is_answered_and_spoils_nothing(rig: Rig) -> None:
    m = approval("gc-refusal")
    rig.hub.accept(m)
    commits = commit_counter(rig)
    batches_before = rig.hub.commits.batches
    ok = delivery_id(m.message_id, "scjg")
    results = await in_one_batch(
        rig.hub.commits,
        [
            rig.hub.claim_async(
                "Dnosuchdelivery", department_id="scjg", actor="a", channel=Channel.PLATFORM
            ),
            rig.hub.claim_async(ok, department_id="scjg", actor="a", channel=Channel.PLATFORM),
        ],
    )
    assert type(results[0]).__name__ == "NotFoundError"
    assert isinstance(results[1], ActionResult) and results[1].state == ClaimState.CLAIMED
    # refused inside the batch: the transaction is not run again for each request
    assert rig.hub.commits.batches - batches_before == 2  # the gate's, then the claims'
    assert commits[0] == 1


async def test_a_caller_that_gives_up_spoils_nothing_for_the_others(rig: Rig) -> None:
    gate = WriterGate()
    held = rig.hub.commits.submit(gate.work, None)
    assert await asyncio.to_thread(gate.entered.wait, scaled(10))
    messages = [approval(f"gc-cancel-{i}") for i in range(3)]
    tasks = [asyncio.ensure_future(rig.hub.accept_async(m)) for m in messages]
    deadline = time.monotonic() + scaled(10)
    while rig.hub.commits._queue.qsize() < len(tasks):  # test-only peek at the writer's queue
        assert time.monotonic() < deadline, "the requests were never queued"
        await asyncio.sleep(0)  # a turn of the loop for the tasks to submit, not a wait
    tasks[1].cancel()  # the client of the second push went away
    gate.released.set()
    await asyncio.wrap_future(held)

    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=scaled(5))
    assert isinstance(done[1], asyncio.CancelledError)
    assert [done[0], done[2]] == [
        Accepted(messages[0].message_id, duplicate=False),
        Accepted(messages[2].message_id, duplicate=False),
    ]
    # and the writer still serves (the cancelled push was committed all the same)
    later = await asyncio.wait_for(rig.hub.accept_async(messages[1]), timeout=scaled(5))
    assert later == Accepted(messages[1].message_id, duplicate=True)


async def test_lists_of_pushes_sharing_a_batch_are_answered_each_its_own(rig: Rig) -> None:
    a, b, c, d = (approval(f"gc-list-{i}") for i in range(4))
    unknown = message(APPROVAL, recipients=["nobody"], source__source_id="gc-list-unknown")
    first, second, alone = await in_one_batch(
        rig.hub.commits,
        [
            rig.hub.accept_many_async([a, unknown, b]),
            rig.hub.accept_many_async([c, a]),  # a: in the other list of the same batch
            rig.hub.accept_async(d),
        ],
    )
    assert isinstance(first, list) and isinstance(second, list)
    assert first[0] == Accepted(a.message_id, duplicate=False)
    assert type(first[1]).__name__ == "RoutingError" and first[2] == Accepted(b.message_id, False)
    assert second == [Accepted(c.message_id, False), Accepted(a.message_id, duplicate=True)]
    assert alone == Accepted(d.message_id, duplicate=False)
    assert count(rig, MessageRow) == 4
