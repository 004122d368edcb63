"""The bus contract: what every ``Bus`` implementation must do (one run per ``backend`` param).

The fixtures (``bus``, ``backend``, ``qname``) are in this folder's conftest.py. Every test uses
its own queues; a consumer always runs in a thread that the test stops and joins.
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

from hub.bus import Bus, BusMessageError, BusUnavailable

QName = Callable[[str], str]
WAIT = 10.0  # seconds a test waits for deliveries before failing


class Recorder:
    """A thread-safe handler: records ``(queue, body)``, fails the first ``fail_first`` times."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0
        self._fail_first = fail_first
        self._delay = delay
        self._cond = threading.Condition()

    def __call__(self, queue: str, body: dict[str, Any]) -> None:
        if self._delay:
            time.sleep(self._delay)
        with self._cond:
            self.calls.append((queue, body))
            self._cond.notify_all()
            if self.failures < self._fail_first:
                self.failures += 1
                raise RuntimeError("handler failed on purpose")

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.calls) >= count, timeout)

    def bodies(self, queue: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [body for name, body in self.calls if queue is None or name == queue]


@contextmanager
def consuming(
    bus: Bus, queues: Sequence[str], handler: Callable[[str, dict[str, Any]], None], **kw: Any
) -> Iterator[threading.Event]:
    """Run ``bus.consume`` in a thread; on exit stop it and check it returned cleanly."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bus.consume(queues, handler, stop=stop, **kw)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-consumer", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive(), "consume() did not return after stop.set()"
    assert not errors, f"consume() raised: {errors!r}"


def settle(seconds: float = 0.3) -> None:
    """Give a wrong extra delivery the time to show up."""
    time.sleep(seconds)


def test_round_trip_keeps_a_dict_with_chinese_text(bus: Bus, qname: QName) -> None:
    # Given a queue and a body with Chinese text, nested values and the usual ids
    queue = qname("round-trip")
    body = {
        "outbox_id": 17,
        "delivery_id": "D20240301-0001",
        "title": "关于开展“双随机、一公开”监管的通知",
        "dept": {"name": "梁山县市场监督管理局", "codes": [1, 2.5, None, True]},
    }
    bus.declare([queue])
    # When it is published and consumed
    bus.publish(queue, body)
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(1)
    # Then the handler got the queue name and an equal dict, once
    assert recorder.calls == [(queue, body)]


def test_one_producer_on_one_queue_is_fifo(bus: Bus, qname: QName) -> None:
    queue = qname("fifo")
    bus.declare([queue])
    for i in range(50):
        bus.publish(queue, {"n": i})
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(50)
    assert [body["n"] for body in recorder.bodies()] == list(range(50))


def test_one_consume_call_serves_several_queues(bus: Bus, qname: QName) -> None:
    queues = [qname("a"), qname("b"), qname("c")]
    bus.declare(queues)
    for index, queue in enumerate(queues):
        bus.publish(queue, {"from": index})
    recorder = Recorder()
    with consuming(bus, queues, recorder):
        assert recorder.wait_for(3)
    assert sorted(recorder.calls, key=lambda call: call[0]) == [
        (queue, {"from": index}) for index, queue in enumerate(queues)
    ]


def test_a_failing_handler_gets_the_message_again_then_it_is_acked(bus: Bus, qname: QName) -> None:
    # Given a handler that raises the first time
    queue = qname("requeue")
    bus.declare([queue])
    bus.publish(queue, {"outbox_id": 1})
    recorder = Recorder(fail_first=1)
    # When it consumes the message
    with capture_logs() as logs, consuming(bus, [queue], recorder):
        assert recorder.wait_for(2)
        settle()
    # Then the message came back once, was acked after the second call, and the failure was logged
    assert recorder.bodies() == [{"outbox_id": 1}, {"outbox_id": 1}]
    assert bus.depth(queue) in (0, None)
    failed = [entry for entry in logs if entry["event"] == "bus.handler_failed"]
    assert [entry["queue"] for entry in failed] == [queue]
    assert "handler failed on purpose" in failed[0]["error"]


def test_competing_consumers_handle_each_message_exactly_once(bus: Bus, qname: QName) -> None:
    queue = qname("compete")
    bus.declare([queue])
    recorder = Recorder(delay=0.001)
    with consuming(bus, [queue], recorder), consuming(bus, [queue], recorder):
        bus.publish_many([(queue, {"n": i}) for i in range(200)])
        assert recorder.wait_for(200)
        settle()
    counts = Counter(body["n"] for body in recorder.bodies())
    assert sorted(counts) == list(range(200))
    assert set(counts.values()) == {1}


def test_publish_many_delivers_all_in_order_per_queue(bus: Bus, qname: QName) -> None:
    first, second = qname("one"), qname("two")
    items = [(first if i % 3 else second, {"n": i}) for i in range(30)]
    bus.publish_many(items)
    bus.publish_many([])
    recorder = Recorder()
    with consuming(bus, [first, second], recorder):
        assert recorder.wait_for(30)
    for queue in (first, second):
        expected = [body["n"] for name, body in items if name == queue]
        assert [body["n"] for body in recorder.bodies(queue)] == expected


def test_depth_counts_ready_messages(bus: Bus, qname: QName) -> None:
    queue = qname("depth")
    bus.declare([queue])
    if bus.depth(queue) is None:
        pytest.skip("this transport cannot tell a queue's depth")
    assert bus.depth(queue) == 0
    bus.publish_many([(queue, {"n": i}) for i in range(5)])
    assert bus.depth(queue) == 5
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(5)
        settle(0.1)
    assert bus.depth(queue) == 0


def test_consume_returns_promptly_after_stop(bus: Bus, qname: QName) -> None:
    queue = qname("stop")
    bus.declare([queue])
    stop = threading.Event()
    thread = threading.Thread(target=bus.consume, args=([queue], Recorder()), kwargs={"stop": stop})
    thread.start()
    time.sleep(0.3)  # let it connect and go idle
    started = time.monotonic()
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0


def test_messages_published_before_consume_starts_are_delivered(bus: Bus, qname: QName) -> None:
    queue = qname("early")
    bus.declare([queue])
    bus.publish_many([(queue, {"n": i}) for i in range(10)])
    time.sleep(0.2)
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(10)
    assert sorted(body["n"] for body in recorder.bodies()) == list(range(10))


def test_publish_declares_a_queue_it_has_not_seen(bus: Bus, qname: QName) -> None:
    queue = qname("undeclared")
    bus.publish(queue, {"n": 1})
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(1)


def test_declare_is_idempotent_and_keeps_messages(bus: Bus, qname: QName) -> None:
    queue = qname("idempotent")
    bus.declare([queue])
    bus.declare([queue, queue])
    bus.publish_many([(queue, {"n": 1}), (queue, {"n": 2})])
    bus.declare([queue])
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(2)
        settle()
    assert recorder.bodies() == [{"n": 1}, {"n": 2}]


def test_each_test_has_its_own_queues(bus: Bus, qname: QName, backend: Any) -> None:
    # Given the queue names of this test
    mine, other = qname("mine"), qname("other")
    assert backend.token in mine and mine != other
    bus.declare([mine, other])
    # Then they start empty, and a message on one never reaches the other
    assert bus.depth(mine) in (0, None)
    bus.publish(other, {"n": 1})
    recorder = Recorder()
    with consuming(bus, [mine], recorder):
        settle()
    assert recorder.calls == []
    assert bus.depth(other) in (1, None)


def test_a_second_bus_on_the_same_broker_sees_the_queues(
    bus: Bus, backend: Any, qname: QName
) -> None:
    # The in-process hub: the API thread publishes on its bus, a worker consumes on another
    queue = qname("peer")
    peer = backend.open()
    try:
        bus.declare([queue])
        bus.publish(queue, {"n": 1})
        recorder = Recorder()
        with consuming(peer, [queue], recorder):
            assert recorder.wait_for(1)
        assert recorder.calls == [(queue, {"n": 1})]
    finally:
        if peer is not bus:
            peer.close()


@pytest.mark.bus_capability("peer")
def test_closing_one_bus_keeps_the_messages_it_published(
    bus: Bus, backend: Any, qname: QName
) -> None:
    # kombu's memory transport keeps its queues in a class attribute that channel.close() touches
    peer = backend.open()
    assert peer is not bus
    queue = qname("closed-peer")
    peer.publish_many([(queue, {"n": 1}), (queue, {"n": 2})])
    peer.close()
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(2)
    assert recorder.bodies() == [{"n": 1}, {"n": 2}]


def test_many_threads_may_publish_on_one_bus(bus: Bus, qname: QName) -> None:
    queue = qname("threads")
    bus.declare([queue])

    def publish(worker: int) -> None:
        for i in range(100):
            bus.publish(queue, {"worker": worker, "n": i})

    threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    recorder = Recorder()
    with consuming(bus, [queue], recorder):
        assert recorder.wait_for(400)
    for worker in range(4):
        mine = [body["n"] for body in recorder.bodies() if body["worker"] == worker]
        assert mine == list(range(100))


@pytest.mark.parametrize("body", [{"when": object()}, {"x": {1, 2}}, ["not", "a", "dict"]])
def test_a_body_that_is_not_a_json_object_is_refused(bus: Bus, qname: QName, body: Any) -> None:
    queue = qname("bad")
    bus.declare([queue])
    with pytest.raises(BusMessageError):
        bus.publish(queue, body)
    assert bus.depth(queue) in (0, None)


def test_publishing_on_a_closed_bus_is_unavailable(backend: Any, qname: QName) -> None:
    closed = backend.open()
    closed.close()
    with pytest.raises(BusUnavailable):
        closed.publish(qname("closed"), {"n": 1})


@pytest.mark.bus_capability("break_connections")
def test_consume_survives_a_dropped_connection(bus: Bus, backend: Any, qname: QName) -> None:
    queue = qname("reconnect")
    bus.declare([queue])
    recorder = Recorder()
    with capture_logs() as logs, consuming(bus, [queue], recorder):
        bus.publish(queue, {"n": 1})
        assert recorder.wait_for(1)
        # When the broker drops every client connection
        backend.break_connections()
        # Then publishing and consuming go on after a logged reconnect
        bus.publish(queue, {"n": 2})
        assert recorder.wait_for(2, timeout=30.0)
    assert [body["n"] for body in recorder.bodies()] == [1, 2]
    assert any(entry["event"] == "bus.reconnect" for entry in logs)


@pytest.mark.bus_capability("unreachable")
def test_publishing_to_an_unreachable_broker_raises_bus_unavailable(
    backend: Any, qname: QName
) -> None:
    down = backend.unreachable()
    started = time.monotonic()
    try:
        with pytest.raises(BusUnavailable) as raised:
            down.publish(qname("down"), {"n": 1})
    finally:
        down.close()
    assert raised.value.retryable
    assert time.monotonic() - started < 10.0
