"""Group commit made deterministic for tests: requests submitted while the writer is held in a
transaction of its own all go into the next batch, one transaction."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from hub.core.group_commit import GroupCommit, Work
from hub.ledger.batch import NewJob
from tests.support.waits import scaled

T = TypeVar("T")


class WriterGate:
    """A request whose batch holds the group-commit writer until ``release``."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.work: Work[None, None] = Work("test-gate", self._run)

    def _run(self, _session: Session, items: Sequence[None]) -> tuple[list[None], list[NewJob]]:
        self.entered.set()
        if not self.released.wait(scaled(10)):
            raise AssertionError("the test never released the group-commit writer")
        return [None] * len(items), []


async def in_one_batch(
    commits: GroupCommit, calls: Sequence[Awaitable[T]]
) -> list[T | BaseException]:
    """Run ``calls`` (coroutines that submit one request each to ``commits``) so that they are
    all queued behind a held writer, then let them go: they share the next transaction.
    Returns their results or exceptions, in order."""
    gate = WriterGate()
    held = commits.submit(gate.work, None)
    if not await asyncio.to_thread(gate.entered.wait, scaled(10)):
        raise AssertionError("the group-commit writer never took the gate")
    queued_before = commits._queue.qsize()  # test-only peek at the writer's queue
    tasks = [asyncio.ensure_future(call) for call in calls]
    deadline = time.monotonic() + scaled(10)
    while commits._queue.qsize() < queued_before + len(tasks):
        if time.monotonic() > deadline:
            raise AssertionError("the requests were never queued")
        await asyncio.sleep(0)  # a turn of the loop for the tasks to submit, not a wait
    gate.released.set()
    results: list[Any] = await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.wrap_future(held)
    return results
