"""End-to-end benchmark: the hub beside the floor, raw pika and the load generator's own ceiling.

push (``POST /messages``) → route → deliver (HTTP callback to a department sink on loopback) →
claim (``POST /deliveries/{id}/claim``). In ONE run, on RabbitMQ + PostgreSQL (a throw-away
database per server under test and a throw-away vhost), as medians of ``--runs``:

* raw pika (``bench/raw_pika.py``: quorum queue, persistent messages the size of the canonical
  message JSON, confirm window 100): the physical reference;
* the load generator's ceiling: ``bench/loadgen.py`` against a loopback hub that answers and
  calls back at once;
* the floor (``bench/floor.py``): the necessary work of a durable hub written plainly;
* the hub, fan-out 1 with one process and with ``--processes`` (default 2) sharing the ledger
  and broker, and fan-out 3 beside it (deliveries);
* the embedded default (SQLite + ``memory://``), fan-out 1;
* a paced (open-loop) run of the hub at half its best claimed/s: p99 push→claim.

Headline: ``hub claimed/s ÷ floor claimed/s`` (and the embedded ratio). A case where not every
push was claimed gets no rate: the table says what was missing (未全部认领 not all claimed:
997/1000) and the script exits 1 at the end. The server under test and the generator each run
in their own process; the CPU columns are the server's and the generator's CPU time (``/proc``)
per push over the measured runs, which the other load on the machine does not inflate.

``--quick``: raw pika, the ceiling, the floor, the hub with one process and the paced run, 500
pushes, one run. ``--only floor`` (or ``ceiling``, ``raw``): that case alone.

``--backfill N``: N messages through ``POST /messages:batch`` (500 per request; single pushes,
said so, when the hub answers 404/405), time until all are delivered (no claims) and the RSS
of every hub process each ``--rss-every`` deliveries. ``--backfill 1000000 --rss-every 100000``
is the "RSS flat from 10,000 to 1,000,000" mode (hours at today's rates).

    .venv/bin/python bench/e2e.py --pushes 2000 --runs 3 [--processes 2] [--quick]
    .venv/bin/python bench/e2e.py --only floor
    .venv/bin/python bench/e2e.py --backfill 100000 --rss-every 10000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402
import raw_pika  # noqa: E402

from tests.support.servers import ServerThread, free_port  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/{vhost}"
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
SAMPLE = json.loads(
    next((ROOT / "hub" / "samples" / "guanxian").glob("01*.json")).read_text(encoding="utf-8")
)
SENDER = "xzsp"
FANOUT1 = ["scjg"]
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
TEMPLATE = {
    **SAMPLE,
    "recipients": ["scjg"],
    "source": {**SAMPLE["source"], "source_id": loadgen.PLACEHOLDER},
}
IN_FLIGHT = [64]
"""Pushes outstanding at once in an unpaced run (``--inflight``)."""
IDLE_TIMEOUT = 30.0
MISSING = "未全部认领 not all claimed"


def routing_text(sink_url: str, fanout: int) -> str:
    text = MINIMAL.replace("policies:", EXTRA_DEPARTMENT, 1)
    if fanout == 3:
        text = text.replace("to: [scjg]", f"to: [{', '.join(FANOUT3)}]", 1)
    return text.replace("http://127.0.0.1:9/", f"{sink_url}/dept/")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its waited-for children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / 100  # utime stime cutime cstime, in ticks


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


@dataclass
class Target:
    """A server under test: where to push, the tokens, and the processes doing the work."""

    urls: list[str]
    tokens: dict[str, str]
    pids: list[int]


# --- the hub, in child processes -----------------------------------------------------------


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
def hub_process(database_url: str, broker_url: str, routing: str) -> Iterator[Target]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ctx.Process(
            target=hub_child, args=(database_url, broker_url, routing, tmp, child), daemon=True
        )
        proc.start()
        if not wait_until(lambda: parent.poll() or not proc.is_alive(), 120) or not parent.poll():
            proc.kill()
            raise SystemExit("Hub 未能启动 (the hub did not start)")
        url, tokens = parent.recv()
        assert proc.pid is not None
        try:
            yield Target([url], tokens, [proc.pid])
        finally:
            parent.send("stop")
            parent.poll(30)
            proc.join(10)
            if proc.is_alive():
                proc.kill()


HUB_MODES = {
    "cli": "the hub run / hub api / hub worker commands",
    "service": "build_service + uvicorn child processes",
}
HUB_MODE = {"mode": "service"}
"""``cli``: the ``hub`` entry points as processes; ``service``: build_service + uvicorn."""


@contextmanager
def hubs(database_url: str, broker_url: str, routing: str, n: int) -> Iterator[Target]:
    """``n`` hub processes on one ledger and broker."""
    if HUB_MODE["mode"] == "cli":
        with hub_commands(database_url, broker_url, routing, n) as target:
            yield target
        return
    with ExitStack() as stack:
        first = stack.enter_context(hub_process(database_url, broker_url, routing))
        others = [
            stack.enter_context(hub_process(database_url, broker_url, routing))
            for _ in range(n - 1)
        ]
        yield Target(
            [first.urls[0], *(h.urls[0] for h in others)],
            first.tokens,
            [first.pids[0], *(h.pids[0] for h in others)],
        )


HUB = Path(sys.executable).with_name("hub")


def hub_has_split() -> bool:
    """True when ``hub --help`` lists ``api`` and ``worker`` (the split entry points)."""
    shown = subprocess.run([str(HUB), "--help"], capture_output=True, text=True).stdout
    return " api " in shown and " worker " in shown


def hub_env(database_url: str, broker_url: str, routing: str, tmp: Path) -> dict[str, str]:
    (tmp / "routing.yaml").write_text(routing, encoding="utf-8")
    return {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_BROKER_URL": broker_url,
        "HUB_ROUTING": str(tmp / "routing.yaml"),
        "HUB_PAPER_SPOOL": str(tmp / "paper"),
        "HUB_BLOB_DIR": str(tmp / "blobs"),
        "HUB_LOG_LEVEL": "ERROR",
    }


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def report_errors(logs: Path) -> None:
    """Every ``api.error`` / ``worker.failed`` / traceback a hub logged, on stderr (the logs
    go with the temp dir): a case with errors says why."""
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = [i for i, line in enumerate(lines) if "api.error" in line or "Traceback" in line
               or "worker.failed" in line or "batch_failed" in line]  # fmt: skip
        for i in bad[:3]:
            print(f"  ! {log.name}: " + "\n    ".join(lines[i : i + 12])[:3000], file=sys.stderr)


@contextmanager
def hub_commands(database_url: str, broker_url: str, routing: str, n: int) -> Iterator[Target]:
    """``hub run`` (n = 1), or ``hub api`` + (n − 1) × ``hub worker``: the real entry points."""
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        env = hub_env(database_url, broker_url, routing, tmp)
        tokens = {}
        for department in [SENDER, *FANOUT3]:
            issued = subprocess.run(
                [str(HUB), "token", "issue", department], env=env, capture_output=True, text=True
            )
            if issued.returncode:
                raise SystemExit(f"hub token issue: {issued.stderr[-800:]}")
            tokens[department] = issued.stdout.strip()
        env["HUB_API_PORT"] = str(free_port())
        url = f"http://127.0.0.1:{env['HUB_API_PORT']}"
        commands = [["run"]] if n == 1 else [["api"], *[["worker"]] * (n - 1)]
        procs = [
            stack.enter_context(hub_command(c, env, tmp / f"{c[0]}{k}.log"))
            for k, c in enumerate(commands)
        ]
        if not wait_until(lambda: healthy(url) or procs[0].poll() is not None, 120):
            raise SystemExit(f"Hub 未能启动 (the hub did not start): {url}")
        if procs[0].poll() is not None:
            log = (tmp / f"{commands[0][0]}0.log").read_text(errors="replace")
            raise SystemExit(f"Hub 未能启动 (the hub did not start): {log[-800:]}")
        try:
            yield Target([url], tokens, [p.pid for p in procs])
        finally:
            report_errors(tmp)


@contextmanager
def hub_command(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([str(HUB), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15):
                tail = log.read_text(errors="replace")[-600:]
                print(f"  ! hub {args[0]} exited {proc.returncode}: {tail}", file=sys.stderr)


@contextmanager
def floor_process(database_url: str, broker_url: str, sink: str, fanout: int) -> Iterator[Target]:
    departments = FANOUT3 if fanout == 3 else FANOUT1
    command = [
        sys.executable,
        str(ROOT / "bench" / "floor.py"),
        f"--database={database_url}",
        f"--amqp={broker_url}",
        f"--sink={sink}/dept",
        f"--departments={','.join(departments)}",
        f"--sender={SENDER}",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"floor 未能启动 (the floor did not start): exit {proc.wait()}")
    hello = json.loads(line)
    try:
        yield Target([hello["url"]], hello["tokens"], [proc.pid])
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def trivial(sink: str, fanout: int) -> Iterator[Target]:
    departments = FANOUT3 if fanout == 3 else FANOUT1
    with loadgen.trivial_hub(sink, departments) as (url, pid):
        yield Target([url], {d: "trivial" for d in [SENDER, *FANOUT3]}, [pid])


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Case:
    """The measured runs of one setup."""

    label: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    server_cpu_ms: float | None = None
    loadgen_cpu_ms: float | None = None

    @property
    def complete(self) -> bool:
        return bool(self.runs) and all(r["never_claimed"] == 0 for r in self.runs)

    def median(self, key: str, sub: str | None = None) -> float | None:
        values = [r[key][sub] if sub else r[key] for r in self.runs]
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    @property
    def claimed_per_s(self) -> float:
        return (self.median("claimed_per_s") or 0.0) if self.complete else 0.0

    def missing(self) -> str:
        worst = min(self.runs, key=lambda r: r["claimed"] - r["expected"])
        return f"{MISSING}: {worst['claimed']}/{worst['expected']}"

    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs:
            for kind, count in run["errors"].items():
                total[kind] = total.get(kind, 0) + count
        return total


def spec(target: Target, fanout: int, pushes: int, **extra: Any) -> loadgen.Spec:
    departments = FANOUT3 if fanout == 3 else FANOUT1
    settings: dict[str, Any] = {"inflight": IN_FLIGHT[0], "idle_timeout": IDLE_TIMEOUT, **extra}
    return loadgen.Spec(
        targets=target.urls,
        sender_token=target.tokens[SENDER],
        dept_tokens={d: target.tokens[d] for d in departments},
        departments=departments,
        template=TEMPLATE,
        pushes=pushes,
        **settings,
    )


def measure(
    lg: loadgen.Loadgen,
    target: Target,
    label: str,
    args: Any,
    fanout: int = 1,
    rate: float | None = None,
) -> Case:
    """A warm-up (not counted), then ``args.runs`` runs of ``args.pushes`` pushes."""
    lg.run(spec(target, fanout, max(50, args.pushes // 10)))
    case = Case(label)
    server = sum(cpu_seconds(pid) for pid in target.pids)
    generator = cpu_seconds(lg.proc.pid)
    for _ in range(args.runs):
        case.runs.append(lg.run(spec(target, fanout, args.pushes, rate=rate)))
        if case.runs[-1]["never_claimed"]:
            report_problem(label, case.runs[-1])
    pushes = args.pushes * args.runs
    case.server_cpu_ms = (sum(cpu_seconds(p) for p in target.pids) - server) * 1000 / pushes
    case.loadgen_cpu_ms = (cpu_seconds(lg.proc.pid) - generator) * 1000 / pushes
    print(f"  … {label}: {summary(case)}", file=sys.stderr, flush=True)
    return case


def report_problem(label: str, run: dict[str, Any]) -> None:
    print(
        f"  ! {label}: {run['claimed']}/{run['expected']} claimed, {run['delivered']} delivered, "
        f"{run['accepted']}/{run['pushes']} accepted; errors {run['errors']} "
        f"{json.dumps(run['first_error'], ensure_ascii=False)[:400]}",
        file=sys.stderr,
        flush=True,
    )


def summary(case: Case) -> str:
    if not case.complete:
        return case.missing()
    return f"{case.claimed_per_s:.0f} claimed/s"


# --- throw-away servers ----------------------------------------------------------------------


@contextmanager
def pg_database() -> Iterator[str]:
    """A throw-away database; yields its plain ``postgresql://`` URL."""
    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


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
        time.sleep(0.2)  # between connection attempts
        return False
    return True


