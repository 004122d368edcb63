"""Open-loop load generator for the hub's push → callback → claim path, in its own process.

Lean on purpose: one asyncio loop (uvloop when installed), a minimal HTTP/1.1 client on raw
asyncio streams with keep-alive connection pools, and a minimal server (``httptools`` parser) on
loopback as the departments' callback sink; no threads, no httpx. (aiohttp's client and server
cost 3–4 times as much CPU here: 0.9–1.4 ms per push, callback and claim against 0.26–0.28.)
The parent (``bench/e2e.py``, or a test) drives it over stdin/stdout, one JSON object a line
(:class:`Loadgen` is the parent's side):

* on start it prints ``{"sink": "http://127.0.0.1:PORT"}``: the departments' callbacks go to
  ``<sink>/dept/<department id>`` (what the routing config under test must name);
* each ``{"op": "run", ...}`` line (the fields of :class:`Spec`) runs one measurement and
  answers ``{"result": {...}}`` (see :meth:`Run.result`), preceded by ``{"progress": n}``
  lines every ``progress_every`` deliveries when asked;
* ``{"op": "quit"}`` ends the process.

A run pushes canonical messages (``POST /messages`` with the sender's bearer token, a unique
``source_id`` per push) either on a schedule (``rate``: open loop, each push sent at its time
whatever the answers; a push the loop starts more than 10 ms late counts as a late start, and
latencies count from the scheduled time) or as fast as possible with at most ``inflight``
pushes outstanding. ``batch`` > 0 sends ``POST /messages:batch`` with that many messages per
request instead, falling back to single pushes (and saying so) when the hub answers 404/405.
Each push callback (``purpose: push``) is answered at once and, when ``claim`` is set, claimed
(``POST /deliveries/{id}/claim`` with the department's token). Per push and recipient the run
records sent, callback received and claim answered (200), in flat arrays (a million pushes
cost ~24 MB).

``python bench/loadgen.py trivial --sink URL`` is the generator's own ceiling: a hub that does
nothing, answering every push at once and calling back at once (``--skip-callback K`` drops
the K-th callback, for the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import secrets
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools

LATE_S = 0.010
"""A scheduled push whose send starts later than this counts as a late start."""
PLACEHOLDER = "__bench_source_id__"
NAN = float("nan")
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Spec:
    """One measurement (the fields of a ``run`` line)."""

    targets: list[str]
    sender_token: str
    dept_tokens: dict[str, str]
    departments: list[str]
    template: dict[str, Any]
    pushes: int
    rate: float | None = None
    inflight: int = 64
    claim: bool = True
    batch: int = 0
    idle_timeout: float = 30.0
    progress_every: int = 0
    prefix: str = field(default_factory=lambda: f"lg{secrets.token_hex(4)}")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99 (nearest rank) of ``values`` in ms; None when there are none."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        if not ordered:
            out[name] = None
            continue
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        out[name] = round(ordered[rank] * 1000, 2)
    return out


class Run:
    """The state of one measurement: what was sent, called back and claimed, and when."""

    def __init__(self, spec: Spec, client: LeanClient) -> None:
        self.spec, self.client = spec, client
        self.fanout = len(spec.departments)
        self.dept_index = {d: k for k, d in enumerate(spec.departments)}
        size = spec.pushes * self.fanout
        self.sent = array("d", [NAN]) * spec.pushes
        self.answered = array("d", [NAN]) * spec.pushes
        self.called = array("d", [NAN]) * size
        self.claimed = array("d", [NAN]) * size
        self.claiming: set[int] = set()
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.first_error: dict[str, str] = {}
        self.late_starts = 0
        self.batch_fallback = False
        self.fallback_gate = asyncio.Semaphore(64)
        self.started = self.pushed = 0.0
        self.last_event = 0.0
        self.progress_mark = spec.progress_every
        self.claims = asyncio.Semaphore(spec.inflight)
        self.tasks: set[asyncio.Task[None]] = set()
        body = json.dumps(spec.template, ensure_ascii=False, separators=(",", ":"))
        self.body_parts = body.split(PLACEHOLDER)
        self.push_headers = {
            "Authorization": f"Bearer {spec.sender_token}",
            "Content-Type": "application/json",
        }

    # --- pushes ---------------------------------------------------------------------------------

    def body(self, i: int) -> bytes:
        return f"{self.spec.prefix}-{i}".join(self.body_parts).encode()

    def target(self, i: int) -> str:
        return self.spec.targets[i % len(self.spec.targets)]

    def error(self, kind: str, text: str) -> None:
        self.errors[kind] += 1
        self.first_error.setdefault(kind, text[:300])

    async def push_one(self, i: int, due: float) -> None:
        self.sent[i] = due
        try:
            status, text = await self.client.post(
                f"{self.target(i)}/messages", self.body(i), self.push_headers
            )
        except ClientFailure as exc:
            self.error(f"push:{exc}", repr(exc.__cause__))
            return
        if status in (200, 202):
            self.accept(i)
        else:
            self.error(f"push:http_{status}", text.decode(errors="replace"))

    def accept(self, i: int) -> None:
        now = time.perf_counter()
        self.answered[i] = now
        self.counts["accepted"] += 1
        self.last_event = now

    async def gated_push(self, i: int) -> None:
        async with self.fallback_gate:
            await self.push_one(i, time.perf_counter())

    async def push_batch(self, indexes: list[int]) -> None:
        if self.batch_fallback:
            await asyncio.gather(*(self.gated_push(i) for i in indexes))
            return
        now = time.perf_counter()
        for i in indexes:
            self.sent[i] = now
        data = b'{"messages":[' + b",".join(self.body(i) for i in indexes) + b"]}"
        try:
            status, answer = await self.client.post(
                f"{self.target(indexes[0])}/messages:batch", data, self.push_headers
            )
        except ClientFailure as exc:
            self.errors[f"push:{exc}"] += len(indexes)
            self.first_error.setdefault(f"push:{exc}", repr(exc.__cause__))
            return
        text = answer.decode(errors="replace")
        if status in (404, 405):
            self.batch_fallback = True
            await self.push_batch(indexes)
        elif status != 200:
            self.errors[f"push:http_{status}"] += len(indexes)
            self.first_error.setdefault(f"push:http_{status}", text[:300])
        else:
            self.batch_results(indexes, json.loads(text).get("results", []))

    def batch_results(self, indexes: list[int], results: list[dict[str, Any]]) -> None:
        answered = set()
        for item in results:
            i = indexes[int(item["index"])]
            answered.add(i)
            if item.get("status") in (200, 202):
                self.accept(i)
            else:
                self.error(f"push:batch_{item.get('status')}", json.dumps(item)[:300])
        for i in indexes:
            if i not in answered:
                self.error("push:batch_no_result", f"index {indexes.index(i)}")

    async def scheduled(self, rate: float) -> None:
        """Open loop: push i at ``started + i / rate``, whatever the answers."""
        for i in range(self.spec.pushes):
            due = self.started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > LATE_S:
                self.late_starts += 1
            self.spawn(self.push_one(i, due))
        await self.drain()

    async def closed_loop(self) -> None:
        """As fast as possible, at most ``inflight`` pushes (or batches) outstanding."""
        if self.spec.batch > 0:
            chunks = iter(range(0, self.spec.pushes, self.spec.batch))

            async def worker() -> None:
                for start in chunks:
                    stop = min(start + self.spec.batch, self.spec.pushes)
                    await self.push_batch(list(range(start, stop)))

        else:
            indexes = iter(range(self.spec.pushes))

            async def worker() -> None:
                for i in indexes:
                    await self.push_one(i, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(self.spec.inflight)))

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    # --- callbacks and claims -------------------------------------------------------------------

    def slot(self, source_id: str, dept: str) -> int | None:
        prefix, _, number = source_id.rpartition("-")
        if prefix != self.spec.prefix or dept not in self.dept_index or not number.isdigit():
            return None
        i = int(number)
        return i * self.fanout + self.dept_index[dept] if i < self.spec.pushes else None

    def callback(self, dept: str, body: dict[str, Any]) -> None:
        if body.get("purpose") != "push":
            self.counts["callbacks_other"] += 1
            return
        slot = self.slot(str(body["message"]["source"]["source_id"]), dept)
        if slot is None:
            self.counts["callbacks_foreign"] += 1
            return
        now = time.perf_counter()
        self.last_event = now
        if not math.isnan(self.called[slot]):
            self.counts["callbacks_duplicate"] += 1
        else:
            self.called[slot] = now
            self.counts["delivered"] += 1
            self.progress()
        if self.spec.claim and math.isnan(self.claimed[slot]) and slot not in self.claiming:
            self.claiming.add(slot)
            self.spawn(self.claim(slot, dept, str(body["delivery_id"])))

    def progress(self) -> None:
        if self.progress_mark and self.counts["delivered"] >= self.progress_mark:
            print(json.dumps({"progress": self.counts["delivered"]}), flush=True)
            self.progress_mark += self.spec.progress_every

    async def claim(self, slot: int, dept: str, delivery_id: str) -> None:
        headers = {"Authorization": f"Bearer {self.spec.dept_tokens[dept]}"}
        url = f"{self.target(slot)}/deliveries/{delivery_id}/claim"
        try:
            async with self.claims:
                status, text = await self.client.post(url, b"", headers)
        except ClientFailure as exc:
            self.error(f"claim:{exc}", repr(exc.__cause__))
            return
        finally:
            self.claiming.discard(slot)
        if status == 200:
            self.claimed[slot] = self.last_event = time.perf_counter()
            self.counts["claimed"] += 1
        else:
            self.error(f"claim:http_{status}", text.decode(errors="replace"))

    # --- the whole run --------------------------------------------------------------------------

    @property
    def expected(self) -> int:
        return self.spec.pushes * self.fanout

    def complete(self) -> bool:
        """Every accepted push delivered (and claimed): nothing more can come."""
        key = "claimed" if self.spec.claim else "delivered"
        return self.counts[key] >= self.counts["accepted"] * self.fanout and not self.claiming

    def idle(self) -> bool:
        return time.perf_counter() - self.last_event > self.spec.idle_timeout

    async def execute(self) -> dict[str, Any]:
        self.started = self.last_event = time.perf_counter()
        if self.spec.rate:
            await self.scheduled(self.spec.rate)
        else:
            await self.closed_loop()
        self.pushed = time.perf_counter()
        while not self.complete() and not self.idle():
            await asyncio.sleep(0.005)
        await self.drain()
        return self.result()

    def rate(self, times: array[float]) -> float | None:
        done = [t for t in times if not math.isnan(t)]
        return round(len(done) / (max(done) - self.started), 1) if done else None

    def latencies(self, times: array[float]) -> list[float]:
        return [
            t - self.sent[slot // self.fanout]
            for slot, t in enumerate(times)
            if not math.isnan(t) and not math.isnan(self.sent[slot // self.fanout])
        ]

    def result(self) -> dict[str, Any]:
        return {
            "pushes": self.spec.pushes,
            "fanout": self.fanout,
            "expected": self.expected,
            "accepted": self.counts["accepted"],
            "delivered": self.counts["delivered"],
            "claimed": self.counts["claimed"],
            "never_delivered": self.expected - self.counts["delivered"],
            "never_claimed": self.expected - self.counts["claimed"] if self.spec.claim else None,
            "accepted_per_s": self.rate(self.answered),
            "delivered_per_s": self.rate(self.called),
            "claimed_per_s": self.rate(self.claimed),
            "push_callback_ms": percentiles(self.latencies(self.called)),
            "push_claim_ms": percentiles(self.latencies(self.claimed)),
            "errors": dict(self.errors),
            "first_error": self.first_error,
            "late_starts": self.late_starts,
            "callbacks_duplicate": self.counts["callbacks_duplicate"],
            "callbacks_foreign": self.counts["callbacks_foreign"],
            "batch_fallback": self.batch_fallback,
            "push_seconds": round(self.pushed - self.started, 3),
            "elapsed_s": round(time.perf_counter() - self.started, 3),
        }


# --- lean HTTP/1.1: a keep-alive client pool and the sink server -------------------------------


class ClientFailure(Exception):
    """A request that got no HTTP answer (connection refused or lost, timeout, bad answer)."""


class LeanClient:
    """HTTP/1.1 POSTs on keep-alive connections, one idle pool per host:port (no threads)."""

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self.idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, Any]]] = {}

    async def post(
        self, url: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (head + "\r\n").encode("latin-1") + body
        pool = self.idle.setdefault((host, port), [])
        try:
            return await asyncio.wait_for(self._exchange(pool, host, port, request), self.timeout)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            raise ClientFailure(type(exc).__name__) from exc

    async def _exchange(
        self, pool: list[tuple[asyncio.StreamReader, Any]], host: str, port: int, request: bytes
    ) -> tuple[int, bytes]:
        reused = bool(pool)
        reader, writer = pool.pop() if pool else await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            status, body, keep = await self._response(reader)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            if not reused:
                raise
            return await self._exchange(pool, host, port, request)  # a stale idle connection
        if keep:
            pool.append((reader, writer))
        else:
            writer.close()
        return status, body

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        if fields.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        else:
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        return status, body, fields.get("connection") != "close"

    def close(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()
        self.idle.clear()


def response(status: int, body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response with a JSON body."""
    reason = {200: "OK", 202: "Accepted", 404: "Not Found"}.get(status, "Status")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


