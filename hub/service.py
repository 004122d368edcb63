"""Assemble a running hub process from settings: ledger, routing, bus, channels, workers, API.

Settings come from the environment so the same command runs a county laptop and a province
cluster: ``HUB_DATABASE_URL`` (default SQLite under ./var), ``HUB_BROKER_URL`` (default the
embedded ``memory://``), ``HUB_ROUTING`` (default ./routing.yaml), ``HUB_API_HOST`` /
``HUB_API_PORT`` (default 127.0.0.1:8400), ``HUB_PAPER_SPOOL`` (default var/paper);
``HUB_LEASE_SECONDS`` (how long a delivery job is held; default derived from the channels'
timeouts, renewed while a send runs) and ``HUB_REDELIVER_AFTER``
(when an unfinished published job is offered again, default 30) bound recovery after a crash;
``HUB_ROUTE_WORKERS`` / ``HUB_DELIVER_WORKERS`` (consumer threads per process, default 1 / 2;
each handles batches, and deliveries of a batch are sent concurrently: scale with processes),
``HUB_RELAY_INTERVAL`` (seconds between outbox relay passes, default 0.5),
``HUB_MAX_JOB_ATTEMPTS`` (times a job is taken without completing before the relay quarantines
it, default 10; see ``hub/core/relay.py``) and
``HUB_RETRY_ROUND_WAIT`` (first wait between durable delivery retry rounds, default 60 s);
``HUB_TOKEN_CACHE_SECONDS`` (how long a valid API token is remembered, default 10: a revoked
token stops working within that time in every process; 0 turns the cache off);
``HUB_CALLBACKS_IN_FLIGHT`` / ``HUB_CALLBACKS_PER_DEPARTMENT`` (platform callbacks in flight per
process in all / per department, default 64 / 4).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from adapters.email import EmailAdapter, EmailConfig
from adapters.email.trust import Directory
from adapters.email.watcher import MailWatcher
from adapters.paper import PaperAdapter, PaperConfig
from adapters.platform import PlatformAdapter, create_app
from adapters.platform.config import PlatformConfig
from hub.blobs import BlobStore
from hub.bus import create_bus
from hub.bus.base import Bus
from hub.bus.topology import ALL_QUEUES
from hub.channels import ChannelAdapter
from hub.clock.now import Clock, SystemClock
from hub.core.dispatch import RetryPolicy
from hub.core.hub import Hub
from hub.core.runtime import HubRuntime, RuntimeConfig
from hub.errors import HubError
from hub.ledger.db import Database, database_url
from hub.ledger.migrate import upgrade
from hub.message import Channel
from hub.routing import LoadedRouting, default_routing_path, load_routing


class SettingError(HubError, ValueError):
    """An environment setting that cannot work; the message names it."""


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: 须为秒数 (must be a number of seconds)") from None
    if not value > 0:
        raise SettingError(f"{name}={value!r}: 须为正数 (must be a positive number of seconds)")
    return value


def redeliver_after() -> float:
    """``HUB_REDELIVER_AFTER``: when an unfinished published job counts as lost (default 30)."""
    return _seconds("HUB_REDELIVER_AFTER", 30.0)


def _optional_seconds(name: str) -> float | None:
    """``name`` in seconds, or None when it is unset or empty (the caller derives a value)."""
    return _seconds(name, 0.0) if os.environ.get(name, "").strip() else None


def _seconds_or_zero(name: str, default: float) -> float:
    """``name`` in seconds, 0 allowed (it turns the feature off)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw in ("0", "0.0"):
        return 0.0
    return _seconds(name, default)


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: 须为整数 (must be a whole number)") from None
    if value < 1:
        raise SettingError(f"{name}={value!r}: 须至少为 1 (must be at least 1)")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    broker_url: str = field(default_factory=lambda: os.environ.get("HUB_BROKER_URL", "memory://"))
    routing_path: Path = field(default_factory=default_routing_path)
    api_host: str = field(default_factory=lambda: os.environ.get("HUB_API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: int(os.environ.get("HUB_API_PORT", "8400")))
    paper_spool: Path = field(
        default_factory=lambda: Path(os.environ.get("HUB_PAPER_SPOOL", "var/paper"))
    )
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            lease_seconds=_optional_seconds("HUB_LEASE_SECONDS"),
            round_wait_initial=_seconds("HUB_RETRY_ROUND_WAIT", 60.0),
        )
    )
    runtime: RuntimeConfig = field(
        default_factory=lambda: RuntimeConfig(
            redeliver_after=redeliver_after(),
            max_job_attempts=_count("HUB_MAX_JOB_ATTEMPTS", 10),
            relay_interval=_seconds("HUB_RELAY_INTERVAL", 0.5),
            route_workers=_count("HUB_ROUTE_WORKERS", 1),
            deliver_workers=_count("HUB_DELIVER_WORKERS", 2),
        )
    )
    blob_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("HUB_BLOB_DIR", "var/blobs"))
    )
    email: EmailConfig | None = field(default_factory=EmailConfig.from_env)
    token_cache_seconds: float = field(
        default_factory=lambda: _seconds_or_zero("HUB_TOKEN_CACHE_SECONDS", 10.0)
    )
    platform: PlatformConfig = field(
        default_factory=lambda: PlatformConfig(
            max_in_flight=_count("HUB_CALLBACKS_IN_FLIGHT", 64),
            max_in_flight_per_department=_count("HUB_CALLBACKS_PER_DEPARTMENT", 4),
        )
    )


