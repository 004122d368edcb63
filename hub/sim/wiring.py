"""How ``hub simulate`` wires the real hub to its loopback world: the retry policy from the
behaviour file, platform endpoints pointed at the loopback departments, the API on uvicorn,
and the bus drained through its own consumer."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from hub.bus.stub import StubBus
from hub.core.dispatch import RetryPolicy
from hub.routing import LoadedRouting
from hub.routing.model import PlatformAddress, RoutingConfig
from hub.routing.router import Router
from hub.sim.behaviour import Behaviour, seconds


def retry_policy(behaviour: Behaviour) -> RetryPolicy:
    """The hub's retry policy with the behaviour file's settings laid over it."""
    settings = behaviour.retry
    overrides: dict[str, Any] = {"tries_per_round": settings.tries_per_round}
    if settings.rounds is not None:
        overrides["rounds"] = settings.rounds
    if settings.round_wait_initial is not None:
        overrides["round_wait_initial"] = seconds(settings.round_wait_initial)
    if settings.round_wait_max is not None:
        overrides["round_wait_max"] = seconds(settings.round_wait_max)
    return dataclasses.replace(RetryPolicy(), **overrides)


def with_endpoints(loaded: LoadedRouting, urls: dict[str, str]) -> LoadedRouting:
    """The routing config with every platform endpoint pointed at the loopback departments."""
    departments = []
    for dept in loaded.config.departments:
        if dept.channels.platform is not None and dept.id in urls:
            address = PlatformAddress(endpoint=urls[dept.id])
            dept = dept.model_copy(
                update={"channels": dept.channels.model_copy(update={"platform": address})}
            )
        departments.append(dept)
    config: RoutingConfig = loaded.config.model_copy(update={"departments": tuple(departments)})
    return LoadedRouting(config, Router(config), loaded.warnings, loaded.file)


def take(bus: StubBus, queues: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every message waiting in ``queues``, taken (and acked) through the bus's own consumer."""
    if not any(bus.depth(q) for q in queues):
        return []
    got: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()

    def handler(items: list[tuple[str, dict[str, Any]]]) -> None:
        got.extend(items)
        if not any(bus.depth(q) for q in queues):
            stop.set()

    bus.consume_batches(queues, handler, stop=stop, max_batch=1000, idle_timeout=0.01)
    return got


def sender_of(raw: bytes) -> str | None:
    try:
        data = json.loads(raw)
        return str(data["sender"]["department_id"])
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the hub API did not start (模拟用 API 未能启动)")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
