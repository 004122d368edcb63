"""End-to-end benchmark of the hub on RabbitMQ + PostgreSQL and on its embedded default.

push (HTTP POST /messages) → route → deliver (HTTP callback to a department sink on loopback) →
claim (HTTP POST /deliveries/{id}/claim). In one run it measures, as medians of ``--runs``:

* RabbitMQ (``PikaBus``) + PostgreSQL, one recipient per push, with one hub process and with
  ``--processes`` (default 2) sharing the ledger and broker, and fan-out 3 (the approval route
  sends each push to three departments): pushes accepted/s, delivered/s, claimed/s and the
  push-sent → callback-received latency p50/p99;
* the same on the embedded default (SQLite + ``memory://``);
* the raw pika baseline (``bench/raw_pika.py``: quorum queue, persistent messages the size of
  the canonical message JSON, confirm window 100) and the ratio hub claimed/s ÷ raw msgs/s;
* latency of a paced run at half the best measured rate (RabbitMQ + PostgreSQL, fan-out 1).
``--quick`` runs only the RabbitMQ + PostgreSQL fan-out 1 and paced cases.

``--backfill N`` is a separate mode: N pushes as fast as possible on RabbitMQ + PostgreSQL, the
time until all are delivered (no claims), and the hub process's memory every 10,000 deliveries.

Each hub runs in a child process (``build_service`` + uvicorn, as ``hub run`` does), so its GIL
is not shared with the load generator: 8 sender threads and 8 claimer threads (one
``httpx.Client`` each, spread over the hubs' APIs) and the department sink run in this process.
RSS is the child's ``VmRSS``/``VmHWM``. A throw-away PostgreSQL database and RabbitMQ vhost
are created and removed.

    .venv/bin/python bench/e2e.py --pushes 2000 --runs 3 [--processes 2] [--quick]
    .venv/bin/python bench/e2e.py --backfill 100000 [--processes 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pika
import psycopg
from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import raw_pika  # noqa: E402

from tests.support.servers import ServerThread  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/{vhost}"
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
SAMPLE = json.loads(
    next((ROOT / "hub" / "samples" / "guanxian").glob("01*.json")).read_text(encoding="utf-8")
)
SENDER = "xzsp"
FANOUT3 = ["scjg", "zjj", "fgw"]
EXTRA_DEPARTMENT = """  - id: fgw
    name: 测试县发展和改革局
    channels:
      platform: {endpoint: "http://127.0.0.1:9/fgw"}
      email: {addresses: ["fgw@dept.test"]}
      paper: {address: 测试县发改局}
    escalation:
      - {to: xzsp, action: remind}
