"""The ``bus`` fixture: every contract test runs once per implementation.

Params: ``stub`` (``StubBus``), ``kombu-memory`` (``KombuBus("memory://")``), ``kombu-redis``
(``KombuBus`` on the Redis at ``$HUB_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/15``) and
``pika-rabbitmq`` (``PikaBus`` on the RabbitMQ at 127.0.0.1:5672, guest/guest, in a vhost
``hub_test_<random>`` made with ``rabbitmqctl`` for the session and deleted after it). Real
servers are skipped locally when down and failed in CI.

Each test gets its own queue names (``qname("x")`` -> ``test.<token>.x``); the Redis keys of a
test are deleted afterwards; RabbitMQ's go with the session's vhost.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from hub.bus import Bus, StubBus
from hub.bus.kombu_bus import KombuBus, KombuBusOptions
from hub.bus.pika_bus import PikaBus
from tests.support.rabbitmq import RABBIT_HOST, RABBIT_PORT, RabbitVhost

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@dataclass
class Backend:
    """One implementation under test: how to open buses on one broker, how to hurt it."""

    id: str
    token: str  # unique per test, part of every queue name
    open: Callable[[], Bus]  # another bus on the same broker (stub: the same instance)
    break_connections: Callable[[], None] | None = None  # drop every client connection
    unreachable: Callable[[], Bus] | None = None  # a bus whose broker does not answer
    cleanup: Callable[[], None] | None = None


def _stub(token: str) -> Backend:
    stub = StubBus()
    return Backend("stub", token, open=lambda: stub)


def _kombu_memory(token: str) -> Backend:
    return Backend("kombu-memory", token, open=lambda: KombuBus("memory://"))


def _kombu_redis(token: str, require_server: Callable[[str, str, int], None]) -> Backend:
    parts = urlsplit(REDIS_URL)
    require_server("Redis", parts.hostname or "127.0.0.1", parts.port or 6379)
    import redis  # the kombu redis transport's client library

    admin: Any = redis.Redis.from_url(REDIS_URL)
    name = f"hub-test-{token}"  # CLIENT SETNAME of this test's connections, to kill only them
    options = KombuBusOptions(transport_options={"client_name": name})

    def cleanup() -> None:
        keys = list(admin.scan_iter(match=f"*{token}*", count=1000))
        if keys:
            admin.delete(*keys)
        admin.close()

    def break_connections() -> None:
        for client in admin.client_list():
            if client.get("name") == name:
                admin.client_kill_filter(_id=client["id"])

    return Backend(
        "kombu-redis",
        token,
        open=lambda: KombuBus(REDIS_URL, options),
        break_connections=break_connections,
        unreachable=lambda: KombuBus("redis://127.0.0.1:1/0"),  # port 1: connection refused
        cleanup=cleanup,
    )


@pytest.fixture(scope="session")
def rabbit_vhost(require_server: Callable[[str, str, int], None]) -> Iterator[RabbitVhost]:
    """This session's RabbitMQ vhost; created on first use, deleted at the end."""
    require_server("RabbitMQ", RABBIT_HOST, RABBIT_PORT)
    vhost = RabbitVhost.create()
    yield vhost
    vhost.delete()


def _pika_rabbitmq(token: str, vhost: RabbitVhost) -> Backend:
    return Backend(
        "pika-rabbitmq",
        token,
        open=lambda: PikaBus(vhost.url),
        break_connections=vhost.close_connections,
        unreachable=lambda: PikaBus("amqp://guest:guest@127.0.0.1:1/%2F"),  # port 1: refused
    )  # no cleanup: the session's vhost goes, with every queue in it


#: What each implementation can be tested for beyond the common contract. A case marked
#: ``@pytest.mark.bus_capability(NAME)`` runs only on the implementations that have NAME; for the
#: others it is deselected at collection (not skipped: nothing is missing, it does not apply).
CAPABILITIES: dict[str, frozenset[str]] = {
    "stub": frozenset(),
    "kombu-memory": frozenset({"peer"}),
    "kombu-redis": frozenset({"peer", "break_connections", "unreachable"}),
    "pika-rabbitmq": frozenset({"peer", "break_connections", "unreachable"}),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("bus_capability")
        params = getattr(item, "callspec", None)
        backend = params.params.get("backend") if params is not None else None
        if (
            marker is not None
            and backend in CAPABILITIES
            and (marker.args[0] not in CAPABILITIES[backend])
        ):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(
    params=[
        "stub",
        "kombu-memory",
        pytest.param("kombu-redis", marks=pytest.mark.redis),
        pytest.param("pika-rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
def backend(
    request: pytest.FixtureRequest, require_server: Callable[[str, str, int], None]
) -> Iterator[Backend]:
    token = uuid.uuid4().hex[:12]
    if request.param == "stub":
        made = _stub(token)
    elif request.param == "kombu-memory":
        made = _kombu_memory(token)
    elif request.param == "pika-rabbitmq":
        made = _pika_rabbitmq(token, request.getfixturevalue("rabbit_vhost"))
    else:
        made = _kombu_redis(token, require_server)
    yield made
    if made.cleanup is not None:
        made.cleanup()


@pytest.fixture
def bus(backend: Backend) -> Iterator[Bus]:
    opened = backend.open()
    yield opened
    opened.close()


@pytest.fixture
def qname(backend: Backend) -> Callable[[str], str]:
    """Queue names private to this test: ``qname("a")`` -> ``test.<token>.a``."""
    return lambda suffix: f"test.{backend.token}.{suffix}"