@dataclass
class HubService:
    """Everything one hub process runs: ``start``/``stop`` its part, serve ``app``.

    One process may run all of it (``hub run``) or a part: the HTTP API alone (``hub api``:
    nothing in the background; it commits pushes and publishes their jobs) or the workers alone
    (``hub worker``: bus consumers, outbox relay, deadline engine, sealer, mail watcher).
    """

    settings: Settings
    routing: LoadedRouting
    db: Database
    hub: Hub
    runtime: HubRuntime
    app: FastAPI
    watcher: MailWatcher | None = None
    _watching: concurrent.futures.Future[None] | None = None
    _stop_watching: asyncio.Event | None = None
    _workers: bool = False

    def start(self, *, workers: bool = True) -> None:
        """Start the workers (``workers``); without them the process serves the API only, and
        publishes after commit only on a bus other processes share (:meth:`bus_is_shared`):
        on the in-process ``memory://`` bus the workers' relay publishes what it commits."""
        if not workers:
            self.hub.fast_path = self.bus_is_shared()
            if self.hub.fast_path:
                self.hub.bus.declare(ALL_QUEUES)  # published before any worker declared them
            return
        self._workers = True
        self.runtime.start()
        if self.watcher is not None:
            loop = self.hub.runner.loop
            self._stop_watching = asyncio.Event()
            self._watching = asyncio.run_coroutine_threadsafe(
                self.watcher.run(self._stop_watching), loop
            )

    def bus_is_shared(self) -> bool:
        """Whether other processes see this process's bus (every broker but ``memory://``)."""
        return not self.settings.broker_url.startswith("memory://")

    def stop(self) -> None:
        """Stop what :meth:`start` started, then close the hub and the ledger."""
        if self._workers:
            self._stop_workers()
        self.hub.close()
        self.db.dispose()

    def _stop_workers(self) -> None:
        if self._watching is not None and self._stop_watching is not None:
            self.hub.runner.loop.call_soon_threadsafe(self._stop_watching.set)
            try:
                self._watching.result(timeout=10)
            except Exception:  # noqa: BLE001 - stopping: the watcher logged its own errors
                self._watching.cancel()
        self.runtime.stop()
        self._workers = False


def build_service(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    routing: LoadedRouting | None = None,
    adapters: dict[Channel, ChannelAdapter] | None = None,
) -> HubService:
    """Open the ledger (migrated), load routing, connect the bus and wire the channels."""
    settings = settings or Settings()
    routing = routing or load_routing(settings.routing_path)
    db = Database(settings.database_url)
    upgrade(db.engine)
    bus_factory: Callable[[], Bus] = lambda: create_bus(settings.broker_url)  # noqa: E731
    clock = clock or SystemClock()
    hub = Hub(
        db,
        routing.router,
        bus_factory(),
        clock=clock,
        adapters=adapters or default_adapters(settings, clock),
        retry=settings.retry,
        token_cache_seconds=settings.token_cache_seconds,
    )
    runtime = HubRuntime(hub, bus_factory, settings.runtime)
    app = create_app(hub, clock=hub.clock)
    watcher = None
    if settings.email is not None and settings.email.imap is not None:
        directory = Directory.from_departments(routing.config.departments)
        watcher = MailWatcher(
            settings.email, hub, directory, db, BlobStore(settings.blob_dir), clock
        )
    return HubService(settings, routing, db, hub, runtime, app, watcher)


def default_adapters(settings: Settings, clock: Clock) -> dict[Channel, ChannelAdapter]:
    """The channels this build delivers on: platform and paper always, email when configured
    (``HUB_SMTP_URL``); self-built systems are not built yet."""
    adapters: dict[Channel, ChannelAdapter] = {
        Channel.PLATFORM: PlatformAdapter(settings.platform, clock=clock),
        Channel.PAPER: PaperAdapter(PaperConfig(spool_dir=settings.paper_spool)),
    }
    if settings.email is not None:
        adapters[Channel.EMAIL] = EmailAdapter(settings.email, BlobStore(settings.blob_dir))
    return adapters
