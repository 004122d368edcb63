"""Client CPU per platform callback (not a test): httpx as the hub used it vs ``PlatformClient``.

A department endpoint (an aiohttp server, access log off) runs in another process on loopback and
answers every ``POST /dept/<id>`` with a small JSON receipt. In this process, ``--in-flight``
workers on one event loop POST a ~2 KiB JSON callback each, back to back, until ``--callbacks``
have been answered; the client's process CPU time (user + system, ``time.process_time``) over the
callbacks is the figure, beside callbacks/s. Each client warms up (connections opened) before the
clock starts. Clients:

    httpx      the former ``PlatformClient``: ``httpx.AsyncClient`` (pool = in flight,
               keep-alive), ``build_request`` + ``send(stream=True)``, bounded read, ``asyncio
               .timeout`` around the request
    aiohttp    ``adapters.platform.client.PlatformClient`` (``max_in_flight`` = in flight)
    adapter    ``PlatformAdapter.deliver`` on the aiohttp client: payload built from a real
               note, signed, per-department and total in-flight bounds (``--departments``)

Prints one line per run and a table of medians (of ``--runs``).

    .venv/bin/python bench/callbacks.py [--callbacks 4000] [--in-flight 8 50] [--runs 3]
        [--clients httpx aiohttp adapter] [--departments 16] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.platform.adapter import PlatformAdapter  # noqa: E402
from adapters.platform.client import MAX_RESPONSE_BYTES, PlatformClient, check_status  # noqa: E402
from adapters.platform.config import PlatformConfig  # noqa: E402
from hub.logging import configure_logging  # noqa: E402

PAYLOAD = json.dumps(
    {"delivery_id": "D" * 26, "purpose": "push", "message": {"text": "审批信息" * 150}},
    ensure_ascii=False,
).encode()
HEADERS = {"Idempotency-Key": "D:push:", "X-Hub-Delivery": "D", "X-Hub-Purpose": "push"}
Send = Callable[[int], Awaitable[object]]


def serve() -> None:
    """The department endpoint (run in a child process): prints its port, serves until killed."""
    from aiohttp import web

    async def callback(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"receipt": "r-" + request.match_info["department"]})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/dept/{department}", callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        print(server.sockets[0].getsockname()[1], flush=True)  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    asyncio.run(main())


class HttpxClient:
    """The hub's former callback client, as it was (``httpx.AsyncClient``)."""

    def __init__(self, in_flight: int, total_timeout: float = 15.0) -> None:
        self._total = total_timeout
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(total_timeout, connect=5.0),
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
            headers={"User-Agent": "bench"},
            follow_redirects=False,
        )

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        async with asyncio.timeout(self._total):
            all_headers = {"Content-Type": "application/json; charset=utf-8", **headers}
            request = self._http.build_request("POST", url, content=payload, headers=all_headers)
            response = await self._http.send(request, stream=True)
            try:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk[: MAX_RESPONSE_BYTES - size])
                    size += len(chunks[-1])
                    if size >= MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
        body = b"".join(chunks)
        check_status(response.status_code, body, url, response.headers.get("retry-after"))
        return response.status_code, body

    async def aclose(self) -> None:
        await self._http.aclose()


@dataclass(frozen=True)
class Run:
    client: str
    in_flight: int
    callbacks: int
    cpu_s: float
    wall_s: float

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / self.callbacks * 1000

    @property
    def rate(self) -> float:
        return self.callbacks / self.wall_s