RECEIPT = response(200, b'{"receipt":"ok"}')
NOT_FOUND = response(404)


class MiniServer(asyncio.Protocol):
    """A minimal HTTP/1.1 server connection (``httptools``): ``handle(url, body)`` → response."""

    def __init__(self, handle: Callable[[str, bytes], bytes]) -> None:
        self.handle = handle
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url.decode(), b"".join(self.body)
        self.url, self.body = b"", []
        self.transport.write(self.handle(url, body))
        if not self.parser.should_keep_alive():
            self.transport.close()


# --- the generator process -------------------------------------------------------------------


class Generator:
    """The sink server and client pool shared by the runs of one process."""

    def __init__(self) -> None:
        self.run: Run | None = None

    def on_request(self, url: str, raw: bytes) -> bytes:
        if not url.startswith("/dept/"):
            return NOT_FOUND
        if self.run is not None:
            self.run.callback(url[len("/dept/") :], json.loads(raw))
        return RECEIPT

    async def serve(self, host: str = "127.0.0.1") -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: MiniServer(self.on_request), host, 0)
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"sink": f"http://{host}:{port}"}), flush=True)
        client = LeanClient()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("op") != "run":
                break
            spec = Spec(**{k: v for k, v in command.items() if k != "op"})
            self.run = Run(spec, client)
            result = await self.run.execute()
            self.run = None
            print(json.dumps({"result": result}), flush=True)
        client.close()
        server.close()


