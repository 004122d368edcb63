"""A bus for one-shot hubs (CLI commands): it publishes nothing and hands the work over.

A command such as ``hub quarantine replay`` builds its own :class:`~hub.core.hub.Hub` to reuse
the hub's accept and routing code. That hub's fast path publishes the jobs it commits; the
running hub's workers are in another process, and with the default in-process broker
(``memory://``) a publish from here would reach nobody. So ``HandoffBus`` only notes the outbox
ids, and :func:`hand_over` clears their ``published_at``: the running hub's relay then
publishes them on its next pass (every ``relay_interval``, 0.5 s by default) instead of waiting
``redeliver_after`` (30 s) for a "lost" fast-path publish. With no hub running, the rows wait
in the outbox until one starts. Nothing is lost either way: the outbox is the source of truth.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update

from hub.ledger.db import Database
from hub.ledger.schema import OutboxRow


class HandoffBus:
    """Satisfies ``hub.bus.base.Bus``; keeps the outbox ids of what it was asked to publish."""

    def __init__(self) -> None:
        self.outbox_ids: list[int] = []

    def declare(self, queues: Sequence[str]) -> None:
        return None

    def publish(self, queue: str, body: dict[str, Any]) -> None:
        self.publish_many([(queue, body)])

    def publish_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.outbox_ids.extend(int(body["outbox_id"]) for _, body in items if "outbox_id" in body)

    def consume(
        self,
        queues: Sequence[str],
        handler: Any,
        *,
        stop: threading.Event,
        prefetch: int = 16,
        idle_timeout: float = 0.5,
    ) -> None:
        raise NotImplementedError("HandoffBus only hands jobs over; it never consumes")

    def consume_batches(
        self,
        queues: Sequence[str],
        handler: Any,
        *,
        stop: threading.Event,
        max_batch: int = 32,
        idle_timeout: float = 0.5,
    ) -> None:
        raise NotImplementedError("HandoffBus only hands jobs over; it never consumes")

    def depth(self, queue: str) -> int | None:
        return None

    def close(self) -> None:
        return None


def hand_over(db: Database, bus: HandoffBus) -> int:
    """Mark the jobs ``bus`` saw as unpublished, for the running hub's relay; returns how many."""
    ids, bus.outbox_ids = bus.outbox_ids, []
    if not ids:
        return 0
    with db.transaction() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.done_at.is_(None))
            .values(published_at=None)
        )
    return len(ids)
