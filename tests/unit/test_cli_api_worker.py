"""``hub api`` and ``hub worker`` in-process: what each half starts, the server options, and a
bad setting refused before anything starts. (Two real processes: tests/integration/hub.)"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

import hub
from hub.bus.topology import ALL_QUEUES
from hub.cli import app, run_cmd
from hub.cli.run_settings import settings_with
from hub.service import HubService, build_service

ROOT = Path(hub.__file__).resolve().parents[1]
MINIMAL = ROOT / "tests" / "data" / "routing" / "minimal.yaml"
runner = CliRunner()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path}/hub.db")
    monkeypatch.setenv("HUB_ROUTING", str(MINIMAL))
    monkeypatch.setenv("HUB_BROKER_URL", "memory://")
    monkeypatch.setenv("HUB_PAPER_SPOOL", str(tmp_path / "paper"))


@pytest.fixture
def service(environment: None) -> Iterator[HubService]:
    built = build_service(settings_with(None))
    yield built
    built.stop()


def invoke(*args: str) -> Result:
    try:
        return runner.invoke(app, list(args))
    finally:
        structlog.reset_defaults()


def hub_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("hub-")} - {"hub-io"}


def test_the_api_half_starts_no_workers_and_leaves_memory_publishing_to_the_relay(
    service: HubService,
) -> None:
    before = hub_threads()
    service.start(workers=False)
    assert hub_threads() == before
    assert service.hub.fast_path is False  # memory:// is not shared with the worker process


def test_the_api_half_publishes_itself_on_a_shared_bus(
    service: HubService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the service with a broker other processes share (its bus stays the test's)
    settings = dataclasses.replace(service.settings, broker_url="amqp://guest@127.0.0.1/")
    shared = dataclasses.replace(service, settings=settings)
    declared: list[object] = []
    monkeypatch.setattr(service.hub.bus, "declare", lambda queues: declared.append(queues))
    # When only the API half starts
    shared.start(workers=False)
    # Then it publishes after commit, to queues it declared itself
    assert shared.hub.fast_path is True and declared == [ALL_QUEUES]
    assert shared.bus_is_shared() and not service.bus_is_shared()


def test_the_worker_half_starts_the_workers_and_stops_them(service: HubService) -> None:
    service.start()
    started = hub_threads()
    assert {"hub-relay", "hub-deadlines", "hub-sealer", "hub-route-0"} <= started
    assert service.hub.fast_path is True
    service.stop()
    assert not any(t.is_alive() for t in service.runtime.threads)


def test_hub_worker_runs_for_a_while_and_exits_0(environment: None) -> None:
    result = invoke("worker", "--for", "0.2")
    assert result.exit_code == 0, result.output
    assert "工作进程已启动" in result.stdout and "memory://" in result.stdout
    assert not {"hub-relay", "hub-route-0"} & hub_threads()  # stopped, not left behind


@pytest.mark.parametrize("command", ["api", "worker"])
def test_a_bad_setting_is_refused_before_anything_starts(
    environment: None, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("HUB_RELAY_INTERVAL", "-1")
    result = invoke(command)
    assert result.exit_code == 1
    assert "无法启动 (cannot start)" in result.stderr and "HUB_RELAY_INTERVAL" in result.stderr


def test_uvloop_and_httptools_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    assert installed, "uvicorn[standard] is a dependency"
    assert run_cmd.server_options() == ("uvloop", "httptools")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert run_cmd.server_options() == ("auto", "auto")