async def drive(send: Send, callbacks: int, in_flight: int) -> None:
    """``in_flight`` workers sending back to back until ``callbacks`` were answered."""
    counter = iter(range(callbacks))

    async def worker() -> None:
        for i in counter:
            await send(i)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def make_sender(kind: str, base: str, in_flight: int, departments: int) -> tuple[Send, Any]:
    """A send function for ``kind`` and the object to ``aclose`` afterwards."""
    if kind == "adapter":
        config = PlatformConfig(max_in_flight=in_flight, max_in_flight_per_department=in_flight)
        adapter = PlatformAdapter(config)
        notes = [_note(f"{base}/dept/d{n}", f"d{n}") for n in range(departments)]
        return (lambda i: adapter.deliver(notes[i % departments])), adapter
    client = HttpxClient(in_flight) if kind == "httpx" else _aiohttp_client(in_flight)
    urls = [f"{base}/dept/d{n}" for n in range(departments)]
    return (lambda i: client.post_json(urls[i % departments], PAYLOAD, HEADERS)), client


def _aiohttp_client(in_flight: int) -> PlatformClient:
    return PlatformClient(PlatformConfig(max_in_flight=in_flight, user_agent="bench"))


def _note(endpoint: str, department: str) -> Any:
    from hub.channels import OutboundNote, Purpose
    from hub.routing.model import PlatformAddress
    from hub.validation import parse_message

    sample = Path(__file__).resolve().parents[1] / "hub" / "samples"
    raw = next(iter(sorted(sample.rglob("*.json")))).read_bytes()
    return OutboundNote(
        delivery_id=f"D-{department}", purpose=Purpose.PUSH, message=parse_message(raw),
        department_id=department, department_name="部门",
        address=PlatformAddress(endpoint=endpoint),
        deadlines_zh={"认领期限": "2026-09-15 24:00"}, summary_zh="请于当日认领",
    )  # fmt: skip


async def measure(kind: str, base: str, args: argparse.Namespace, in_flight: int) -> Run:
    send, owner = make_sender(kind, base, in_flight, args.departments)
    try:
        await drive(send, in_flight * 4, in_flight)  # warm up: connections open, code paths hot
        cpu, wall = time.process_time(), time.perf_counter()
        await drive(send, args.callbacks, in_flight)
        return Run(kind, in_flight, args.callbacks, time.process_time() - cpu,
                   time.perf_counter() - wall)  # fmt: skip
    finally:
        await owner.aclose()


def start_server() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    port = child.stdout.readline().strip()
    if not port.isdigit():
        child.kill()
        raise SystemExit("the endpoint process did not start (接收端进程未启动)")
    return child, f"http://127.0.0.1:{port}"


def table(runs: list[Run], clients: list[str], in_flights: list[int]) -> str:
    lines = ["client    in flight   CPU ms/callback (median)   callbacks/s (median)   runs"]
    for kind in clients:
        for n in in_flights:
            mine = [r for r in runs if (r.client, r.in_flight) == (kind, n)]
            cpu = statistics.median(r.cpu_ms for r in mine)
            rate = statistics.median(r.rate for r in mine)
            lines.append(f"{kind:<9} {n:>9}   {cpu:>24.3f}   {rate:>20.0f}   {len(mine)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--callbacks", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[8, 50])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=["httpx", "aiohttp", "adapter"])
    parser.add_argument("--departments", type=int, default=16)
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    configure_logging("WARNING")  # as the hub runs by default: delivery.sent is not written
    child, base = start_server()
    runs: list[Run] = []
    try:
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits all alike
            for kind in args.clients:
                for n in args.in_flight:
                    run = _run_loop(measure(kind, base, args, n), args.uvloop)
                    runs.append(run)
                    print(f"{kind:<8} in flight {n:>3}: {run.cpu_ms:.3f} ms CPU/callback, "
                          f"{run.rate:.0f}/s", flush=True)  # fmt: skip
    finally:
        child.kill()
        child.wait()
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"\n{args.callbacks} callbacks a run, {os.cpu_count()} CPUs, client loop: {loop}")
    print(table(runs, args.clients, args.in_flight))


def _run_loop(coro: Coroutine[Any, Any, Run], use_uvloop: bool) -> Run:
    if use_uvloop:
        import uvloop

        result: Run = uvloop.run(coro)
        return result
    return asyncio.run(coro)


if __name__ == "__main__":
    main()
