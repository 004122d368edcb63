"""A whole hub process in the test: real runtime threads, kombu memory bus, real HTTP API and
a real department endpoint on loopback, a SQLite or PostgreSQL ledger, and a manual clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from adapters.email.config import EmailConfig
from hub.clock.now import ManualClock
from hub.core.dispatch import RetryPolicy
from hub.core.runtime import RuntimeConfig
from hub.routing import load_routing_text
from hub.service import HubService, Settings, build_service
from tests.support.ledgers import ledger_url
from tests.support.servers import DepartmentEndpoint, ServerThread
from tests.support.waits import wait_until

__all__ = ["LiveHub", "ledger_url", "live_hub_factory"]  # ledger_url: the shared fixture

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
TZ = ZoneInfo("Asia/Shanghai")
EVE = dt.datetime(2026, 9, 30, 16, 0, tzinfo=TZ)


@dataclass
class LiveHub:
    service: HubService
    api: httpx.Client
    departments: DepartmentEndpoint
    clock: ManualClock
    tokens: dict[str, str]

    def post(
        self, path: str, dept: str, *, content: bytes | None = None, json: object = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[dept]}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        return self.api.post(path, headers=headers, content=content, json=json)

    def get(self, path: str, dept: str) -> httpx.Response:
        return self.api.get(path, headers={"Authorization": f"Bearer {self.tokens[dept]}"})

    def advance_to(self, instant: dt.datetime) -> None:
        self.clock.set(instant)

    def wait_state(
        self, delivery_id: str, dept: str, key: str, value: str, timeout: float = 15.0
    ) -> dict[str, object]:
        """Wait until the delivery's ``key`` is ``value`` (``timeout``: base, scaled); the view."""
        views: list[dict[str, object]] = [{}]

        def reached() -> bool:
            views[0] = self.get(f"/deliveries/{delivery_id}", dept).json()
            return views[0].get(key) == value

        try:
            wait_until(reached, timeout, f"{delivery_id} {key}={value}", interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {views[0]}") from None
        return views[0]


@pytest.fixture
def live_hub_factory(ledger_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveHub]]:
    stack: list[Callable[[], None]] = []

    def start(*replacements: tuple[str, str], email: EmailConfig | None = None) -> LiveHub:
        departments = DepartmentEndpoint()
        endpoint = ServerThread(departments.app()).__enter__()
        stack.append(lambda: endpoint.__exit__(None, None, None))
        text = MINIMAL.replace("http://127.0.0.1:9/", f"{endpoint.url}/dept/")
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        clock = ManualClock(EVE)
        settings = Settings(
            database_url=ledger_url,
            broker_url="memory://",
            paper_spool=tmp_path / "paper",
            retry=RetryPolicy(
                tries_per_round=2,
                try_wait_initial=0.01,
                try_wait_max=0.05,
                rounds=2,
                round_wait_initial=1,
                round_wait_max=2,
            ),
            runtime=RuntimeConfig(relay_interval=0.05, tick_interval=0.05, redeliver_after=2),
            blob_dir=tmp_path / "blobs",
            email=email,
        )
        service = build_service(settings, clock=clock, routing=load_routing_text(text))
        service.start()
        api_server = ServerThread(service.app).__enter__()
        stack.append(lambda: api_server.__exit__(None, None, None))
        stack.append(service.stop)
        tokens = {d: service.hub.issue_token(d, "e2e") for d in ("xzsp", "scjg", "zjj")}
        client = httpx.Client(base_url=api_server.url, timeout=10)
        stack.append(client.close)
        return LiveHub(service, client, departments, clock, tokens)

    yield start
    for stop in reversed(stack):
        stop()
