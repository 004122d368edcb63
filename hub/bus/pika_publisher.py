"""The I/O side of ``hub.bus.pika_bus``: one pika connection owned by one thread, futures out.

The only other module that imports pika. ``pika_bus`` owns the policy (queue arguments, error
translation, deadlines, resending) and says why pika's ``SelectConnection``; this module moves
operations between the callers' threads and the broker.

Callers never touch pika: ``send``/``declare``/``depth`` queue an operation, wake the I/O thread
and return a ``concurrent.futures.Future`` (cancel it to give up). The I/O thread connects when
an operation waits (never in a loop) and opens a channel in confirm mode; a new connection
forgets ``declared``, so callers declare again before they publish. At most ``window`` messages
wait for a confirm. A batch's future resolves once every message was acked, fails on a nack or a
return, or with ``PublishInterrupted`` (the unconfirmed messages) when the connection goes.
Declarations and depth probes use short-lived channels: a refused declaration closes its own
channel, never the confirm channel and its pending confirms.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, wait
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pika
import structlog
from pika import exceptions as pika_exceptions
from pika.adapters.select_connection import IOLoop

from hub.bus.errors import BusError, BusUnavailable

_log = structlog.get_logger(__name__)
Encoded = tuple[str, bytes]  # (queue, JSON body)
Arguments = Callable[[str], dict[str, Any]]  # queue name -> its declare arguments
Translate = Callable[[BaseException, "str | None"], BusError]  # (pika error, queue) -> ours
Counts = dict[str, int]  # queue -> messages ready
NOT_FOUND = 404
_PROPERTIES = {"delivery_mode": 2, "content_type": "application/json"}  # 2: persistent


class PublishInterrupted(BusUnavailable):
    """The connection went before these messages were confirmed; sending them again is safe."""

    def __init__(self, message: str, unconfirmed: list[Encoded]) -> None:
        super().__init__(message)
        self.unconfirmed = unconfirmed


@dataclass(frozen=True)
class PublisherSettings:
    broker: str  # the URL without its password, for messages and logs
    window: int  # messages waiting for a confirm, at most
    close_timeout: float  # seconds close() waits for the operations under way
    arguments: Arguments  # pika_bus's topology
    translate: Translate  # pika_bus's error translation


def _resolve(future: Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    with suppress(InvalidStateError):  # already settled, or cancelled by its caller
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


@dataclass(eq=False)
class _Batch:
    items: list[Encoded]
    future: Future[None] = field(default_factory=Future)
    confirmed: set[int] = field(default_factory=set)  # indexes into items

    def confirm(self, index: int) -> None:
        self.confirmed.add(index)
        if len(self.confirmed) == len(self.items):
            _resolve(self.future)

    def fail(self, error: BusError) -> None:
        _resolve(self.future, error=error)

    def interrupt(self, reason: str) -> None:
        rest = [item for i, item in enumerate(self.items) if i not in self.confirmed]
        self.fail(PublishInterrupted(reason, rest))


@dataclass(eq=False)
class _QueueOp:
    """Declare ``names``, or probe them (``passive``); the result is their ``Counts``."""

    names: list[str]
    passive: bool
    future: Future[Counts] = field(default_factory=Future)


_Op = _Batch | _QueueOp
_OpT = TypeVar("_OpT", _Batch, _QueueOp)


@dataclass(eq=False)
class _Link:
    """One connection and its confirm channel; the I/O thread's only."""

    serial: int
    connection: Any = None
    channel: Any = None
    ready: bool = False  # confirm mode on
    next_tag: int = 1  # the delivery tag the broker gives the next message
    outstanding: OrderedDict[int, tuple[_Batch, int]] = field(default_factory=OrderedDict)
    backlog: deque[tuple[_Batch, int]] = field(default_factory=deque)  # waiting for the window

    def batches(self) -> set[_Batch]:
        return {batch for batch, _ in itertools.chain(self.outstanding.values(), self.backlog)}

    def settle(self, tag: int, multiple: bool) -> list[tuple[_Batch, int]]:
        """Forget and return the messages a confirm of ``tag`` covers."""
        if not multiple:
            entry = self.outstanding.pop(tag, None)
            return [entry] if entry is not None else []
        settled = []
        while self.outstanding and next(iter(self.outstanding)) <= tag:
            settled.append(self.outstanding.popitem(last=False)[1])
        return settled


class Publisher:
    """Sends with publisher confirms on one connection owned by one I/O thread."""

    def __init__(self, parameters: Any, settings: PublisherSettings) -> None:
        self._parameters, self._settings = parameters, settings
        self.broker, self.translate = settings.broker, settings.translate
        self.arguments = settings.arguments
        self._token = uuid.uuid4().hex[:8]  # message ids: "<token>.<link>.<tag>"
        self._lock = threading.Lock()  # guards the fields up to _ioloop
        self._closed = self._running = False
        self._inbox: deque[_Op] = deque()
        self._under_way: set[Future[Any]] = set()
        self.declared: set[str] = set()
        self._thread: threading.Thread | None = None
        self._ioloop: Any = None
        self._link: _Link | None = None  # from here on: the I/O thread's state
        self._serials = itertools.count(1)
        self._waiting: deque[_Op] = deque()
        self._stopping = False

    # -- callers' side --------------------------------------------------------------------------

    def send(self, items: list[Encoded]) -> Future[None]:
        return self._submit(_Batch(items)).future

    def declare(self, names: Sequence[str]) -> Future[Counts]:
        return self._submit(_QueueOp(list(names), passive=False)).future

    def depth(self, name: str) -> Future[Counts]:
        return self._submit(_QueueOp([name], passive=True)).future

    def missing(self, names: set[str]) -> set[str]:
        with self._lock:
            return names - self.declared

    def mark_declared(self, names: Sequence[str]) -> None:
        with self._lock:
            self.declared.update(names)

    def close(self) -> None:
        """Let the operations under way finish (``close_timeout`` at most), then disconnect."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            under_way, thread = list(self._under_way), self._thread
        if thread is None:
            return
        wait(under_way, timeout=self._settings.close_timeout)
        with self._lock:
            if self._running:
                self._ioloop.add_callback_threadsafe(self._shutdown)
        thread.join(self._settings.close_timeout)

    def _submit(self, op: _OpT) -> _OpT:
        with self._lock:
            if self._closed:
                raise BusUnavailable("the bus is closed")
            if self._thread is None:
                self._ioloop, self._running = IOLoop(), True
                self._thread = threading.Thread(target=self._run, name="bus-publisher", daemon=True)
                self._thread.start()
            self._inbox.append(op)
            self._under_way.add(op.future)
            self._ioloop.add_callback_threadsafe(self._drain)
        op.future.add_done_callback(self._forget)
        return op

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._under_way.discard(future)

    # -- the I/O thread: connection ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._ioloop.start()
        except Exception:
            _log.exception("bus.publisher_failed", broker=self.broker)
        finally:
            with self._lock:
                self._closed, self._running = True, False
                self._waiting.extend(self._inbox)
                self._inbox.clear()
            error = BusUnavailable(f"the bus publisher to {self.broker} has stopped")
            self._fail_waiting(error)
            for batch in self._link.batches() if self._link is not None else ():
                batch.fail(error)
            self._ioloop.close()

    def _drain(self) -> None:
        with self._lock:
            self._waiting.extend(self._inbox)
            self._inbox.clear()
        self._dispatch()

    def _dispatch(self) -> None:
        link = self._link
        if link is None and self._waiting and not self._stopping:
            self._connect()
        elif link is not None and link.ready:
            while self._waiting:
                self._start(link, self._waiting.popleft())

    def _connect(self) -> None:
        link = self._link = _Link(next(self._serials))
        link.connection = pika.SelectConnection(
            self._parameters,
            on_open_callback=lambda c: c.channel(on_open_callback=partial(self._on_channel, link)),
            on_open_error_callback=partial(self._on_down, link, opened=False),
            on_close_callback=partial(self._on_down, link, opened=True),
            custom_ioloop=self._ioloop,
        )

    def _on_channel(self, link: _Link, channel: Any) -> None:
        link.channel = channel
        channel.add_on_close_callback(partial(self._on_channel_closed, link))
        channel.add_on_return_callback(partial(self._on_return, link))
        channel.confirm_delivery(
            partial(self._on_confirm, link), callback=partial(self._on_confirm_mode, link)
        )

    def _on_confirm_mode(self, link: _Link, _frame: Any) -> None:
        with self._lock:
            self.declared.clear()  # the topology is declared again on every connection
        link.ready = True
        _log.info("bus.connected", role="publisher", broker=self.broker, link=link.serial)
        self._dispatch()

    def _on_down(self, link: _Link, _conn: Any, reason: BaseException, *, opened: bool) -> None:
        if link is self._link:
            self._link = None
        for batch in link.batches():
            batch.interrupt(f"connection to {self.broker} lost before the confirm: {reason}")
        if self._stopping:
            self._ioloop.stop()
            return
        event = "bus.connection_lost" if opened else "bus.connect_failed"
        _log.warning(event, role="publisher", broker=self.broker, error=repr(reason))
        if opened:
            self._dispatch()  # connects again only if an operation is waiting
        else:
            self._fail_waiting(self.translate(reason, None))  # never connect in a loop

    def _on_channel_closed(self, link: _Link, _channel: Any, reason: BaseException) -> None:
        connection = link.connection
        if not (connection.is_closing or connection.is_closed):
            connection.close()  # _on_down interrupts what the channel carried

    def _shutdown(self) -> None:
        self._stopping = True
        connection = self._link.connection if self._link is not None else None
        if connection is None or connection.is_closing or connection.is_closed:
            self._ioloop.stop()
            return
        self._ioloop.call_later(2.0, self._ioloop.stop)  # in case the broker never answers
        try:
            connection.close()  # aborts an opening connection too
        except pika_exceptions.ConnectionWrongStateError:
            self._ioloop.stop()

    # -- the I/O thread: operations ---------------------------------------------------------------

    def _start(self, link: _Link, op: _Op) -> None:
        if op.future.done():
            return  # cancelled by its caller
        if isinstance(op, _QueueOp):
            _QueueTask(self, link.connection, op).start()
            return
        link.backlog.extend((op, index) for index in range(len(op.items)))
        self._pump(link)

    def _pump(self, link: _Link) -> None:
        while link.backlog and len(link.outstanding) < self._settings.window:
            batch, index = link.backlog.popleft()
            if batch.future.done():
                continue  # failed or cancelled: do not send the rest
            queue, body = batch.items[index]
            tag = link.next_tag
            properties = pika.BasicProperties(
                message_id=f"{self._token}.{link.serial}.{tag}", **_PROPERTIES
            )
            try:
                link.channel.basic_publish("", queue, body, properties, mandatory=True)
            except pika_exceptions.AMQPError as exc:  # the channel is closing: so is the link
                batch.interrupt(f"could not send: {exc!r}")
                continue
            link.next_tag += 1
            link.outstanding[tag] = (batch, index)

    def _on_confirm(self, link: _Link, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        for batch, index in link.settle(method.delivery_tag, method.multiple):
            if acked:
                batch.confirm(index)
            else:
                queue = batch.items[index][0]
                batch.fail(BusUnavailable(f"broker {self.broker} refused a message for {queue!r}"))
        self._pump(link)

    def _on_return(self, link: _Link, _ch: Any, method: Any, props: Any, _body: Any) -> None:
        # the queue is gone; a basic.return comes before the ack of the same message
        queue, tag = method.routing_key, str(props.message_id).rsplit(".", 1)[-1]
        with self._lock:
            self.declared.discard(queue)  # declared again by the next publish
        batch, _ = link.outstanding.get(int(tag) if tag.isdigit() else 0, (None, 0))
        why = f"{method.reply_code} {method.reply_text}"
        if batch is not None:
            batch.fail(BusUnavailable(f"queue {queue!r} missing on {self.broker}: {why}"))

    def _fail_waiting(self, error: BusError) -> None:
        while self._waiting:
            op = self._waiting.popleft()
            if isinstance(op, _Batch) and isinstance(error, BusUnavailable):
                op.interrupt(str(error))  # nothing of it was sent
            else:
                _resolve(op.future, error=error)


class _QueueTask:
    """Runs one ``_QueueOp`` on a fresh channel of ``link``, then closes that channel."""

    def __init__(self, publisher: Publisher, connection: Any, op: _QueueOp) -> None:
        self._publisher, self._connection, self._op = publisher, connection, op
        self._pending = deque(op.names)
        self._counts: Counts = {}
        self._channel: Any = None

    def start(self) -> None:
        try:
            self._connection.channel(on_open_callback=self._on_open)
        except pika_exceptions.AMQPError as exc:
            self._finish(exc)

    def _on_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_close)
        passive = self._op.passive
        for name in self._op.names:  # pika sends each once the previous one is answered
            arguments = None if passive else self._publisher.arguments(name)
            channel.queue_declare(
                name, passive=passive, durable=True, arguments=arguments, callback=self._on_ok
            )

    def _on_ok(self, frame: Any) -> None:
        self._counts[self._pending.popleft()] = int(frame.method.message_count)
        if not self._pending:
            self._finish(None)

    def _on_close(self, _channel: Any, reason: BaseException) -> None:
        if self._pending:  # closed before every answer came: that is the failure
            self._finish(reason)

    def _finish(self, reason: BaseException | None) -> None:
        publisher, future = self._publisher, self._op.future
        if reason is None:
            if not self._op.passive:
                publisher.mark_declared(self._op.names)
            _resolve(future, self._counts)
            if self._channel is not None and self._channel.is_open:
                self._channel.close()
        elif self._op.passive and getattr(reason, "reply_code", None) == NOT_FOUND:
            _resolve(future, self._counts)  # no such queue: no count
        else:
            queue = self._pending[0] if self._pending else None
            _resolve(future, error=publisher.translate(reason, queue))
        self._pending.clear()
