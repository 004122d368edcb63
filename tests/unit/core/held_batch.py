"""Group commit under test: requests submitted while the writer is held in a transaction of its
own all go into the next batch (one transaction); answers watched against the commits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, event
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


class EarlyAnswers:
    """Watches a group commit: at the start of every COMMIT on ``engine``, no request may be
    answered that was not committed before (``GroupCommit.requests`` counts the committed)."""

    def __init__(self, commits: GroupCommit, engine: Engine) -> None:
        self.commits, self.engine = commits, engine
        self.futures: list[concurrent.futures.Future[Any]] = []
        self.violations: list[tuple[int, int]] = []  # (answered, committed) at a COMMIT
        self._committed_before = commits.requests
        self._submit = commits.submit

    def __enter__(self) -> EarlyAnswers:
        self.commits.submit = self._watched_submit  # type: ignore[method-assign]
        event.listen(self.engine, "commit", self._on_commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "commit", self._on_commit)
        self.commits.submit = self._submit  # type: ignore[method-assign]

    def _watched_submit(self, work: Work[Any, Any], item: Any) -> concurrent.futures.Future[Any]:
        future = self._submit(work, item)
        self.futures.append(future)
        return future

    def _on_commit(self, _conn: Any) -> None:
        answered = sum(f.done() for f in list(self.futures))
        committed = self.commits.requests - self._committed_before
        if answered > committed:
            self.violations.append((answered, committed))
