"""``PikaBus``: the hub's bus on RabbitMQ with pika (``HUB_BROKER_URL=amqp://…``).

With ``hub.bus.pika_publisher`` (the publisher's I/O thread), the only modules importing pika.

Features
========
* publishing: one connection per bus owned by an I/O thread, a channel in confirm mode,
  persistent JSON messages sent ``mandatory``; up to ``confirm_window`` messages await their
  confirm at once, so a batch costs about one round trip, not one per message. ``publish_many``
  returns once the broker confirmed every message; it raises ``BusUnavailable`` on a nack, a
  return (queue gone), a timeout or a lost connection (after resending the unconfirmed part once
  on a new connection). Thread-safe: callers wait on futures;
* why pika's ``SelectConnection`` and not its asyncio adapter: both pipeline confirms alike, but
  the asyncio one needs an asyncio loop in the I/O thread just to drive pika; pika's own ioloop
  is one layer less and ``IOLoop.add_callback_threadsafe`` is its documented thread-safe entry
  (``bench/raw_pika.py --adapter select|asyncio`` measures both);
* topology: every queue is a durable **quorum** queue dead-lettering (at least once) through the
  default exchange to ``dead_letter_queue`` (``hub.dead``, a plain quorum queue) after
  ``delivery_limit`` failed deliveries: a poison message ends there instead of looping. Declared
  on first use and again after every (re)connection. A queue that exists with other arguments
  (PRECONDITION_FAILED: e.g. a classic queue of the kombu bus) is a ``BusConfigError`` naming the
  queue and the difference, raised, never retried;
* ``consume``: a ``BlockingConnection`` per call (per worker thread), ``basic_qos(prefetch)``,
  ack after the handler returns (the hub's handlers commit to the ledger first), nack with requeue
  when it raises, reject (dead-letter) when the body is not a JSON object; loops on
  ``process_data_events(time_limit=idle_timeout)`` until ``stop``; reconnects with tenacity
  (exponential backoff with jitter, until ``stop``), declaring again, also when the broker
  cancels the consumer (queue deleted); logs ``bus.reconnect``;
* ``depth``: a passive declare on a short-lived channel (messages ready; None if no queue);
* ``close``: waits ``close_timeout`` at most for what is under way, then disconnects;
* errors: ``RECOVERABLE_ERRORS`` (refused, lost or closed connection, heartbeat timeout, channel
  errors, ``OSError``) become ``BusUnavailable``, except the configuration errors (ACCESS_REFUSED,
  missing vhost, PRECONDITION_FAILED on queue arguments): ``BusConfigError`` (``translate``).

URL and options
===============
``amqp://USER:PASS@HOST:5672/VHOST`` or ``amqps://…`` (pika's ``URLParameters``; ``%2F`` or
``//`` for the vhost ``/``; query options like ``?heartbeat=60`` win over ``PikaBusOptions``).
``pyamqp://`` stays with kombu. ``PikaBusOptions``: confirm window (256), publish timeout (10 s),
delivery limit (20), backoff, timeouts. Broker sizing (quorum WAL, memory watermark):
``deploy/rabbitmq/rabbitmq.conf``. Needs RabbitMQ 3.10+ (at-least-once dead-lettering).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pika
import structlog
from pika import exceptions as pika_exceptions
from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.wait import wait_base

from hub.backoff import backoff_wait
from hub.bus import topology
from hub.bus.base import BatchHandler, Body, Handler
from hub.bus.errors import BusConfigError, BusError, BusMessageError, BusUnavailable
from hub.bus.pika_publisher import Encoded, Publisher, PublisherSettings, PublishInterrupted

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")
_CallbackFor = Callable[[str], Callable[[Any, Any, Any, bytes], None]]  # queue -> callback

#: Errors after which a new connection may succeed, unless ``is_config_error`` says otherwise.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    pika_exceptions.AMQPConnectionError,  # refused, StreamLostError, ConnectionClosedByBroker, …
    pika_exceptions.AMQPChannelError,  # ChannelClosedByBroker, ChannelWrongStateError, cancels
    OSError,
)
ACCESS_REFUSED, PRECONDITION_FAILED, NOT_ALLOWED = 403, 406, 530


def is_config_error(exc: BaseException) -> bool:
    """True when retrying cannot help: login refused, vhost missing, queue arguments differ."""
    if isinstance(
        exc, pika_exceptions.AuthenticationError | pika_exceptions.ProbableAuthenticationError
    ):
        return True
    if isinstance(exc, pika_exceptions.ProbableAccessDeniedError):
        return "is down" not in str(exc)  # a vhost still starting is worth a retry
    code = getattr(exc, "reply_code", None)
    if code == PRECONDITION_FAILED:  # "delivery acknowledgement timed out" is one too
        return "inequivalent arg" in str(getattr(exc, "reply_text", ""))
    return code in (ACCESS_REFUSED, NOT_ALLOWED)


def translate(exc: BaseException, queue: str | None = None, *, broker: str) -> BusError:
    """The bus's error for a pika (or socket) error; callers ``raise … from exc``."""
    where = f"queue {queue!r} on " if queue else ""
    if not is_config_error(exc):
        return BusUnavailable(f"{where}broker {broker} unavailable: {describe(exc)}")
    hint = ""
    if getattr(exc, "reply_code", None) == PRECONDITION_FAILED:
        hint = (
            "; the queue exists with other arguments than this bus declares (a classic queue"
            " of another bus or an older run?): delete or migrate it"
        )
    return BusConfigError(f"{where}broker {broker} refused: {describe(exc)}{hint}")


def describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"


@dataclass(frozen=True)
class PikaBusOptions:
    """Tuning for ``PikaBus``; the defaults suit the hub."""

    confirm_window: int = 256  # messages waiting for a publisher confirm, at most
    publish_timeout: float = 10.0  # seconds for publish_many / declare / depth to be answered
    publish_attempts: int = 2  # sends of the unconfirmed part when the connection is lost
    close_timeout: float = 5.0  # seconds close() waits for outstanding confirms
    delivery_limit: int = 20  # failed deliveries before a message is dead-lettered
    dead_letter_queue: str = topology.DEAD
    connect_timeout: float = 5.0
    heartbeat: int = 30  # seconds
    blocked_timeout: float = 30.0  # a connection blocked by a broker alarm is dropped after this
    backoff_initial: float = 0.2  # consumer reconnects: seconds, doubling, plus jitter
    backoff_max: float = 10.0
    connection_name: str = "shenguan-hub"  # shown by rabbitmqctl list_connections

    def __post_init__(self) -> None:
        counts = (self.confirm_window, self.publish_attempts, self.delivery_limit)
        times = (self.publish_timeout, self.connect_timeout, self.backoff_initial)
        if min(counts) < 1 or min(times) <= 0:
            raise ValueError(f"counts must be >= 1 and times > 0: {self}")


