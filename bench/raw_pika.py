"""Raw pika baseline (not a test): what RabbitMQ and pika do here without the hub's bus around.

For each run, a fresh queue (quorum by default) is declared; a consumer thread
(``BlockingConnection``, ``basic_qos(prefetch)``, manual ack per message) starts; then the main
thread publishes N persistent 1 KiB messages on an async adapter (``SelectConnection`` or
``AsyncioConnection``) in confirm mode, keeping at most ``--window`` messages unconfirmed. Prints,
per run and as the median of the runs: publish/s (first publish to last confirm) and end-to-end
msgs/s (first publish to last ack by the consumer). The queue is deleted after each run.

    .venv/bin/python bench/raw_pika.py [--messages 20000] [--window 100] [--runs 3]
        [--adapter select|asyncio] [--queue-type quorum|classic] [--prefetch 100]
        [--url amqp://guest:guest@127.0.0.1:5672/%2F]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid
from typing import Any

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

BODY = b"x" * 1024
PERSISTENT = pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream")


class Publisher:
    """Publishes ``messages`` bodies with at most ``window`` confirms outstanding."""

    def __init__(self, parameters: Any, queue: str, messages: int, window: int) -> None:
        self.parameters, self.queue = parameters, queue
        self.messages, self.window = messages, window
        self.sent = self.acked = self.nacked = 0
        self.outstanding: set[int] = set()
        self.channel: Any = None
        self.connection: Any = None
        self.started = self.finished = 0.0

    def run(self, adapter: str) -> float:
        """Publish everything; seconds from the first publish to the last confirm."""
        callbacks = {
            "on_open_callback": self._on_open,
            "on_open_error_callback": self._on_error,
            "on_close_callback": self._on_closed,
        }
        if adapter == "asyncio":
            loop = asyncio.new_event_loop()
            self.connection = AsyncioConnection(self.parameters, custom_ioloop=loop, **callbacks)
            loop.run_forever()
            loop.close()
        else:
            self.connection = pika.SelectConnection(self.parameters, **callbacks)
            self.connection.ioloop.start()
        if self.acked + self.nacked < self.messages:
            raise SystemExit(f"only {self.acked} of {self.messages} confirmed")
        return self.finished - self.started

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.confirm_delivery(self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _frame: Any) -> None:
        self.started = time.perf_counter()
        self._fill()

    def _fill(self) -> None:
        while self.sent < self.messages and len(self.outstanding) < self.window:
            self.channel.basic_publish("", self.queue, BODY, PERSISTENT)
            self.sent += 1
            self.outstanding.add(self.sent)  # the delivery tags count from 1

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if method.multiple:
            done = {tag for tag in self.outstanding if tag <= method.delivery_tag}
        else:
            done = {method.delivery_tag} & self.outstanding
        self.outstanding -= done
        if isinstance(method, pika.spec.Basic.Ack):
            self.acked += len(done)
        else:
            self.nacked += len(done)
        if self.acked + self.nacked == self.messages:
            self.finished = time.perf_counter()
            self.connection.close()
        else:
            self._fill()

    def _on_error(self, _connection: Any, error: BaseException) -> None:
        print(f"connection failed: {error!r}")
        self._stop_loop()

    def _on_closed(self, _connection: Any, _reason: BaseException) -> None:
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.connection.ioloop.stop()  # pika's IOLoop or the asyncio loop: both have stop()


class Consumer(threading.Thread):
    """Consumes and acks ``messages`` messages; ``done_at`` is when the last one was acked."""

    def __init__(self, parameters: Any, queue: str, messages: int, prefetch: int) -> None:
        super().__init__(name="raw-consumer", daemon=True)
        self.parameters, self.queue = parameters, queue
        self.messages, self.prefetch = messages, prefetch
        self.seen = 0
        self.done_at = 0.0
        self.ready = threading.Event()

    def run(self) -> None:
        connection = pika.BlockingConnection(self.parameters)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=self.prefetch)
        channel.basic_consume(self.queue, self._on_message)
        self.ready.set()
        deadline = time.monotonic() + 300
        while self.seen < self.messages and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.5)
        connection.close()

    def _on_message(self, channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        channel.basic_ack(method.delivery_tag)
        self.seen += 1
        if self.seen == self.messages:
            self.done_at = time.perf_counter()


def one_run(parameters: Any, args: argparse.Namespace) -> tuple[float, float]:
    """(publish/s, end-to-end msgs/s) of one run on a fresh queue."""
    queue = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = pika.BlockingConnection(parameters)
    admin.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": args.queue_type})
    consumer = Consumer(parameters, queue, args.messages, args.prefetch)
    consumer.start()
    consumer.ready.wait(10)
    publisher = Publisher(parameters, queue, args.messages, args.window)
    publish_seconds = publisher.run(args.adapter)
    consumer.join(300)
    admin.channel().queue_delete(queue)
    admin.close()
    if consumer.seen < args.messages:
        raise SystemExit(f"only {consumer.seen} of {args.messages} messages were consumed")
    if publisher.nacked:
        print(f"  ({publisher.nacked} nacked)")
    end_to_end = consumer.done_at - publisher.started
    return args.messages / publish_seconds, args.messages / end_to_end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=100, help="unconfirmed messages, at most")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--adapter", choices=("select", "asyncio"), default="select")
    parser.add_argument("--queue-type", choices=("quorum", "classic"), default="quorum")
    args = parser.parse_args()
    parameters = pika.URLParameters(args.url)
    print(
        f"raw pika, {args.adapter} adapter, {args.queue_type} queue: {args.messages} persistent"
        f" 1 KiB messages, window {args.window}, prefetch {args.prefetch}"
    )
    results = []
    for run in range(1, args.runs + 1):
        publish, end_to_end = one_run(parameters, args)
        results.append((publish, end_to_end))
        print(f"  run {run}: publish {publish:,.0f}/s, end to end {end_to_end:,.0f} msgs/s")
    publish = statistics.median(r[0] for r in results)
    end_to_end = statistics.median(r[1] for r in results)
    print(f"median of {args.runs}: publish {publish:,.0f}/s, end to end {end_to_end:,.0f} msgs/s")


if __name__ == "__main__":
    main()
