"""A hub cluster for tests: N real ``hub run`` processes on one PostgreSQL database and one
RabbitMQ vhost, a department endpoint counting callbacks, and a sender that re-sends what it
never saw acknowledged (same source id: the hub answers a duplicate with the same message id).

Every process gets its own API port, ``HUB_LEASE_SECONDS=3`` and ``HUB_REDELIVER_AFTER=2`` (fast
recovery of jobs held by a dead process), ``HUB_RETRY_ROUND_WAIT=2`` (a failed round of tries
comes back in 2 s, not 60) and logs to its own file under the test's tmp dir.

Every limit here is a base scaled by ``HUB_TEST_TIMEOUT_SCALE`` (``tests/support/waits.py``):
waits end as soon as their condition holds, so only a failure pays for a generous limit.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.support.servers import DepartmentEndpoint, Effects, Target, bind_failed, free_port
from tests.support.waits import scaled, wait_until

__all__ = ["Cluster", "Node", "Sender", "delivered", "effect_row", "free_port", "wait_until"]

HUB = Path(sys.executable).with_name("hub")
FAULT_TABLE_HEADER = (
    f"{'fault':<34}{'pushes':>7}{'delivered':>10}{'lost':>6}{'dup effects':>12}"
    f"{'raw repeats':>12}{'recovery s':>11}"
)
FAULT_TABLE: list[str] = []  # rows printed in the run's terminal summary (conftest.py)


@dataclass
class Node:
    index: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this run's output starts in the log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['HUB_API_PORT']}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def new_output(self) -> str:
        """What the current process wrote to the log so far."""
        with self.log.open("rb") as file:
            file.seek(self.log_offset)
            return file.read().decode(errors="replace")

    def healthy(self) -> bool:
        try:
            # a loaded machine answers slowly: a short client timeout would never see it up
            return httpx.get(f"{self.url}/healthz", timeout=scaled(2)).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Cluster:
    """``size`` hub processes sharing ``database_url`` and ``broker_url``."""

    tmp: Path
    database_url: str
    broker_url: str
    routing: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)
    token: str = ""

    def __post_init__(self) -> None:
        for i in range(self.size):
            env = {
                **os.environ,
                "HUB_DATABASE_URL": self.database_url,
                "HUB_BROKER_URL": self.broker_url,
                "HUB_ROUTING": str(self.routing),
                "HUB_API_PORT": str(free_port()),
                "HUB_PAPER_SPOOL": str(self.tmp / "paper"),
                "HUB_BLOB_DIR": str(self.tmp / "blobs"),
                "HUB_LEASE_SECONDS": "3",
                "HUB_REDELIVER_AFTER": "2",
                "HUB_RETRY_ROUND_WAIT": "2",
                "HUB_LOG_LEVEL": "ERROR",
            }
            self.nodes.append(Node(i, env, self.tmp / f"hub-{i}.log"))

    # --- processes -------------------------------------------------------------------------

    def start(self) -> None:
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_healthy(node)
        self.token = subprocess.run(
            [str(HUB), "token", "issue", "xzsp"],
            env=self.nodes[0].env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def _spawn(self, node: Node) -> None:
        node.log_offset = node.log.stat().st_size if node.log.exists() else 0
        node.process = subprocess.Popen(
            [str(HUB), "run"],
            env=node.env,
            stdin=subprocess.DEVNULL,
            stdout=node.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def _wait_healthy(self, node: Node, timeout: float = 60.0, tries: int = 3) -> None:
        """Wait for /healthz. A hub whose port was taken before it bound it (another test
        run on the machine) is started again on another port; one that exits fails."""
        for _ in range(tries):
            try:
                wait_until(
                    lambda: node.healthy() or not node.alive or bind_failed(node.new_output()),
                    timeout,
                    f"hub {node.index} to answer /healthz",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {node.new_output()[-2000:]}") from None
            if node.alive and not bind_failed(node.new_output()):
                return
            if node.alive:  # the hub outlives its API's failed bind: stop it, use another port
                assert node.process is not None
                node.process.kill()
                node.process.wait()
                node.env["HUB_API_PORT"] = str(free_port())
                self._spawn(node)
                continue
            raise AssertionError(f"hub {node.index} exited: {node.new_output()[-2000:]}")
        raise AssertionError(f"hub {node.index}: port taken {tries} times in a row")

    def kill(self, index: int) -> None:
        """kill -9: no shutdown, whatever it held is found again by the others' recovery."""
        node = self.nodes[index]
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()

    def restart(self, index: int) -> None:
        node = self.nodes[index]
        assert not node.alive
        self._spawn(node)
        self._wait_healthy(node)

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=scaled(20))
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def live_urls(self) -> list[str]:
        return [n.url for n in self.nodes if n.alive]

    def logs(self) -> str:
        return "\n".join(
            f"--- hub {n.index}\n{n.log.read_text(errors='replace')[-1500:]}" for n in self.nodes
        )

    # --- the ledger, directly ----------------------------------------------------------------

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        libpq = make_url(self.database_url).set(drivername="postgresql")
        with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []


