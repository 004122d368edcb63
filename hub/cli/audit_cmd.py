"""``hub audit verify``: recompute the event chain; print the head to record outside the hub."""

from __future__ import annotations

import typer
from rich.markup import escape

from hub.cli.context import JsonOption, fail, ledger
from hub.cli.labels import local_time
from hub.cli.output import console, emit_json, err_console
from hub.ops.audit import AuditSummary, audit, seal_all

audit_app = typer.Typer(help="审计链：校验全程留痕 (audit chain)", no_args_is_help=True)


@audit_app.command("verify")
def verify_cmd(
    expect: str | None = typer.Option(
        None, "--expect", metavar="SEQ:HASH", help="先前记录的链头，校验链仍经过它"
    ),
    as_json: bool = JsonOption,
) -> None:
    """校验审计链：逐条重算哈希，列出每处问题 (exit 1 on any problem)."""
    recorded = _parse_expect(expect) if expect else None
    with ledger() as db:
        seal_all(db)
        with db.transaction() as session:
            summary = audit(session, expect=recorded)
    if as_json:
        emit_json(summary.to_json())
    else:
        _print(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _parse_expect(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.strip().lstrip("#").isdigit() or len(digest.strip()) != 64:
        fail(
            f"--expect 格式应为 序号:哈希（64 位十六进制），而不是 {text!r}",
            "--expect must look like SEQ:SHA256HEX",
            code=2,
        )
    return int(seq.strip().lstrip("#")), digest.strip().lower()


def _print(s: AuditSummary) -> None:
    if s.ok:
        console.print(
            f"[green]审计链完整[/green] {s.events} 条事件，链头 #{s.head_seq} sha256 {s.head_hash}"
            f"（{local_time(s.head_at)}）(audit chain intact)"
        )
        console.print("请将链头序号与哈希另行记录，以便日后校验 (record the head outside the hub)")
        if s.unsealed:
            console.print(f"另有 {s.unsealed} 条新事件待封链 (events not sealed yet)")
        return
    err_console.print(
        f"[red]审计链异常：{len(s.problems)} 处问题[/red]（共 {s.events} 条事件，"
        f"链头 #{s.head_seq}）(audit chain broken)"
    )
    for problem in s.problems:
        err_console.print(f"  • {escape(problem)}")
