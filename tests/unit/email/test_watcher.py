"""The watcher's loop against an in-memory IMAP server and a real hub on a temporary ledger:
UID order, filing, the cursor, crash safety, UIDVALIDITY, IDLE/polling, auth vs connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

import adapters.email.watcher as watcher_module
from adapters.email.config import EmailConfig, ServerConfig
from adapters.email.imap import MailAuthError, MailCommandError, MailConnectionError, MailError
from adapters.email.threading import subject_tag
from adapters.email.trust import Directory
from adapters.email.watcher import CursorStore, MailWatcher
from hub.blobs import BlobStore
from hub.ledger.schema import ClaimRow, MailCursorRow, QuarantineRow
from tests.unit.core.conftest import Rig, make_rig, message

SECRET = "watcher-secret"
PASSWORD = "s3cret-imap-password"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeServer:
    """An IMAP mailbox in memory, shared by every connection the watcher opens."""

    uidvalidity: int = 1
    next_uid: int = 1
    idle: bool = True
    inbox: dict[int, bytes] = field(default_factory=dict)
    folders: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    connect_failures: list[MailError] = field(default_factory=list)
    drop_on_move: set[int] = field(default_factory=set)
    refuse_move: set[int] = field(default_factory=set)
    connections: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, raw: bytes) -> int:
        uid, self.next_uid = self.next_uid, self.next_uid + 1
        self.inbox[uid] = raw
        self.arrived.set()
        return uid

    async def connect(self, server: ServerConfig, mailbox: str) -> FakeSession:
        self.connections += 1
        if self.connect_failures:
            raise self.connect_failures.pop(0)
        return FakeSession(self)


class FakeSession:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.uidvalidity = server.uidvalidity

    @property
    def has_idle(self) -> bool:
        return self.server.idle

    async def ensure_folders(self, *names: str) -> None:
        return None

    async def uids_after(self, last_uid: int) -> list[int]:
        return sorted(uid for uid in self.server.inbox if uid > last_uid)

    async def size(self, uid: int) -> int | None:
        raw = self.server.inbox.get(uid)
        return None if raw is None else len(raw)

    async def fetch(self, uid: int, part: str = "BODY.PEEK[]") -> bytes | None:
        raw = self.server.inbox.get(uid)
        if raw is not None and "HEADER" in part:
            return raw.split(b"\n\n", 1)[0] + b"\n\n"
        return raw

    async def move(self, uid: int, folder: str) -> None:
        if uid in self.server.drop_on_move:
            self.server.drop_on_move.discard(uid)
            raise MailConnectionError("connection lost during MOVE")
        if uid in self.server.refuse_move:
            raise MailCommandError("UID MOVE: NO [TRYCREATE]")
        self.server.folders[folder].append(self.server.inbox.pop(uid))

    async def idle(self, timeout: float, stop: asyncio.Event) -> str:
        waits = {
            asyncio.ensure_future(self.server.arrived.wait()),
            asyncio.ensure_future(stop.wait()),
        }
        _done, pending = await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        self.server.arrived.clear()
        return "exists"

    async def pause(self, seconds: float, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def close(self) -> None:
        return None


@dataclass
class World:
    rig: Rig
    server: FakeServer
    watcher: MailWatcher
    delivery_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def reply(self, body: str, sender: str = "scjg@dept.test", **headers: str) -> bytes:
        msg = EmailMessage()
        msg["From"], msg["To"] = sender, "hub@hub.test"
        msg["Subject"] = f"Re: 推送 {subject_tag(self.delivery_id, SECRET)}"
        msg["Message-ID"] = f"<r{self.server.next_uid}@dept.test>"
        for name, value in headers.items():
            msg[name] = value
        msg.set_content(body)
        return bytes(msg)

    def count(self, row: type[Any]) -> int:
        with self.rig.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(row)) or 0)

    def cursor(self) -> tuple[int, int] | None:
        with self.rig.db.read() as session:
            row = session.scalars(select(MailCursorRow)).first()
            return None if row is None else (row.uidvalidity, row.last_uid)


def email_config(**changes: Any) -> EmailConfig:
    imap = ServerConfig(host="imap.test", port=993, tls="tls", username="hub", password=PASSWORD)
    options: dict[str, Any] = {"idle_timeout": 5.0, "poll_interval": 0.05} | changes
    return EmailConfig(
        smtp=ServerConfig(host="smtp.test", port=587), imap=imap, token_secret=SECRET, **options
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    rig = make_rig(tmp_path)
    message_id = rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    (view,) = [v for v in rig.hub.deliveries_of(message_id) if v.department_id == "scjg"]
    server = FakeServer()
    directory = Directory.from_departments(rig.hub.router.departments.values())
    watcher = MailWatcher(
        email_config(), rig.hub, directory, rig.db, BlobStore(tmp_path / "blobs"), rig.clock,
        connect=server.connect,
    )  # fmt: skip
    watcher._backoff = lambda _state: 0.01  # type: ignore[assignment]
    yield World(rig, server, watcher, view.delivery_id)
    rig.hub.close()
    rig.db.dispose()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def running(world: World) -> asyncio.Task[None]:
    return asyncio.create_task(world.watcher.run(world.stop))


async def stopped(world: World, task: asyncio.Task[None]) -> float:
    started = time.monotonic()
    world.stop.set()
    await asyncio.wait_for(task, 2)
    return time.monotonic() - started


async def test_mail_is_handled_in_uid_order_filed_and_the_cursor_advanced(world: World) -> None:
    # Given a claim from scjg and a forged claim from an outsider waiting in the inbox
    world.server.deliver(world.reply("认领"))
    world.server.deliver(world.reply("认领", sender="outsider@elsewhere.test"))
    with capture_logs() as logs:
        task = await running(world)
        await eventually(lambda: not world.server.inbox)
        await stopped(world, task)
    # Then the claim is recorded, the forgery quarantined, each filed, the cursor at UID 2
    assert world.rig.hub.delivery_view(world.delivery_id).claim_state == "claimed"
    assert (len(world.server.folders["Processed"]), len(world.server.folders["Quarantine"])) == (
        1,
        1,
    )
    assert world.cursor() == (1, 2)
    with world.rig.db.read() as session:
        (row,) = session.scalars(select(QuarantineRow))
        assert (
            row.channel == "email"
            and "spoofed" in row.reason_en
            and row.source_id == "<r2@dept.test>"
        )
    events = [e["event"] for e in logs]
    assert events.count("mail.received") == 2
    assert "claim.by_mail" in events and "mail.quarantined" in events
    assert PASSWORD not in repr(logs) and "认领" not in repr(logs)  # no secrets, no bodies


async def test_new_mail_ends_idle_at_once(world: World) -> None:
    task = await running(world)
    await asyncio.sleep(0.05)
    world.server.deliver(world.reply("异议：不属于本部门监管范围"))
    waited = await eventually(lambda: not world.server.inbox, timeout=1.0)
    await stopped(world, task)
    assert waited < 1.0
    assert world.server.folders["Processed"] or world.server.folders["Quarantine"]


async def test_a_crash_between_acting_and_filing_reads_the_mail_again_once(world: World) -> None:
    # Given the connection drops while the claimed mail is being moved
    uid = world.server.deliver(world.reply("认领"))
    world.server.drop_on_move.add(uid)
    with capture_logs() as logs:
        task = await running(world)
        await eventually(lambda: not world.server.inbox)
        await stopped(world, task)
    # Then the watcher reconnected, read it again, and the hub counted one claim
    assert world.server.connections == 2
    assert [e["event"] for e in logs].count("claim.by_mail") == 2
    assert world.count(ClaimRow) == 1
    assert len(world.server.folders["Processed"]) == 1
    assert world.cursor() == (1, uid)


async def test_uidvalidity_change_restarts_the_cursor(world: World) -> None:
    # Given a cursor far ahead under another UIDVALIDITY
    CursorStore(world.rig.db, world.rig.clock).save(
        watcher_module.Cursor(world.watcher.key, 7, 500)
    )
    world.server.deliver(world.reply("认领"))
    with capture_logs() as logs:
        task = await running(world)
        await eventually(lambda: not world.server.inbox)
        await stopped(world, task)
    changed = [e for e in logs if e["event"] == "mail.uidvalidity_changed"]
    assert changed and (changed[0]["old"], changed[0]["new"]) == (7, 1)
    assert world.cursor() == (1, 1)


async def test_auth_failures_are_logged_apart_and_retried_slowly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher_module, "AUTH_RETRY_SECONDS", 0.2)
    world.server.connect_failures = [
        MailAuthError("LOGIN refused for hub: NO [AUTHENTICATIONFAILED]"),
        MailConnectionError("IMAP imap.test:993: ConnectionRefusedError"),
    ]
    world.server.deliver(world.reply("认领"))
    with capture_logs() as logs:
        task = await running(world)
        await eventually(lambda: not world.server.inbox)
        await stopped(world, task)
    failures = [(e["event"], e["retry_in"]) for e in logs if "retry_in" in e]
    assert failures == [("mail.auth_failed", 0.2), ("mail.connection_failed", 0.0)]
    assert PASSWORD not in repr(logs)


async def test_stop_ends_the_watcher_within_a_second(world: World) -> None:
    # in IDLE
    task = await running(world)
    await asyncio.sleep(0.05)
    assert await stopped(world, task) < 1.0
    # and while waiting to retry a refused login (60 s)
    world.stop = asyncio.Event()
    world.server.connect_failures = [MailAuthError("refused")]
    task = await running(world)
    await eventually(lambda: world.server.connections == 2)
    assert await stopped(world, task) < 1.0


async def test_polling_when_the_server_has_no_idle(world: World) -> None:
    world.server.idle = False
    task = await running(world)
    await asyncio.sleep(0.1)
    world.server.deliver(world.reply("收到"))
    await eventually(lambda: not world.server.inbox, timeout=1.0)
    await stopped(world, task)
    assert world.rig.hub.delivery_view(world.delivery_id).claim_state == "claimed"


async def test_a_refused_move_is_logged_and_the_cursor_moves_on(world: World) -> None:
    uid = world.server.deliver(world.reply("认领"))
    world.server.refuse_move.add(uid)
    with capture_logs() as logs:
        task = await running(world)
        await eventually(lambda: world.cursor() == (1, uid))
        await asyncio.sleep(0.1)
        await stopped(world, task)
    assert [e["event"] for e in logs].count("mail.move_failed") == 1
    assert [e["event"] for e in logs].count("claim.by_mail") == 1  # not read again
    assert uid in world.server.inbox


async def test_an_oversized_mail_is_quarantined_unread(world: World) -> None:
    big = world.reply("认领" + "x" * (2 << 20))
    world.watcher.oversize = 1 << 20
    world.server.deliver(big)
    task = await running(world)
    await eventually(lambda: not world.server.inbox)
    await stopped(world, task)
    assert world.rig.hub.delivery_view(world.delivery_id).claim_state == "open"
    with world.rig.db.read() as session:
        (row,) = session.scalars(select(QuarantineRow))
        assert "over the limit" in row.reason_en and len(row.raw) < 2000
