"""The hub's worker threads: bus consumers, the outbox relay and the deadline engine.

Each consumer thread has its own bus connection (``bus_factory``); handlers never let an error
reach the bus: a failed job stays in the outbox and the relay offers it again after its lease.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from hub.bus.base import Bus
from hub.bus.topology import ALL_QUEUES, ROUTE, deliver_queue
from hub.core.hub import Hub
from hub.message import Channel

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RuntimeConfig:
    relay_interval: float = 0.5
    tick_interval: float = 1.0
    redeliver_after: float = 30.0
    recompute_interval: float = 3600.0
    route_workers: int = 1
    deliver_workers: int = 2


class HubRuntime:
    """Starts and stops every background loop of one hub process."""

    def __init__(
        self, hub: Hub, bus_factory: Callable[[], Bus], config: RuntimeConfig | None = None
    ) -> None:
        self.hub, self.bus_factory = hub, bus_factory
        self.config = config or RuntimeConfig()
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.buses: list[Bus] = []

    def start(self) -> None:
        self.hub.bus.declare(ALL_QUEUES)
        deliver = [deliver_queue(c.value) for c in Channel]
        for i in range(self.config.route_workers):
            self._consumer(f"route-{i}", [ROUTE], self._on_route)
        for i in range(self.config.deliver_workers):
            self._consumer(f"deliver-{i}", deliver, self._on_deliver)
        self._loop("relay", self.config.relay_interval, self._relay)
        self._loop("deadlines", self.config.tick_interval, self._tick)
        self._loop("recompute", self.config.recompute_interval, self.hub.recompute_provisional)
        log.info("hub.started", threads=len(self.threads))

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        for bus in self.buses:
            bus.close()
        log.info("hub.stopped")

    def _consumer(
        self, name: str, queues: list[str], handler: Callable[[str, dict[str, Any]], None]
    ) -> None:
        bus = self.bus_factory()
        self.buses.append(bus)

        def run() -> None:
            bus.consume(queues, _guarded(name, handler), stop=self.stop_event)

        self._thread(name, run)

    def _loop(self, name: str, interval: float, step: Callable[[], object]) -> None:
        def run() -> None:
            while not self.stop_event.is_set():
                try:
                    busy = step()
                except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
                    log.exception("worker.failed", worker=name)
                    busy = 0
                if not busy:
                    self.stop_event.wait(interval)

        self._thread(name, run)

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"hub-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def _on_route(self, _queue: str, body: dict[str, Any]) -> None:
        self.hub.handle_route(body.get("outbox_id"), str(body["message_id"]))

    def _on_deliver(self, _queue: str, body: dict[str, Any]) -> None:
        self.hub.handle_delivery(int(body["outbox_id"]), body)

    def _relay(self) -> int:
        return self.hub.relay(redeliver_after=self.config.redeliver_after)

    def _tick(self) -> int:
        return self.hub.tick()


def _guarded(
    name: str, handler: Callable[[str, dict[str, Any]], None]
) -> Callable[[str, dict[str, Any]], None]:
    def run(queue: str, body: dict[str, Any]) -> None:
        try:
            handler(queue, body)
        except Exception:  # noqa: BLE001 - the outbox keeps the job; the relay offers it again
            log.exception(
                "worker.failed", worker=name, queue=queue, outbox_id=body.get("outbox_id")
            )

    return run
