"""``KombuBus``: the bus on kombu, the only module of the hub that imports kombu.

Features
========
* one publishing ``kombu.Connection`` per bus with one producer behind a lock: any number of
  threads may publish; ``publish_many`` uses kombu's producer batches (a Redis pipeline);
* JSON bodies; persistent delivery mode where the broker persists; publisher confirms on AMQP;
* every queue is durable and bound to the default exchange (routing key = queue name), and is
  declared on first publish, so a message is never sent to a queue that does not exist;
* ``consume`` opens its own connection (kombu connections are not thread-safe), one
  ``kombu.Consumer`` per queue on one channel with ``prefetch`` as QoS, acks after the handler
  returns and requeues when it raises; connection loss is retried with tenacity (exponential
  backoff with jitter, interruptible by ``stop``) and logged as ``bus.reconnect``;
* ``recoverable_errors`` names the transport's connection and channel errors; they become
  ``BusUnavailable`` after ``KombuBusOptions.publish_retries`` reconnect attempts.

URL forms
=========
``memory://`` (in-process), ``redis://[:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://…``,
``sqla+sqlite:///var/hub-bus.db``, ``sqla+postgresql://…``, ``amqp://USER:PASS@HOST:5672/VHOST``
(py-amqp; ``pyamqp://`` is the same), any other kombu transport alias.

The memory transport
====================
Its queues live in a class attribute, so every ``KombuBus("memory://")`` of a process shares them:
that is how the in-process hub's API thread and worker threads talk. It keeps nothing across a
restart and loses messages being handled when the process dies (the outbox relay republishes).
Consumers poll: this module sets ``polling_interval`` to 10 ms (kombu's default is 1 s). A
requeued message goes to the tail of its queue. Queue creation is a check-then-set on a shared
dict, so this module serializes its declarations with a process-wide lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from kombu import connection as kombu_connection
from kombu import entity as kombu_entity
from kombu import messaging as kombu_messaging
from kombu.exceptions import BatchPublishError, EncodeError, OperationalError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)
from tenacity.wait import wait_base

from hub.backoff import backoff_wait
from hub.bus.base import BatchHandler, Body, Handler
from hub.bus.errors import BusConfigError, BusMessageError, BusUnavailable

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")

# kombu ships py.typed but leaves its constructors unannotated: use them as Any, checked by tests.
Connection: Any = kombu_connection.Connection
Consumer: Any = kombu_messaging.Consumer
Producer: Any = kombu_messaging.Producer
Exchange: Any = kombu_entity.Exchange
Queue: Any = kombu_entity.Queue

PERSISTENT = 2
_DEFAULT_EXCHANGE = Exchange("")
# kombu's memory transport creates queues with a check-then-set on a class-level dict.
_DECLARE_LOCK = threading.Lock()
_CallbackFor = Callable[[str], Callable[[Any, Any], None]]  # queue name -> message callback
_TRANSPORT_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "memory": {"polling_interval": 0.01},
    "redis": {"socket_timeout": 10.0, "socket_connect_timeout": 5.0},
    "rediss": {"socket_timeout": 10.0, "socket_connect_timeout": 5.0},
    # publisher confirms: publish() returns once RabbitMQ has the message (at least once)
    **{scheme: {"confirm_publish": True} for scheme in ("amqp", "amqps", "pyamqp")},
}


@dataclass(frozen=True)
class KombuBusOptions:
    """Tuning for ``KombuBus``; the defaults suit the hub."""

    connect_timeout: float = 5.0
    publish_retries: int = 2  # reconnect-and-retry rounds before BusUnavailable
    backoff_initial: float = 0.2  # seconds; doubles per failed reconnect, plus jitter
    backoff_max: float = 10.0
    transport_options: Mapping[str, Any] = field(default_factory=dict)  # over the defaults

    def __post_init__(self) -> None:
        if self.publish_retries < 1 or self.backoff_initial <= 0 or self.connect_timeout <= 0:
            raise ValueError(f"publish_retries must be >= 1 and times > 0: {self}")


class KombuBus:
    """The hub's bus on any kombu transport (see the module docstring)."""

    def __init__(self, url: str, options: KombuBusOptions | None = None) -> None:
        self.url = url
        self._options = options or KombuBusOptions()
        self._conn = _connection(url, self._options)
        self.broker: str = self._conn.as_uri()  # password masked: safe to log
        self.recoverable_errors: tuple[type[BaseException], ...] = (
            *self._conn.connection_errors,
            *self._conn.channel_errors,
            OperationalError,
            BatchPublishError,
        )
        self._lock = threading.RLock()
        self._producer: Any = None
        self._declared: set[str] = set()
        self._closed = False

    # -- publishing side: one connection, one producer, one lock ------------------------------

    def declare(self, queues: Sequence[str]) -> None:
        names = list(queues)
        self._call(lambda: self._declare(names))

    def publish(self, queue: str, body: Body) -> None:
        self._call(lambda: self._send([(queue, body)]))

    def publish_many(self, items: Sequence[tuple[str, Body]]) -> None:
        batch = list(items)
        if batch:
            self._call(lambda: self._send(batch))

    def depth(self, queue: str) -> int | None:
        return self._call(lambda: self._depth(queue))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._producer = None
            _close_quietly(self._conn)

    def _call(self, operation: Callable[[], _T]) -> _T:
        with self._lock:
            if self._closed:
                raise BusUnavailable("the bus is closed")
            try:
                return operation()
            except self.recoverable_errors as exc:
                self._reset(exc, failures=1)
            retrying = Retrying(
                retry=retry_if_exception_type(self.recoverable_errors),
                stop=stop_after_attempt(self._options.publish_retries),
                wait=self._backoff(),
                before_sleep=self._on_publish_retry,
                reraise=True,
            )
            try:
                return retrying(operation)
            except self.recoverable_errors as exc:
                raise BusUnavailable(f"broker {self.broker} unavailable: {_describe(exc)}") from exc

    def _on_publish_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self._reset(exc, failures=state.attempt_number + 1)

    def _reset(self, exc: BaseException | None, *, failures: int) -> None:
        _log.warning(
            "bus.reconnect",
            role="publisher",
            broker=self.broker,
            failures=failures,
            error=_describe(exc),
        )
        self._producer = None
        self._declared.clear()
        with suppress(Exception):
            self._conn.collect()

    def _producer_or_new(self) -> Any:
        if self._producer is None:
            self._conn.ensure_connection(max_retries=0)
            self._producer = Producer(
                self._conn.default_channel, serializer="json", auto_declare=False
            )
            _log.info("bus.connected", role="publisher", broker=self.broker)
        return self._producer

    def _declare(self, names: Sequence[str]) -> None:
        channel = self._producer_or_new().channel
        with _DECLARE_LOCK:
            for name in names:
                _queue(name).declare(channel=channel)
        self._declared.update(names)

    def _send(self, items: Sequence[tuple[str, Body]]) -> None:
        producer = self._producer_or_new()
        missing = {name for name, _ in items} - self._declared
        if missing:
            self._declare(sorted(missing))
        if len(items) == 1:
            _publish(producer, *items[0])
            return
        with producer.batch():
            for name, body in items:
                _publish(producer, name, body)

    def _depth(self, queue: str) -> int | None:
        channel = self._producer_or_new().channel
        size = getattr(channel, "_size", None)  # kombu's virtual transports: memory, redis, sqla
        if size is not None:
            with _DECLARE_LOCK:
                return int(size(queue))
        return self._passive_depth(queue)

    def _passive_depth(self, queue: str) -> int | None:
        channel = self._conn.channel()  # a failed passive declare closes its channel on AMQP
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except self._conn.channel_errors:
            return None
        finally:
            with suppress(Exception):
                channel.close()

    # -- consuming side: a connection per consume() call ---------------------------------------

    def consume(
        self,
        queues: Sequence[str],
        handler: Handler,
        *,
        stop: threading.Event,
        prefetch: int = 16,
        idle_timeout: float = 0.5,
    ) -> None:
        self._consume_loop(
            list(queues),
            lambda name: _on_message(name, handler),
            prefetch,
            stop,
            lambda connection: self._serve(connection, stop, idle_timeout),
        )

    def consume_batches(
        self,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 32,
        idle_timeout: float = 0.5,
    ) -> None:
        names = list(queues)
        arrived: list[tuple[str, Body, Any]] = []

        def serve(connection: Any) -> None:
            try:
                while not stop.is_set() and not self._closed:
                    self._gather(connection, arrived, max_batch, idle_timeout)
                    while arrived:
                        batch = arrived[:max_batch]
                        del arrived[:max_batch]
                        _run_batch(batch, handler, names)
            finally:
                arrived.clear()  # unacked messages of a lost connection come back from the broker

        self._consume_loop(names, lambda name: _collect(name, arrived), 2 * max_batch, stop, serve)

    def _consume_loop(
        self,
        names: list[str],
        callbacks: _CallbackFor,
        prefetch: int,
        stop: threading.Event,
        serve: Callable[[Any], None],
    ) -> None:
        """Connect, ``serve`` the connection, and on a lost connection reconnect, until ``stop``."""
        while not stop.is_set() and not self._closed:
            connection = self._open_session(names, callbacks, prefetch, stop)
            if connection is None:
                return
            try:
                serve(connection)
            except self.recoverable_errors as exc:
                _log.warning(
                    "bus.reconnect",
                    role="consumer",
                    phase="serving",
                    broker=self.broker,
                    queues=names,
                    error=_describe(exc),
                )
                stop.wait(self._options.backoff_initial)
            finally:
                _close_quietly(connection)

    def _gather(
        self, connection: Any, arrived: list[Any], max_batch: int, idle_timeout: float
    ) -> None:
        """Wait up to ``idle_timeout`` for a message, then take what else is already there."""
        try:
            connection.drain_events(timeout=idle_timeout)
        except TimeoutError:
            connection.heartbeat_check()
            return
        while len(arrived) < max_batch:
            try:  # not 0: the Redis transport raises at once for 0, fetching nothing
                connection.drain_events(timeout=0.001)
            except TimeoutError:
                return

    def _open_session(
        self,
        names: list[str],
        callbacks: _CallbackFor,
        prefetch: int,
        stop: threading.Event,
    ) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(self.recoverable_errors),
            stop=lambda _state: stop.is_set() or self._closed,
            wait=self._backoff(),
            sleep=lambda seconds: _pause(stop, seconds),
            before_sleep=lambda state: _log_consumer_retry(state, self.broker, names),
            retry_error_callback=lambda _state: None,
        )
        return retrying(self._connect_consumers, names, callbacks, prefetch)

    def _connect_consumers(self, names: list[str], callbacks: _CallbackFor, prefetch: int) -> Any:
        """A new connection consuming ``names`` (its channel keeps the consumers alive);
        ``callbacks(name)`` is the message callback of queue ``name``."""
        connection = self._conn.clone()
        try:
            connection.ensure_connection(max_retries=0)
            channel = connection.channel()
            with _DECLARE_LOCK:
                for name in names:
                    _consume(channel, name, callbacks(name), prefetch)
        except BaseException:
            _close_quietly(connection)
            raise
        _log.info("bus.connected", role="consumer", broker=self.broker, queues=names)
        return connection

    def _serve(self, connection: Any, stop: threading.Event, idle_timeout: float) -> None:
        while not stop.is_set() and not self._closed:
            try:
                connection.drain_events(timeout=idle_timeout)
            except TimeoutError:  # kombu raises socket.timeout, an alias
                connection.heartbeat_check()

    def _backoff(self) -> wait_base:
        return backoff_wait(self._options.backoff_initial, self._options.backoff_max)


