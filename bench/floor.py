"""The floor: the least work a durable hub must do per push, written as plainly as possible.

No hub code (only ``hub.message.CanonicalMessage``: validating a push is necessary work). One
process, one uvloop: uvicorn + httptools serving a plain Starlette app, psycopg (async) on its
own throw-away PostgreSQL database, pika (``AsyncioConnection``) on RabbitMQ, aiohttp for the
callbacks.

* ``POST /messages`` (bearer token → department, tokens held in memory): the body is validated
  with pydantic, then queued for the push writer. The writer takes every push waiting (group
  commit) and, in one transaction, inserts the messages (``ON CONFLICT DO NOTHING``: a repeat is
  a duplicate), one delivery per configured department, one event per message and per
  delivery and one outbox row per delivery, each one ``INSERT … SELECT FROM unnest()``; each
  request is answered 202 (200 for a duplicate) after the commit.
* The publisher puts each committed outbox row's deliver job (the message JSON travels in the
  job) on a quorum queue, persistent, confirms pipelined; once a batch is confirmed its outbox
  rows are marked published in one UPDATE.
* The consumer (prefetch 256) POSTs each job's callback (at most 32 in flight), then records
  the attempts, the delivered state and the events of a batch in one statement per table and
  one transaction, and acks (a failed callback is requeued).
* ``POST /deliveries/{id}/claim``: queued for the claim writer, which claims a whole batch with
  one ``UPDATE … FROM unnest() … RETURNING`` plus one INSERT each for claims and events; 200 for
  the claimed, 409 for the rest.

    .venv/bin/python bench/floor.py --database postgresql://… --amqp amqp://… \\
        --sink http://127.0.0.1:PORT/dept --departments scjg
prints ``{"url": …, "tokens": {department: token}}`` once serving; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pika
import psycopg
import uvicorn
from pika.adapters.asyncio_connection import AsyncioConnection
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.message import CanonicalMessage  # noqa: E402

QUEUE = "floor.deliver"
BATCH = 1000
PREFETCH = 256
CALLBACKS_IN_FLIGHT = 32
PERSISTENT = pika.BasicProperties(delivery_mode=2, content_type="application/json")

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id text PRIMARY KEY, idempotency_key text UNIQUE NOT NULL, kind text NOT NULL,
    sender_id text NOT NULL, source_id text NOT NULL, payload jsonb NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(), state text NOT NULL DEFAULT 'accepted');
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id text PRIMARY KEY, message_id text NOT NULL REFERENCES messages,
    department_id text NOT NULL, transport_state text NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0, delivered_at timestamptz,
    claim_state text NOT NULL DEFAULT 'open', claimed_at timestamptz,
    UNIQUE (message_id, department_id));
CREATE INDEX IF NOT EXISTS ix_deliveries_department ON deliveries (department_id, claim_state);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id bigserial PRIMARY KEY, delivery_id text NOT NULL REFERENCES deliveries,
    at timestamptz NOT NULL DEFAULT now(), outcome text NOT NULL, detail text NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    delivery_id text PRIMARY KEY REFERENCES deliveries, actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS events (
    seq bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), type text NOT NULL,
    message_id text, delivery_id text, department_id text, actor text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);
CREATE INDEX IF NOT EXISTS ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS api_tokens (token_hash text PRIMARY KEY, department_id text NOT NULL);
"""

INSERT_MESSAGES = """
INSERT INTO messages (message_id, idempotency_key, kind, sender_id, source_id, payload)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::jsonb[])
ON CONFLICT DO NOTHING RETURNING message_id"""
INSERT_DELIVERIES = """
INSERT INTO deliveries (delivery_id, message_id, department_id)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[])"""
INSERT_EVENTS = """
INSERT INTO events (type, message_id, delivery_id, department_id, actor)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[])"""
INSERT_OUTBOX = """
INSERT INTO outbox (queue, payload) SELECT %b, p FROM unnest(%b::jsonb[]) AS p RETURNING id"""
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY(%b)"
INSERT_ATTEMPTS = """
INSERT INTO delivery_attempts (delivery_id, outcome, detail)
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[])"""
MARK_DELIVERED = """
UPDATE deliveries d SET transport_state = 'delivered', delivered_at = now(),
    attempts = d.attempts + 1
FROM unnest(%b::text[]) AS x(id) WHERE d.delivery_id = x.id"""
CLAIM = """
UPDATE deliveries d SET claim_state = 'claimed', claimed_at = now()
FROM unnest(%b::text[], %b::text[]) AS c(id, dept)
WHERE d.delivery_id = c.id AND d.department_id = c.dept AND d.claim_state = 'open'
RETURNING d.delivery_id, d.message_id, d.department_id"""
INSERT_CLAIMS = """
INSERT INTO claims (delivery_id, actor) SELECT * FROM unnest(%b::text[], %b::text[])"""

