"""``hub quarantine list|show|replay|discard``: look at quarantined input and resolve it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from hub.cli.context import ConfigOption, JsonOption, fail, ledger, open_routing, operator
from hub.cli.labels import local_time, state_label
from hub.cli.output import console, emit_json
from hub.clock.now import SystemClock
from hub.core.hub import Hub
from hub.errors import ActionError
from hub.ops.handoff import HandoffBus, hand_over
from hub.ops.quarantine import Entry, ReplayResult, discard, get_entry, list_entries, replay

SHOW_LIMIT = 4096  # bytes of the raw payload shown to people

quarantine_app = typer.Typer(
    help="隔离区：查看、重放、丢弃 (quarantined input: list, show, replay, discard)",
    no_args_is_help=True,
)


@quarantine_app.command("list")
def list_cmd(
    show_all: bool = typer.Option(False, "--all", help="包括已重放、已丢弃的记录"),
    limit: int = typer.Option(100, "--limit", min=1, help="最多显示条数（最新的在前）"),
    as_json: bool = JsonOption,
) -> None:
    """列出隔离记录（默认只列待处理的）(list open entries, newest first)."""
    with ledger() as db, db.transaction() as session:
        entries = list_entries(session, None if show_all else "open", limit)
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    table = Table(title=f"隔离记录 {len(entries)} 条 (quarantine)", title_justify="left")
    for column in ("编号", "时间", "阶段", "渠道", "消息", "原因", "状态"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            local_time(e.at),
            state_label("stage", e.stage),
            e.channel,
            e.message_id or "—",
            escape(e.reason_zh),
            state_label("quarantine", e.state),
        )
    console.print(table)


@quarantine_app.command("show")
def show_cmd(
    entry_id: int = typer.Argument(..., metavar="ID", help="隔离记录编号"),
    as_json: bool = JsonOption,
) -> None:
    """显示一条隔离记录：原因、每个问题、原始内容 (show one entry)."""
    with ledger() as db, db.transaction() as session:
        entry = get_entry(session, entry_id)
    if entry is None:
        fail(f"隔离记录 {entry_id} 不存在", f"no quarantine entry {entry_id}")
    if as_json:
        emit_json({**entry.to_json(), **raw_json(entry.raw)})
        return
    for line in entry_lines(entry):
        console.print(line)
    console.print(problem_table(entry.problems))
    text, note = raw_text(entry.raw)
    console.rule("原始内容 (raw payload)")
    console.print(text, markup=False, highlight=False)
    if note:
        console.print(f"[yellow]{note}[/yellow]")


def entry_lines(e: Entry) -> list[str]:
    resolved = f"  处理于 {local_time(e.resolved_at)}" if e.resolved_at else ""
    return [
        f"[bold]隔离记录 #{e.id}[/bold]  {state_label('quarantine', e.state)}{resolved}",
        f"时间 {local_time(e.at)}  阶段 {state_label('stage', e.stage)}  渠道 {e.channel}"
        f"  来源编号 {escape(e.source_id) or '—'}  消息 {e.message_id or '—'}",
        f"原因 {escape(e.reason_zh)}",
        f"[dim]reason {escape(e.reason_en)}[/dim]",
    ]


def problem_table(problems: list[dict[str, str]]) -> Table:
    table = Table(title=f"问题 {len(problems)} 个 (problems)", title_justify="left")
    for column in ("字段 path", "问题 problem"):
        table.add_column(column, overflow="fold")
    for p in problems:
        table.add_row(
            p.get("path") or "<root>",
            f"{escape(p.get('zh', ''))}\n[dim]{escape(p.get('en', ''))}[/dim]",
        )
    return table


def raw_text(raw: bytes) -> tuple[str, str]:
    """The payload for people (JSON pretty-printed) cut at 4 KiB, and a note when cut."""
    try:
        text = json.dumps(json.loads(raw), ensure_ascii=False, indent=2)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    data = text.encode("utf-8")
    if len(data) <= SHOW_LIMIT:
        return text, ""
    cut = data[:SHOW_LIMIT].decode("utf-8", errors="ignore")
    note = (
        f"…（已截断：只显示前 {SHOW_LIMIT} 字节，共 {len(data)} 字节；完整内容用 --json）"
        f" (truncated at {SHOW_LIMIT} of {len(data)} bytes; use --json for all)"
    )
    return cut, note


def raw_json(raw: bytes) -> dict[str, Any]:
    try:
        return {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_base64": base64.b64encode(raw).decode("ascii")}


@quarantine_app.command("replay")
def replay_cmd(
    entry_id: int = typer.Argument(..., metavar="ID", help="隔离记录编号"),
    config: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """按当前路由配置重放一条隔离记录（修正配置后使用）(replay with the current routing.yaml)."""
    loaded = open_routing(config)
    with ledger() as db:
        bus = HandoffBus()
        hub = Hub(db, loaded.router, bus, clock=SystemClock())
        try:
            result = replay(hub, entry_id, actor=operator())
        except ActionError as exc:
            fail(exc.zh, exc.en)
        finally:
            hub.close()
        handed = hand_over(db, bus)
    _print_replay(result, handed, as_json)
    if not result.ok:
        raise typer.Exit(1)


def _print_replay(result: ReplayResult, handed: int, as_json: bool) -> None:
    if as_json:
        emit_json({**result.to_json(), "handed_over": handed})
        return
    if not result.ok:
        console.print(f"[red]重放失败，隔离记录 #{result.entry_id} 仍待处理[/red] (replay failed)")
        console.print(problem_table(result.problems))
        return
    what = "已存在（重复推送），未再次接收" if result.duplicate else "已重新进入处理"
    console.print(
        f"[green]已重放隔离记录 #{result.entry_id}[/green]：消息 {result.message_id} {what}"
        f" (replayed, stage {result.stage})"
    )
    if handed:
        console.print(
            f"新建 {handed} 项任务，交由运行中的 hub 转发 (handed over to the running hub's relay)"
        )


@quarantine_app.command("discard")
def discard_cmd(
    entry_id: int = typer.Argument(..., metavar="ID", help="隔离记录编号"),
    reason: str = typer.Option(..., "--reason", "-r", help="丢弃原因（记入审计链）"),
) -> None:
    """丢弃一条隔离记录，原因记入审计链 (discard an entry, with a reason on record)."""
    if not reason.strip():
        fail("请给出丢弃原因", "--reason must not be empty", code=2)
    with ledger() as db:
        try:
            with db.transaction() as session:
                entry = discard(
                    session, entry_id, reason, now=SystemClock().now(), actor=operator()
                )
        except ActionError as exc:
            fail(exc.zh, exc.en)
    console.print(f"[green]已丢弃隔离记录 #{entry.id}[/green]（原因：{escape(reason)}）(discarded)")