class PikaBus:
    """The hub's bus on RabbitMQ (see the module docstring)."""

    recoverable_errors = RECOVERABLE_ERRORS  # minus what is_config_error() says

    def __init__(self, url: str, options: PikaBusOptions | None = None) -> None:
        self.url = url
        self._options = options or PikaBusOptions()
        self._parameters = connection_parameters(url, self._options)
        self.broker = _masked(self._parameters, url)  # no password: safe to log
        settings = PublisherSettings(
            broker=self.broker,
            window=self._options.confirm_window,
            close_timeout=self._options.close_timeout,
            arguments=self.queue_arguments,
            translate=lambda exc, queue: translate(exc, queue, broker=self.broker),
        )
        self._publisher = Publisher(self._parameters, settings)
        self._closed = False

    def queue_arguments(self, name: str) -> dict[str, Any]:
        """The arguments every declaration of ``name`` uses (quorum, dead-lettering, limit)."""
        if name == self._options.dead_letter_queue:
            return {"x-queue-type": "quorum"}
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",  # the default exchange: routing key = queue name
            "x-dead-letter-routing-key": self._options.dead_letter_queue,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
            "x-delivery-limit": self._options.delivery_limit,
        }

    # -- publishing: through the publisher's I/O thread ---------------------------------------

    def declare(self, queues: Sequence[str]) -> None:
        self._declare(queues, self._deadline())

    def publish(self, queue: str, body: Body) -> None:
        self.publish_many([(queue, body)])

    def publish_many(self, items: Sequence[tuple[str, Body]]) -> None:
        encoded: list[Encoded] = [(queue, _encode(body)) for queue, body in items]
        if not encoded:
            return
        deadline = self._deadline()
        missing = self._publisher.missing({queue for queue, _ in encoded})
        if missing:  # first use, or the queue came back as missing, or a new connection
            self._declare(sorted(missing), deadline)
        for attempt in itertools.count(1):
            try:
                self._wait(self._publisher.send(encoded), deadline)
                return
            except PublishInterrupted as exc:  # the connection went: resend the unconfirmed
                if attempt >= self._options.publish_attempts or time.monotonic() >= deadline:
                    raise
                _log.warning(
                    "bus.reconnect",
                    role="publisher",
                    broker=self.broker,
                    failures=attempt,
                    resend=len(exc.unconfirmed),
                    error=str(exc),
                )
                encoded = exc.unconfirmed

    def depth(self, queue: str) -> int | None:
        return self._wait(self._publisher.depth(queue), self._deadline()).get(queue)

    def close(self) -> None:
        self._closed = True
        self._publisher.close()

    def _declare(self, queues: Sequence[str], deadline: float) -> None:
        names = list(dict.fromkeys([self._options.dead_letter_queue, *queues]))
        self._wait(self._publisher.declare(names), deadline)  # the dead-letter queue first

    def _deadline(self) -> float:
        return time.monotonic() + self._options.publish_timeout

    def _wait(self, future: Future[_T], deadline: float) -> _T:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            future.cancel()  # what was not sent yet will not be
            timeout = self._options.publish_timeout
            raise BusUnavailable(f"broker {self.broker} did not answer in {timeout} s") from None

    # -- consuming: a BlockingConnection per consume() call -----------------------------------

    def consume(
        self,
        queues: Sequence[str],
        handler: Handler,
        *,
        stop: threading.Event,
        prefetch: int = 16,
        idle_timeout: float = 0.5,
    ) -> None:
        names = list(queues)
        self._consume_loop(
            names,
            lambda name: _on_message(name, handler),
            prefetch,
            stop,
            lambda channel: self._serve(channel, len(names), stop, idle_timeout),
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
        arrived: list[_Arrived] = []

        def serve(channel: Any) -> None:
            try:
                self._serve_batches(channel, names, arrived, handler, stop, max_batch, idle_timeout)
            finally:
                arrived.clear()  # unacked deliveries of a lost channel come back from the broker

        self._consume_loop(names, lambda name: _collect(name, arrived), 2 * max_batch, stop, serve)

    def _consume_loop(
        self,
        names: list[str],
        callbacks: _CallbackFor,
        prefetch: int,
        stop: threading.Event,
        serve: Callable[[Any], None],
    ) -> None:
        """Connect, ``serve`` the channel, and on a lost connection reconnect, until ``stop``."""
        while not (stop.is_set() or self._closed):
            channel = self._connect_consumer(names, callbacks, prefetch, stop)
            if channel is None:
                return
            try:
                serve(channel)
            except RECOVERABLE_ERRORS as exc:
                if is_config_error(exc):
                    raise translate(exc, broker=self.broker) from exc
                self._log_reconnect(names, exc, phase="serving")
                stop.wait(self._options.backoff_initial)
            finally:
                _close_quietly(channel.connection)

    def _serve(self, channel: Any, consumers: int, stop: threading.Event, idle: float) -> None:
        while not (stop.is_set() or self._closed):
            channel.connection.process_data_events(time_limit=idle)
            _check_consumers(channel, consumers)

    def _serve_batches(
        self,
        channel: Any,
        names: list[str],
        arrived: list[_Arrived],
        handler: BatchHandler,
        stop: threading.Event,
        max_batch: int,
        idle: float,
    ) -> None:
        connection = channel.connection
        while not (stop.is_set() or self._closed):
            connection.process_data_events(time_limit=idle)  # returns once something arrived
            while arrived and len(arrived) < max_batch:
                before = len(arrived)
                connection.process_data_events(time_limit=0)
                if len(arrived) == before:
                    break
            while arrived:
                batch = arrived[:max_batch]
                del arrived[:max_batch]
                _settle_batch(channel, batch, handler, names)
            _check_consumers(channel, len(names))

    def _connect_consumer(
        self, names: list[str], callbacks: _CallbackFor, prefetch: int, stop: threading.Event
    ) -> Any:
        """A channel consuming ``names``, or None once ``stop`` is set; raises config errors."""
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=lambda _state: stop.is_set() or self._closed,
            wait=_backoff(self._options.backoff_initial, self._options.backoff_max),
            sleep=lambda seconds: _pause(stop, seconds),
            before_sleep=lambda state: self._log_retry(names, state),
            retry_error_callback=lambda _state: None,
        )
        try:
            return retrying(self._open_consumer, names, callbacks, prefetch)
        except RECOVERABLE_ERRORS as exc:  # not transient: a configuration error
            raise translate(exc, broker=self.broker) from exc

    def _open_consumer(self, names: list[str], callbacks: _CallbackFor, prefetch: int) -> Any:
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            for name in dict.fromkeys([self._options.dead_letter_queue, *names]):
                channel.queue_declare(name, durable=True, arguments=self.queue_arguments(name))
            channel.basic_qos(prefetch_count=prefetch)
            for name in names:
                channel.basic_consume(name, callbacks(name))
        except BaseException:
            _close_quietly(connection)
            raise
        _log.info("bus.connected", role="consumer", broker=self.broker, queues=names)
        return channel

    def _log_retry(self, names: list[str], state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else None
        self._log_reconnect(
            names, exc, phase="connecting", failures=state.attempt_number, wait=wait
        )

    def _log_reconnect(
        self, names: list[str], exc: BaseException | None, *, phase: str, **extra: Any
    ) -> None:
        _log.warning(
            "bus.reconnect",
            role="consumer",
            phase=phase,
            broker=self.broker,
            queues=names,
            error=describe(exc),
            **extra,
        )


def connection_parameters(url: str, options: PikaBusOptions) -> Any:
    """pika's parameters for ``url``; the options fill what the URL's query does not set."""
    try:
        parameters = pika.URLParameters(url)
    except (ValueError, TypeError) as exc:  # the message never contains the password
        raise BusConfigError(f"unusable AMQP URL: {exc}") from None
    if parameters.virtual_host == "":  # "amqp://host//", kombu's spelling of the vhost "/"
        parameters.virtual_host = "/"
    given = parse_qs(urlsplit(url).query)
    defaults = {
        "connection_attempts": 1,  # retries are ours: a publish must fail fast when down
        "socket_timeout": options.connect_timeout,
        "stack_timeout": options.connect_timeout * 2,
        "heartbeat": options.heartbeat,
        "blocked_connection_timeout": options.blocked_timeout,
    }
    for name, value in defaults.items():
        if name not in given:
            setattr(parameters, name, value)
    parameters.client_properties = {"connection_name": options.connection_name}
    return parameters


def _masked(parameters: Any, url: str) -> str:
    scheme = url.partition("://")[0].lower()
    user = parameters.credentials.username
    return f"{scheme}://{user}@{parameters.host}:{parameters.port}/{parameters.virtual_host}"


def _encode(body: Body) -> bytes:
    if not isinstance(body, dict):
        raise BusMessageError(f"a bus message must be a JSON object, not {type(body).__name__}")
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise BusMessageError(f"a bus message body must be JSON: {exc}") from exc


def _decode(raw: bytes) -> Body | None:
    with suppress(ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        body = json.loads(raw)
        if isinstance(body, dict):
            return body
    return None


def _on_message(queue: str, handler: Handler) -> Callable[[Any, Any, Any, bytes], None]:
    def on_message(channel: Any, method: Any, properties: Any, raw: bytes) -> None:
        body = _decode(raw)
        if body is None:
            _log.error("bus.message_rejected", queue=queue, reason="body is not a JSON object")
            channel.basic_reject(method.delivery_tag, requeue=False)  # to the dead-letter queue
            return
        try:
            handler(queue, body)
        except Exception as exc:
            _log.warning(
                "bus.handler_failed",
                queue=queue,
                error=repr(exc),
                message_id=properties.message_id,
                delivery_count=(properties.headers or {}).get("x-delivery-count", 0),
                exc_info=True,
            )
            channel.basic_nack(method.delivery_tag, requeue=True)
        else:
            channel.basic_ack(method.delivery_tag)

    return on_message


@dataclass(frozen=True)
class _Arrived:
    queue: str
    body: Body
    delivery_tag: int


def _collect(queue: str, arrived: list[_Arrived]) -> Callable[[Any, Any, Any, bytes], None]:
    def on_message(channel: Any, method: Any, properties: Any, raw: bytes) -> None:
        body = _decode(raw)
        if body is None:
            _log.error("bus.message_rejected", queue=queue, reason="body is not a JSON object")
            channel.basic_reject(method.delivery_tag, requeue=False)  # to the dead-letter queue
            return
        arrived.append(_Arrived(queue, body, method.delivery_tag))

    return on_message


def _settle_batch(
    channel: Any, batch: list[_Arrived], handler: BatchHandler, names: list[str]
) -> None:
    """Run ``handler`` on ``batch``; ack (or requeue) the batch with one ``multiple`` frame:
    every earlier delivery on this channel is settled already, in order."""
    last = max(item.delivery_tag for item in batch)
    try:
        handler([(item.queue, item.body) for item in batch])
    except Exception as exc:
        _log.warning(
            "bus.handler_failed", queues=names, batch=len(batch), error=repr(exc), exc_info=True
        )
        channel.basic_nack(last, multiple=True, requeue=True)
    else:
        channel.basic_ack(last, multiple=True)


def _check_consumers(channel: Any, consumers: int) -> None:
    if len(channel.consumer_tags) < consumers:  # the broker cancelled one: queue deleted
        raise pika_exceptions.ConsumerCancelled("the broker cancelled a consumer")


def _backoff(initial: float, most: float) -> wait_base:
    return backoff_wait(initial, most)


def _pause(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)  # a stop.set() cuts the backoff short


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, RECOVERABLE_ERRORS) and not is_config_error(exc)


def _close_quietly(connection: Any) -> None:
    with suppress(Exception):
        if connection.is_open:
            connection.close()
