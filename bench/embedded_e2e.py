"""End-to-end throughput and latency of the hub on its embedded default (SQLite + memory bus).

push (HTTP POST /messages) → route → deliver (HTTP callback to a department on loopback) →
claim (HTTP POST /deliveries/{id}/claim), one recipient per push, with a raw kombu memory://
publish/consume baseline of the same message size measured in the same run. Prints medians of
``--runs`` runs. Not a test: machines are noisy, read the ratio.

    .venv/bin/python bench/embedded_e2e.py --pushes 300 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.bus.kombu_bus import KombuBus  # noqa: E402
from hub.logging import configure_logging  # noqa: E402
from hub.routing import load_routing_text  # noqa: E402
from hub.service import Settings, build_service  # noqa: E402
from tests.support.servers import ServerThread  # noqa: E402

MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
SAMPLE = json.loads(
    next((ROOT / "hub" / "samples" / "guanxian").glob("01*.json")).read_text(encoding="utf-8")
)


class Departments:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.delivery: dict[str, str] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/dept/{dept}")
        async def callback(dept: str, request: Request) -> dict[str, str]:
            body = json.loads(await request.body())
            if body["purpose"] == "push":
                with self.lock:
                    self.arrived[body["message"]["source"]["source_id"]] = time.perf_counter()
                    self.delivery[body["message"]["source"]["source_id"]] = body["delivery_id"]
            return {"receipt": "ok"}

        return app


def run_hub(pushes: int) -> dict[str, float]:
    departments = Departments()
    with tempfile.TemporaryDirectory() as tmp, ServerThread(departments.app()) as endpoint:
        text = MINIMAL.replace("http://127.0.0.1:9/", f"{endpoint.url}/dept/")
        settings = Settings(
            database_url=f"sqlite:///{tmp}/hub.db",
            broker_url="memory://",
            paper_spool=Path(tmp) / "paper",
        )
        service = build_service(settings, routing=load_routing_text(text))
        service.start()
        with ServerThread(service.app) as api:
            tokens = {d: service.hub.issue_token(d) for d in ("xzsp", "scjg")}
            sent: dict[str, float] = {}
            started = time.perf_counter()
            with httpx.Client(base_url=api.url, timeout=30) as client:
                for i in range(pushes):
                    body = {
                        **SAMPLE,
                        "recipients": ["scjg"],
                        "source": {**SAMPLE["source"], "source_id": f"bench-{i}"},
                    }
                    sent[f"bench-{i}"] = time.perf_counter()
                    client.post(
                        "/messages",
                        content=json.dumps(body, ensure_ascii=False),
                        headers={
                            "Authorization": f"Bearer {tokens['xzsp']}",
                            "Content-Type": "application/json",
                        },
                    )
                accepted_at = time.perf_counter()
                while len(departments.arrived) < pushes:
                    time.sleep(0.01)
                delivered_at = time.perf_counter()
                for delivery_id in departments.delivery.values():
                    client.post(
                        f"/deliveries/{delivery_id}/claim",
                        headers={"Authorization": f"Bearer {tokens['scjg']}"},
                    )
                claimed_at = time.perf_counter()
        service.stop()
    latencies = sorted((departments.arrived[k] - sent[k]) * 1000 for k in sent)
    return {
        "accept_per_s": pushes / (accepted_at - started),
        "delivered_per_s": pushes / (delivered_at - started),
        "claimed_per_s": pushes / (claimed_at - started),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
    }


def run_raw(messages: int) -> float:
    payload = {"body": json.dumps(SAMPLE, ensure_ascii=False)}
    bus = KombuBus("memory://")
    queue = f"bench.raw.{time.time_ns()}"
    bus.declare([queue])
    got = threading.Event()
    count = [0]
    stop = threading.Event()

    def handler(_q: str, _body: dict[str, object]) -> None:
        count[0] += 1
        if count[0] >= messages:
            got.set()

    consumer = threading.Thread(target=bus.consume, args=([queue], handler), kwargs={"stop": stop})
    consumer.start()
    started = time.perf_counter()
    for _ in range(messages):
        bus.publish(queue, payload)
    got.wait(120)
    elapsed = time.perf_counter() - started
    stop.set()
    consumer.join()
    bus.close()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("ERROR")
    hubs = [run_hub(args.pushes) for _ in range(args.runs)]
    raws = [run_raw(args.pushes * 10) for _ in range(args.runs)]
    med = {k: statistics.median(h[k] for h in hubs) for k in hubs[0]}
    raw = statistics.median(raws)
    print(
        f"embedded default (SQLite WAL + kombu memory://), {args.pushes} pushes × {args.runs} "
        "runs, one recipient, sequential HTTP client; medians"
    )
    print(
        f"  accepted/s {med['accept_per_s']:.0f}   delivered/s {med['delivered_per_s']:.0f}"
        f"   claimed/s (headline) {med['claimed_per_s']:.0f}"
    )
    print(f"  push→callback latency p50 {med['p50_ms']:.1f} ms   p99 {med['p99_ms']:.1f} ms")
    print(
        f"  raw kombu memory:// publish→consume {raw:.0f} msg/s; "
        f"ratio claimed/raw = {med['claimed_per_s'] / raw:.3f}"
    )


if __name__ == "__main__":
    main()
