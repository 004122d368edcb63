"""The bus interface every implementation satisfies (checked by ``tests/contract/bus``).

The bus carries notifications, not data: a body is a small JSON object such as
``{"outbox_id": 17, "delivery_id": "D…"}`` and the ledger stays the source of truth. Delivery is
at least once: a handler may see a message twice (after a requeue, a reconnect or a relay
republish) and dedupes through the ledger (the outbox row is leased, then completed).

``Handler`` is called as ``handler(queue, body)``: returning acks the message; raising logs
``bus.handler_failed`` and requeues it (nack with requeue), so it is delivered again. A handler
that can never succeed must settle the outbox row itself and return, or it loops.

``BatchHandler`` (``consume_batches``) is called with the messages that have arrived, up to
``max_batch`` at a time, oldest first: returning acks all of them, raising requeues all of them.
It never waits for a batch to fill: a lone message is handed over at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from hub.bus.errors import BusUnavailable

Body = dict[str, Any]
Handler = Callable[[str, Body], None]
BatchHandler = Callable[[list[tuple[str, Body]]], None]

__all__ = ["BatchHandler", "Body", "Bus", "BusUnavailable", "Handler"]


@runtime_checkable
class Bus(Protocol):
    """A queue-per-name message bus: publish JSON objects, consume them with manual acks."""

    def declare(self, queues: Sequence[str]) -> None:
        """Create the queues if missing; idempotent, never purges."""

    def publish(self, queue: str, body: Body) -> None:
        """Send one message; raises ``BusUnavailable`` (retryable) when the broker is gone.

        Declares ``queue`` on first use. Thread-safe.
        """

    def publish_many(self, items: Sequence[tuple[str, Body]]) -> None:
        """Send several messages, in order, batched where the transport can."""

    def consume(
        self,
        queues: Sequence[str],
        handler: Handler,
        *,
        stop: threading.Event,
        prefetch: int = 16,
        idle_timeout: float = 0.5,
    ) -> None:
        """Deliver messages from ``queues`` to ``handler`` until ``stop`` is set.

        Blocks the calling thread; returns within about ``idle_timeout`` seconds of
        ``stop.set()`` (plus the running handler). Reconnects with exponential backoff and
        jitter when the connection is lost. Several ``consume`` calls, from several threads or
        processes, compete for the messages of a shared queue.
        """

    def consume_batches(
        self,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 32,
        idle_timeout: float = 0.5,
    ) -> None:
        """Like ``consume``, but hands ``handler`` every message already arrived, up to
        ``max_batch`` at once; the prefetch is ``2 * max_batch``."""

    def depth(self, queue: str) -> int | None:
        """Messages ready in ``queue`` (not those being handled); None if it cannot tell."""

    def close(self) -> None:
        """Release connections; publishing afterwards raises ``BusUnavailable``."""
