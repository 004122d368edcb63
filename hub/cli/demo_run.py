"""``hub run --demo``: start the hub on a fresh demo ledger and show it working (see hub.demo)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.table import Table
from sqlalchemy import select

from hub.cli.output import console
from hub.cli.run_settings import DEMO_START, fresh_demo_dir, settings_with
from hub.clock.deadline import display_instant
from hub.clock.now import ScaledClock
from hub.core.dispatch import RetryPolicy
from hub.core.runtime import RuntimeConfig
from hub.demo import (
    DemoDepartments,
    PushOutcome,
    mount,
    push_samples,
    wait_until,
    with_local_endpoints,
)
from hub.ledger.schema import DeliveryRow, MessageRow
from hub.ops.status import department_status
from hub.routing import load_routing
from hub.service import HubService, build_service
from hub.validation import parse_message

CLAIM_LABELS = {
    "open": "待认领",
    "claimed": "已认领",
    "claimed_late": "超时认领",
    "auto_claimed": "超时自动认领",
}


def run_demo(*, speed: float, serve_for: float | None, port: int | None) -> None:
    folder = fresh_demo_dir(Path("var/demo"))
    settings = settings_with(
        port,
        database_url=f"sqlite:///{folder}/hub.db",
        paper_spool=folder / "paper",
        # leases and redelivery are in clock time: scaled, they last seconds of real time
        runtime=RuntimeConfig(tick_interval=0.2, relay_interval=0.2, redeliver_after=30 * speed),
        retry=RetryPolicy(round_wait_initial=5, round_wait_max=20, lease_seconds=60 * speed),
    )
    clock = ScaledClock(DEMO_START, speed)
    base = f"http://{settings.api_host}:{settings.api_port}"
    routing = with_local_endpoints(load_routing(settings.routing_path), base)
    service = build_service(settings, clock=clock, routing=routing)
    departments = DemoDepartments(clock, base)
    mount(service.app, departments)
    departments.tokens = {
        d.id: service.hub.issue_token(d.id, "demo") for d in routing.config.departments
    }
    server = uvicorn.Server(
        uvicorn.Config(
            service.app, host=settings.api_host, port=settings.api_port, log_level="warning"
        )
    )
    stop = threading.Event()
    threading.Thread(target=server.run, name="hub-api", daemon=True).start()
    service.start()
    try:
        _wait_healthy(base)
        _intro(service, base, speed)
        _show_pushes(
            push_samples(base, departments.tokens)
            + _extra_pushes(service, base, departments.tokens)
        )
        threading.Thread(target=departments.run, args=(stop,), daemon=True).start()
        until = DEMO_START + dt.timedelta(days=5)
        console.print(
            f"\n模拟时间推进到 {until:%Y-%m-%d %H:%M}（部门认领、提醒、超时自动认领、升级）…"
        )
        wait_until(clock, until, stop)
        _show_outcome(service, clock.now())
        _serve_on(server, serve_for, base)
    finally:
        stop.set()
        server.should_exit = True
        service.stop()


def _wait_healthy(base: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"API did not start at {base}")


def _intro(service: HubService, base: str, speed: float) -> None:
    cfg = service.routing.config
    console.rule("审管互动 Hub 演示 (demo)")
    console.print(
        f"路由配置：{cfg.jurisdiction.name}（{service.routing.file}），"
        f"{len(cfg.departments)} 个部门；账本 var/demo/hub.db；API {base}/docs"
    )
    console.print(
        f"模拟时钟从 {DEMO_START:%Y-%m-%d %H:%M}（国庆假期后首个工作日）起，{speed:.0f} 倍速"
    )
    for warning in service.routing.warnings:
        console.print(f"[yellow]⚠ {warning}[/yellow]")


def _extra_pushes(service: HubService, base: str, tokens: dict[str, str]) -> list[PushOutcome]:
    """A classified paper registration, a duplicate and a malformed push."""
    samples = Path(__file__).resolve().parents[1] / "samples"
    secret = parse_message(
        (samples / "liangshan" / "06-policy_change-secret-paper.json").read_bytes()
    )
    accepted = service.hub.accept(secret)
    out = [
        PushOutcome(
            "liangshan", "06（纸质登记，涉密）", 202, accepted.message_id, "涉密：只走纸质渠道"
        )
    ]
    raw = (samples / "guanxian" / "02-approval_decision-hazchem-no-storage.json").read_text(
        encoding="utf-8"
    )
    headers = {"Authorization": f"Bearer {tokens['xzsp']}", "Content-Type": "application/json"}
    for label, body in (
        ("02（重复推送）", raw),
        ("02（统一社会信用代码错误）", raw.replace("91371525MA", "91371525MB", 1)),
    ):
        response = httpx.post(f"{base}/messages", content=body.encode(), headers=headers)
        data = response.json()
        detail = "；".join(p.get("zh", "") for p in data.get("problems", [])) or (
            "重复推送，未重复处理" if data.get("duplicate") else "已受理"
        )
        out.append(
            PushOutcome("guanxian", label, response.status_code, data.get("message_id"), detail)
        )
    return out


def _show_pushes(outcomes: list[PushOutcome]) -> None:
    table = Table(title="推送（经 HTTP API，按发送部门令牌鉴权）", title_justify="left")
    for column in ("县区", "样例", "HTTP", "结果"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        status = str(o.status) if o.status else "—"
        table.add_row(o.county, o.sample, status, o.detail)
    console.print(table)


def _show_outcome(service: HubService, now: dt.datetime) -> None:
    table = Table(title=f"投递与认领（模拟时间 {now:%Y-%m-%d %H:%M}）", title_justify="left")
    for column in ("消息", "收件部门", "渠道", "认领期限", "状态", "升级"):
        table.add_column(column, overflow="fold")
    with service.db.transaction() as session:
        rows = session.execute(
            select(DeliveryRow, MessageRow.subject)
            .join(MessageRow, MessageRow.message_id == DeliveryRow.message_id)
            .order_by(MessageRow.accepted_at)
        ).all()
        for d, subject in rows:
            table.add_row(
                subject[:28],
                d.department_id,
                d.delivered_channel or "—",
                display_instant(d.claim_due),
                CLAIM_LABELS.get(d.claim_state, ""),
                str(d.escalation_level or ""),
            )
        departments = department_status(session, now)
    console.print(table)
    summary = Table(title="部门汇总", title_justify="left")
    for column in ("部门", "待认领", "已逾期", "已认领", "超时认领", "超时自动认领", "已升级"):
        summary.add_column(column)
    for s in departments:
        summary.add_row(
            s.department_id,
            str(s.open),
            str(s.overdue),
            str(s.claimed),
            str(s.claimed_late),
            str(s.auto_claimed),
            str(s.escalated),
        )
    console.print(summary)


def _serve_on(server: uvicorn.Server, serve_for: float | None, base: str) -> None:
    console.print(
        f"\nHub 继续运行：API {base}/docs；查看 `hub status`、`hub trace ID`"
        "（HUB_DATABASE_URL=sqlite:///var/demo/hub.db）。Ctrl-C 退出。"
    )
    deadline = None if serve_for is None else time.monotonic() + serve_for
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        console.print("已停止 (stopped)")
