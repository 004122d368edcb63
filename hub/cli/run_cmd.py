"""``hub run`` (the hub process, optionally the demo), ``hub api`` and ``hub worker`` (its two
halves as separate processes) and ``hub push`` (register messages, one by one or a directory).

``hub run`` = ``hub api`` + ``hub worker`` in one process. Run the halves apart to scale them
apart: any number of API processes and of worker processes on one ledger and one broker. On the
embedded ``memory://`` bus (which no other process sees) the API process leaves publishing to
the workers' outbox relay (a relay interval later); on a real broker it publishes after commit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog
import typer
import uvicorn
from uvicorn.config import HTTPProtocolType, LoopFactoryType

from hub.cli.context import masked_url
from hub.cli.output import console, emit_json, err_console
from hub.cli.run_settings import settings_with
from hub.clock.now import SystemClock
from hub.core.hub import Hub
from hub.core.runtime import RuntimeConfig
from hub.errors import ConfigError, FieldProblem, HubError, MessageError, RoutingError
from hub.logging import configure_logging
from hub.message import CanonicalMessage, Channel
from hub.routing import LoadedRouting, load_routing
from hub.service import HubService, Settings, build_service, default_adapters

log = structlog.get_logger(__name__)
PUSH_CHUNK = 500  # files per accept_many call (one transaction) of ``hub push --batch``
_FOR = typer.Option(None, "--for", help="运行若干秒后退出 (seconds)")
_PORT = typer.Option(None, help="API 端口 (default $HUB_API_PORT or 8400)")


def register_run(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("push")(push)


def run(
    demo: bool = typer.Option(False, "--demo", help="演示：推送五个县区的样例，模拟部门认领"),
    serve_for: float | None = _FOR,
    speed: float = typer.Option(14400.0, help="演示时钟倍速 (demo clock speed)"),
    port: int | None = _PORT,
) -> None:
    """启动 Hub：API、工作线程、期限引擎 (run the hub: API + workers + deadline engine)."""
    configure_logging(os.environ.get("HUB_LOG_LEVEL", "WARNING"))
    if demo:
        try:
            from hub.cli.demo_run import run_demo

            run_demo(speed=speed, serve_for=serve_for, port=port)
        except (ConfigError, HubError) as exc:  # HubError includes a bad HUB_* setting
            err_console.print(f"[red]无法启动 (cannot start)[/red]\n{exc}")
            raise typer.Exit(1) from exc
        return
    serve(_started(port), serve_for)


def api(serve_for: float | None = _FOR, port: int | None = _PORT) -> None:
    """只启动接口进程（推送、认领等），路由投递由 hub worker 完成 (the HTTP API only)."""
    configure_logging(os.environ.get("HUB_LOG_LEVEL", "WARNING"))
    serve(_started(port), serve_for, workers=False)


def worker(serve_for: float | None = _FOR) -> None:
    """只启动工作进程：路由、投递、中继、期限引擎，不提供接口 (the workers only, no HTTP)."""
    configure_logging(os.environ.get("HUB_LOG_LEVEL", "WARNING"))
    work(_started(None), serve_for)


def _started(port: int | None) -> HubService:
    """The hub service from the environment, its banner printed; exit 1 when it cannot be."""
    try:
        service = _service(settings_with(port))
    except (ConfigError, HubError) as exc:  # HubError includes a bad HUB_* setting
        err_console.print(f"[red]无法启动 (cannot start)[/red]\n{exc}")
        raise typer.Exit(1) from exc
    for line in banner_lines(service.routing):
        err_console.print(line, markup=False, soft_wrap=True)
    return service


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


def server_options() -> tuple[LoopFactoryType, HTTPProtocolType]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when importable (they come
    with uvicorn[standard]), else uvicorn's defaults."""
    loop: LoopFactoryType = "uvloop" if importlib.util.find_spec("uvloop") else "auto"
    http: HTTPProtocolType = "httptools" if importlib.util.find_spec("httptools") else "auto"
    return loop, http


class _Server(uvicorn.Server):
    """uvicorn's server, minus one habit: after a graceful shutdown on SIGTERM / SIGINT it
    raises the signal again, which would kill the process before ``serve`` stops the workers
    and closes the ledger. Here the signal ends ``run`` and the process exits normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            captured = getattr(self, "_captured_signals", None)  # uvicorn ≥ 0.29
            if isinstance(captured, list):
                captured.clear()


def serve(
    service: HubService, serve_for: float | None, *, banner: bool = True, workers: bool = True
) -> None:
    """Run the API (and the workers, unless ``workers`` is False) until Ctrl-C (or
    ``serve_for`` seconds)."""
    settings, (loop, http) = service.settings, server_options()
    server = _Server(
        uvicorn.Config(
            service.app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            loop=loop,
            http=http,
        )
    )
    service.start(workers=workers)
    if banner:
        what = (
            "审管互动 Hub 已启动"
            if workers
            else "审管互动 Hub 接口进程已启动（由 hub worker 投递）"
        )
        console.print(
            f"{what}：API http://{settings.api_host}:{settings.api_port}/docs"
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


def work(service: HubService, serve_for: float | None) -> None:
    """Run the workers until SIGINT / SIGTERM (or ``serve_for`` seconds), then stop them."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        service.start()
        settings = service.settings
        console.print(
            "审管互动 Hub 工作进程已启动（路由、投递、期限引擎；无接口）"
            f"  账本 {masked_url(settings.database_url)}  总线 {masked_url(settings.broker_url)}"
            "  (Ctrl-C 退出)"
        )
        stop.wait(serve_for)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.stop()


