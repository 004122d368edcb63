"""``hub status``: the outbox backlog per queue, the relay's quarantined and stale jobs, and
claim/delivery counts per department."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hub.cli.context import ConfigOption, JsonOption, ledger, parse_at, try_routing
from hub.cli.labels import age_text, local_time, state_label
from hub.cli.output import console, emit_json
from hub.clock.deadline import display_instant
from hub.ops.status import DeptStatus, RelayStatus, StatusReport, Totals, status
from hub.service import redeliver_after

DEPT_COLUMNS = (
    "部门",
    "待认领",
    "已逾期",
    "已认领",
    "超时认领",
    "超时自动认领",
    "已升级",
    "投递失败",
    "待回复",
    "最早逾期期限",
)


def register_status(app: typer.Typer) -> None:
    app.command("status")(status_cmd)


def status_cmd(
    config: Path | None = ConfigOption,
    at: str | None = typer.Option(None, "--at", help="按此时刻统计逾期，如 2026-10-09T09:00"),
    as_json: bool = JsonOption,
) -> None:
    """运行状态：各队列积压、各部门认领情况、总计 (queues, departments, totals)."""
    now = parse_at(at)
    with ledger() as db, db.transaction() as session:
        report = status(session, now, redeliver_after())
    loaded = try_routing(config)
    names = {d.id: d.name for d in loaded.config.departments} if loaded else {}
    if as_json:
        emit_json({**report.to_json(), "department_names": names})
        return
    console.print(f"统计时刻 {local_time(report.at)}")
    console.print(queue_table(report))
    console.print(relay_line(report.relay))
    console.print(department_table(report, names))
    console.print(totals_line(report.totals))


def queue_table(report: StatusReport) -> Table:
    table = Table(title="队列 (outbox queues)", title_justify="left")
    for column in ("队列", "待处理", "最早等待时长", "延迟重试", "处理中"):
        table.add_column(column, justify="left" if column == "队列" else "right")
    for q in report.queues:
        table.add_row(
            q.queue, str(q.pending), age_text(q.oldest_age_seconds), str(q.scheduled), str(q.leased)
        )
    if not report.queues:
        table.add_row("（无积压 nothing pending）", "0", "—", "0", "0")
    return table


def relay_line(relay: RelayStatus) -> str:
    """The relay's quarantined jobs per queue and its oldest stale job, in one line."""
    given_up = "、".join(f"{queue} {n} 条" for queue, n in sorted(relay.quarantined.items()))
    line = f"转发：已隔离任务 {given_up or '0 条'}"
    if given_up:
        line = f"[red]{line}[/red]（hub quarantine list）"
    job = relay.oldest_stale
    if job is None:
        return f"{line}；无滞留任务 (relay: no stale job)"
    return (
        f"{line}；最久滞留任务 #{job.outbox_id} {job.queue}，距上次发布 {age_text(job.age_seconds)}"
        f"（已发布 {job.publishes} 次，已领取 {job.attempts} 次）"
    )


def department_table(report: StatusReport, names: dict[str, str]) -> Table:
    """Every department with deliveries, plus configured ones without any (all zero)."""
    table = Table(title="部门 (departments)", title_justify="left")
    for column in DEPT_COLUMNS:
        table.add_column(column, justify="left" if column == "部门" else "right")
    rows = {d.department_id: d for d in report.departments}
    for dept_id in sorted(set(rows) | set(names)):
        label = f"{names[dept_id]}\n[dim]{dept_id}[/dim]" if dept_id in names else dept_id
        table.add_row(label, *_dept_cells(rows.get(dept_id)))
    return table


def _dept_cells(d: DeptStatus | None) -> list[str]:
    if d is None:
        return ["0"] * (len(DEPT_COLUMNS) - 2) + ["—"]
    counts = (
        d.open,
        d.overdue,
        d.claimed,
        d.claimed_late,
        d.auto_claimed,
        d.escalated,
        d.failed,
        d.replies_awaiting,
    )
    cells = [str(n) for n in counts]
    if d.overdue:
        cells[1] = f"[red]{d.overdue}[/red]"
    return [*cells, display_instant(d.oldest_overdue_due)]


def totals_line(totals: Totals) -> str:
    total = sum(totals.messages.values())
    parts = "，".join(
        f"{state_label('message', state)} {count}"
        for state, count in sorted(totals.messages.items())
    )
    detail = f"（{parts}）" if parts else ""
    late = "、".join(f"{sender} {n} 条" for sender, n in sorted(totals.late_pushes.items()))
    return (
        f"合计：消息 {total} 条{detail}；隔离待处理 {totals.quarantine_open} 条；"
        f"死信投递 {totals.dead_lettered} 条；发送方推送逾期 {late or '0 条'}"
    )