policies:"""
THREADS = 8


def routing_text(sink_url: str, fanout: int) -> str:
    text = MINIMAL.replace("policies:", EXTRA_DEPARTMENT, 1)
    if fanout == 3:
        text = text.replace("to: [scjg]", f"to: [{', '.join(FANOUT3)}]", 1)
    return text.replace("http://127.0.0.1:9/", f"{sink_url}/dept/")


# --- the hub, in a child process ---------------------------------------------------------------


def hub_child(database_url: str, broker_url: str, routing: str, tmp: str, conn: Any) -> None:
    from hub.logging import configure_logging
    from hub.routing import load_routing_text
    from hub.service import Settings, build_service

    configure_logging("ERROR")
    settings = Settings(
        database_url=database_url,
        broker_url=broker_url,
        paper_spool=Path(tmp) / "paper",
        blob_dir=Path(tmp) / "blobs",
        email=None,
    )
    service = build_service(settings, routing=load_routing_text(routing))
    service.start()
    with ServerThread(service.app) as api:
        tokens = {d: service.hub.issue_token(d) for d in [SENDER, *FANOUT3]}
        conn.send((api.url, tokens))
        conn.recv()  # stop
    service.stop()
    conn.send("stopped")


@contextmanager
def hub_process(database_url: str, broker_url: str, routing: str) -> Iterator[HubHandle]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ctx.Process(
            target=hub_child, args=(database_url, broker_url, routing, tmp, child), daemon=True
        )
        proc.start()
        if not wait_until(lambda: parent.poll() or not proc.is_alive(), 120) or not parent.poll():
            proc.kill()
            raise SystemExit("the hub did not start")
        url, tokens = parent.recv()
        try:
            yield HubHandle(url, tokens, proc.pid)
        finally:
            parent.send("stop")
            parent.poll(30)
            proc.join(10)
            if proc.is_alive():
                proc.kill()


@contextmanager
def hub_processes(
    database_url: str, broker_url: str, routing: str, n: int
) -> Iterator[list[HubHandle]]:
    """``n`` hub processes on one ledger and broker (the first one migrates the ledger)."""
    with ExitStack() as stack:
        hubs = [stack.enter_context(hub_process(database_url, broker_url, routing))]
        hubs += [
            stack.enter_context(hub_process(database_url, broker_url, routing))
            for _ in range(n - 1)
        ]
        yield hubs


@dataclass
class HubHandle:
    url: str
    tokens: dict[str, str]
    pid: int

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the hub process, in KiB."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
        return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


# --- departments: the callback sink and the claimers -------------------------------------------


@dataclass
class Sink:
    claim: bool = True
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    to_claim: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)
    last_arrival: float = 0.0

    def reset(self) -> None:
        with self.lock:
            self.arrived = {}
        self.to_claim = queue.Queue()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/dept/{dept}")
        async def callback(dept: str, request: Request) -> dict[str, str]:
            now = time.perf_counter()
            body = json.loads(await request.body())
            if body["purpose"] == "push":
                key = (body["message"]["source"]["source_id"], dept)
                with self.lock:
                    if key not in self.arrived:
                        self.arrived[key] = now
                        self.last_arrival = now
                        if self.claim:
                            self.to_claim.put((dept, body["delivery_id"]))
            return {"receipt": "ok"}

        return app

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


class Claimers:
    def __init__(self, hubs: list[HubHandle], sink: Sink) -> None:
        self.hubs, self.sink = hubs, sink
        self.claimed = self.failed = 0
        self.last = 0.0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._work, args=(hubs[k % len(hubs)],), daemon=True)
            for k in range(THREADS)
        ]
        for t in self.threads:
            t.start()

    def _work(self, hub: HubHandle) -> None:
        with httpx.Client(base_url=hub.url, timeout=60) as client:
            while (item := self.sink.to_claim.get()) is not None:
                dept, delivery_id = item
                r = client.post(
                    f"/deliveries/{delivery_id}/claim",
                    headers={"Authorization": f"Bearer {hub.tokens[dept]}"},
                )
                with self.lock:
                    if r.is_success:
                        self.claimed += 1
                        self.last = time.perf_counter()
                    else:
                        self.failed += 1
                        if self.failed == 1:
                            print(f"  ! claim: {r.status_code} {r.text[:300]}", file=sys.stderr)

    def stop(self) -> None:
        for _ in self.threads:
            self.sink.to_claim.put(None)
        for t in self.threads:
            t.join(60)


# --- load -----------------------------------------------------------------------------------


def push_body(source_id: str) -> bytes:
    source = {**SAMPLE["source"], "source_id": source_id}
    body = {**SAMPLE, "recipients": ["scjg"], "source": source}
    return json.dumps(body, ensure_ascii=False).encode()


class Senders:
    """``THREADS`` threads push ``n`` messages, at most ``rate`` per second when given."""

    def __init__(
        self, hubs: list[HubHandle], prefix: str, n: int, rate: float | None = None
    ) -> None:
        self.hubs, self.prefix, self.n, self.rate = hubs, prefix, n, rate
        self.sent: dict[str, float] = {}
        self.accepted = self.failed = 0
        self.lock = threading.Lock()
        self.next = itertools.count()
        self.started = self.finished = 0.0

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._work, args=(self.hubs[k % len(self.hubs)],), daemon=True)
            for k in range(THREADS)
        ]
        self.started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.finished = time.perf_counter()

    def _work(self, hub: HubHandle) -> None:
        headers = {
            "Authorization": f"Bearer {hub.tokens[SENDER]}",
            "Content-Type": "application/json",
        }
        with httpx.Client(base_url=hub.url, timeout=60, headers=headers) as client:
            while (i := next(self.next)) < self.n:
                if self.rate:
                    delay = self.started + i / self.rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                source_id = f"{self.prefix}-{i}"
                content = push_body(source_id)
                self.sent[source_id] = time.perf_counter()
                r = client.post("/messages", content=content)
                with self.lock:
                    if r.is_success:
                        self.accepted += 1
                    else:
                        self.failed += 1
                        if self.failed == 1:
                            print(f"  ! push: {r.status_code} {r.text[:300]}", file=sys.stderr)


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def measure(
    hubs: list[HubHandle], sink: Sink, n: int, fanout: int, rate: float | None = None
) -> dict[str, float]:
    """One run: n pushes (fan-out deliveries each), all delivered and claimed."""
    sink.reset()
    prefix = f"b{secrets.token_hex(4)}"
    claimers = Claimers(hubs, sink)
    senders = Senders(hubs, prefix, n, rate)
    senders.run()
    expected = n * fanout
    timeout = 60 + expected / 20
    if not wait_until(lambda: sink.count() >= expected, timeout):
        print(f"  ! only {sink.count()} of {expected} deliveries arrived", file=sys.stderr)
    wait_until(lambda: claimers.claimed + claimers.failed >= sink.count(), timeout)
    claimers.stop()
    if senders.failed or claimers.failed:
        print(f"  ! {senders.failed} pushes, {claimers.failed} claims failed", file=sys.stderr)
    with sink.lock:
        latencies = [(t - senders.sent[sid]) * 1000 for (sid, _), t in sink.arrived.items()]
    start = senders.started
    return {
        "accepted_per_s": senders.accepted / (senders.finished - start),
        "delivered_per_s": len(latencies) / (sink.last_arrival - start),
        "claimed_per_s": claimers.claimed / (claimers.last - start) if claimers.claimed else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
    }


def scenario(
    database_url: Any,
    broker_url: str,
    fanout: int,
    args: Any,
    sink: Sink,
    sink_url: str,
    rate: float | None = None,
    processes: int = 1,
) -> dict[str, float]:
    runs = []
    url = database_url()
    with hub_processes(url, broker_url, routing_text(sink_url, fanout), processes) as hubs:
        measure(hubs, sink, max(50, args.pushes // 10), fanout)  # warm-up, not counted
        for _ in range(args.runs):
            runs.append(measure(hubs, sink, args.pushes, fanout, rate))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# --- throw-away servers ----------------------------------------------------------------------


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    vhost = f"hub_bench_{secrets.token_hex(4)}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        url = AMQP.format(vhost=vhost)
        wait_until(lambda: _can_connect(url), 30)
        yield url
    finally:
        done = subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)
        if done.returncode:
            print(f"  ! could not delete vhost {vhost}: {done.stderr!r}", file=sys.stderr)


def _can_connect(url: str) -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError:
        time.sleep(0.2)
        return False
    return True


def raw_baseline(broker_url: str, messages: int, runs: int) -> float:
    raw_pika.BODY = json.dumps(SAMPLE, ensure_ascii=False).encode()
    args = argparse.Namespace(
        messages=messages, window=100, prefetch=100, adapter="select", queue_type="quorum"
    )
    parameters = pika.URLParameters(broker_url)
    return statistics.median(raw_pika.one_run(parameters, args)[1] for _ in range(runs))


# --- reports ---------------------------------------------------------------------------------


def line(label: str, m: dict[str, float], unit: str = "") -> str:
    return (
        f"  {label:<34} accepted/s {m['accepted_per_s']:7.0f}  delivered/s "
        f"{m['delivered_per_s']:7.0f}  claimed/s {m['claimed_per_s']:7.0f}{unit}  "
        f"p50 {m['p50_ms']:7.1f} ms  p99 {m['p99_ms']:7.1f} ms"
    )


def main_benchmark(args: Any) -> None:
    sink = Sink()
    size = len(push_body("b0000000-0"))
    n = args.processes
    with ServerThread(sink.app()) as endpoint, pg_database() as pg, rabbit_vhost() as amqp:
        url, results = endpoint.url, {}
        results["rabbit1"] = scenario(lambda: pg, amqp, 1, args, sink, url)
        if n > 1:
            results["rabbitN"] = scenario(lambda: pg, amqp, 1, args, sink, url, processes=n)
        best = max(results.values(), key=lambda m: m["claimed_per_s"])
        if not args.quick:
            results["rabbit3"] = scenario(lambda: pg, amqp, 3, args, sink, url, processes=n)
        half = best["claimed_per_s"] / 2
        results["paced"] = scenario(lambda: pg, amqp, 1, args, sink, url, rate=half, processes=n)
        if not args.quick:
            with tempfile.TemporaryDirectory() as tmp:
                sqlite = iter(f"sqlite:///{tmp}/hub{i}.db" for i in itertools.count())
                results["embedded1"] = scenario(
                    lambda: next(sqlite), "memory://", 1, args, sink, url
                )
                results["embedded3"] = scenario(
                    lambda: next(sqlite), "memory://", 3, args, sink, url
                )
        raw = raw_baseline(amqp, args.raw_messages, args.runs)
    print(
        f"hub end to end, {args.pushes} pushes × {args.runs} runs (medians), message {size} B, "
        f"{THREADS} sender + {THREADS} claimer threads, hubs in child processes"
    )
    print(line("RabbitMQ + PostgreSQL, fan-out 1", results["rabbit1"]))
    if n > 1:
        print(line(f"  same, {n} hub processes", results["rabbitN"]))
    if not args.quick:
        print(line(f"  fan-out 3, {n} process(es)", results["rabbit3"], " (deliveries)"))
    print(line(f"  paced at {half:.0f}/s, {n} process(es)", results["paced"]))
    if not args.quick:
        print(line("SQLite + memory://, fan-out 1", results["embedded1"]))
        print(line("SQLite + memory://, fan-out 3", results["embedded3"], " (deliveries)"))
    print(
        f"  raw pika (quorum, persistent {size} B, confirm window 100): {raw:,.0f} msgs/s end to "
        f"end in the same run"
    )
    for key, label in (("rabbit1", "1 process"), ("rabbitN", f"{n} processes")):
        if key in results:
            hub = results[key]["claimed_per_s"]
            print(f"  ratio hub claimed/s ÷ raw, {label}: {hub:.1f} / {raw:,.0f} = {hub / raw:.4f}")


def main_backfill(args: Any) -> None:
    sink = Sink(claim=False)
    with (
        ServerThread(sink.app()) as endpoint,
        pg_database() as pg,
        rabbit_vhost() as amqp,
        hub_processes(pg, amqp, routing_text(endpoint.url, 1), args.processes) as hubs,
    ):
        hub = hubs[0]
        print(
            f"backfill {args.backfill} pushes, RabbitMQ + PostgreSQL, fan-out 1, no claims, "
            f"{len(hubs)} hub process(es); RSS of the first"
        )
        print(f"  hub RSS at start: {hub.memory_kib()[0] / 1024:.0f} MiB")
        senders = Senders(hubs, f"bf{secrets.token_hex(4)}", args.backfill)
        pusher = threading.Thread(target=senders.run)
        pusher.start()
        for mark in range(args.rss_every, args.backfill + 1, args.rss_every):
            wait_until(lambda m=mark: sink.count() >= m, 3600)
            rss, hwm = hub.memory_kib()
            print(f"  {mark:>7} delivered: RSS {rss / 1024:.0f} MiB, peak {hwm / 1024:.0f} MiB")
        pusher.join()
        pushed = senders.finished - senders.started
        wait_until(lambda: sink.count() >= args.backfill, 3600)
        drained = sink.last_arrival - senders.started
        rss, hwm = hub.memory_kib()
    print(
        f"  pushed in {pushed:.1f} s ({senders.accepted / pushed:.0f}/s), all delivered after "
        f"{drained:.1f} s ({sink.count() / drained:.0f}/s); end: RSS {rss / 1024:.0f} MiB, "
        f"peak {hwm / 1024:.0f} MiB; failed pushes {senders.failed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--raw-messages", type=int, default=20000)
    parser.add_argument("--backfill", type=int, nargs="?", const=100_000, default=None)
    parser.add_argument(
        "--processes", type=int, default=2, help="hub processes sharing the ledger and broker"
    )
    parser.add_argument(
        "--quick", action="store_true", help="RabbitMQ + PostgreSQL fan-out 1 and paced only"
    )
    parser.add_argument("--rss-every", type=int, default=10_000, help="backfill: RSS sample step")
    args = parser.parse_args()
    if args.backfill:
        main_backfill(args)
    else:
        main_benchmark(args)


if __name__ == "__main__":
    main()
