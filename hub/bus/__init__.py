"""The message bus: notifications between the hub's parts, at least once, fast, small.

The ledger (database) is the source of truth; a bus message only says "there is work", as a
small JSON object like ``{"outbox_id": 17, "delivery_id": "D…"}``. Consumers dedupe through the
ledger (an outbox row is leased, then completed), so the bus may deliver twice, and the in-process
transport may lose what was in flight when the process dies: the outbox relay republishes.

Features: ``declare`` / ``publish`` / ``publish_many`` / ``consume`` (blocking, manual ack,
requeue when the handler raises, reconnect with exponential backoff and jitter) / ``depth`` /
``close`` — the ``Bus`` protocol in ``hub.bus.base``; ``StubBus`` for unit tests; one contract
suite (``tests/contract/bus``) that every implementation passes.

URL forms (``HUB_BROKER_URL``, default ``memory://``):

* ``memory://`` — kombu's in-process transport; every bus of the process shares its queues;
* ``redis://HOST:6379/0``, ``rediss://…`` — kombu on Redis;
* ``sqla+sqlite:///var/bus.db``, ``sqla+postgresql://…`` — kombu on a database table;
* ``amqp://USER:PASS@HOST:5672/VHOST``, ``amqps://…`` — ``PikaBus`` (``hub.bus.pika_bus``):
  RabbitMQ with pipelined publisher confirms and quorum queues;
* ``pyamqp://USER:PASS@HOST:5672/VHOST`` — kombu on RabbitMQ via py-amqp;
* any other kombu transport alias (``filesystem``, ``sqs``, …), untested here.

Topology: the queue names live in ``hub.bus.topology`` (``hub.ingest``, ``hub.route``,
``hub.deliver.<channel>``, ``hub.timers``, ``hub.dead``). Delayed retry is the outbox's job.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import cast

from hub.bus.base import Body, Bus, Handler
from hub.bus.errors import BusConfigError, BusError, BusMessageError, BusUnavailable
from hub.bus.stub import StubBus

ENV_VAR = "HUB_BROKER_URL"
DEFAULT_URL = "memory://"

_KOMBU = "hub.bus.kombu_bus:KombuBus"
# kombu transport aliases (kombu.transport.TRANSPORT_ALIASES, lower-case); a URL's scheme is
# looked up by the part before any "+" ("sqla+sqlite" -> "sqla").
KOMBU_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "sentinel",
    "amqp",
    "amqps",
    "pyamqp",
    "librabbitmq",
    "sqla",
    "sqlalchemy",
    "filesystem",
    "mongodb",
    "sqs",
    "slmq",
    "zookeeper",
    "consul",
    "etcd",
    "qpid",
    "pyro",
    "kafka",
    "confluentkafka",
    "azureservicebus",
    "azurestoragequeues",
    "gcpubsub",
    "pgmq",
)

#: URL scheme -> "module:Class", imported only when a bus of that kind is created.
BACKENDS: dict[str, str] = {scheme: _KOMBU for scheme in KOMBU_SCHEMES}
# RabbitMQ is served by the pika implementation; kombu keeps its own "pyamqp" alias for it.
BACKENDS["amqp"] = BACKENDS["amqps"] = "hub.bus.pika_bus:PikaBus"

__all__ = [
    "BACKENDS",
    "DEFAULT_URL",
    "ENV_VAR",
    "KOMBU_SCHEMES",
    "Body",
    "Bus",
    "BusConfigError",
    "BusError",
    "BusMessageError",
    "BusUnavailable",
    "Handler",
    "StubBus",
    "backend_for",
    "create_bus",
]


def backend_for(url: str, *, source: str = "the broker URL") -> str:
    """The ``"module:Class"`` serving ``url``; ``BusConfigError`` (with "did you mean") if none."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise BusConfigError(
            f'{source} must look like "SCHEME://…" (e.g. {DEFAULT_URL}, redis://127.0.0.1:6379/0)'
        )
    alias = scheme.lower().partition("+")[0]
    try:
        return BACKENDS[alias]
    except KeyError:
        raise BusConfigError.unknown_scheme(alias, BACKENDS, source=source) from None


def create_bus(url: str | None = None) -> Bus:
    """A bus for ``url``, or for ``$HUB_BROKER_URL``, or ``memory://``."""
    source = "the broker URL"
    if url is None:
        url = os.environ.get(ENV_VAR) or DEFAULT_URL
        source = ENV_VAR
    factory = _load(backend_for(url, source=source))
    return factory(url)


def _load(path: str) -> Callable[[str], Bus]:
    module_name, _, attribute = path.partition(":")
    return cast(Callable[[str], Bus], getattr(importlib.import_module(module_name), attribute))
