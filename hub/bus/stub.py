"""``StubBus``: a pure in-memory bus for unit tests, with the same contract as the real ones.

Features: thread-safe (one ``queue.Queue`` per name, a condition to wake idle consumers);
bodies are JSON round-tripped with the standard library, so a body a broker would refuse fails
here too (``BusMessageError``) and handlers get a copy, never the publisher's object; a failing
handler's message is requeued at the tail; ``join(queue, timeout)`` waits until a queue is drained
and every handler has returned. Nothing is shared between two ``StubBus`` instances and nothing
survives the process. ``prefetch`` is accepted and ignored (handlers run one at a time per
``consume`` call, so there is never more than one message in flight per consumer).
"""

from __future__ import annotations

import json
import queue as queue_mod
import threading
import time
from collections.abc import Sequence

import structlog

from hub.bus.base import BatchHandler, Body, Handler
from hub.bus.errors import BusMessageError, BusUnavailable

_log = structlog.get_logger(__name__)


class StubBus:
    """An in-process bus: ``declare``, ``publish``, ``consume`` and ``join`` for tests."""

    def __init__(self, url: str = "stub://") -> None:
        self.url = url
        self._queues: dict[str, queue_mod.Queue[str]] = {}
        self._lock = threading.Lock()
        self._published = threading.Condition()
        self._seq = 0
        self._closed = False

    def declare(self, queues: Sequence[str]) -> None:
        for name in queues:
            self._queue(name)

    def publish(self, queue: str, body: Body) -> None:
        self.publish_many([(queue, body)])

    def publish_many(self, items: Sequence[tuple[str, Body]]) -> None:
        if self._closed:
            raise BusUnavailable("the bus is closed")
        encoded = [(name, _encode(body)) for name, body in items]
        for name, data in encoded:
            self._queue(name).put(data)
        self._wake()

    def consume(
        self,
        queues: Sequence[str],
        handler: Handler,
        *,
        stop: threading.Event,
        prefetch: int = 16,
        idle_timeout: float = 0.5,
    ) -> None:
        names = list(queues)
        self.declare(names)
        start = 0
        while not stop.is_set() and not self._closed:
            seen = self._seq
            if self._deliver_one(names, start, handler):
                start = (start + 1) % len(names)
            else:
                self._wait_for_publish(seen, idle_timeout)

    def consume_batches(
        self,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 32,
        idle_timeout: float = 0.5,
    ) -> None:
        names = list(queues)
        self.declare(names)
        while not stop.is_set() and not self._closed:
            seen = self._seq
            batch = self._take(names, max_batch)
            if not batch:
                self._wait_for_publish(seen, idle_timeout)
                continue
            try:
                handler([(name, json.loads(data)) for name, data in batch])
            except Exception as exc:
                _log.warning("bus.handler_failed", queues=names, error=repr(exc), exc_info=True)
                for name, data in batch:
                    self._queue(name).put(data)
                self._wake()
            finally:
                for name, _data in batch:
                    self._queue(name).task_done()

    def _take(self, names: list[str], most: int) -> list[tuple[str, str]]:
        """Up to ``most`` waiting messages, taking from the queues in turn."""
        batch: list[tuple[str, str]] = []
        while len(batch) < most:
            before = len(batch)
            for name in names:
                try:
                    batch.append((name, self._queue(name).get_nowait()))
                except queue_mod.Empty:
                    continue
                if len(batch) == most:
                    break
            if len(batch) == before:
                break
        return batch

    def depth(self, queue: str) -> int | None:
        return self._queue(queue).qsize()

    def join(self, queue: str, timeout: float = 5.0) -> bool:
        """Wait until ``queue`` is empty and its handlers returned; False on timeout."""
        q = self._queue(queue)
        deadline = time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not q.all_tasks_done.wait(remaining):
                    return q.unfinished_tasks == 0
        return True

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _queue(self, name: str) -> queue_mod.Queue[str]:
        with self._lock:
            q = self._queues.get(name)
            if q is None:
                q = self._queues[name] = queue_mod.Queue()
            return q

    def _deliver_one(self, names: list[str], start: int, handler: Handler) -> bool:
        for offset in range(len(names)):
            name = names[(start + offset) % len(names)]
            q = self._queue(name)
            try:
                data = q.get_nowait()
            except queue_mod.Empty:
                continue
            self._handle(name, q, data, handler)
            return True
        return False

    def _handle(self, name: str, q: queue_mod.Queue[str], data: str, handler: Handler) -> None:
        try:
            handler(name, json.loads(data))
        except Exception as exc:
            _log.warning("bus.handler_failed", queue=name, error=repr(exc), exc_info=True)
            q.put(data)  # requeue before task_done so join() never sees a false "drained"
            self._wake()
        finally:
            q.task_done()

    def _wait_for_publish(self, seen: int, timeout: float) -> None:
        with self._published:
            if self._seq == seen and not self._closed:
                self._published.wait(timeout)

    def _wake(self) -> None:
        with self._published:
            self._seq += 1
            self._published.notify_all()


def _encode(body: Body) -> str:
    if not isinstance(body, dict):
        kind = type(body).__name__
        raise BusMessageError(f"a bus message body must be a JSON object, not {kind}")
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BusMessageError(f"a bus message body must be JSON: {exc}") from exc
