"""``hub routing check|test|show``: validate routing.yaml and see what a message would do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from hub.cli.output import console, emit_json, err_console
from hub.cli.render import problems_table, result_notes, result_table, route_tree
from hub.errors import ConfigError, HubError, RoutingError
from hub.message import Channel
from hub.routing import LoadedRouting, default_routing_path, load_routing
from hub.routing.batch import run_batch
from hub.routing.channels import IMPLEMENTED_CHANNELS, parse_channels
from hub.validation import parse_message

routing_app = typer.Typer(
    help="路由配置：检查、测试、查看 (routing.yaml: check, test, show)", no_args_is_help=True
)

ConfigOption = typer.Option(
    None, "--config", "-c", help="routing.yaml（默认 $HUB_ROUTING 或 ./routing.yaml）"
)
JsonOption = typer.Option(False, "--json", help="输出 JSON (machine-readable)")


def _load(
    path: Path | None, as_json: bool, channels: frozenset[Channel] | None = None
) -> LoadedRouting:
    try:
        return load_routing(path or default_routing_path(), channels=channels)
    except ConfigError as exc:
        if as_json:
            emit_json({"ok": False, "problems": [p.__dict__ for p in exc.problems]})
        else:
            err_console.print(problems_table(exc.problems))
        raise typer.Exit(1) from exc


_DEFAULT_CHANNELS = ",".join(c.value for c in Channel if c in IMPLEMENTED_CHANNELS)


def _channels(text: str) -> frozenset[Channel]:
    try:
        return parse_channels(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@routing_app.command("check")
def check(
    file: Path | None = typer.Argument(None, help="routing.yaml"),
    channels: str = typer.Option(
        _DEFAULT_CHANNELS,
        "--channels",
        help="本部署启用的渠道，逗号分隔 (channels with an adapter in this deployment)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """检查配置：逐节点校验、交叉引用、整树与渠道检查；列出全部错误 (exit 1 on any error)."""
    loaded = _load(file, as_json, _channels(channels))
    cfg = loaded.config
    summary = {
        "ok": True,
        "file": loaded.file,
        "jurisdiction": cfg.jurisdiction.name,
        "departments": len(cfg.departments),
        "policies": len(cfg.policies),
        "routes": len(loaded.router.tree.walk()),
        "channels": [c.value for c in Channel if c in loaded.channels],
        "warnings": list(loaded.warnings),
        "notices": [p.__dict__ for p in loaded.notices],
    }
    if as_json:
        emit_json(summary)
        return
    count = len(loaded.warnings)
    console.print(
        f"[green]配置有效[/green] {loaded.file}：{cfg.jurisdiction.name}，"
        f"{summary['departments']} 个部门，{summary['policies']} 条策略，"
        f"{summary['routes']} 条路由"
        + (
            f"，[yellow]{count} 条警告[/yellow] (config OK, {count} warnings)"
            if count
            else " (config OK)"
        )
    )
    for warning in loaded.warnings:
        console.print(f"⚠ {warning}", style="yellow", markup=False, soft_wrap=True)


@routing_app.command("show")
def show(file: Path | None = typer.Argument(None, help="routing.yaml")) -> None:
    """显示编译后的路由树 (print the compiled route tree)."""
    loaded = _load(file, False)
    console.print(route_tree(loaded.router.tree))


@routing_app.command("test")
def test(
    config: Path | None = ConfigOption,
    message: Path | None = typer.Option(None, "--message", "-m", help="消息 JSON 文件"),
    batch: Path | None = typer.Option(
        None, "--batch", "-b", help="批量：目录中每个 X.json 配一个 X.expect.yaml"
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="受理时间 ISO，如 2026-09-30T16:00：运行中的 Hub 以受理推送的时刻计算发送方时限，"
        "以送达部门的时刻计算认领期限；缺省为消息的 source.received_at "
        "(the instant the hub accepts it; default: the message's received_at)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """测试路由：单条消息的收件部门、渠道与期限；或批量比对期望 (exit 1 on mismatch)."""
    if (message is None) == (batch is None):
        err_console.print(
            "请给出 --message 或 --batch 之一 (give exactly one of --message/--batch)"
        )
        raise typer.Exit(2)
    loaded = _load(config, as_json)
    if batch is not None:
        _batch(loaded, batch, as_json)
    else:
        assert message is not None
        _single(loaded, message, at, as_json)


def _single(loaded: LoadedRouting, path: Path, at: str | None, as_json: bool) -> None:
    try:
        msg = parse_message(path.read_bytes())
        when = _parse_at(at, loaded)
        result = loaded.router.resolve(msg, when)
    except (HubError, OSError, ValueError) as exc:
        if as_json:
            bilingual = {"zh": exc.zh, "en": exc.en} if isinstance(exc, RoutingError) else {}
            emit_json({"ok": False, "error": str(exc), **bilingual})
        else:
            err_console.print(f"[red]无法路由 (cannot route)[/red] {path}:\n{exc}")
        raise typer.Exit(1) from exc
    if as_json:
        emit_json({"ok": True, **result.to_json()})
        return
    console.print(result_table(msg, result))
    for note in result_notes(result):
        console.print(note)


def _batch(loaded: LoadedRouting, folder: Path, as_json: bool) -> None:
    results = run_batch(loaded.router, folder)
    failed = [r for r in results if not r.ok]
    if as_json:
        emit_json(
            {
                "ok": not failed and bool(results),
                "cases": len(results),
                "failed": [{"case": r.name, "mismatches": r.mismatches} for r in failed],
            }
        )
    else:
        for r in results:
            mark = "[green]通过[/green]" if r.ok else "[red]不符[/red]"
            console.print(f"{mark} {r.name}")
            for line in r.mismatches:
                console.print(f"    {line}")
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        raise typer.Exit(1)


def _parse_at(text: str | None, loaded: LoadedRouting) -> dt.datetime | None:
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=loaded.router.calendar.tz)