def push(
    files: list[Path] | None = typer.Argument(None, help="消息 JSON 文件"),
    batch: Path | None = typer.Option(
        None,
        "--batch",
        help="批量导入目录下（含子目录）全部 *.json，每 500 个一个事务 (a directory, backfill)",
        exists=True,
        file_okay=False,
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """登记推送：把消息直接写入账本（纸质登记、批量导入）；运行中的 Hub 会接着路由投递。

    无法受理的文件与经接口推送一样隔离登记（打印隔离编号），命令以非零状态退出。
    ``--batch DIR``：按文件名顺序每 500 个文件一次受理，进度打印在标准错误上。
    """
    if (batch is None) == (not files):
        err_console.print("[red]请给出消息文件，或 --batch 目录（二者择一）[/red]"
                          " (give message files or --batch DIR, not both)")  # fmt: skip
        raise typer.Exit(2)
    service = build_service(settings_with(None, runtime=RuntimeConfig()))
    service.hub.fast_path = False  # the running hub's relay publishes these
    try:
        if batch is not None:
            refused = _push_batch(service.hub, batch, as_json)
        else:
            results = [_push_file(service.hub, path) for path in files or []]
            _report_pushes(results, as_json)
            refused = any("error" in r for r in results)
    finally:
        service.stop()
    if refused:
        raise typer.Exit(1)


@dataclass
class _Tally:
    """What ``hub push --batch`` did so far."""

    total: int
    done: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: list[dict[str, object]] = field(default_factory=list)

    def add(self, results: list[dict[str, object]]) -> None:
        self.done += len(results)
        self.refused.extend(r for r in results if "error" in r)
        accepted = [r for r in results if "error" not in r]
        self.duplicates += sum(1 for r in accepted if r["duplicate"])
        self.accepted += sum(1 for r in accepted if not r["duplicate"])

    def line(self) -> str:
        return (
            f"已处理 {self.done}/{self.total}，受理 {self.accepted}，重复 {self.duplicates}，"
            f"拒绝 {len(self.refused)} (processed, accepted, duplicates, refused)"
        )


def _push_batch(hub: Hub, directory: Path, as_json: bool) -> bool:
    """Push every ``*.json`` under ``directory`` in chunks; progress on stderr. True when any
    file was refused (or there was none)."""
    paths = sorted(p for p in directory.rglob("*.json") if p.is_file())
    if not paths:
        err_console.print(f"[red]目录中没有 .json 文件[/red] (no .json files under) {directory}")
        return True
    tally = _Tally(len(paths))
    for chunk in _chunks(paths, PUSH_CHUNK):
        results = _push_chunk(hub, chunk)
        tally.add(results)
        if not as_json:
            _report_pushes([r for r in results if "error" in r], as_json=False)
        err_console.print(tally.line(), markup=False)
    if as_json:
        summary = {"files": tally.total, "accepted": tally.accepted}
        emit_json({**summary, "duplicates": tally.duplicates, "refused": tally.refused})
    else:
        console.print(
            f"共 {tally.total} 个文件：受理 {tally.accepted}，重复 {tally.duplicates}，"
            f"拒绝 {len(tally.refused)} (files: accepted, duplicates, refused)"
        )
    return bool(tally.refused)


def _chunks(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


def _push_chunk(hub: Hub, paths: list[Path]) -> list[dict[str, object]]:
    """Read and parse ``paths``, accept the valid ones in one ``accept_many``; a result per
    file, in order (refused files quarantined like ``hub push FILE`` does)."""
    from hub.validation import parse_message

    results: list[dict[str, object]] = []
    parsed: list[tuple[int, Path, bytes, CanonicalMessage]] = []
    for path in paths:
        try:
            raw = path.read_bytes()
            parsed.append((len(results), path, raw, parse_message(raw)))
            results.append({})
        except OSError as exc:
            results.append(_unreadable(path, exc))
        except MessageError as exc:
            results.append(_refused(hub, path, raw, exc.problems))
    try:
        outcomes = hub.accept_many([message for *_, message in parsed]) if parsed else []
    except HubError as exc:
        for index, path, _, _ in parsed:
            results[index] = {"file": str(path), "error": str(exc)}
        return results
    for (index, path, raw, _), outcome in zip(parsed, outcomes, strict=True):
        if isinstance(outcome, RoutingError):
            problems = [FieldProblem(outcome.path, outcome.zh, outcome.en)]
            results[index] = _refused(hub, path, raw, problems)
        else:
            results[index] = {"file": str(path), "message_id": outcome.message_id,
                              "duplicate": outcome.duplicate}  # fmt: skip
    return results


def _push_file(hub: Hub, path: Path) -> dict[str, object]:
    """Accept one file; quarantine it (non-empty) when it is invalid or cannot be routed."""
    from hub.validation import parse_message

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _unreadable(path, exc)
    try:
        accepted = hub.accept(parse_message(raw))
    except MessageError as exc:
        return _refused(hub, path, raw, exc.problems)
    except RoutingError as exc:
        return _refused(hub, path, raw, [FieldProblem(exc.path, exc.zh, exc.en)])
    except HubError as exc:
        return {"file": str(path), "error": str(exc)}
    return {"file": str(path), "message_id": accepted.message_id, "duplicate": accepted.duplicate}


def _unreadable(path: Path, exc: OSError) -> dict[str, object]:
    return {"file": str(path), "error": f"无法读取文件 (cannot read the file): {exc}"}


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
