"""A real HTTP server (uvicorn on 127.0.0.1, in a thread) playing a department's callback URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.servers import ServerThread


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
