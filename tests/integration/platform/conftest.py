"""A real HTTP server (uvicorn on 127.0.0.1, in a thread) playing a department's callback URL."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Received:
    mode: str
    headers: dict[str, str]
    raw: bytes


@dataclass
class Receiver:
    """The department's end: records every callback; ``/cb/<mode>`` picks the answer."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)


class ServerThread:
    """Serve an ASGI app with uvicorn on a socket bound here (no port race), in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)  # fmt: skip
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


def receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()
    statuses = {"ok": 200, "unavailable": 503, "missing": 404}

    @app.post("/cb/{mode}")
    async def callback(mode: str, request: Request) -> JSONResponse:
        receiver.received.append(Received(mode, dict(request.headers), await request.body()))
        if mode == "slow":
            await asyncio.sleep(2)
        status = statuses.get(mode, 200)
        answer = {"receipt": f"R-{len(receiver.received)}"} if status == 200 else {"error": mode}
        return JSONResponse(answer, status_code=status)

    return app


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    with ServerThread(receiver_app(state)) as server:
        state.base_url = server.url
        yield state


@pytest.fixture
def fresh(receiver: Receiver) -> Receiver:
    """The module's receiver, with the previous test's callbacks forgotten."""
    receiver.received.clear()
    return receiver