def _connection(url: str, options: KombuBusOptions) -> Any:
    scheme = url.split("://", 1)[0].lower()
    transport_options = {**_TRANSPORT_DEFAULTS.get(scheme, {}), **options.transport_options}
    connection = Connection(
        url, connect_timeout=options.connect_timeout, transport_options=transport_options
    )
    try:
        connection.transport  # noqa: B018 - resolves the transport: fail now, not on first use
    except (ImportError, KeyError, ValueError) as exc:
        raise BusConfigError(f"kombu cannot use broker URL scheme {scheme!r}: {exc}") from exc
    return connection


def _queue(name: str) -> Any:
    return Queue(
        name, exchange=_DEFAULT_EXCHANGE, routing_key=name, durable=True, auto_delete=False
    )


def _publish(producer: Any, queue: str, body: Body) -> None:
    if not isinstance(body, dict):
        kind = type(body).__name__
        raise BusMessageError(f"a bus message body must be a JSON object, not {kind}")
    try:
        producer.publish(
            body, exchange=_DEFAULT_EXCHANGE, routing_key=queue, delivery_mode=PERSISTENT
        )
    except EncodeError as exc:
        raise BusMessageError(f"a bus message body must be JSON: {exc}") from exc


def _consume(channel: Any, name: str, callback: Callable[[Any, Any], None], prefetch: int) -> None:
    consumer = Consumer(
        channel,
        queues=[_queue(name)],
        callbacks=[callback],
        accept=["json"],
        prefetch_count=prefetch,
        on_decode_error=_on_decode_error(name),
    )
    consumer.consume()


