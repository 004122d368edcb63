"""The inbound mail watcher: reads the hub's mailbox over IMAP and acts on each new mail.

``MailWatcher.run(stop)`` loops until ``stop`` is set (it returns within about a second):

1. connect, log in, select the mailbox (:mod:`adapters.email.imap`), create the Processed and
   Quarantine folders if missing, read UIDVALIDITY;
2. load the cursor (``mail_cursors``: the last UID handled under that UIDVALIDITY). A changed
   UIDVALIDITY means the old UIDs mean nothing: the cursor restarts at 0
   (``mail.uidvalidity_changed``) — safe, because handled mail has left the mailbox;
3. for every UID above the cursor, in UID order: fetch, act
   (:class:`adapters.email.inbound.InboundProcessor`, in a worker thread), move the mail to
   Processed or Quarantine, THEN advance the cursor. A crash between acting and advancing
   re-reads one mail, and the hub's actions are idempotent;
4. wait for news: IDLE (re-issued every ``idle_timeout``; an EXISTS ends it at once), or, when
   the server lacks IDLE, poll every ``poll_interval``; then back to 3.

Failures: connection problems (refused, TLS, timeout, lost — also mid-IDLE) reconnect with
exponential backoff and jitter (tenacity; 1 s doubling to 60 s). A session that had been up
for a while reconnects at once. A refused login is ``mail.auth_failed`` and is retried every
60 s, never hammered. A failed MOVE (``mail.move_failed``) leaves the mail where it is and the
cursor moves on. Passwords and bodies are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from adapters.email.config import EmailConfig, ServerConfig
from adapters.email.imap import (
    ImapSession,
    MailAuthError,
    MailCommandError,
    MailConnectionError,
    MailError,
)
from adapters.email.inbound import InboundProcessor, Outcome
from adapters.email.trust import Directory
from hub.backoff import backoff_wait
from hub.blobs import BlobStore
from hub.clock.now import Clock
from hub.core.api import HubApi
from hub.ledger.db import Database
from hub.ledger.schema import MailCursorRow

__all__ = ["AUTH_RETRY_SECONDS", "Cursor", "CursorStore", "MailSession", "MailWatcher"]

log = structlog.get_logger(__name__)

AUTH_RETRY_SECONDS = 60.0
HEALTHY_SECONDS = 30.0  # a session up this long reconnects at once when it drops
RECONNECT_PAUSE = 0.5


class MailSession(Protocol):
    """What the watcher needs of a connection (:class:`adapters.email.imap.ImapSession`)."""

    uidvalidity: int

    @property
    def has_idle(self) -> bool: ...
    async def ensure_folders(self, *names: str) -> None: ...
    async def uids_after(self, last_uid: int) -> list[int]: ...
    async def size(self, uid: int) -> int | None: ...
    async def fetch(self, uid: int, part: str = ...) -> bytes | None: ...
    async def move(self, uid: int, folder: str) -> None: ...
    async def idle(self, timeout: float, stop: asyncio.Event) -> str: ...
    async def pause(self, seconds: float, stop: asyncio.Event) -> None: ...
    async def close(self) -> None: ...


Connector = Callable[[ServerConfig, str], Awaitable[MailSession]]


@dataclass(frozen=True)
class Cursor:
    key: str
    uidvalidity: int
    last_uid: int


class CursorStore:
    """The ``mail_cursors`` rows: how far each mailbox has been handled."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def load(self, key: str, uidvalidity: int) -> Cursor:
        """The cursor for ``key``; restarted at 0 when UIDVALIDITY changed."""
        with self.db.transaction() as session:
            row = session.get(MailCursorRow, key)
            if row is not None and row.uidvalidity == uidvalidity:
                return Cursor(key, uidvalidity, row.last_uid)
            if row is not None:
                log.warning(
                    "mail.uidvalidity_changed",
                    mailbox=key,
                    old=row.uidvalidity,
                    new=uidvalidity,
                    last_uid=row.last_uid,
                )
        cursor = Cursor(key, uidvalidity, 0)
        self.save(cursor)
        return cursor

    def save(self, cursor: Cursor) -> None:
        with self.db.transaction() as session:
            row = session.get(MailCursorRow, cursor.key)
            if row is None:
                row = MailCursorRow(mailbox=cursor.key)
                session.add(row)
            row.uidvalidity, row.last_uid = cursor.uidvalidity, cursor.last_uid
            row.updated_at = self.clock.now()


