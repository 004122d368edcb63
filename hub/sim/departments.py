"""Loopback departments for ``hub simulate``: real HTTP endpoints that behave as told.

Each department gets its own HTTP server on 127.0.0.1 (stdlib, one thread per request): the
hub's platform channel POSTs its signed callbacks there over real HTTP. While the behaviour file
says the department is down, its server answers 503, or is closed so that connecting is refused.
A push that arrives (deduplicated by ``Idempotency-Key``, as a real receiver does) is planned
for: claim, object and reply at the instants the behaviour gives, counted on the simulation's
virtual clock. ``SimMail`` stands in for the email channel (no mail leaves the machine): it
accepts a note as a mail server would and, when the behaviour says so, plans a bounce.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hub.channels import OutboundNote, Receipt
from hub.clock.calendar import WorkCalendar
from hub.clock.now import Clock
from hub.errors import DeliveryError, NormalizeError
from hub.message import CanonicalMessage, Channel
from hub.sim.behaviour import Behaviour, DepartmentBehaviour, Down, later, localize


@dataclass(frozen=True)
class Action:
    """Something a department will do at ``at``: claim, object, reply, or a bounce of its mail."""

    at: dt.datetime
    kind: str  # claim | object | reply | bounce
    department_id: str
    delivery_id: str
    text: str = ""


@dataclass(frozen=True)
class Received:
    """One note as the department received it."""

    at: dt.datetime
    department_id: str
    channel: str
    purpose: str
    delivery_id: str
    key: str
    repeat: bool


@dataclass
class Desk:
    """What the departments have received and what they have still to do (thread-safe)."""

    behaviour: Behaviour
    calendar: WorkCalendar
    clock: Clock
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[dt.datetime, str, str]] = field(default_factory=list)  # at, dept, answer
    pending: list[Action] = field(default_factory=list)
    _keys: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def down(self, department_id: str, at: dt.datetime) -> Down | None:
        """The down period covering ``at``, if any."""
        for period in self.behaviour.of(department_id).down:
            start = localize(period.from_, self.calendar.tz) if period.from_ else None
            until = localize(period.until, self.calendar.tz) if period.until else None
            if (start is None or start <= at) and (until is None or at < until):
                return period
        return None

    def transitions(self) -> list[dt.datetime]:
        """Every instant a department goes down or comes back up."""
        out = []
        behaviours = [self.behaviour.default, *self.behaviour.departments.values()]
        for department in behaviours:  # the default's outages too: unlisted departments follow it
            for period in department.down:
                out += [localize(t, self.calendar.tz) for t in (period.from_, period.until) if t]
        return out

    def receive(
        self, department_id: str, channel: Channel, payload: dict[str, Any], key: str
    ) -> None:
        """Record a note and, for a first push, plan what the department does about it."""
        now = self.clock.now()
        purpose, delivery_id = str(payload.get("purpose")), str(payload.get("delivery_id"))
        behaviour = self.behaviour.of(department_id)
        if channel is Channel.EMAIL and behaviour.bounce is not None:
            if purpose == "push":  # the mail never reaches the department: it bounces
                at = later(self.calendar, now, behaviour.bounce.after)
                bounce = Action(at, "bounce", department_id, delivery_id, behaviour.bounce.reason)
                with self._lock:
                    self.pending.append(bounce)
            return
        with self._lock:
            repeat = (department_id, key) in self._keys  # each receiver dedupes its own notes
            self._keys.add((department_id, key))
            self.received.append(
                Received(now, department_id, channel.value, purpose, delivery_id, key, repeat)
            )
            if purpose == "push" and not repeat:
                self.pending += plan(behaviour, self.calendar, now, department_id, delivery_id)

    def refuse(self, department_id: str, answer: str) -> None:
        with self._lock:
            self.refused.append((self.clock.now(), department_id, answer))

    def due(self, now: dt.datetime) -> list[Action]:
        """The actions due at ``now``, in time order, taken off the list."""
        with self._lock:
            due = sorted((a for a in self.pending if a.at <= now), key=lambda a: a.at)
            self.pending = [a for a in self.pending if a.at > now]
        return due

    def next_action(self) -> dt.datetime | None:
        with self._lock:
            return min((a.at for a in self.pending), default=None)


def plan(
    behaviour: DepartmentBehaviour,
    calendar: WorkCalendar,
    now: dt.datetime,
    department_id: str,
    delivery_id: str,
) -> list[Action]:
    """The actions a department takes on a push received at ``now``."""
    actions = []
    if behaviour.claim is not None:
        actions.append(
            Action(later(calendar, now, behaviour.claim.after), "claim", department_id, delivery_id)
        )
    if behaviour.object is not None:
        at = later(calendar, now, behaviour.object.after)
        actions.append(Action(at, "object", department_id, delivery_id, behaviour.object.reason))
    if behaviour.reply is not None:
        at = later(calendar, now, behaviour.reply.after)
        actions.append(Action(at, "reply", department_id, delivery_id, behaviour.reply.text))
    return actions


class Endpoint:
    """One department's HTTP server on a fixed loopback port; ``close`` makes it refuse."""

    def __init__(self, department_id: str, desk: Desk) -> None:
        self.department_id, self.desk = department_id, desk
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def open(self) -> None:
        if self._server is not None:
            return
        server = ThreadingHTTPServer(
            ("127.0.0.1", self.port), _handler(self.department_id, self.desk)
        )
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self._server = server

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _handler(department_id: str, desk: Desk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            period = desk.down(department_id, desk.clock.now())
            if period is not None:
                desk.refuse(department_id, period.answer)
                self._answer(503, {"error": "unavailable"})
                return
            try:
                payload = json.loads(body)
            except ValueError:
                self._answer(400, {"error": "not json"})
                return
            key = self.headers.get("Idempotency-Key") or str(payload.get("delivery_id"))
            desk.receive(department_id, Channel.PLATFORM, payload, key)
            self._answer(200, {"receipt": f"sim-{department_id}-{len(desk.received)}"})

        def _answer(self, status: int, data: dict[str, str]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence
            return

    return Handler


class Endpoints:
    """Every department's endpoint; ``sync`` opens and closes them as the behaviour says."""

    def __init__(self, departments: Iterable[str], desk: Desk) -> None:
        self.desk = desk
        self.by_id = {d: Endpoint(d, desk) for d in departments}

    def urls(self) -> dict[str, str]:
        return {d: e.url for d, e in self.by_id.items()}

    def sync(self, now: dt.datetime) -> None:
        for department_id, endpoint in self.by_id.items():
            period = self.desk.down(department_id, now)
            if period is not None and period.answer == "refused":
                endpoint.close()
            else:
                endpoint.open()

    def close(self) -> None:
        for endpoint in self.by_id.values():
            endpoint.close()


class SimMail:
    """The email channel of the rehearsal: accepted like a mail server would, never sent.

    A department that is down cannot be reached (retryable, as a mail server timing out);
    otherwise the note lands in its simulated mailbox, and a push may bounce later."""

    channel: Channel = Channel.EMAIL

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.sent = 0

    def normalize(self, raw: bytes) -> CanonicalMessage:
        raise NormalizeError([])

    async def deliver(self, note: OutboundNote) -> Receipt:
        if self.desk.down(note.department_id, self.desk.clock.now()) is not None:
            self.desk.refuse(note.department_id, "mail")
            raise DeliveryError("mail server unreachable (演练：邮件服务器不可达)", retryable=True)
        self.sent += 1
        key = f"{note.delivery_id}:{note.purpose.value}:{note.about_department_id or ''}"
        payload = {"purpose": note.purpose.value, "delivery_id": note.delivery_id}
        self.desk.receive(note.department_id, Channel.EMAIL, payload, key)
        return Receipt(Channel.EMAIL, reference=f"sim-mail-{self.sent}", detail="250 accepted")

    async def aclose(self) -> None:
        return None