def _on_message(queue: str, handler: Handler) -> Callable[[Any, Any], None]:
    def on_message(body: Any, message: Any) -> None:
        if not isinstance(body, dict):
            _log.error("bus.message_rejected", queue=queue, reason="body is not a JSON object")
            message.reject()
            return
        try:
            handler(queue, body)
        except Exception as exc:
            _log.warning("bus.handler_failed", queue=queue, error=repr(exc), exc_info=True)
            message.requeue()
        else:
            message.ack()

    return on_message


def _collect(queue: str, arrived: list[Any]) -> Callable[[Any, Any], None]:
    def on_message(body: Any, message: Any) -> None:
        if not isinstance(body, dict):
            _log.error("bus.message_rejected", queue=queue, reason="body is not a JSON object")
            message.reject()
            return
        arrived.append((queue, body, message))

    return on_message


def _run_batch(batch: list[tuple[str, Body, Any]], handler: BatchHandler, names: list[str]) -> None:
    try:
        handler([(queue, body) for queue, body, _message in batch])
    except Exception as exc:
        _log.warning("bus.handler_failed", queues=names, error=repr(exc), exc_info=True)
        for _queue_name, _body, message in batch:
            message.requeue()
    else:
        for _queue_name, _body, message in batch:
            message.ack()


def _on_decode_error(queue: str) -> Callable[[Any, Exception], None]:
    def on_decode_error(message: Any, exc: Exception) -> None:
        _log.error("bus.message_rejected", queue=queue, reason="undecodable", error=_describe(exc))
        message.reject()

    return on_decode_error


def _log_consumer_retry(state: RetryCallState, broker: str, queues: list[str]) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else None
    _log.warning(
        "bus.reconnect",
        role="consumer",
        phase="connecting",
        broker=broker,
        queues=queues,
        failures=state.attempt_number,
        wait=wait,
        error=_describe(exc),
    )


def _describe(exc: BaseException | None) -> str:
    # not repr(): redis-py's exceptions hide their message there
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"


def _pause(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)  # a stop.set() cuts the backoff short


def _close_quietly(connection: Any) -> None:
    # the memory transport's channel.close() iterates the shared dict of queues
    with _DECLARE_LOCK, suppress(Exception):
        connection.release()
