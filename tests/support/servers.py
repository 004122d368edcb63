"""Real HTTP servers on loopback for tests: uvicorn in a thread, and a department endpoint."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.waits import scaled, wait_until

KEY = "idempotency_key"
"""Where a recorded callback keeps the ``Idempotency-Key`` header it came with."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server a test starts in another process.

    Chosen outside the kernel's ephemeral range: port 0 would pick from it, and on a busy
    machine an outgoing connection (or another test run's port-0 pick) can take that port
    before the child process binds it. The child can still lose a race: see
    :func:`bind_failed`.
    """
    low, high = _ephemeral_range()
    span = (20000, low) if low > 21000 else (high + 1, 65000)
    for _ in range(200):
        port = random.randrange(*span)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {span}")


def bind_failed(log: str) -> bool:
    """True when a server's log says its port was taken (start it again on another)."""
    return "address already in use" in log.lower()


class ServerThread:
    """Serve an ASGI app with uvicorn on a socket bound here (no port race), in a thread."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: without, Nagle meets delayed ACK (+40 ms a request)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + scaled(10)
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


Target = tuple[str, str, str]
"""An effect's identity at the receiving end: (receiving department, delivery_id, purpose)."""


@dataclass(frozen=True)
class Effects:
    """The effects a department sink had: one per distinct ``Idempotency-Key`` it received.

    A callback received again with the same key is a raw repeat: at-least-once delivery
    allows it and the department's dedup makes it one effect. Two distinct keys for one
    target, or two delivery ids for one (department, message, purpose), are duplicate
    effects: the department would act twice.
    """

    keys: Mapping[Target, frozenset[str]]
    deliveries: Mapping[tuple[str, str, str], frozenset[str]]  # (dept, message, purpose)
    received: Mapping[str, int]  # raw callbacks per purpose, repeats included

    def raw_repeats(self, purpose: str | None = None) -> int:
        """Callbacks (of ``purpose``) received again with a key their department had seen."""
        received = sum(n for p, n in self.received.items() if purpose in (None, p))
        return received - sum(len(k) for t, k in self.keys.items() if purpose in (None, t[2]))

    def count(self, purpose: str | None = None) -> int:
        """Targets (of ``purpose``) with at least one effect."""
        return sum(1 for t in self.keys if purpose is None or t[2] == purpose)

    def duplicates(self, purposes: Iterable[str] | None = None) -> list[str]:
        """One line per duplicate effect (of ``purposes``); empty when there is none."""
        kinds = None if purposes is None else set(purposes)
        found = [
            f"{target}: {len(keys)} distinct Idempotency-Keys {sorted(keys)}"
            for target, keys in sorted(self.keys.items())
            if len(keys) > 1 and (kinds is None or target[2] in kinds)
        ]
        return found + [
            f"{about}: {len(ids)} deliveries {sorted(ids)}"
            for about, ids in sorted(self.deliveries.items())
            if len(ids) > 1 and (kinds is None or about[2] in kinds)
        ]

    def check(self, expected: Iterable[Target], purposes: Iterable[str]) -> list[str]:
        """Every problem against ``expected``, exactly one effect each, for ``purposes``:
        targets missing, targets nobody expected, and duplicate effects."""
        kinds = set(purposes)
        wanted = set(expected)
        seen = {t for t in self.keys if t[2] in kinds}
        problems = [f"missing {t}" for t in sorted(wanted - seen)]
        problems += [f"unexpected {t}" for t in sorted(seen - wanted)]
        return problems + self.duplicates(kinds)


@dataclass
class DepartmentEndpoint:
    """Departments' callback URLs: records every callback with its ``Idempotency-Key``.

    ``of`` gives the raw callbacks (repeats included); ``unique``, ``wait_for`` and
    ``effects`` count what a department deduplicating on the key would act on.
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_status: int | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/dept/{department_id}")
        async def callback(department_id: str, request: Request) -> JSONResponse:
            if self.fail_status is not None:
                return JSONResponse({"error": "down"}, status_code=self.fail_status)
            body = json.loads(await request.body())
            key = request.headers.get("idempotency-key", "")
            with self.lock:
                self.calls.append({"department": department_id, KEY: key, **body})
            return JSONResponse({"receipt": f"r-{len(self.calls)}"})

        return app

    def of(self, purpose: str, department: str | None = None) -> list[dict[str, Any]]:
        """Every callback of ``purpose`` (to ``department``), raw repeats included."""
        with self.lock:
            return [
                c
                for c in self.calls
                if c["purpose"] == purpose and (department is None or c["department"] == department)
            ]

    def unique(self, purpose: str, department: str | None = None) -> list[dict[str, Any]]:
        """The first callback of each (department, Idempotency-Key): what departments act on."""
        seen: set[tuple[str, str]] = set()
        first: list[dict[str, Any]] = []
        for call in self.of(purpose, department):
            if (call["department"], call[KEY]) not in seen:
                seen.add((call["department"], call[KEY]))
                first.append(call)
        return first

    def effects(self) -> Effects:
        """Effects per target and deliveries per (department, message, purpose), so far."""
        keys: dict[Target, set[str]] = defaultdict(set)
        deliveries: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        received: Counter[str] = Counter()
        with self.lock:
            calls = list(self.calls)
        for c in calls:
            received[c["purpose"]] += 1
            keys[(c["department"], c["delivery_id"], c["purpose"])].add(c[KEY])
            about = c.get("about_department_id") or ""
            message = (c.get("message") or {}).get("message_id", "")
            deliveries[(c["department"], f"{message}/{about}", c["purpose"])].add(c["delivery_id"])
        return Effects(
            keys={t: frozenset(k) for t, k in keys.items()},
            deliveries={m: frozenset(d) for m, d in deliveries.items()},
            received=dict(received),
        )

    def wait_for(
        self, purpose: str, count: int = 1, department: str | None = None, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` distinct callbacks (by key) of ``purpose`` arrived; those.

        Counts effects, never raw callbacks: a repeat must not end the wait early.
        ``timeout`` is a base limit, scaled (``tests/support/waits.py``).
        """
        try:
            wait_until(
                lambda: len(self.unique(purpose, department)) >= count,
                timeout,
                f"{count} {purpose!r} callbacks",
                interval=0.02,
            )
        except AssertionError as exc:
            got = len(self.unique(purpose, department))
            raise AssertionError(f"{exc}; got {got}: {self.calls[-3:]}") from None
        return self.unique(purpose, department)
