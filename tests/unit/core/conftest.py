"""A hub on a temporary SQLite ledger with a recording bus, a manual clock and fake channels."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.channels import OutboundNote, Receipt
from hub.clock.now import ManualClock
from hub.core.dispatch import RetryPolicy
from hub.core.hub import Hub
from hub.errors import DeliveryError
from hub.ledger.db import Database
from hub.ledger.migrate import upgrade
from hub.message import CanonicalMessage, Channel
from hub.routing import load_routing_text
from hub.validation import parse_message

ROOT = Path(__file__).resolve().parents[3]
TZ = ZoneInfo("Asia/Shanghai")
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")


class RecordingBus:
    """Keeps what was published; the tests drive the stages themselves."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.depths: dict[str, int] = {}  # what depth() answers; 0 for a queue not listed

    def depth(self, queue: str) -> int | None:
        return self.depths.get(queue, 0)

    def declare(self, queues: object) -> None:
        return None

    def publish(self, queue: str, body: dict[str, Any]) -> None:
        self.published.append((queue, body))

    def publish_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        self.published.extend(items)

    def take(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        chosen = [item for item in self.published if item[0].startswith(prefix)]
        self.published = [item for item in self.published if not item[0].startswith(prefix)]
        return chosen

    def close(self) -> None:
        return None


@dataclass
class FakeChannel:
    """A channel adapter that records notes and fails as told."""

    channel: Channel
    failures: list[DeliveryError] = field(default_factory=list)
    notes: list[OutboundNote] = field(default_factory=list)

    def normalize(self, raw: bytes) -> CanonicalMessage:
        return parse_message(raw)

    async def deliver(self, note: OutboundNote) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.notes.append(note)
        return Receipt(self.channel, reference=f"ok-{len(self.notes)}")

    async def aclose(self) -> None:
        return None


@dataclass
class Rig:
    hub: Hub
    bus: RecordingBus
    clock: ManualClock
    channels: dict[Channel, FakeChannel]
    db: Database

    def push(self, message: CanonicalMessage) -> str:
        accepted = self.hub.accept(message)
        self.drain()
        return accepted.message_id

    def drain(self) -> None:
        """Run routing and delivery jobs until the bus is quiet, then seal the events
        (like the workers and the sealer would)."""
        while self.bus.published:
            queue, body = self.bus.published.pop(0)
            if queue == "hub.route":
                self.hub.handle_route(body["outbox_id"], body["message_id"])
            elif queue.startswith("hub.deliver."):
                self.hub.handle_delivery(body["outbox_id"], body)
        self.hub.seal()

    def tick(self, to: dt.datetime) -> None:
        self.clock.set(to)
        self.hub.tick()
        self.drain()


def message(path_glob: str, **changes: Any) -> CanonicalMessage:
    path = next(iter(sorted((ROOT / "hub" / "samples").glob(path_glob))))
    data = json.loads(path.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return parse_message(json.dumps(data, ensure_ascii=False))


def make_rig(tmp_path: Path, *replacements: tuple[str, str], url: str | None = None) -> Rig:
    text = MINIMAL
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    router = load_routing_text(text).router
    db = Database(url or f"sqlite:///{tmp_path}/hub.db")
    upgrade(db.engine)
    bus = RecordingBus()
    clock = ManualClock(dt.datetime(2026, 9, 30, 16, 0, tzinfo=TZ))
    channels = {c: FakeChannel(c) for c in (Channel.PLATFORM, Channel.PAPER)}
    retry = RetryPolicy(
        tries_per_round=2,
        try_wait_initial=0.01,
        try_wait_max=0.02,
        rounds=2,
        round_wait_initial=60,
        round_wait_max=120,
    )
    hub = Hub(db, router, bus, clock=clock, adapters=channels, retry=retry)  # type: ignore[arg-type]
    return Rig(hub, bus, clock, channels, db)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.hub.close()
    r.db.dispose()
