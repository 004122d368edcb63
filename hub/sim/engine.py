"""The rehearsal: the real hub on a throwaway ledger, driven instant by instant on a virtual clock.

What runs is the hub's own code: ``Hub`` (ingest, routing stage, dispatcher, deadline engine,
claims), the HTTP API served by uvicorn on loopback (pushes, claims, objections and replies go
through it with per-department tokens), the platform channel POSTing real HTTP callbacks to the
loopback departments, the paper channel into a spool in the temp dir, a SQLite ledger there too,
and the in-memory bus (``StubBus``: kombu's ``memory://`` shares its queues across a process, so
two rehearsals in one process would see each other's jobs). Instead of the runtime's threads the
stages are called in turn (``relay`` → route → deliver → ``tick``) until nothing is left to do at
the current instant; then the clock jumps to the next instant anything is due (a timer, a delayed
retry, a department action, an outage starting or ending, a scheduled push). A 30-day rehearsal
takes seconds, and two runs of one scenario give the same instants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select

from adapters.paper import PaperAdapter, PaperConfig
from adapters.platform import PlatformAdapter, create_app
from hub.bus.stub import StubBus
from hub.bus.topology import ALL_QUEUES, DELIVER_QUEUES, ROUTE
from hub.channels import ChannelAdapter
from hub.clock.now import ManualClock
from hub.core.hub import Hub
from hub.ledger.db import Database
from hub.ledger.migrate import upgrade
from hub.ledger.schema import OutboxRow, TimerRow
from hub.message import Channel
from hub.routing import LoadedRouting
from hub.routing.router import Router
from hub.sim.behaviour import Behaviour, localize, seconds
from hub.sim.departments import Action, Desk, Endpoints, SimMail
from hub.sim.wiring import retry_policy, sender_of, serving, take, with_endpoints

log = structlog.get_logger(__name__)
MAX_PASSES = 1000  # per instant: a hub that keeps finding work at one instant is a bug


@dataclass(frozen=True)
class SimInput:
    routing: LoadedRouting
    messages: tuple[tuple[str, bytes], ...]  # (file name, raw JSON), in push order
    start: dt.datetime
    days: float
    behaviour: Behaviour

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)


@dataclass
class Pushed:
    """One message file as the API answered it."""

    file: str
    at: dt.datetime
    status: int
    message_id: str | None
    detail: str
    routed_after: float = 0.0


@dataclass
class ActionDone:
    action: Action
    status: int
    detail: str


@dataclass
class Outcome:
    """What a rehearsal leaves for the report: its ledger (still open) and the departments."""

    db: Database
    router: Router
    start: dt.datetime
    end: dt.datetime
    pushed: list[Pushed]
    desk: Desk
    actions: list[ActionDone] = field(default_factory=list)


@contextmanager
def simulate(sim: SimInput, workdir: Path) -> Iterator[Outcome]:
    """Run the rehearsal in ``workdir``; yields its outcome while the ledger is open."""
    yield from _Run(sim, workdir).run()


class _Run:
    def __init__(self, sim: SimInput, workdir: Path) -> None:
        self.sim = sim
        self.tz = sim.routing.router.calendar.tz
        self.clock = ManualClock(localize(sim.start, self.tz))
        self.desk = Desk(sim.behaviour, sim.routing.router.calendar, self.clock)
        self.workdir = workdir
        self.bus = StubBus("stub://simulate")
        self.held: list[tuple[dt.datetime, int, str]] = []  # route jobs of a backlog
        self.held_pushes: list[tuple[dt.datetime, int, dict[str, Any]]] = []  # push jobs of one
        self.pushed: list[Pushed] = []
        self.actions: list[ActionDone] = []
        self.tokens: dict[str, str] = {}

    def run(self) -> Iterator[Outcome]:
        ids = [d.id for d in self.sim.routing.config.departments]
        endpoints = Endpoints(ids, self.desk)
        db = Database(f"sqlite:///{self.workdir / 'ledger.db'}")
        try:
            upgrade(db.engine)
            routing = with_endpoints(self.sim.routing, endpoints.urls())
            hub = self._hub(db, routing.router)
            try:
                self.tokens = {d: hub.issue_token(d, "simulate") for d in ids}
                with (
                    serving(create_app(hub, clock=self.clock)) as api,
                    httpx.Client(base_url=api, timeout=30) as client,
                ):
                    self._loop(hub, client, endpoints)
                while hub.seal():  # leave the event chain sealed, as a stopping hub does
                    pass
            finally:
                hub.close()
            yield Outcome(
                db,
                routing.router,
                self.sim.start,
                self.sim.end,
                self.pushed,
                self.desk,
                self.actions,
            )
        finally:
            endpoints.close()
            db.dispose()

    def _hub(self, db: Database, router: Router) -> Hub:
        """The hub with the real platform and paper channels and the stand-in mail channel."""
        adapters: dict[Channel, ChannelAdapter] = {
            Channel.PLATFORM: PlatformAdapter(clock=self.clock),
            Channel.PAPER: PaperAdapter(PaperConfig(spool_dir=self.workdir / "paper")),
            Channel.EMAIL: SimMail(self.desk),
        }
        hub = Hub(
            db,
            router,
            self.bus,
            clock=self.clock,
            adapters=adapters,
            retry=retry_policy(self.sim.behaviour),
        )
        self.bus.declare(ALL_QUEUES)
        return hub

    def _loop(self, hub: Hub, client: httpx.Client, endpoints: Endpoints) -> None:
        schedule = self._schedule()
        end = localize(self.sim.end, self.tz)
        now = self.clock.now()
        while True:
            self._settle(hub, client, endpoints, schedule, now)
            upcoming = self._next(hub, schedule, now)
            if upcoming is None or upcoming > end:
                break
            now = upcoming
            self.clock.set(now)
        self.clock.set(end)

    def _schedule(self) -> list[tuple[dt.datetime, str, bytes, float]]:
        """(when, file, raw, routed_after seconds) for every message file, in push order."""
        entries = {e.file: e for e in self.sim.behaviour.schedule}
        start = localize(self.sim.start, self.tz)
        out = []
        for name, raw in self.sim.messages:
            entry = entries.get(name)
            at = localize(entry.at, self.tz) if entry and entry.at else start
            delay = seconds(entry.routed_after) if entry and entry.routed_after else 0.0
            out.append((at, name, raw, delay))
        return sorted(out, key=lambda e: e[0])

    def _settle(
        self,
        hub: Hub,
        client: httpx.Client,
        endpoints: Endpoints,
        schedule: list[tuple[dt.datetime, str, bytes, float]],
        now: dt.datetime,
    ) -> None:
        """Run every stage until nothing is left to do at ``now``."""
        for _ in range(MAX_PASSES):
            endpoints.sync(now)
            busy = self._push_due(client, schedule, now)
            busy += self._act(hub, client, now)
            busy += hub.relay()
            busy += self._route(hub, now)
            busy += self._deliver(hub, now)
            busy += self._tick(hub, now)
            if not busy:
                return
        raise RuntimeError(f"simulation does not settle at {now.isoformat()}")

    def _push_due(
        self,
        client: httpx.Client,
        schedule: list[tuple[dt.datetime, str, bytes, float]],
        now: dt.datetime,
    ) -> int:
        due = [e for e in schedule if e[0] <= now]
        for entry in due:
            schedule.remove(entry)
            self.pushed.append(self._push(client, *entry))
        return len(due)

    def _push(
        self, client: httpx.Client, at: dt.datetime, name: str, raw: bytes, delay: float
    ) -> Pushed:
        sender = sender_of(raw)
        token = self.tokens.get(sender or "")
        if token is None:
            return Pushed(name, at, 0, None, f"发送部门 {sender} 不在配置中，未推送", delay)
        response = client.post(
            "/messages",
            content=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        body = response.json()
        detail = body.get("zh") or "；".join(p.get("zh", "") for p in body.get("problems", []))
        if not detail:
            detail = "重复推送" if body.get("duplicate") else "已受理"
        return Pushed(name, at, response.status_code, body.get("message_id"), detail, delay)

    def _act(self, hub: Hub, client: httpx.Client, now: dt.datetime) -> int:
        due = self.desk.due(now)
        for action in due:
            self.actions.append(self._do(hub, client, action))
        return len(due)

    def _do(self, hub: Hub, client: httpx.Client, action: Action) -> ActionDone:
        if action.kind == "bounce":
            hub.report_bounce(action.delivery_id, channel=Channel.EMAIL, reason=action.text)
            return ActionDone(action, 0, "退信已报告")
        path, body = {
            "claim": ("claim", {"actor": "联络员（演练）"}),
            "object": ("objection", {"reason": action.text, "actor": "联络员（演练）"}),
            "reply": ("reply", {"text": action.text, "actor": "联络员（演练）"}),
        }[action.kind]
        response = client.post(
            f"/deliveries/{action.delivery_id}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[action.department_id]}"},
        )
        data = response.json()
        return ActionDone(
            action, response.status_code, str(data.get("note_zh") or data.get("zh") or "")
        )

    def _route(self, hub: Hub, now: dt.datetime) -> int:
        delays = {p.message_id: p.routed_after for p in self.pushed if p.message_id}
        held = {h[1] for h in self.held}
        for _queue, body in take(self.bus, [ROUTE]):
            message_id, outbox_id = str(body.get("message_id")), body.get("outbox_id")
            if not isinstance(outbox_id, int) or outbox_id in held:
                continue  # a relay's copy of a job the backlog already holds
            release = now + dt.timedelta(seconds=delays.get(message_id, 0.0))
            self.held.append((release, outbox_id, message_id))
            held.add(outbox_id)
        ready = [h for h in self.held if h[0] <= now]
        if ready:
            self.held = [h for h in self.held if h[0] > now]
            hub.handle_route_batch([(outbox_id, message_id) for _, outbox_id, message_id in ready])
        return len(ready)

    def _deliver(self, hub: Hub, now: dt.datetime) -> int:
        """Hand the deliver jobs to the hub; a push of a message with ``routed_after`` waits in
        the queue (a hub with a backlog) until then."""
        release = self._releases(hub)
        held = {h[1] for h in self.held_pushes}
        jobs = []
        for _q, body in take(self.bus, DELIVER_QUEUES):
            outbox_id = body.get("outbox_id")
            if not isinstance(outbox_id, int) or outbox_id in held:
                continue
            until = (
                release.get(str(body.get("delivery_id"))) if body.get("purpose") == "push" else None
            )
            if until is not None and until > now:
                self.held_pushes.append((until, outbox_id, body))
                held.add(outbox_id)
            else:
                jobs.append((outbox_id, body))
        ready = [h for h in self.held_pushes if h[0] <= now]
        self.held_pushes = [h for h in self.held_pushes if h[0] > now]
        jobs += [(outbox_id, body) for _, outbox_id, body in ready]
        if jobs:
            hub.handle_delivery_batch(jobs)
        return len(jobs)

    def _releases(self, hub: Hub) -> dict[str, dt.datetime]:
        """When the pushes of each delayed message leave the backlog, by delivery id."""
        out: dict[str, dt.datetime] = {}
        for pushed in self.pushed:
            if pushed.routed_after and pushed.message_id:
                until = pushed.at + dt.timedelta(seconds=pushed.routed_after)
                for view in hub.deliveries_of(pushed.message_id):
                    out[view.delivery_id] = until
        return out

    def _tick(self, hub: Hub, now: dt.datetime) -> int:
        fired = 0
        while _first_timer(hub.db, due_by=now) is not None and fired < MAX_PASSES:
            hub.tick()
            fired += 1
        return fired

    def _next(
        self, hub: Hub, schedule: list[tuple[dt.datetime, str, bytes, float]], now: dt.datetime
    ) -> dt.datetime | None:
        """The next instant after ``now`` at which anything is due."""
        with hub.db.read() as session:
            candidates = [
                session.scalar(
                    select(func.min(TimerRow.due_at)).where(
                        TimerRow.fired_at.is_(None),
                        TimerRow.cancelled_at.is_(None),
                        TimerRow.due_at > now,
                    )
                ),
                session.scalar(
                    select(func.min(OutboxRow.available_at)).where(
                        OutboxRow.done_at.is_(None),
                        OutboxRow.published_at.is_(None),
                        OutboxRow.available_at > now,
                    )
                ),
            ]
        candidates += [h[0] for h in self.held]
        candidates += [h[0] for h in self.held_pushes]
        candidates += [e[0] for e in schedule]
        candidates += [self.desk.next_action()]
        candidates += self.desk.transitions()
        return min((c for c in candidates if c is not None and c > now), default=None)


def _first_timer(db: Database, *, due_by: dt.datetime) -> int | None:
    with db.read() as session:
        return session.scalar(
            select(TimerRow.id)
            .where(
                TimerRow.fired_at.is_(None),
                TimerRow.cancelled_at.is_(None),
                TimerRow.due_at <= due_by,
            )
            .limit(1)
        )