class Sender:
    """Pushes bodies round-robin over the live processes' APIs; remembers what was acknowledged
    (source index -> message id) and re-sends the rest until acknowledged."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acknowledged: dict[int, str] = {}
        self.errors = 0
        self._turn = itertools.count()
        self._clients: dict[str, httpx.Client] = {}
        self.lock = threading.Lock()

    def _client(self, url: str) -> httpx.Client:
        if url not in self._clients:
            self._clients[url] = httpx.Client(base_url=url, timeout=scaled(5))
        return self._clients[url]

    def push(self, index: int, body: bytes) -> str | None:
        urls = self.cluster.live_urls()
        if not urls:
            self.errors += 1
            return None
        url = urls[next(self._turn) % len(urls)]
        try:
            response = self._client(url).post(
                "/messages",
                content=body,
                headers={
                    "Authorization": f"Bearer {self.cluster.token}",
                    "Content-Type": "application/json",
                },
            )
        except httpx.HTTPError:
            self.errors += 1
            return None
        if response.status_code not in (200, 202):
            self.errors += 1
            return None
        message_id = str(response.json()["message_id"])
        with self.lock:
            previous = self.acknowledged.setdefault(index, message_id)
        assert previous == message_id, (index, previous, message_id)  # duplicate -> same id
        return message_id

    def burst(self, bodies: list[bytes], pace: float = 0.0, start: int = 0) -> None:
        """Push each body once (source index ``start + i``); unacknowledged ones stay missing."""
        for i, body in enumerate(bodies, start):
            self.push(i, body)
            if pace:
                time.sleep(pace)  # paces the burst over a fault window; decides nothing

    def resend_until_acknowledged(self, bodies: list[bytes], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            missing = [i for i in range(len(bodies)) if i not in self.acknowledged]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(missing)} pushes never acknowledged")
            for i in missing:
                self.push(i, bodies[i])
            if len(self.acknowledged) < len(bodies):
                time.sleep(0.5)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def delivered(departments: DepartmentEndpoint) -> set[str]:
    """Message ids the departments received a push for."""
    return {c["message"]["message_id"] for c in departments.of("push")}


def ledger_targets(cluster: Cluster, purpose: str, where: str = "true") -> set[Target]:
    """(department, delivery_id, purpose) for every delivery the ledger holds (``where``)."""
    rows = cluster.sql(f"SELECT department_id, delivery_id FROM deliveries WHERE {where}")
    return {(str(dept), str(delivery), purpose) for dept, delivery in rows}


def effect_row(label: str, pushes: int, effects: Effects, purpose: str, lost: int) -> str:
    """The fault table's columns up to raw repeats, counted at the receiving end: targets
    with an effect, acknowledged ones without, targets with more than one effect, and
    callbacks received again under a key already seen (allowed: at-least-once)."""
    return (
        f"{label:<34}{pushes:>7}{effects.count(purpose):>10}{lost:>6}"
        f"{len(effects.duplicates([purpose])):>12}{effects.raw_repeats(purpose):>12}"
    )