class MailWatcher:
    """Watches ``config.mailbox`` of ``config.imap`` and acts on each new mail."""

    def __init__(
        self,
        config: EmailConfig,
        hub: HubApi,
        directory: Directory,
        db: Database,
        blobs: BlobStore,
        clock: Clock,
        *,
        connect: Connector = ImapSession.open,
    ) -> None:
        if config.imap is None:
            raise ValueError("EmailConfig.imap is not set: nothing to watch")
        self.config, self.server, self.connect = config, config.imap, connect
        self.processor = InboundProcessor(config, hub, directory, blobs)
        self.cursors = CursorStore(db, clock)
        self.key = f"{self.server.username or ''}/{config.mailbox}"
        self.log = log.bind(mailbox=self.key, host=self.server.host, port=self.server.port)
        self._backoff = backoff_wait(1, 60)
        self.oversize = config.max_attachment_bytes * 4 // 3 + (1 << 20)  # base64 + text

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set."""
        self.log.info("mail.watcher_started", tls=self.server.tls)
        while not stop.is_set():
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(MailError),
                wait=self._wait,
                stop=lambda _state: stop.is_set(),
                sleep=lambda seconds: _sleep_unless(stop, seconds),
                before_sleep=self._log_failure,
                reraise=True,
            )
            try:
                await retrying(self._session, stop)
            except MailError:
                if not stop.is_set():
                    raise
            await _sleep_unless(stop, RECONNECT_PAUSE)
        self.log.info("mail.watcher_stopped")

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, MailAuthError):
            return AUTH_RETRY_SECONDS
        return float(self._backoff(state))

    def _log_failure(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        retry_in = round(state.upcoming_sleep, 1)
        if isinstance(failure, MailAuthError):
            self.log.error("mail.auth_failed", user=self.server.username, retry_in=retry_in)
        else:
            self.log.warning("mail.connection_failed", error=str(failure), retry_in=retry_in)

    async def _session(self, stop: asyncio.Event) -> None:
        """One connection; returns on stop, or when a healthy session drops (reconnect now)."""
        session = await self.connect(self.server, self.config.mailbox)
        started = time.monotonic()
        try:
            await session.ensure_folders(
                self.config.processed_folder, self.config.quarantine_folder
            )
            cursor = await asyncio.to_thread(self.cursors.load, self.key, session.uidvalidity)
            self.log.info("mail.connected", idle=session.has_idle, uidvalidity=session.uidvalidity)
            await self._watch(session, cursor, stop)
        except MailConnectionError as exc:
            if time.monotonic() - started < HEALTHY_SECONDS:
                raise
            self.log.warning("mail.connection_lost", error=str(exc))
        finally:
            await session.close()

    async def _watch(self, session: MailSession, cursor: Cursor, stop: asyncio.Event) -> None:
        while not stop.is_set():
            cursor = await self._drain(session, cursor, stop)
            if stop.is_set():
                return
            if session.has_idle:
                await session.idle(self.config.idle_timeout, stop)
            else:
                await session.pause(self.config.poll_interval, stop)

    async def _drain(self, session: MailSession, cursor: Cursor, stop: asyncio.Event) -> Cursor:
        """Handle every mail above the cursor, in UID order, until none is left."""
        while not stop.is_set():
            uids = await session.uids_after(cursor.last_uid)
            if not uids:
                break
            for uid in uids:
                if stop.is_set():
                    break
                cursor = await self._handle(session, cursor, uid)
        return cursor

    async def _handle(self, session: MailSession, cursor: Cursor, uid: int) -> Cursor:
        """Act on one mail, file it, then advance the cursor past it."""
        outcome = await self._act(session, uid)
        if outcome is not None:
            folder = (
                self.config.processed_folder
                if outcome.folder == "processed"
                else self.config.quarantine_folder
            )
            try:
                await session.move(uid, folder)
            except MailCommandError as exc:
                self.log.error("mail.move_failed", uid=uid, folder=folder, error=str(exc))
        cursor = replace(cursor, last_uid=uid)
        await asyncio.to_thread(self.cursors.save, cursor)
        return cursor

    async def _act(self, session: MailSession, uid: int) -> Outcome | None:
        size = await session.size(uid)
        if size is None:
            return None  # expunged meanwhile by someone else
        if size > self.oversize:
            header = await session.fetch(uid, "BODY.PEEK[HEADER]") or b""
            return await asyncio.to_thread(self.processor.handle_oversized, header, size)
        raw = await session.fetch(uid)
        if raw is None:
            return None
        return await asyncio.to_thread(self.processor.handle, raw)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
