"""The batch side of the bus contract: ``consume_batches`` on every implementation.

A batch holds what has arrived (never waiting for it to fill), at most ``max_batch``, in order;
returning acks the whole batch, raising requeues the whole batch.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from structlog.testing import capture_logs

from hub.bus import Bus

QName = Callable[[str], str]
WAIT = 10.0
Batch = list[tuple[str, dict[str, Any]]]


class BatchRecorder:
    """Records every batch; raises on the first ``fail_first`` batches."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.batches: list[Batch] = []
        self.failures = 0
        self._fail_first, self._delay = fail_first, delay
        self._cond = threading.Condition()

    def __call__(self, batch: Batch) -> None:
        if self._delay:
            time.sleep(self._delay)
        with self._cond:
            self.batches.append(list(batch))
            self._cond.notify_all()
            if self.failures < self._fail_first:
                self.failures += 1
                raise RuntimeError("batch failed on purpose")

    def messages(self) -> int:
        with self._cond:
            return sum(len(b) for b in self.batches)

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: sum(len(b) for b in self.batches) >= count, timeout)

    def bodies(self) -> list[dict[str, Any]]:
        with self._cond:
            return [body for batch in self.batches for _queue, body in batch]


@contextmanager
def consuming_batches(
    bus: Bus, queues: Sequence[str], handler: Callable[[Batch], None], **kw: Any
) -> Iterator[threading.Event]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bus.consume_batches(queues, handler, stop=stop, **kw)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-batch-consumer", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive(), "consume_batches() did not return after stop.set()"
    assert not errors, f"consume_batches() raised: {errors!r}"


def test_waiting_messages_come_in_ordered_batches_of_at_most_max_batch(
    bus: Bus, qname: QName
) -> None:
    queue = qname("batches")
    bus.declare([queue])
    bus.publish_many([(queue, {"n": i}) for i in range(50)])
    recorder = BatchRecorder()
    with consuming_batches(bus, [queue], recorder, max_batch=20):
        assert recorder.wait_for(50)
        time.sleep(0.3)
    sizes = [len(b) for b in recorder.batches]
    assert [body["n"] for body in recorder.bodies()] == list(range(50))
    assert max(sizes) <= 20 and max(sizes) > 1, sizes  # they were waiting: batched, bounded
    assert all(queue_name == queue for b in recorder.batches for queue_name, _ in b)
    assert bus.depth(queue) in (0, None)


def test_a_lone_message_is_handed_over_without_waiting_for_a_full_batch(
    bus: Bus, qname: QName
) -> None:
    queue = qname("lone")
    bus.declare([queue])
    recorder = BatchRecorder()
    with consuming_batches(bus, [queue], recorder, max_batch=64, idle_timeout=3.0):
        time.sleep(0.2)  # the consumer is idle, waiting
        started = time.monotonic()
        bus.publish(queue, {"n": 1})
        assert recorder.wait_for(1, timeout=2.5)
        waited = time.monotonic() - started
    assert recorder.batches == [[(queue, {"n": 1})]]
    assert waited < 2.5  # not held back until idle_timeout (3 s) or a full batch


def test_a_failing_batch_comes_back_whole_then_is_acked(bus: Bus, qname: QName) -> None:
    queue = qname("batch-requeue")
    bus.declare([queue])
    bus.publish_many([(queue, {"n": i}) for i in range(5)])
    recorder = BatchRecorder(fail_first=1)

    def first_batch_twice_and_the_rest() -> bool:
        with recorder._cond:
            batches = list(recorder.batches)
        return bool(batches) and sum(len(b) for b in batches) >= 5 + len(batches[0])

    with capture_logs() as logs, consuming_batches(bus, [queue], recorder, max_batch=10):
        deadline = time.monotonic() + WAIT
        while not first_batch_twice_and_the_rest() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
    # the failed batch (however much had arrived: Redis hands messages over one at a time)
    # came back whole; every other message once; nothing left on the queue
    failed = {body["n"] for _queue, body in recorder.batches[0]}
    counts = Counter(body["n"] for body in recorder.bodies())
    assert counts == {i: 2 if i in failed else 1 for i in range(5)}
    assert bus.depth(queue) in (0, None)
    assert any(entry["event"] == "bus.handler_failed" for entry in logs)


def test_competing_batch_consumers_handle_each_message_exactly_once(bus: Bus, qname: QName) -> None:
    queue = qname("batch-compete")
    bus.declare([queue])
    recorder = BatchRecorder(delay=0.002)
    with (
        consuming_batches(bus, [queue], recorder, max_batch=16),
        consuming_batches(bus, [queue], recorder, max_batch=16),
    ):
        bus.publish_many([(queue, {"n": i}) for i in range(300)])
        assert recorder.wait_for(300)
        time.sleep(0.3)
    counts = Counter(body["n"] for body in recorder.bodies())
    assert sorted(counts) == list(range(300)) and set(counts.values()) == {1}


def test_one_batch_consumer_serves_several_queues(bus: Bus, qname: QName) -> None:
    queues = [qname("ba"), qname("bb")]
    bus.declare(queues)
    bus.publish_many([(queues[i % 2], {"n": i}) for i in range(20)])
    recorder = BatchRecorder()
    with consuming_batches(bus, queues, recorder, max_batch=8):
        assert recorder.wait_for(20)
    by_queue = {q: [b["n"] for name, b in sum(recorder.batches, []) if name == q] for q in queues}
    assert by_queue == {queues[0]: list(range(0, 20, 2)), queues[1]: list(range(1, 20, 2))}


@pytest.mark.bus_capability("break_connections")
def test_batch_consume_survives_a_dropped_connection(bus: Bus, backend: Any, qname: QName) -> None:
    queue = qname("batch-reconnect")
    bus.declare([queue])
    recorder = BatchRecorder()
    with capture_logs() as logs, consuming_batches(bus, [queue], recorder):
        bus.publish(queue, {"n": 1})
        assert recorder.wait_for(1)
        backend.break_connections()
        bus.publish(queue, {"n": 2})
        assert recorder.wait_for(2, timeout=30.0)
    assert [body["n"] for body in recorder.bodies()] == [1, 2]
    assert any(entry["event"] == "bus.reconnect" for entry in logs)
