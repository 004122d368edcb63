"""Real HTTP servers on loopback for tests: uvicorn in a thread, and a department endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


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
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


@dataclass
class DepartmentEndpoint:
    """Departments' callback URLs: records every callback, deduplicating on Idempotency-Key."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
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
                self.keys[key] = self.keys.get(key, 0) + 1
                self.calls.append({"department": department_id, **body})
            return JSONResponse({"receipt": f"r-{len(self.calls)}"})

        return app

    def of(self, purpose: str, department: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c
                for c in self.calls
                if c["purpose"] == purpose and (department is None or c["department"] == department)
            ]

    def wait_for(
        self, purpose: str, count: int = 1, department: str | None = None, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(purpose, department)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(
            f"waited {timeout}s for {count} {purpose!r} callbacks; "
            f"got {len(self.of(purpose, department))}: {self.calls[-3:]}"
        )
