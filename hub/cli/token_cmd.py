"""``hub token issue|list|revoke``: per-department bearer tokens for the HTTP API."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from hub.cli.context import ConfigOption, JsonOption, fail, ledger, open_routing, operator
from hub.cli.labels import local_time
from hub.cli.output import console, emit_json, err_console
from hub.clock.now import SystemClock
from hub.core.hub import Hub
from hub.ops.handoff import HandoffBus
from hub.ops.tokens import list_tokens, revoke

token_app = typer.Typer(help="接口令牌：签发、查看、吊销 (API tokens)", no_args_is_help=True)


@token_app.command("issue")
def issue_cmd(
    department: str = typer.Argument(..., metavar="DEPT", help="部门编号，如 scjg"),
    label: str = typer.Option("", "--label", "-l", help="令牌用途说明，如 平台对接"),
    config: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """为部门签发新令牌；令牌只显示这一次 (issue a token; shown once, only its hash is kept)."""
    loaded = open_routing(config)
    if department not in loaded.router.departments:
        fail(
            f"未知部门 {department!r}：{loaded.file} 中没有该部门",
            f"unknown department {department!r}",
        )
    with ledger() as db:
        hub = Hub(db, loaded.router, HandoffBus(), clock=SystemClock())
        try:
            token = hub.issue_token(department, label)
        finally:
            hub.close()
    if as_json:
        emit_json({"department_id": department, "label": label, "token": token})
        return
    name = loaded.router.departments[department].name
    err_console.print(f"已为 {department}（{name}）签发令牌 {escape(label)} (token issued):")
    console.print(token, markup=False, highlight=False)
    err_console.print(
        "[yellow]⚠ 令牌只显示这一次，hub 只保存其 sha256，无法找回；请立即妥善保存[/yellow]"
        " (shown once: the hub keeps only its sha256)"
    )


@token_app.command("list")
def list_cmd(
    department: str | None = typer.Option(None, "--department", "-d", help="只看一个部门"),
    as_json: bool = JsonOption,
) -> None:
    """列出令牌（不含令牌本身）(list tokens: department, label, created, revoked)."""
    with ledger() as db, db.transaction() as session:
        tokens = list_tokens(session, department)
    if as_json:
        emit_json([t.to_json() for t in tokens])
        return
    table = Table(title=f"令牌 {len(tokens)} 个 (tokens)", title_justify="left")
    for column in ("部门", "标签", "指纹", "签发时间", "吊销时间"):
        table.add_column(column)
    for t in tokens:
        revoked = f"[red]{local_time(t.revoked_at)}[/red]" if t.revoked_at else "有效"
        table.add_row(
            t.department_id,
            escape(t.label) or "—",
            t.fingerprint,
            local_time(t.created_at),
            revoked,
        )
    console.print(table)


@token_app.command("revoke")
def revoke_cmd(
    department: str = typer.Argument(..., metavar="DEPT", help="部门编号"),
    label: str | None = typer.Option(None, "--label", "-l", help="只吊销此标签的令牌"),
) -> None:
    """吊销部门的有效令牌（可按标签）(revoke a department's live tokens)."""
    with ledger() as db, db.transaction() as session:
        revoked = revoke(session, department, label, now=SystemClock().now(), actor=operator())
    if not revoked:
        which = f"标签 {label!r} 的" if label is not None else ""
        fail(f"{department} 没有{which}有效令牌可吊销", f"no live token of {department} matched")
    console.print(
        f"[green]已吊销 {department} 的 {len(revoked)} 个令牌[/green]"
        f"（指纹 {'、'.join(revoked)}）(revoked)"
    )
