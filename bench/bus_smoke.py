"""Bus throughput smoke check (not a test): publish + consume 10,000 small messages.

For each implementation, a consumer thread runs while the main thread publishes 10,000 bodies
like ``{"outbox_id": n, "delivery_id": "D…"}`` one ``publish`` at a time; the run ends when the
handler has seen them all. Prints the median of 3 runs of: the publishing time, the end-to-end
time and messages per second. ``--redis URL`` adds kombu on Redis.

    .venv/bin/python bench/bus_smoke.py [--messages 10000] [--runs 3] [--redis redis://…/15]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from hub.bus import Bus, StubBus
from hub.bus.kombu_bus import KombuBus


def one_run(bus: Bus, messages: int) -> tuple[float, float]:
    """(seconds to publish, seconds until the last message was handled)."""
    queue = f"bench.{uuid.uuid4().hex[:8]}"
    bus.declare([queue])
    seen = 0
    done = threading.Event()

    def handler(_queue: str, _body: dict[str, Any]) -> None:
        nonlocal seen
        seen += 1
        if seen == messages:
            done.set()

    stop = threading.Event()
    consumer = threading.Thread(target=bus.consume, args=([queue], handler), kwargs={"stop": stop})
    consumer.start()
    started = time.perf_counter()
    for n in range(messages):
        bus.publish(queue, {"outbox_id": n, "delivery_id": f"D{n:08d}"})
    published = time.perf_counter() - started
    if not done.wait(120):
        raise SystemExit(f"only {seen} of {messages} messages arrived")
    total = time.perf_counter() - started
    stop.set()
    consumer.join()
    return published, total


def measure(name: str, make: Callable[[], Bus], messages: int, runs: int) -> None:
    bus = make()
    results = [one_run(bus, messages) for _ in range(runs)]
    bus.close()
    publish = statistics.median(r[0] for r in results)
    total = statistics.median(r[1] for r in results)
    print(
        f"{name:<14} publish {publish:6.2f} s   publish+consume {total:6.2f} s   "
        f"{messages / total:9,.0f} msg/s   (median of {runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", metavar="URL", help="also measure kombu on this Redis")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    makers: dict[str, Callable[[], Bus]] = {
        "stub": StubBus,
        "kombu-memory": lambda: KombuBus("memory://"),
    }
    if args.redis:
        makers["kombu-redis"] = lambda: KombuBus(args.redis)
    for name, make in makers.items():
        measure(name, make, args.messages, args.runs)


if __name__ == "__main__":
    main()
