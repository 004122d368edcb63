"""Group commit: concurrent requests share one transaction, each answered after it commits.

The API's pushes and claims are submitted here from the event loop. One writer thread takes
everything queued (up to ``max_batch``), runs each kind of work as one batch function in ONE
transaction, commits, publishes the jobs the commit created, and only then answers every
request. While a transaction runs the next requests queue up, so the batch grows with the load
and a lone request is committed at once (no waiting for company).

A batch function gets the session and its items and returns per item a result or the
exception that refused it (a refusal is on record and answered; it spoils nothing else), and
the jobs to publish. Should the transaction itself fail (a bug, the ledger gone), every item is
tried again alone in its own transaction, so one bad request fails only itself.
Synchronous callers use ``run_now``: the same batch function, in the calling thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.ledger.batch import NewJob
from hub.ledger.db import Database

log = structlog.get_logger(__name__)
I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

BatchFn = Callable[[Session, Sequence[I]], tuple[Sequence[R | BaseException], Sequence[NewJob]]]


@dataclass(frozen=True)
class Work(Generic[I, R]):
    """A named batch function (the name keys the batching and the logs)."""

    name: str
    run: BatchFn[I, R]


@dataclass
class _Request:
    work: Work[Any, Any]
    item: Any
    future: concurrent.futures.Future[Any]


_STOP = object()


class GroupCommit:
    def __init__(
        self,
        db: Database,
        publish: Callable[[Sequence[NewJob]], None],
        *,
        max_batch: int = 256,
    ) -> None:
        self.db, self.publish, self.max_batch = db, publish, max_batch
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed (for tests and benchmarks)
        self.requests = 0  # requests answered in them

    async def run(self, work: Work[I, R], item: I) -> R:
        """Submit ``item`` and wait (without blocking the loop) for its committed result."""
        return await asyncio.wrap_future(self.submit(work, item))

    def submit(self, work: Work[I, R], item: I) -> concurrent.futures.Future[R]:
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._ensure_started()
        self._queue.put(_Request(work, item, future))
        return future

    def run_now(self, work: Work[I, R], items: Sequence[I]) -> list[R | BaseException]:
        """Run ``items`` in the calling thread, in one transaction (results or refusals)."""
        requests = [_Request(work, item, concurrent.futures.Future()) for item in items]
        self._commit(requests)
        out: list[R | BaseException] = []
        for request in requests:
            exc = request.future.exception()
            out.append(exc if exc is not None else request.future.result())
        return out

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="hub-group-commit", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(r is _STOP for r in batch)
            self._commit([r for r in batch if isinstance(r, _Request)])
            if stop:
                return

    def _commit(self, requests: list[_Request]) -> None:
        if not requests:
            return
        try:
            try:
                outcomes, jobs = self.db.retrying(lambda session: _run_all(session, requests))
            except IntegrityError:  # a concurrent process committed the same row first: the
                if len(requests) > 1:  # next run reads it (a duplicate push, say)
                    raise
                outcomes, jobs = self.db.retrying(lambda session: _run_all(session, requests))
        except Exception as exc:  # noqa: BLE001 - each request alone, so only the bad one fails
            if len(requests) == 1:
                _answer(requests[0].future, exc)
                return
            log.warning("group_commit.batch_failed", requests=len(requests), exc_info=True)
            for request in requests:
                self._commit([request])
            return
        self.batches += 1
        self.requests += len(requests)
        if jobs:
            self.publish(jobs)
        for request, outcome in zip(requests, outcomes, strict=True):
            _answer(request.future, outcome)


def _answer(future: concurrent.futures.Future[Any], outcome: Any) -> None:
    """Answer a request, unless its caller gave up (a client gone): its work is committed
    anyway, and nobody waits for the answer."""
    if not future.set_running_or_notify_cancel():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _run_all(session: Session, requests: list[_Request]) -> tuple[list[Any], list[NewJob]]:
    """Every kind of work in ``requests`` as one batch each, in the order kinds first came."""
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.work.name, []).append(index)
    outcomes: list[Any] = [None] * len(requests)
    jobs: list[NewJob] = []
    for indexes in groups.values():
        work = requests[indexes[0]].work
        session.flush()
        session.expire_all()  # a batch may have changed rows another one holds as objects
        results, created = work.run(session, [requests[i].item for i in indexes])
        for i, result in zip(indexes, results, strict=True):
            outcomes[i] = result
        jobs.extend(created)
    return outcomes, jobs