def wait_until(predicate: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)  # poll interval
    return False


def raw_baseline(broker_url: str, messages: int, runs: int) -> float:
    raw_pika.BODY = json.dumps(SAMPLE, ensure_ascii=False).encode()
    args = argparse.Namespace(
        messages=messages, window=100, prefetch=100, adapter="select", queue_type="quorum"
    )
    parameters = pika.URLParameters(broker_url)
    return statistics.median(raw_pika.one_run(parameters, args)[1] for _ in range(runs))


# --- the cases -------------------------------------------------------------------------------


@dataclass
class Bench:
    lg: loadgen.Loadgen
    amqp: str
    args: Any
    stack: ExitStack
    cases: dict[str, Case] = field(default_factory=dict)
    raw: float | None = None

    @property
    def sink(self) -> str:
        return self.lg.sink

    def ceiling(self) -> None:
        with trivial(self.sink, 1) as target:
            self.cases["ceiling"] = measure(self.lg, target, "loadgen ceiling", self.args)

    def floor(self) -> None:
        with pg_database() as db, floor_process(db, self.amqp, self.sink, 1) as target:
            self.cases["floor"] = measure(self.lg, target, "floor", self.args)

    def hub(self, key: str, label: str, processes: int, fanout: int = 1) -> None:
        routing = routing_text(self.sink, fanout)
        with pg_database() as db, hubs(sqlalchemy_url(db), self.amqp, routing, processes) as t:
            self.cases[key] = measure(self.lg, t, label, self.args, fanout)

    def embedded(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            routing = routing_text(self.sink, 1)
            with hubs(f"sqlite:///{tmp}/hub.db", "memory://", routing, 1) as target:
                label = "embedded SQLite + memory://, fan-out 1"
                self.cases["embedded"] = measure(self.lg, target, label, self.args)

    def paced(self) -> None:
        best_key = max(
            (k for k in ("hub1", "hubN") if k in self.cases),
            key=lambda k: self.cases[k].claimed_per_s,
        )
        best = self.cases[best_key]
        rate = best.claimed_per_s / 2
        if rate <= 0:
            print("  ! no paced run: the hub has no complete rate", file=sys.stderr)
            return
        count = 1 if best_key == "hub1" else self.args.processes
        routing = routing_text(self.sink, 1)
        label = f"hub paced at {rate:.0f}/s (half), {processes(count)}"
        with pg_database() as db, hubs(sqlalchemy_url(db), self.amqp, routing, count) as t:
            self.cases["paced"] = measure(self.lg, t, label, self.args, rate=rate)

    def run_all(self) -> None:
        args, n = self.args, self.args.processes
        only = args.only
        if only in (None, "raw"):
            self.raw = raw_baseline(self.amqp, args.raw_messages, args.runs)
        if only in (None, "ceiling"):
            self.ceiling()
        if only in (None, "floor"):
            self.floor()
        if only is not None:
            return
        self.hub("hub1", f"hub, fan-out 1, {processes(1)}", 1)
        if not args.quick and n > 1:
            self.hub("hubN", f"hub, fan-out 1, {processes(n)}", n)
        if not args.quick:
            self.hub("hub3", f"hub, fan-out 3, {processes(n)} (dlv)", n, fanout=3)
            self.embedded()
        self.paced()


def processes(n: int) -> str:
    """How ``n`` hub processes are run, in a table label."""
    if HUB_MODE["mode"] == "service":
        return f"{n} process(es)"
    return "hub run" if n == 1 else f"api + {n - 1} worker"


# --- reports ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def row(case: Case) -> str:
    cpu = f"{fmt(case.server_cpu_ms, 2):>6} {fmt(case.loadgen_cpu_ms, 2):>6}"
    errors = ", ".join(f"{k} {v}" for k, v in case.errors().items()) or "–"
    if not case.complete:
        return f"  {case.label:<40} {case.missing():<66} {cpu}  {errors}"
    return (
        f"  {case.label:<40} {fmt(case.median('accepted_per_s')):>7} "
        f"{fmt(case.median('delivered_per_s')):>7} {fmt(case.median('claimed_per_s')):>7}  "
        f"{fmt(case.median('push_callback_ms', 'p50'), 1):>7} "
        f"{fmt(case.median('push_callback_ms', 'p99'), 1):>7}  "
        f"{fmt(case.median('push_claim_ms', 'p50'), 1):>7} "
        f"{fmt(case.median('push_claim_ms', 'p90'), 1):>7} "
        f"{fmt(case.median('push_claim_ms', 'p99'), 1):>7}  {cpu}  {errors}"
    )


def ratio(name: str, case: Case | None, floor: Case | None) -> str | None:
    if case is None or floor is None:
        return None
    if not case.complete or not floor.complete:
        bad = case if not case.complete else floor
        return f"{name} claimed/s ÷ floor claimed/s: – ({bad.label}: {bad.missing()})"
    value = case.claimed_per_s / floor.claimed_per_s
    return (
        f"{name} claimed/s ÷ floor claimed/s = {case.claimed_per_s:,.0f} / "
        f"{floor.claimed_per_s:,.0f} = {value:.2f}"
    )


def report(bench: Bench) -> bool:
    """Print the table and the ratios; False when some case was not fully claimed."""
    args = bench.args
    size = len(json.dumps(SAMPLE, ensure_ascii=False).encode())
    print(
        f"\nend to end, {args.pushes} pushes × {args.runs} run(s) (medians), message ~{size} B, "
        f"open-loop generator in its own process ({IN_FLIGHT[0]} in flight unless paced), "
        f"hubs as {HUB_MODES[HUB_MODE['mode']]}"
    )
    print(
        f"  {'case':<40} {'acc/s':>7} {'dlv/s':>7} {'clm/s':>7}  {'→cb p50':>7} {'p99':>7}  "
        f"{'→clm p50':>7} {'p90':>7} {'p99':>7}  {'srvCPU':>6} {'lgCPU':>6}  errors"
    )
    print(
        f"  {'':<40} {'':>7} {'':>7} {'':>7}  {'ms':>7} {'ms':>7}  {'ms':>8} {'ms':>7} {'ms':>7}"
        f"  {'ms/push':>14}"
    )
    for case in bench.cases.values():
        print(row(case))
    if bench.raw is not None:
        print(
            f"  raw pika (quorum, persistent {size} B, confirm window 100): {bench.raw:,.0f} "
            "msgs/s end to end in the same run"
        )
    floor = bench.cases.get("floor")
    hub = max(
        (bench.cases[k] for k in ("hub1", "hubN") if k in bench.cases),
        key=lambda c: c.claimed_per_s,
        default=None,
    )
    lines = [
        ratio(f"HEADLINE hub ({hub.label if hub else ''})", hub, floor),
        ratio("embedded", bench.cases.get("embedded"), floor),
        ratio("loadgen ceiling", bench.cases.get("ceiling"), floor),
    ]
    for text in lines:
        if text:
            print(f"  {text}")
    incomplete = [c.label for c in bench.cases.values() if not c.complete]
    if incomplete:
        print(f"  {MISSING}: {', '.join(incomplete)}")
    return not incomplete


def main_benchmark(args: Any) -> int:
    with ExitStack() as stack:
        lg = stack.enter_context(loadgen.loadgen())
        amqp = stack.enter_context(rabbit_vhost())
        bench = Bench(lg, amqp, args, stack)
        bench.run_all()
    return 0 if report(bench) else 1


# --- backfill --------------------------------------------------------------------------------


def main_backfill(args: Any) -> int:
    with ExitStack() as stack:
        lg = stack.enter_context(loadgen.loadgen())
        amqp = stack.enter_context(rabbit_vhost())
        db = stack.enter_context(pg_database())
        routing = routing_text(lg.sink, 1)
        target = stack.enter_context(hubs(sqlalchemy_url(db), amqp, routing, args.processes))
        print(
            f"backfill {args.backfill:,} messages through POST /messages:batch (500 a request), "
            f"RabbitMQ + PostgreSQL, fan-out 1, no claims, {len(target.pids)} hub process(es)"
        )
        samples: list[tuple[int, int]] = []

        def on_progress(delivered: int) -> None:
            rss = sum(memory_kib(pid)[0] for pid in target.pids)
            samples.append((delivered, rss))
            print(f"  {delivered:>9,} delivered: hub RSS {rss / 1024:,.0f} MiB", flush=True)

        print(f"  hub RSS at start: {sum(memory_kib(p)[0] for p in target.pids) / 1024:,.0f} MiB")
        run_spec = spec(
            target,
            1,
            args.backfill,
            claim=False,
            batch=500,
            idle_timeout=120.0,
            progress_every=args.rss_every,
            inflight=4,
        )
        result = lg.run(run_spec, on_progress)
        peak = sum(memory_kib(p)[1] for p in target.pids)
    return backfill_report(args, result, samples, peak)


def backfill_report(
    args: Any, result: dict[str, Any], samples: list[tuple[int, int]], peak_kib: int
) -> int:
    if result["batch_fallback"]:
        print("  POST /messages:batch 不可用 (404/405): single POSTs were used instead")
    print(
        f"  accepted {result['accepted']:,} in {result['push_seconds']:.1f} s "
        f"({fmt(result['accepted_per_s'])}/s); delivered {result['delivered']:,}/{args.backfill:,}"
        f" after {result['elapsed_s']:.1f} s ({fmt(result['delivered_per_s'])}/s); "
        f"errors {result['errors'] or '–'}; peak RSS {peak_kib / 1024:,.0f} MiB"
    )
    if len(samples) >= 2:
        (n0, r0), (n1, r1) = samples[0], samples[-1]
        slope = (r1 - r0) / 1024 / max(1, n1 - n0) * 100_000
        print(
            f"  RSS {r0 / 1024:,.0f} MiB at {n0:,} → {r1 / 1024:,.0f} MiB at {n1:,} "
            f"({slope:+.1f} MiB per 100,000 deliveries)"
        )
    if result["never_delivered"]:
        print(f"  未全部投递 not all delivered: {result['delivered']}/{result['expected']}")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pushes", type=int, default=None, help="per run (default 2000; 500 quick)"
    )
    parser.add_argument("--runs", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--raw-messages", type=int, default=20000)
    parser.add_argument("--backfill", type=int, nargs="?", const=100_000, default=None)
    parser.add_argument(
        "--processes", type=int, default=2, help="hub processes sharing the ledger and broker"
    )
    parser.add_argument("--quick", action="store_true", help="raw, ceiling, floor, hub ×1, paced")
    parser.add_argument("--only", choices=("floor", "ceiling", "raw"), default=None)
    parser.add_argument(
        "--hub-mode",
        choices=("cli", "service"),
        default=None,
        help="cli: hub run / hub api + hub worker processes (default when hub --help lists "
        "them); service: build_service + uvicorn in a child process",
    )
    parser.add_argument(
        "--inflight", type=int, default=64, help="pushes outstanding at once (unpaced runs)"
    )
    parser.add_argument("--rss-every", type=int, default=10_000, help="backfill: RSS sample step")
    args = parser.parse_args()
    args.pushes = args.pushes or (500 if args.quick else 2000)
    args.runs = args.runs or (1 if args.quick else 3)
    IN_FLIGHT[0] = args.inflight
    HUB_MODE["mode"] = args.hub_mode or ("cli" if hub_has_split() else "service")
    if args.quick:
        args.raw_messages = min(args.raw_messages, 5000)
    code = main_backfill(args) if args.backfill else main_benchmark(args)
    sys.exit(code)


if __name__ == "__main__":
    mp.set_start_method("spawn", force=True)
    main()