Item = tuple[Any, ...]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class GroupCommit:
    """Requests queue here; one task writes every waiting request in one transaction."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Any]]]) -> None:
        self.write = write
        self.queue: asyncio.Queue[tuple[Item, asyncio.Future[Any]]] = asyncio.Queue()
        self.stats: Counter[str] = Counter()

    async def submit(self, item: Item) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((item, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < BATCH:
                batch.append(self.queue.get_nowait())
            started = time.perf_counter()
            try:
                answers = await self.write([item for item, _ in batch])
            except Exception as exc:  # every request of the batch learns it failed
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                future.set_result(answer)
            self.stats.update(batches=1, items=len(batch))
            self.stats["write_ms"] += round((time.perf_counter() - started) * 1000)


class Bus:
    """One pika ``AsyncioConnection``: a confirming publisher channel and a consumer channel."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.confirms: dict[int, asyncio.Future[bool]] = {}
        self.tag = 0
        self.jobs: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.connection: Any = None
        self.publisher: Any = None
        self.consumer: Any = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        self.connection = AsyncioConnection(
            pika.URLParameters(self.url),
            on_open_callback=opened.set_result,
            on_open_error_callback=lambda _c, e: opened.set_exception(RuntimeError(repr(e))),
            custom_ioloop=loop,
        )
        await opened
        self.publisher = await self.channel()
        await self.call(
            self.publisher.queue_declare,
            QUEUE,
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        await self.call(self.publisher.confirm_delivery, self.on_confirm, key="callback")
        self.consumer = await self.channel()
        await self.call(self.consumer.basic_qos, prefetch_count=PREFETCH)
        self.consumer.basic_consume(QUEUE, self.on_message)

    async def channel(self) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.connection.channel(on_open_callback=future.set_result)
        return await future

    async def call(self, method: Any, *args: Any, key: str = "callback", **kwargs: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        method(*args, **{key: future.set_result}, **kwargs)
        return await future

    def publish(self, body: bytes) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.publisher.basic_publish("", QUEUE, body, PERSISTENT)
        self.tag += 1
        self.confirms[self.tag] = future
        return future

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [t for t in self.confirms if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            future = self.confirms.pop(tag, None)
            if future is not None and not future.done():
                future.set_result(ok)

    def on_message(self, _channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        self.jobs.put_nowait((method.delivery_tag, body))

    def ack(self, tag: int) -> None:
        self.consumer.basic_ack(tag)

    def drop(self, tag: int) -> None:
        self.consumer.basic_nack(tag, requeue=False)

    def requeue(self, tag: int) -> None:
        self.consumer.basic_nack(tag, requeue=True)


class Floor:
    """The floor pipeline; :meth:`start` connects, ``app`` serves."""

    def __init__(self, database: str, amqp: str, sink: str, departments: list[str]) -> None:
        self.database, self.sink, self.departments = database, sink, departments
        self.bus = Bus(amqp)
        self.tokens: dict[str, str] = {}
        self.pushes = GroupCommit(self.write_pushes)
        self.claims = GroupCommit(self.write_claims)
        self.to_publish: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.callbacks = asyncio.Semaphore(CALLBACKS_IN_FLIGHT)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.conns: dict[str, psycopg.AsyncConnection[Any]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.deliver_stats: Counter[str] = Counter()
        self.publish_stats: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None
        self.app = Starlette(
            routes=[
                Route("/messages", self.push, methods=["POST"]),
                Route("/deliveries/{delivery_id}/claim", self.claim, methods=["POST"]),
                Route("/stats", self.stats, methods=["GET"]),
            ]
        )

    async def start(self, token_departments: list[str]) -> dict[str, str]:
        """Connect everything; issue one token per department (stored hashed)."""
        for name in ("push", "claim", "deliver0", "deliver1", "outbox"):
            self.conns[name] = await psycopg.AsyncConnection.connect(self.database, autocommit=True)
            self.locks[name] = asyncio.Lock()
        conn = self.conns["push"]
        await conn.execute(SCHEMA)
        issued = {d: secrets.token_urlsafe(24) for d in token_departments}
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO api_tokens VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(token_hash(t), d) for d, t in issued.items()],
            )
            await cur.execute("SELECT token_hash, department_id FROM api_tokens")
            self.tokens = dict(await cur.fetchall())
        await self.bus.start()
        connector = aiohttp.TCPConnector(limit=CALLBACKS_IN_FLIGHT, keepalive_timeout=60)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        )
        for work in (self.pushes.run(), self.claims.run(), self.publish_loop()):
            self.spawn(work)
        for k in range(2):
            self.spawn(self.deliver_loop(f"deliver{k}"))
        return issued

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- HTTP ---------------------------------------------------------------------------------

    def department(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.tokens.get(token_hash(token)) if scheme.lower() == "bearer" else None

    async def push(self, request: Request) -> Response:
        sender = self.department(request)
        if sender is None:
            return JSONResponse({"error": "令牌无效 (invalid token)"}, status_code=401)
        try:
            message = CanonicalMessage.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = {"error": "消息无效 (invalid message)", "problems": exc.error_count()}
            return JSONResponse(problems, status_code=422)
        try:
            inserted = await self.pushes.submit((message,))
        except psycopg.Error:
            return JSONResponse({"error": "账本不可用 (ledger unavailable)"}, status_code=503)
        body = {"message_id": message.message_id, "duplicate": not inserted}
        return JSONResponse(body, status_code=202 if inserted else 200)

    async def stats(self, _request: Request) -> Response:
        """Batches, items and milliseconds per writer since the start (where the time goes)."""
        return JSONResponse(
            {
                "push": self.pushes.stats,
                "claim": self.claims.stats,
                "deliver": self.deliver_stats,
                "publish": self.publish_stats,
            }
        )

    async def claim(self, request: Request) -> Response:
        department = self.department(request)
        if department is None:
            return JSONResponse({"error": "令牌无效 (invalid token)"}, status_code=401)
        delivery_id = request.path_params["delivery_id"]
        try:
            claimed = await self.claims.submit((delivery_id, department))
        except psycopg.Error:
            return JSONResponse({"error": "账本不可用 (ledger unavailable)"}, status_code=503)
        if not claimed:
            return JSONResponse({"error": "不可认领 (not claimable)"}, status_code=409)
        return JSONResponse({"delivery_id": delivery_id, "claim_state": "claimed"})

    # --- writers --------------------------------------------------------------------------------

    async def write_pushes(self, items: list[Item]) -> list[bool]:
        """Insert a batch; True for each push inserted now, False for a duplicate."""
        messages: list[CanonicalMessage] = [item[0] for item in items]
        unique = {m.message_id: m for m in messages}
        payloads = {mid: m.model_dump_json() for mid, m in unique.items()}
        conn = self.conns["push"]
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                INSERT_MESSAGES,
                (
                    list(unique),
                    [m.idempotency_key for m in unique.values()],
                    [m.kind.value for m in unique.values()],
                    [m.sender.department_id for m in unique.values()],
                    [m.source.source_id for m in unique.values()],
                    list(payloads.values()),
                ),
            )
            new = {row[0] for row in await cur.fetchall()}
            rows = [
                (f"D{mid[1:]}.{dept}", mid, dept)
                for mid in payloads
                if mid in new
                for dept in self.departments
            ]
            jobs = [
                f'{{"delivery_id":"{d}","department_id":"{dept}","message":{payloads[mid]}}}'
                for d, mid, dept in rows
            ]
            outbox_ids: list[int] = []
            if rows:
                await self.write_routes(cur, rows, new, jobs)
                outbox_ids = [row[0] for row in await cur.fetchall()]
        for outbox_id, job in zip(outbox_ids, jobs, strict=True):
            self.to_publish.put_nowait((outbox_id, job.encode()))
        answers = []
        for m in messages:  # a second copy in the same batch is a duplicate too
            answers.append(m.message_id in new)
            new.discard(m.message_id)
        return answers

    async def write_routes(
        self, cur: Any, rows: list[tuple[str, str, str]], new: set[str], jobs: list[str]
    ) -> None:
        await cur.execute(INSERT_DELIVERIES, tuple(list(col) for col in zip(*rows, strict=True)))
        types = ["message.accepted"] * len(new) + ["delivery.created"] * len(rows)
        await cur.execute(
            INSERT_EVENTS,
            (
                types,
                [*new, *(r[1] for r in rows)],
                [None] * len(new) + [r[0] for r in rows],
                [None] * len(new) + [r[2] for r in rows],
                ["floor"] * len(types),
            ),
        )
        await cur.execute(INSERT_OUTBOX, (QUEUE, jobs))

    async def write_claims(self, items: list[Item]) -> list[bool]:
        conn = self.conns["claim"]
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(CLAIM, ([i[0] for i in items], [i[1] for i in items]))
            rows = await cur.fetchall()
            if rows:
                ids = [r[0] for r in rows]
                await cur.execute(INSERT_CLAIMS, (ids, [r[2] for r in rows]))
                await cur.execute(
                    INSERT_EVENTS,
                    (
                        ["delivery.claimed"] * len(rows),
                        [r[1] for r in rows],
                        ids,
                        [r[2] for r in rows],
                        [r[2] for r in rows],
                    ),
                )
        claimed = {r[0] for r in rows}
        return [i[0] in claimed for i in items]

    # --- the bus ------------------------------------------------------------------------------

    async def publish_loop(self) -> None:
        while True:
            batch = [await self.to_publish.get()]
            while not self.to_publish.empty():
                batch.append(self.to_publish.get_nowait())
            confirms = [self.bus.publish(body) for _, body in batch]
            self.publish_stats.update(batches=1, items=len(batch))
            self.spawn(self.mark_published([i for i, _ in batch], confirms))

    async def mark_published(self, ids: list[int], confirms: list[asyncio.Future[bool]]) -> None:
        started = time.perf_counter()
        acked = await asyncio.gather(*confirms)
        self.publish_stats["confirm_ms"] += round((time.perf_counter() - started) * 1000)
        done = [i for i, ok in zip(ids, acked, strict=True) if ok]
        async with self.locks["outbox"]:
            await self.conns["outbox"].execute(MARK_PUBLISHED, (done,))

    async def deliver_loop(self, conn: str) -> None:
        while True:
            batch = [await self.bus.jobs.get()]
            while not self.bus.jobs.empty() and len(batch) < PREFETCH:
                batch.append(self.bus.jobs.get_nowait())
            started = time.perf_counter()
            outcomes = await asyncio.gather(*(self.send(body) for _, body in batch))
            sent = time.perf_counter()
            try:
                await self.record(self.conns[conn], outcomes)
            except psycopg.Error as exc:  # not the floor's job (a stale queue?): drop the batch
                print(f"floor: deliver batch dropped: {exc!r}", file=sys.stderr)
                for tag, _ in batch:
                    self.bus.drop(tag)
                continue
            for (tag, _), (_, ok, _) in zip(batch, outcomes, strict=True):
                (self.bus.ack if ok else self.bus.requeue)(tag)
            self.deliver_stats.update(batches=1, items=len(batch))
            self.deliver_stats["send_ms"] += round((sent - started) * 1000)
            self.deliver_stats["write_ms"] += round((time.perf_counter() - sent) * 1000)

    async def send(self, job: bytes) -> tuple[str, bool, str]:
        head = json.loads(job[: job.index(b',"message":')] + b"}")
        delivery_id, dept = head["delivery_id"], head["department_id"]
        body = job[:-1] + b',"purpose":"push","attempt":1}'
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{delivery_id}:push:",
            "X-Hub-Delivery": delivery_id,
        }
        assert self.session is not None
        try:
            async with (
                self.callbacks,
                self.session.post(f"{self.sink}/{dept}", data=body, headers=headers) as response,
            ):
                await response.read()
                return delivery_id, 200 <= response.status < 300, f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return delivery_id, False, type(exc).__name__

    async def record(
        self, conn: psycopg.AsyncConnection[Any], outcomes: list[tuple[str, bool, str]]
    ) -> None:
        ok = [d for d, good, _ in outcomes if good]
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                INSERT_ATTEMPTS,
                (
                    [o[0] for o in outcomes],
                    ["ok" if o[1] else "retryable" for o in outcomes],
                    [o[2] for o in outcomes],
                ),
            )
            if ok:
                await cur.execute(MARK_DELIVERED, (ok,))
                await cur.execute(
                    INSERT_EVENTS,
                    (
                        ["delivery.delivered"] * len(ok),
                        [None] * len(ok),
                        ok,
                        [None] * len(ok),
                        ["floor"] * len(ok),
                    ),
                )


profiler = cProfile.Profile()


async def serve(args: argparse.Namespace) -> None:
    if args.profile:  # SIGUSR1 writes the stats (SIGTERM ends the process at once)
        profiler.enable()
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR1, lambda: profiler.dump_stats(args.profile)
        )
    departments = args.departments.split(",")
    floor = Floor(args.database, args.amqp, args.sink.rstrip("/"), departments)
    tokens = await floor.start(sorted({args.sender, *departments}))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(
        floor.app,
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    asyncio.get_running_loop().call_soon(
        lambda: print(json.dumps({"url": url, "tokens": tokens}), flush=True)
    )
    await server.serve(sockets=[sock])
    os._exit(0)  # the writers, the bus and the pools hold nothing that a stop must keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="postgresql://… (plain psycopg URL)")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--sink", required=True, help="callbacks go to <sink>/<department>")
    parser.add_argument("--departments", default="scjg", help="every push goes to all of them")
    parser.add_argument("--sender", default="xzsp")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", help="write cProfile stats here on SIGUSR1")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
