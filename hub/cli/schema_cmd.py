"""``hub schema`` (print the message JSON Schema) and ``hub validate`` (check message files).

    hub schema [--kind KIND] [--output FILE]
    hub validate FILE... [--json] [--max-attachment-bytes N]

``hub validate`` exits 0 when every file is a valid canonical message, 1 otherwise; each problem
is printed with its field path, in Chinese and in English.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from hub.cli.output import console, emit_json
from hub.errors import FieldProblem, MessageError
from hub.message import MessageKind
from hub.validation import message_json_schema, parse_message


@dataclass(frozen=True)
class FileReport:
    """The outcome of validating one file."""

    file: str
    problems: list[FieldProblem] = field(default_factory=list)
    kind: str | None = None
    message_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "file": self.file,
            "ok": self.ok,
            "kind": self.kind,
            "message_id": self.message_id,
            "problems": [{"path": p.path, "zh": p.zh, "en": p.en} for p in self.problems],
        }


def validate_file(path: Path, max_attachment_bytes: int | None = None) -> FileReport:
    """Validate one message file; unreadable files are reported as a problem, not raised."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = FieldProblem("", f"无法读取文件：{exc.strerror}", f"cannot read file: {exc}")
        return FileReport(str(path), [problem])
    try:
        message = parse_message(raw, max_attachment_bytes=max_attachment_bytes)
    except MessageError as exc:
        return FileReport(str(path), exc.problems)
    return FileReport(str(path), kind=message.kind.value, message_id=message.message_id)


def _print_report(report: FileReport) -> None:
    if report.ok:
        console.print(f"[green]OK[/green] {report.file}  {report.kind}  {report.message_id}")
        return
    console.print(
        f"[red]无效 INVALID[/red] {report.file}  ({len(report.problems)} 个问题 problems)"
    )
    for problem in report.problems:
        console.print(f"  {problem.path or '<root>'}: {problem.zh}", markup=False)
        console.print(f"  {' ' * len(problem.path or '<root>')}  {problem.en}", markup=False)


def schema_command(
    kind: MessageKind | None = typer.Option(
        None, "--kind", "-k", help="只输出该类型的模式 (schema for one kind only)"
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="写入文件而非标准输出 (write to FILE)"
    ),
) -> None:
    """输出消息的 JSON Schema (print the canonical message JSON Schema)."""
    text = json.dumps(message_json_schema(kind), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"已写入 written: {output}")


def validate_command(
    files: list[Path] = typer.Argument(..., help="消息 JSON 文件 (message JSON files)"),
    as_json: bool = typer.Option(False, "--json", help="机器可读输出 (JSON output)"),
    max_attachment_bytes: int | None = typer.Option(
        None, "--max-attachment-bytes", min=1, help="附件大小上限 (attachment size limit)"
    ),
) -> None:
    """校验消息文件 (validate message files); exit 1 if any is invalid."""
    reports = [validate_file(path, max_attachment_bytes) for path in files]
    if as_json:
        emit_json([report.as_dict() for report in reports])
    else:
        for report in reports:
            _print_report(report)
    if not all(report.ok for report in reports):
        raise typer.Exit(code=1)


def register_schema(app: typer.Typer) -> None:
    """Add ``schema`` and ``validate`` to the ``hub`` app."""
    app.command("schema")(schema_command)
    app.command("validate")(validate_command)