# --- a hub that does nothing: the generator's own ceiling ------------------------------------


class TrivialHub:
    """Answers pushes and claims at once; calls each recipient back at once."""

    def __init__(self, sink: str, departments: list[str], skip_callback: int | None) -> None:
        self.sink, self.departments, self.skip = sink, departments, skip_callback
        self.callbacks = itertools.count()
        self.client = LeanClient()
        self.tasks: set[asyncio.Task[None]] = set()

    async def callback(self, message: dict[str, Any], dept: str, delivery_id: str) -> None:
        if next(self.callbacks) == self.skip:
            return
        payload = {"delivery_id": delivery_id, "purpose": "push", "message": message}
        body = json.dumps(payload, ensure_ascii=False).encode()
        with contextlib.suppress(ClientFailure):
            await self.client.post(f"{self.sink}/dept/{dept}", body, JSON_HEADERS)

    def accept(self, message: dict[str, Any]) -> str:
        message_id = f"M{message['source']['source_id']}"
        for dept in self.departments:
            task = asyncio.get_running_loop().create_task(
                self.callback(message, dept, f"{message_id}.{dept}")
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return message_id

    def on_request(self, url: str, raw: bytes) -> bytes:
        if url == "/messages":
            message_id = self.accept(json.loads(raw))
            return response(202, json.dumps({"message_id": message_id}).encode())
        if url == "/messages:batch":
            results = [
                {"index": k, "status": 202, "message_id": self.accept(m), "duplicate": False}
                for k, m in enumerate(json.loads(raw)["messages"])
            ]
            return response(200, json.dumps({"results": results}).encode())
        if url.startswith("/deliveries/") and url.endswith("/claim"):
            return response(200, b'{"state":"claimed"}')
        return NOT_FOUND

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: MiniServer(self.on_request), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # until the parent closes stdin
        self.client.close()
        server.close()


# --- the parent's side -----------------------------------------------------------------------

HERE = Path(__file__).resolve()


class Child:
    """A ``bench/loadgen.py`` child process speaking JSON lines."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.hello = self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{HERE.name} exited ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Loadgen(Child):
    """The generator process: ``sink`` is where callbacks must go; :meth:`run` measures."""

    def __init__(self) -> None:
        super().__init__("serve")
        self.sink: str = self.hello["sink"]

    def run(self, spec: Spec, on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        self.send({"op": "run", **asdict(spec)})
        while True:
            answer = self.read()
            if "result" in answer:
                result: dict[str, Any] = answer["result"]
                return result
            if on_progress is not None:
                on_progress(int(answer["progress"]))


@contextlib.contextmanager
def loadgen() -> Iterator[Loadgen]:
    generator = Loadgen()
    try:
        yield generator
    finally:
        generator.close()


@contextlib.contextmanager
def trivial_hub(
    sink: str, departments: list[str], skip_callback: int | None = None
) -> Iterator[tuple[str, int]]:
    """A :class:`TrivialHub` child process; yields its URL and process id."""
    args = ["trivial", "--sink", sink, "--departments", ",".join(departments)]
    if skip_callback is not None:
        args += ["--skip-callback", str(skip_callback)]
    child = Child(*args)
    try:
        yield str(child.hello["url"]), child.proc.pid
    finally:
        child.close()


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve", help="the generator (JSON lines on stdin/stdout)")
    trivial = sub.add_parser("trivial", help="a hub that answers and calls back at once")
    trivial.add_argument("--sink", required=True)
    trivial.add_argument("--departments", default="scjg")
    trivial.add_argument("--skip-callback", type=int, default=None)
    args = parser.parse_args()
    install_uvloop()
    if args.mode == "serve":
        asyncio.run(Generator().serve())
    else:
        hub = TrivialHub(args.sink, args.departments.split(","), args.skip_callback)
        asyncio.run(hub.serve())


if __name__ == "__main__":
    main()
