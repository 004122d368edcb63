"""``hub run`` (the hub process, optionally the demo) and ``hub push`` (register messages)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import structlog
import typer
import uvicorn

from hub.cli.context import masked_url
from hub.cli.output import console, emit_json, err_console
from hub.cli.run_settings import settings_with
from hub.clock.now import SystemClock
from hub.core.hub import Hub
from hub.core.runtime import RuntimeConfig
from hub.errors import ConfigError, FieldProblem, HubError, MessageError, RoutingError
from hub.logging import configure_logging
from hub.message import Channel
from hub.routing import LoadedRouting, load_routing
from hub.service import HubService, Settings, build_service, default_adapters

log = structlog.get_logger(__name__)


def register_run(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("push")(push)


def run(
    demo: bool = typer.Option(False, "--demo", help="演示：推送五个县区的样例，模拟部门认领"),
    serve_for: float | None = typer.Option(None, "--for", help="运行若干秒后退出 (seconds)"),
    speed: float = typer.Option(14400.0, help="演示时钟倍速 (demo clock speed)"),
    port: int | None = typer.Option(None, help="API 端口 (default $HUB_API_PORT or 8400)"),
) -> None:
    """启动 Hub：API、工作线程、期限引擎 (run the hub: API + workers + deadline engine)."""
    configure_logging(os.environ.get("HUB_LOG_LEVEL", "WARNING"))
    try:
        if demo:
            from hub.cli.demo_run import run_demo

            run_demo(speed=speed, serve_for=serve_for, port=port)
            return
        service = _service(settings_with(port))
    except (ConfigError, HubError) as exc:  # HubError includes a bad HUB_* setting
        err_console.print(f"[red]无法启动 (cannot start)[/red]\n{exc}")
        raise typer.Exit(1) from exc
    for line in banner_lines(service.routing):
        err_console.print(line, markup=False, soft_wrap=True)
    serve(service, serve_for)


def _service(settings: Settings) -> HubService:
    """The hub, its routing checked against the channels it has adapters for."""
    clock = SystemClock()
    adapters = default_adapters(settings, clock)
    routing = load_routing(settings.routing_path, channels=frozenset(adapters))
    return build_service(settings, clock=clock, routing=routing, adapters=adapters)


_NOT_ENABLED = {
    Channel.EMAIL: ("未配置，设置 HUB_SMTP_URL 启用", "not configured: set HUB_SMTP_URL"),
    Channel.SELFBUILT: ("尚未实现", "not implemented yet"),
}


def banner_lines(routing: LoadedRouting) -> list[str]:
    """What ``hub run`` says first (stderr): routing file, county, channels, every warning."""
    jurisdiction = routing.config.jurisdiction
    enabled = ", ".join(c.value for c in Channel if c in routing.channels)
    missing = [c for c in Channel if c not in routing.channels]
    lines = [
        f"路由配置 (routing): {routing.file}",
        f"县区 (jurisdiction): {jurisdiction.name}（{jurisdiction.code}）"
        f"《{jurisdiction.measures.title}》",
        f"启用渠道 (channels): {enabled}",
    ]
    for channel in missing:
        zh, en = _NOT_ENABLED.get(channel, ("未启用", "not enabled"))
        lines.append(f"  {channel.value}（{channel.label}）{zh} ({en})")
    lines.extend(f"⚠ {warning}" for warning in routing.warnings)
    return lines


def serve(service: HubService, serve_for: float | None, *, banner: bool = True) -> None:
    """Run the workers and the API until Ctrl-C (or ``serve_for`` seconds)."""
    settings = service.settings
    server = uvicorn.Server(
        uvicorn.Config(
            service.app, host=settings.api_host, port=settings.api_port, log_level="warning"
        )
    )
    service.start()
    if banner:
        console.print(
            f"审管互动 Hub 已启动：API http://{settings.api_host}:{settings.api_port}/docs"
            f"  账本 {masked_url(settings.database_url)}  总线 {masked_url(settings.broker_url)}"
            "  (Ctrl-C 退出)"
        )
    if serve_for is not None:
        timer = threading.Timer(serve_for, lambda: setattr(server, "should_exit", True))
        timer.daemon = True  # a failed start must not wait for it
        timer.start()
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot start, e.g. the port is taken
        err_console.print(
            f"[red]API 无法在 {settings.api_host}:{settings.api_port} 启动（端口被占用？），"
            f"Hub 已停止[/red] (the API could not start: is the port taken?)"
        )
        raise typer.Exit(1) from exc
    finally:
        service.stop()


def push(
    files: list[Path] = typer.Argument(..., help="消息 JSON 文件"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """登记推送：把消息直接写入账本（纸质登记、批量导入）；运行中的 Hub 会接着路由投递。

    无法受理的文件与经接口推送一样隔离登记（打印隔离编号），命令以非零状态退出。
    """
    service = build_service(settings_with(None, runtime=RuntimeConfig()))
    service.hub.fast_path = False  # the running hub's relay publishes these
    try:
        results = [_push_file(service.hub, path) for path in files]
    finally:
        service.hub.close()
    _report_pushes(results, as_json)
    if any("error" in r for r in results):
        raise typer.Exit(1)


def _push_file(hub: Hub, path: Path) -> dict[str, object]:
    """Accept one file; quarantine it (non-empty) when it is invalid or cannot be routed."""
    from hub.validation import parse_message

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "error": f"无法读取文件 (cannot read the file): {exc}"}
    try:
        accepted = hub.accept(parse_message(raw))
    except MessageError as exc:
        return _refused(hub, path, raw, exc.problems)
    except RoutingError as exc:
        return _refused(hub, path, raw, [FieldProblem(exc.path, exc.zh, exc.en)])
    except HubError as exc:
        return {"file": str(path), "error": str(exc)}
    return {"file": str(path), "message_id": accepted.message_id, "duplicate": accepted.duplicate}


def _refused(hub: Hub, path: Path, raw: bytes, problems: list[FieldProblem]) -> dict[str, object]:
    """Record a refused file in the quarantine, like the API does; an empty file is not kept."""
    result: dict[str, object] = {
        "file": str(path),
        "error": "\n".join(str(p) for p in problems),
        "problems": [{"path": p.path, "zh": p.zh, "en": p.en} for p in problems],
    }
    if raw.strip():
        channel, source_id = _claimed_source(raw)
        qid = hub.quarantine_input(channel=channel, raw=raw, problems=problems, source_id=source_id)
        log.warning(
            "message.rejected", quarantine_id=qid, problems=len(problems), channel=channel.value
        )
        result["quarantine_id"] = qid
    return result


def _claimed_source(raw: bytes) -> tuple[Channel, str]:
    """The channel and source id a refused file names, for its quarantine record.

    What cannot be read as such is recorded as paper (``hub push`` registers paper and imports).
    """
    try:
        source = json.loads(raw).get("source")
    except (ValueError, RecursionError, AttributeError):
        source = None
    source = source if isinstance(source, dict) else {}
    channel = str(source.get("channel"))
    source_id = source.get("source_id")
    return (
        Channel(channel) if channel in {c.value for c in Channel} else Channel.PAPER,
        source_id[:200] if isinstance(source_id, str) else "",
    )


def _report_pushes(results: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        emit_json(results)
        return
    for r in results:
        if "quarantine_id" in r:
            console.print(
                f"[red]未受理，已隔离 (refused, quarantined)[/red] {r['file']}"
                f"  隔离编号 (quarantine id) #{r['quarantine_id']}"
                f"（hub quarantine show {r['quarantine_id']}）\n{r['error']}",
                soft_wrap=True,  # paths and ids stay whole, to copy
            )
        elif "error" in r:
            console.print(f"[red]未受理[/red] {r['file']}\n{r['error']}")
        else:
            note = "（重复，已忽略）" if r["duplicate"] else ""
            console.print(f"[green]已受理[/green] {r['file']} → {r['message_id']}{note}")
