"""Helpers shared by every test directory.

``require_server(name, host, port)`` guards a test that needs a real server (Redis, PostgreSQL,
RabbitMQ, mail): when nothing answers at ``host:port`` the test is skipped on a developer's
machine and fails when ``CI`` is set, so a CI run can never go green by skipping its servers.
Fixtures anywhere under ``tests/`` get it as the fixture of the same name (conftest modules are
not importable by name)::

    @pytest.fixture
    def redis_url(require_server: Callable[[str, str, int], None]) -> str:
        require_server("Redis", "127.0.0.1", 6379)
        return "redis://127.0.0.1:6379/15"
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import structlog

if TYPE_CHECKING:  # imported lazily: the mail helpers must not break unrelated tests' collection
    from tests.support.mail import MailServers

_FALSE = {"", "0", "false", "no", "off"}

ServerGuard = Callable[[str, str, int], None]


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything but a false-ish value."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE


@functools.cache
def _probe(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to ``host:port`` opens, else why not (cached per session)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_server(name: str, host: str, port: int, *, timeout: float = 1.0) -> None:
    """Skip (locally) or fail (``CI`` set) the calling test unless ``host:port`` accepts."""
    problem = _probe(host, port, timeout)
    if problem is None:
        return
    message = f"{name} is not reachable at {host}:{port} ({problem})"
    if in_ci():
        pytest.fail(f"{message}; CI must provide it", pytrace=False)
    pytest.skip(message)


def pytest_report_header() -> str:
    """The factor on every harness wait limit, shown so a slow run can be read (and raised)."""
    from tests.support.waits import SCALE_VARIABLE, timeout_scale

    return f"{SCALE_VARIABLE}: {timeout_scale():g} (harness wait limits; default 2, 4 in CI)"


@pytest.fixture(scope="session")
def require_server() -> ServerGuard:
    """``require_server(name, host, port)``: skip locally, fail in CI, when the server is down."""
    return check_server


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts with structlog's defaults: a CLI test's configuration must not leak."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def mail_servers(require_server: ServerGuard) -> MailServers:
    """The real Postfix + Dovecot of ``scripts/mail-servers`` (skip locally, fail in CI if down)."""
    from tests.support.mail import servers_from_env

    servers = servers_from_env()
    require_server("Postfix", servers.host, servers.submission_port)
    require_server("Dovecot", servers.imap_host, servers.imaps_port)
    return servers


@pytest.fixture
def clean_mailboxes(mail_servers: MailServers) -> MailServers:
    """Every test mailbox (INBOX, Processed, Quarantine) emptied before the test."""
    from tests.support.mail import empty_all_mailboxes

    empty_all_mailboxes(mail_servers)
    return mail_servers
