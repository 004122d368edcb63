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
from hub.core.relay import RelayPolicy
from hub.message import Channel

log = structlog.get_logger(__name__)
RELAY_LIMIT = RelayPolicy().limit
TICK_LIMIT = 200  # Hub.tick's default
SEAL_LIMIT = 2000  # Hub.seal's default


@dataclass(frozen=True)
class RuntimeConfig:
    relay_interval: float = 0.5
    seal_interval: float = 0.2
    tick_interval: float = 1.0
    redeliver_after: float = 30.0
    max_job_attempts: int = 10  # leases without completing before the relay quarantines a job
    recompute_interval: float = 3600.0
    route_workers: int = 1  # each takes batches: more threads in one process cost more than they
    deliver_workers: int = 2  # give (measured); run more processes instead
    route_batch: int = 64
    deliver_batch: int = 32


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
            self._batch_consumer(f"route-{i}", [ROUTE], self._on_routes, self.config.route_batch)
        for i in range(self.config.deliver_workers):
            self._batch_consumer(
                f"deliver-{i}", deliver, self._on_deliveries, self.config.deliver_batch
            )
        # each loop goes straight on only after a full pass (a backlog); a trickle of work
        # waits for the interval and is done in one pass, not one transaction per few rows
        self._loop("relay", self.config.relay_interval, lambda: self._relay() >= RELAY_LIMIT)
        self._loop("deadlines", self.config.tick_interval, lambda: self._tick() >= TICK_LIMIT)
        self._loop("sealer", self.config.seal_interval, lambda: self.hub.seal() >= SEAL_LIMIT)
        self._loop("recompute", self.config.recompute_interval, self.hub.recompute_provisional)
        log.info("hub.started", threads=len(self.threads))

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        try:
            while self.hub.seal():  # leave the chain sealed up to the last event
                pass
        except Exception:  # noqa: BLE001 - the next start seals what is left
            log.exception("worker.failed", worker="sealer")
        for bus in self.buses:
            bus.close()
        log.info("hub.stopped")

    def _batch_consumer(
        self,
        name: str,
        queues: list[str],
        handler: Callable[[list[tuple[str, dict[str, Any]]]], None],
        max_batch: int,
    ) -> None:
        bus = self.bus_factory()
        self.buses.append(bus)

        def run() -> None:
            bus.consume_batches(
                queues, _guarded_batch(name, handler), stop=self.stop_event, max_batch=max_batch
            )

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

    def _on_routes(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        jobs = []
        for queue, body in items:
            outbox_id, message_id = body.get("outbox_id"), body.get("message_id")
            if not isinstance(message_id, str) or not isinstance(outbox_id, int | None):
                log.error("worker.bad_job", queue=queue, body=str(body)[:200])
                continue
            jobs.append((outbox_id, message_id))
        self.hub.handle_route_batch(jobs)

    def _on_deliveries(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        jobs = []
        for queue, body in items:
            if not isinstance(body.get("outbox_id"), int):
                log.error("worker.bad_job", queue=queue, body=str(body)[:200])
                continue
            jobs.append((int(body["outbox_id"]), body))
        self.hub.handle_delivery_batch(jobs)

    def _relay(self) -> int:
        policy = RelayPolicy(
            redeliver_after=self.config.redeliver_after, max_attempts=self.config.max_job_attempts
        )
        return self.hub.relay(policy)

    def _tick(self) -> int:
        return self.hub.tick()


def _guarded_batch(
    name: str, handler: Callable[[list[tuple[str, dict[str, Any]]]], None]
) -> Callable[[list[tuple[str, dict[str, Any]]]], None]:
    def run(items: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            handler(items)
        except Exception:  # noqa: BLE001 - the outbox keeps the jobs; the relay offers them again
            log.exception(
                "worker.failed",
                worker=name,
                jobs=len(items),
                outbox_ids=[body.get("outbox_id") for _queue, body in items][:20],
            )

    return run
