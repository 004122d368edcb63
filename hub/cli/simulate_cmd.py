"""``hub simulate``: rehearse what the running hub will do over days (see ``hub.sim``)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from hub.cli.context import JsonOption, fail, parse_at
from hub.cli.labels import event_label, state_label
from hub.cli.output import console, emit_json, err_console
from hub.cli.render import problems_table
from hub.clock.deadline import display_instant
from hub.errors import ConfigError
from hub.logging import configure_logging
from hub.sim import BehaviourError, DeliveryReport, PushReport, Report, rehearse


def register_simulate(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)


def simulate_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="路由配置 routing.yaml"),
    messages: Path = typer.Option(
        ..., "--messages", "-m", help="消息目录（其中每个 *.json 为一条推送）"
    ),
    start: str = typer.Option(
        ..., "--from", help="模拟开始时间，如 2026-10-12T10:00（无时区按北京时间）"
    ),
    days: float = typer.Option(..., "--days", min=0.01, max=366, help="模拟天数"),
    departments: Path = typer.Option(
        ..., "--departments", "-d", help="部门行为文件 BEHAVIOUR.yaml"
    ),
    events: bool = typer.Option(False, "--events", help="逐条列出每项投递的事件"),
    as_json: bool = JsonOption,
) -> None:
    """演练：在临时账本上运行真实 Hub，按部门行为文件模拟若干天 (rehearse the hub over days)."""
    if "HUB_LOG_LEVEL" not in os.environ:
        configure_logging("ERROR")  # a rehearsal's delivery warnings are its report, not noise
    try:
        report = rehearse(config, messages, parse_at(start), days, departments)
    except ConfigError as exc:
        err_console.print(problems_table(exc.problems))
        raise typer.Exit(1) from exc
    except BehaviourError as exc:
        fail(exc.zh, exc.en)
    if as_json:
        emit_json(report.to_json())
        return
    console.rule(f"演练 {_at(report.start)} → {_at(report.end)}（{days:g} 天）")
    for push in report.pushes:
        _show_push(push, events)
    if report.actions:
        console.print(actions_table(report))
    console.print(received_table(report))


def _show_push(push: PushReport, events: bool) -> None:
    if push.message_id is None or not push.deliveries:
        console.print(
            f"\n[bold]推送 {escape(push.file)}[/bold]  {_at(push.pushed_at)}  "
            f"HTTP {push.status or '—'}：{escape(push.detail)}"
        )
        return
    late = "  [red]发送方推送逾期[/red]" if push.push_late else ""
    console.print(
        f"\n[bold]推送 {escape(push.file)}[/bold]  {push.message_id}  {escape(push.subject)}\n"
        f"受理 {_at(push.accepted_at)}{late}"
    )
    console.print(deliveries_table(push))
    if events:
        for d in push.deliveries:
            console.print(events_table(d))


def deliveries_table(push: PushReport) -> Table:
    table = Table(title_justify="left")
    for column in ("收件部门", "送达", "认领期限", "提醒", "认领", "升级", "异议 / 回复", "结果"):
        table.add_column(column, overflow="fold")
    for d in push.deliveries:
        table.add_row(
            d.department_id,
            _transport(d),
            display_instant(d.claim_due),
            "\n".join(_at(r) for r in d.reminders) or "—",
            _claim(d),
            "\n".join(f"{e.level or '?'} 级 → {e.to} {_at(e.at)}" for e in d.escalations) or "—",
            _windows(d),
            _outcome(d),
        )
    return table


def _transport(d: DeliveryReport) -> str:
    lines = []
    if d.delivered_at is not None:
        lines.append(f"{_at(d.delivered_at)}（{d.delivered_channel or '—'}）")
    elif d.failed_at is not None:
        lines.append(f"[red]投递失败[/red] {_at(d.failed_at)}")
    else:
        lines.append(state_label("transport", d.transport_state))
    if d.retries:
        lines.append(f"重试 {d.retries} 次")
    for at in d.bounced_at:
        lines.append(f"退信 {_at(at)}")
    if d.fallbacks:
        lines.append("改用 " + " → ".join(d.fallbacks))
    return "\n".join(lines)


def _claim(d: DeliveryReport) -> str:
    if d.auto_claimed_at is not None:
        return f"超时自动认领 {_at(d.auto_claimed_at)}"
    if d.claim_state == "none":
        return "—（无需认领）"
    text = state_label("claim", d.claim_state)
    if d.claimed_at is not None:
        text += f" {_at(d.claimed_at)}"
    return text


def _windows(d: DeliveryReport) -> str:
    parts = []
    if d.objection_state != "none":
        parts.append(f"异议：{state_label('objection', d.objection_state)}")
    if d.reply_state != "none":
        parts.append(f"回复：{state_label('reply', d.reply_state)}")
    return "\n".join(parts) or "—"


def _outcome(d: DeliveryReport) -> str:
    color = {"delivery_failed": "red", "auto_claimed": "yellow", "escalated": "yellow"}
    tint = color.get(d.outcome)
    return f"[{tint}]{d.outcome_zh}[/{tint}]" if tint else d.outcome_zh


def events_table(d: DeliveryReport) -> Table:
    table = Table(title=f"{d.department_id} {d.delivery_id} 事件", title_justify="left")
    for column in ("时间", "事件", "部门", "渠道", "详情"):
        table.add_column(column, overflow="fold")
    for step in d.steps:
        detail = json.dumps(step.data, ensure_ascii=False, separators=(",", ":"), default=str)
        table.add_row(
            _at(step.at),
            event_label(step.type),
            step.department_id or "—",
            step.channel or "—",
            escape(detail[:200]),
        )
    return table


ACTION_LABELS = {"claim": "认领", "object": "提出异议", "reply": "答复", "bounce": "退信"}


def actions_table(report: Report) -> Table:
    table = Table(title="部门操作（经 API；退信直接报告 Hub）", title_justify="left")
    for column in ("时间", "部门", "操作", "投递编号", "HTTP", "Hub 答复"):
        table.add_column(column, overflow="fold")
    for a in report.actions:
        table.add_row(
            _at(a.at),
            a.department_id,
            ACTION_LABELS.get(a.kind, a.kind),
            a.delivery_id,
            str(a.status or "—"),
            escape(a.note),
        )
    return table


def received_table(report: Report) -> Table:
    table = Table(title="部门收到（去重后；重复为同一幂等键再次到达）", title_justify="left")
    for column in ("部门", "用途", "收到", "重复"):
        table.add_column(column)
    for r in report.received:
        table.add_row(r.department_id, r.purpose, str(r.notes), str(r.repeats))
    for department_id, count in sorted(report.refused.items()):
        table.add_row(department_id, "停机期间拒收（503/邮件不可达）", str(count), "—")
    return table


def _at(value: dt.datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")
