"""The demo behind ``hub run --demo``: the real hub, fed the sample pushes of five counties.

What runs is the production path: the HTTP API takes pushes with per-department tokens, the
router, outbox, bus, dispatcher and deadline engine do their work, and departments receive
platform callbacks on loopback. Only two things are simulated: the departments (two in three
claim after a few simulated hours, one in three never does, so the deadline engine auto-claims
or escalates), and time (a scaled clock starting on 2026-10-08, right after the National Day
holiday, runs thousands of times faster so working-day deadlines pass within a minute).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, FastAPI

from hub.clock.now import Clock
from hub.routing import LoadedRouting
from hub.routing.model import PlatformAddress, RoutingConfig
from hub.routing.router import Router

SAMPLES = Path(__file__).resolve().parent / "samples"
COUNTIES = ("liangshan", "zhoucun", "guanxian", "danzhou", "baokang")

log = structlog.get_logger(__name__)


def with_local_endpoints(loaded: LoadedRouting, base_url: str) -> LoadedRouting:
    """The routing config with every platform endpoint pointed at the demo departments."""
    departments = []
    for dept in loaded.config.departments:
        if dept.channels.platform is not None:
            address = PlatformAddress(endpoint=f"{base_url}/demo/departments/{dept.id}/callback")
            channels = dept.channels.model_copy(update={"platform": address})
            dept = dept.model_copy(update={"channels": channels})
        departments.append(dept)
    config: RoutingConfig = loaded.config.model_copy(update={"departments": tuple(departments)})
    return LoadedRouting(config, Router(config), loaded.warnings, loaded.file)


@dataclass
class _Plan:
    delivery_id: str
    department_id: str
    claim_at: dt.datetime | None  # None: this department never claims


@dataclass
class DemoDepartments:
    """Simulated departments: receive callbacks, claim some pushes through the API."""

    clock: Clock
    api: str
    tokens: dict[str, str] = field(default_factory=dict)
    plans: list[_Plan] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def router(self) -> APIRouter:
        api = APIRouter(prefix="/demo/departments", include_in_schema=False)

        @api.post("/{department_id}/callback")
        def callback(department_id: str, payload: dict[str, Any]) -> dict[str, str]:
            self._receive(department_id, payload)
            return {"receipt": f"demo-{department_id}-{len(self.received)}"}

        return api

    def _receive(self, department_id: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.received.append({"department": department_id, **payload})
            if payload.get("purpose") != "push":
                return
            delivery_id = str(payload["delivery_id"])
            roll = int(hashlib.sha256(delivery_id.encode()).hexdigest(), 16) % 3
            hours = 2 + int(hashlib.sha256(delivery_id.encode()).hexdigest()[:4], 16) % 6
            later = self.clock.now() + dt.timedelta(hours=hours)
            self.plans.append(_Plan(delivery_id, department_id, None if roll == 0 else later))

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.api, timeout=10) as client:
            while not stop.wait(0.1):
                for plan in self._due():
                    token = self.tokens[plan.department_id]
                    try:
                        response = client.post(
                            f"/deliveries/{plan.delivery_id}/claim",
                            headers={"Authorization": f"Bearer {token}"},
                            json={"actor": "联络员（演示）"},
                        )
                    except httpx.TransportError as exc:  # the API is going away (demo over)
                        if stop.is_set():
                            return
                        log.warning(
                            "demo.claim_failed", delivery_id=plan.delivery_id, error=repr(exc)
                        )
                        continue
                    if response.status_code == 200:
                        self.claimed.append(plan.delivery_id)

    def _due(self) -> list[_Plan]:
        now = self.clock.now()
        with self.lock:
            due = [p for p in self.plans if p.claim_at is not None and p.claim_at <= now]
            self.plans = [p for p in self.plans if p not in due]
        return due


def mount(app: FastAPI, departments: DemoDepartments) -> None:
    app.include_router(departments.router())


@dataclass(frozen=True)
class PushOutcome:
    county: str
    sample: str
    status: int
    message_id: str | None
    detail: str


def push_samples(api: str, tokens: dict[str, str]) -> list[PushOutcome]:
    """POST every sample of every county to the API with its sender's token."""
    outcomes: list[PushOutcome] = []
    with httpx.Client(base_url=api, timeout=30) as client:
        for county in COUNTIES:
            for path in sorted((SAMPLES / county).glob("*.json")):
                outcomes.append(_push_one(client, county, path, tokens))
    return outcomes


def _push_one(client: httpx.Client, county: str, path: Path, tokens: dict[str, str]) -> PushOutcome:
    raw = path.read_bytes()
    sender = json.loads(raw)["sender"]["department_id"]
    token = tokens.get(sender)
    if token is None:
        return PushOutcome(county, path.name, 0, None, f"本县配置中没有发送部门 {sender}（未推送）")
    response = client.post(
        "/messages",
        content=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    body = response.json()
    detail = body.get("zh") or "；".join(p.get("zh", "") for p in body.get("problems", []))
    return PushOutcome(
        county,
        path.name,
        response.status_code,
        body.get("message_id"),
        detail or ("重复推送" if body.get("duplicate") else "已受理"),
    )


def wait_until(clock: Clock, instant: dt.datetime, stop: threading.Event) -> None:
    while clock.now() < instant and not stop.is_set():
        time.sleep(0.1)
