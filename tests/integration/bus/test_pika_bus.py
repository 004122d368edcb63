"""``PikaBus`` against the RabbitMQ of this machine: what the contract suite cannot show.

Pipelined confirms, a nack and a return failing the publish, the quorum arguments, a poison
message ending in the dead-letter queue, a queue left with other arguments, a deleted queue, and a
broker restart (``rabbitmqctl stop_app`` / ``start_app``) under consumers. Every test runs in this
module's vhost (made with ``rabbitmqctl``, deleted afterwards) with its own queue names. Skipped
locally when RabbitMQ is down, failed in CI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from structlog.testing import capture_logs

from hub.bus import BusConfigError, BusUnavailable, create_bus
from hub.bus.pika_bus import PikaBus, PikaBusOptions
from tests.support.rabbitmq import RabbitVhost, rabbitmqctl

ROOT = Path(__file__).resolve().parents[3]
PAD = "x" * 960  # with the ids, a body of about 1 KiB
QName = Callable[[str], str]


@pytest.fixture(scope="module")
def vhost(require_server: Callable[[str, str, int], None]) -> Iterator[RabbitVhost]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    made = RabbitVhost.create()
    yield made
    made.delete()


@pytest.fixture
def qname() -> QName:
    token = uuid.uuid4().hex[:10]
    return lambda suffix: f"test.{token}.{suffix}"


@pytest.fixture
def open_bus(vhost: RabbitVhost) -> Iterator[Callable[..., PikaBus]]:
    """``open_bus(**options)``: a ``PikaBus`` in the vhost, closed after the test."""
    opened: list[PikaBus] = []

    def make(**options: Any) -> PikaBus:
        opened.append(PikaBus(vhost.url, PikaBusOptions(**options)))
        return opened[-1]

    yield make
    for bus in opened:
        bus.close()


class Tally:
    """A thread-safe handler counting deliveries per ``n``; ``fail`` makes every call raise."""

    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.counts: Counter[int] = Counter()
        self.calls = 0
        self._fail, self._delay = fail, delay
        self._cond = threading.Condition()

    def __call__(self, _queue: str, body: dict[str, Any]) -> None:
        if self._delay:
            time.sleep(self._delay)
        with self._cond:
            self.calls += 1
            self.counts[body["n"]] += 1
            self._cond.notify_all()
        if self._fail:
            raise RuntimeError("poison")

    def wait_for(self, distinct: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.counts) >= distinct, timeout)


def consumers(bus: PikaBus, queue: str, handler: Tally, count: int = 1) -> threading.Event:
    """Start ``count`` consume() threads; setting the returned event stops them."""
    stop = threading.Event()
    for index in range(count):
        thread = threading.Thread(
            target=bus.consume, args=([queue], handler), kwargs={"stop": stop}, daemon=True
        )
        thread.name = f"test-consumer-{index}"
        thread.start()
    return stop


def raw_channel(vhost: RabbitVhost) -> Any:
    return pika.BlockingConnection(pika.URLParameters(vhost.url)).channel()


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.rabbitmq
def test_publish_many_pipelines_confirms_and_each_message_arrives_once(
    open_bus: Callable[..., PikaBus], qname: QName
) -> None:
    # Given 2,000 persistent messages of about 1 KiB for one quorum queue
    bus, queue, total = open_bus(), qname("pipelined"), 2000
    bus.declare([queue])
    items = [(queue, {"n": n, "delivery_id": f"D{n:08d}", "pad": PAD}) for n in range(total)]
    # When they are published as one batch (confirmed when it returns)
    started = time.perf_counter()
    bus.publish_many(items)
    elapsed = time.perf_counter() - started
    print(f"\npublish_many: {total} confirmed in {elapsed:.3f} s = {total / elapsed:,.0f} msg/s")
    # Then every one of them is in the queue and is consumed exactly once
    assert bus.depth(queue) == total
    tally = Tally()
    stop = consumers(bus, queue, tally, count=2)
    try:
        assert tally.wait_for(total, timeout=30.0)
        time.sleep(0.3)
    finally:
        stop.set()
    assert sorted(tally.counts) == list(range(total))
    assert set(tally.counts.values()) == {1}


@pytest.mark.rabbitmq
def test_a_nack_fails_the_publish(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    # Given a queue limited by a policy to one message: with reject-publish, the broker nacks
    # publishes once it is full (a quorum queue lets one more in before it refuses)
    bus, queue = open_bus(), qname("full")
    policy = f"limit-{queue}"
    pattern = f"^{re.escape(queue)}$"
    limit = '{"max-length":1}'
    rabbitmqctl("set_policy", "-p", vhost.name, "--apply-to", "queues", policy, pattern, limit)
    confirmed, refused = 0, 0
    try:
        # When messages are published one by one
        for n in range(5):
            try:
                bus.publish(queue, {"n": n})
                confirmed += 1
            except BusUnavailable as exc:
                assert "refused a message" in str(exc)
                refused += 1
    finally:
        rabbitmqctl("clear_policy", "-p", vhost.name, policy)
    # Then the full queue refused some, and holds exactly the confirmed ones
    assert refused >= 3
    assert bus.depth(queue) == confirmed


@pytest.mark.rabbitmq
def test_a_returned_message_fails_the_publish_then_the_queue_is_declared_again(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    # Given a queue the bus declared, deleted behind its back
    bus, queue = open_bus(), qname("deleted")
    bus.declare([queue])
    raw_channel(vhost).queue_delete(queue)
    # When a message is published to it (mandatory): it comes back, the publish fails
    with pytest.raises(BusUnavailable, match="missing"):
        bus.publish(queue, {"n": 1})
    assert bus.depth(queue) is None  # nothing was routed anywhere silently
    # Then the next publish declares the queue again and is delivered
    bus.publish(queue, {"n": 2})
    tally = Tally()
    stop = consumers(bus, queue, tally)
    try:
        assert tally.wait_for(1, timeout=10.0)
    finally:
        stop.set()
    assert dict(tally.counts) == {2: 1}


@pytest.mark.rabbitmq
def test_queues_are_quorum_queues_that_dead_letter_to_the_dead_queue(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    bus, queue = open_bus(), qname("quorum")
    bus.declare([queue])
    listed = rabbitmqctl(
        "list_queues", "-p", vhost.name, "name", "type", "arguments", "--formatter", "json", "-q"
    )
    queues = {row["name"]: row for row in json.loads(listed)}
    arguments = {name: value for name, _type, value in queues[queue]["arguments"]}
    assert queues[queue]["type"] == "quorum"
    assert arguments == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "hub.dead",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": 20,
    }
    assert queues["hub.dead"]["type"] == "quorum"
    assert queues["hub.dead"]["arguments"] == [["x-queue-type", "longstr", "quorum"]]


@pytest.mark.rabbitmq
def test_a_poison_message_ends_in_the_dead_letter_queue(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    # Given a handler that always raises, and this test's own dead-letter queue
    dead = qname("dead")
    bus, queue = open_bus(dead_letter_queue=dead), qname("poison")
    bus.publish(queue, {"n": 1, "outbox_id": 17})
    tally = Tally(fail=True)
    # When it consumes the message: nack and requeue, again and again
    stop = consumers(bus, queue, tally)
    try:
        assert wait_until(lambda: bus.depth(dead) == 1, timeout=30.0)
    finally:
        stop.set()
    # Then after the delivery limit (20 returns) the message is in the dead-letter queue, once
    print(f"\npoison message: {tally.calls} deliveries before dead-lettering")
    assert tally.calls == 21
    assert bus.depth(queue) == 0
    method, properties, body = raw_channel(vhost).basic_get(dead, auto_ack=True)
    assert json.loads(body) == {"n": 1, "outbox_id": 17}
    assert properties.headers["x-first-death-reason"] == "delivery_limit"
    assert properties.headers["x-first-death-queue"] == queue


@pytest.mark.rabbitmq
def test_a_queue_left_with_other_arguments_is_a_config_error(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    # Given a classic queue, as the kombu bus would have left it
    queue = qname("classic")
    raw_channel(vhost).queue_declare(queue, durable=True)
    bus = open_bus()
    # Then declaring, publishing and consuming all say which queue and what differs
    with pytest.raises(BusConfigError) as declared:
        bus.declare([queue])
    assert queue in str(declared.value) and "inequivalent arg" in str(declared.value)
    with pytest.raises(BusConfigError):
        bus.publish(queue, {"n": 1})
    started = time.monotonic()
    with pytest.raises(BusConfigError, match="x-dead-letter-exchange|x-queue-type"):
        bus.consume([queue], Tally(), stop=threading.Event())
    assert time.monotonic() - started < 5.0  # raised, not retried in a loop
    # And the other queues of the bus still work
    bus.publish(qname("fine"), {"n": 2})


@pytest.mark.rabbitmq
def test_wrong_credentials_are_a_config_error(vhost: RabbitVhost, qname: QName) -> None:
    bus = PikaBus(vhost.url.replace("guest:guest", "guest:wrong"))
    try:
        with pytest.raises(BusConfigError, match="ACCESS_REFUSED"):
            bus.publish(qname("q"), {"n": 1})
        with pytest.raises(BusConfigError):
            bus.consume([qname("q")], Tally(), stop=threading.Event())
    finally:
        bus.close()


@pytest.mark.rabbitmq
def test_a_consumer_whose_queue_is_deleted_declares_it_again(
    open_bus: Callable[..., PikaBus], vhost: RabbitVhost, qname: QName
) -> None:
    bus, queue = open_bus(backoff_initial=0.05), qname("cancelled")
    bus.publish(queue, {"n": 1})
    tally = Tally()
    with capture_logs() as logs:
        stop = consumers(bus, queue, tally)
        try:
            assert tally.wait_for(1, timeout=10.0)
            raw_channel(vhost).queue_delete(queue)  # the broker cancels the consumer
            assert wait_until(lambda: len(connected(logs)) == 2, timeout=10.0)
            bus.publish(queue, {"n": 2})  # would come back if the queue were still missing
            assert tally.wait_for(2, timeout=10.0)
        finally:
            stop.set()
    cancels = [e for e in logs if e["event"] == "bus.reconnect" and e.get("role") == "consumer"]
    assert "ConsumerCancelled" in cancels[0]["error"]


def connected(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "bus.connected" and e.get("role") == "consumer"]


@pytest.mark.rabbitmq
def test_close_lets_a_publish_under_way_finish(
    open_bus: Callable[..., PikaBus], qname: QName
) -> None:
    bus, queue = open_bus(), qname("closing")
    bus.declare([queue])
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            bus.publish_many([(queue, {"n": n, "pad": PAD}) for n in range(3000)])
            outcome.append(None)
        except BusUnavailable as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    bus.close()
    thread.join(10.0)
    # the batch was confirmed (close waited for it) or failed cleanly; nothing hangs
    assert outcome and time.monotonic() - started < 8.0
    print(f"\nclose during publish_many: {outcome[0]!r}")


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_consumers_reconnect_after_a_broker_restart_and_lose_nothing(
    open_bus: Callable[..., PikaBus], qname: QName
) -> None:
    # Given two consumers (one bus each, as the hub's worker threads) busy on a quorum queue
    options = {"backoff_initial": 0.2, "backoff_max": 2.0, "publish_timeout": 5.0}
    publisher, queue = open_bus(**options), qname("restart")
    first = [(queue, {"n": n}) for n in range(1000)]
    publisher.publish_many(first)
    tally = Tally(delay=0.002)
    stops = [consumers(open_bus(**options), queue, tally) for _ in range(2)]
    confirmed = set(range(1000))
    try:
        assert tally.wait_for(50, timeout=10.0)
        with capture_logs() as logs:
            # When the broker application stops under them, and a publish happens meanwhile
            try:
                rabbitmqctl("stop_app", timeout=120.0)
                started = time.monotonic()
                with pytest.raises(BusUnavailable) as raised:
                    publisher.publish(queue, {"n": -1})
                assert raised.value.retryable
                assert time.monotonic() - started < 5.0 + 1.0  # within publish_timeout
            finally:
                rabbitmqctl("start_app", timeout=180.0)
                rabbitmqctl("await_startup", timeout=180.0)
            # Then the consumers come back by themselves and the bus publishes again
            second = [(queue, {"n": n}) for n in range(1000, 1500)]
            publish_when_back(publisher, second)
            confirmed |= set(range(1000, 1500))
            assert tally.wait_for(len(confirmed), timeout=60.0), sorted(
                confirmed - set(tally.counts)
            )
    finally:
        for stop in stops:
            stop.set()
    reconnects = [e for e in logs if e["event"] == "bus.reconnect" and e.get("role") == "consumer"]
    duplicates = sum(count - 1 for count in tally.counts.values())
    print(
        f"\nbroker restart: {len(confirmed)} confirmed, {tally.calls} handled, {duplicates} twice"
    )
    assert confirmed <= set(tally.counts)  # nothing confirmed was lost
    assert -1 not in tally.counts  # the failed publish was really not published
    assert reconnects


def publish_when_back(bus: PikaBus, items: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish once the broker takes messages again (its listener may open before its queues)."""
    deadline = time.monotonic() + 60.0
    while True:
        try:
            bus.publish_many(items)
            return
        except BusUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_amqp_urls_make_a_pika_bus_without_connecting() -> None:
    bus = create_bus("amqp://guest:guest@127.0.0.1:1//")  # nothing listens on port 1
    assert isinstance(bus, PikaBus)
    assert bus.broker == "amqp://guest@127.0.0.1:1//"  # no password
    bus.close()


def test_only_the_pika_modules_import_pika() -> None:
    importers = sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("hub", "adapters")
        for path in (ROOT / folder).rglob("*.py")
        if any(
            line.lstrip().startswith(("import pika", "from pika"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    )
    assert importers == ["hub/bus/pika_bus.py", "hub/bus/pika_publisher.py"]


def test_importing_the_bus_package_does_not_import_pika() -> None:
    code = "import sys, hub.bus; print('pika' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr
