"""IMAP for the inbound watcher: the only inbound module importing aioimaplib (I/O only).

:meth:`ImapSession.open` connects (implicit TLS, STARTTLS or plain, per ``ServerConfig.tls``;
certificates verified against ``cafile`` unless ``verify`` is off), logs in, selects the
mailbox and reads its UIDVALIDITY. Then: ``uids_after`` (``UID SEARCH UID n:*``), ``size``,
``fetch`` (``BODY.PEEK[]``: the \\Seen flag is left alone), ``move`` (``UID MOVE``, or COPY +
STORE \\Deleted + EXPUNGE without the MOVE extension), ``idle`` (RFC 2177, ended by EXISTS,
its timeout or ``stop``) and ``pause`` (the polling fallback).

aioimaplib has no STARTTLS: :func:`_starttls` sends the command and upgrades the transport with
``loop.start_tls``. A lost connection is noticed at once (``conn_lost_cb``), also mid-IDLE.

Errors, translated here (``raise … from exc``)::

    MailError
    ├── MailAuthError         LOGIN refused (bad credentials): retry slowly, never hammer
    ├── MailConnectionError   connect, TLS, timeout, lost connection, BYE: back off, reconnect
    └── MailCommandError      the server answered NO/BAD to one command (e.g. MOVE)
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable
from typing import Any, Literal

import aioimaplib

from adapters.email.config import ServerConfig
from hub.errors import HubError

__all__ = [
    "ImapSession",
    "MailAuthError",
    "MailCommandError",
    "MailConnectionError",
    "MailError",
]


class MailError(HubError):
    """Root of the inbound mail errors."""


class MailAuthError(MailError):
    """The server refused the login."""


class MailConnectionError(MailError):
    """The connection could not be opened or was lost."""


class MailCommandError(MailError):
    """The server refused one command; the connection is still usable."""


IdleEnd = Literal["exists", "timeout", "stopped"]
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LIBRARY_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException, ValueError)


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """Notes every untagged EXISTS: aioimaplib drops those that arrive outside IDLE (e.g. in
    a SEARCH response), and the server never repeats them, so new mail could wait unseen in
    IDLE until its timeout."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.exists_seen = False

    def _untagged_response(self, line: bytes) -> Any:
        if line.rstrip().endswith(b"EXISTS"):
            self.exists_seen = True
        return super()._untagged_response(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client with :class:`_Protocol` (same connection code as the library)."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


def ssl_context(server: ServerConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server.cafile) if server.cafile else None)
    if not server.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ImapSession:
    """One logged-in connection with the mailbox selected."""

    def __init__(self, client: _Client, server: ServerConfig, lost: asyncio.Event):
        self.client, self.server, self.lost = client, server, lost
        self.uidvalidity = 0

    @classmethod
    async def open(cls, server: ServerConfig, mailbox: str) -> ImapSession:
        lost = asyncio.Event()
        context = ssl_context(server) if server.tls != "plain" else None
        try:
            client = _Client(
                host=server.host,
                port=server.port,
                timeout=server.timeout,
                conn_lost_cb=lambda _exc: lost.set(),
                ssl_context=context if server.tls == "tls" else None,
            )
        except _LIBRARY_ERRORS as exc:
            raise MailConnectionError(
                f"IMAP {server.host}:{server.port}: {_describe(exc)}"
            ) from exc
        session = cls(client, server, lost)
        try:
            await session._greet(context)
            await session._login()
            await session._select(mailbox)
        except BaseException:
            await session.close()
            raise
        return session

    async def _greet(self, context: ssl.SSLContext | None) -> None:
        where = f"IMAP {self.server.host}:{self.server.port}"
        try:
            await self.client.wait_hello_from_server()
            if self.server.tls == "starttls" and context is not None:
                await _starttls(self.client, context, self.server)
        except (*_LIBRARY_ERRORS, ssl.SSLError) as exc:
            raise MailConnectionError(f"{where}: {_describe(exc)}") from exc

    # -- capabilities ---------------------------------------------------------------------------
    @property
    def has_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))

    @property
    def has_move(self) -> bool:
        return bool(self.client.has_capability("MOVE"))

    # -- commands -------------------------------------------------------------------------------
    async def _login(self) -> None:
        if not self.server.username or self.server.password is None:
            raise MailAuthError("no IMAP username or password configured")
        response = await self._run(
            "LOGIN", self.client.login(self.server.username, self.server.password)
        )
        if response.result != "OK":
            text = _text(response)
            if "UNAVAILABLE" in text.upper():
                raise MailConnectionError(f"LOGIN: server unavailable ({text})")
            raise MailAuthError(f"LOGIN refused for {self.server.username}: {text}")
        await self._run("CAPABILITY", self.client.protocol.capability())  # they change at login

    async def _select(self, mailbox: str) -> None:
        response = await self._run("SELECT", self.client.select(mailbox))
        found = [m for line in _lines(response) if (m := _UIDVALIDITY.search(line))]
        if response.result != "OK" or not found:
            raise MailConnectionError(f"SELECT {mailbox} failed: {_text(response)}")
        self.uidvalidity = int(found[0].group(1))

    async def ensure_folders(self, *names: str) -> None:
        """Create the folders if missing (a NO for an existing folder is expected)."""
        for name in names:
            await self._run("CREATE", self.client.create(name))

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending. ``n:*`` always includes the highest UID, even
        when it is below n, so the answer is filtered."""
        self.client.protocol.exists_seen = False  # news from here on must be searched again
        response = await self._ok(
            "UID SEARCH", self.client.uid_search(f"UID {last_uid + 1}:*", charset=None)
        )
        # aioimaplib hands over "* SEARCH 4 5" as b"4 5", then the tagged line's text last
        tokens = [tok for line in _lines(response)[:-1] for tok in line.split()]
        uids = {int(tok) for tok in tokens if tok.isdigit()}
        return sorted(uid for uid in uids if uid > last_uid)

    async def size(self, uid: int) -> int | None:
        response = await self._ok("UID FETCH", self.client.uid("fetch", str(uid), "(RFC822.SIZE)"))
        found = [m for line in _lines(response) if (m := _SIZE.search(line))]
        return int(found[0].group(1)) if found else None

    async def fetch(self, uid: int, part: str = "BODY.PEEK[]") -> bytes | None:
        """The message's bytes (None when it vanished); ``part`` may ask for the header only."""
        response = await self._ok("UID FETCH", self.client.uid("fetch", str(uid), f"({part})"))
        literals = [bytes(line) for line in response.lines if isinstance(line, bytearray)]
        return literals[0] if literals else None

    async def move(self, uid: int, folder: str) -> None:
        """File the message in ``folder`` (created when the server answers TRYCREATE)."""
        try:
            await self._move(uid, folder)
        except MailCommandError as exc:
            if "TRYCREATE" not in str(exc).upper():
                raise
            await self.ensure_folders(folder)
            await self._move(uid, folder)

    async def _move(self, uid: int, folder: str) -> None:
        if self.has_move:
            await self._ok("UID MOVE", self.client.uid("move", str(uid), folder))
            return
        await self._ok("UID COPY", self.client.uid("copy", str(uid), folder))
        await self._ok(
            "UID STORE", self.client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
        )
        if self.client.has_capability("UIDPLUS"):
            await self._ok("UID EXPUNGE", self.client.uid("expunge", str(uid)))
        else:
            await self._ok("EXPUNGE", self.client.expunge())

    # -- waiting --------------------------------------------------------------------------------
    async def idle(self, timeout: float, stop: asyncio.Event) -> IdleEnd:
        """IDLE until the server reports EXISTS, ``timeout`` passes or ``stop`` is set.

        Returns at once when an EXISTS came in since the last search (outside IDLE).
        """
        if self.client.protocol.exists_seen:
            return "exists"
        idle = await self._run("IDLE", self.client.idle_start(timeout=timeout))
        end: IdleEnd = "timeout"
        while True:
            push = await self._next_push(stop)
            if push is None:
                end = "stopped"
                break
            if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break
            if any(bytes(line).startswith(b"BYE") for line in push):
                raise MailConnectionError("the server closed the connection (BYE)")
            if any(bytes(line).endswith(b"EXISTS") for line in push):
                end = "exists"
                break
        self.client.idle_done()
        await self._run("IDLE DONE", asyncio.wait_for(idle, self.server.timeout))
        return end

    async def _next_push(self, stop: asyncio.Event) -> list[Any] | None:
        """The next batch of untagged lines in IDLE; None when ``stop`` was set."""
        push = asyncio.ensure_future(self.client.protocol.idle_queue.get())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await self._first(push, stopped)
        finally:
            stopped.cancel()
            if not push.done():
                push.cancel()
        return push.result() if push.done() and not push.cancelled() else None

    async def pause(self, seconds: float, stop: asyncio.Event) -> None:
        """The polling fallback: wait ``seconds`` (less when ``stop`` is set)."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await self._first(stopped, timeout=seconds)
        finally:
            stopped.cancel()

    async def _first(self, *tasks: asyncio.Future[Any], timeout: float | None = None) -> None:
        """Wait for the first of ``tasks``; MailConnectionError as soon as the connection drops."""
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({*tasks, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if self.lost.is_set():
            raise MailConnectionError("the connection to the IMAP server was lost")

    # -- plumbing -------------------------------------------------------------------------------
    async def _run(self, what: str, command: Awaitable[Any]) -> Any:
        """Run one command, racing the connection: library errors become MailConnectionError."""
        if self.lost.is_set():
            raise MailConnectionError(f"{what}: the connection was lost")
        task = asyncio.ensure_future(command)
        try:
            await self._first(task)
            return task.result()
        except _LIBRARY_ERRORS as exc:
            raise MailConnectionError(f"{what}: {_describe(exc)}") from exc
        finally:
            if not task.done():
                task.cancel()

    async def _ok(self, what: str, command: Awaitable[Any]) -> Any:
        response = await self._run(what, command)
        if response.result != "OK":
            raise MailCommandError(f"{what}: {response.result} {_text(response)}")
        return response

    async def close(self) -> None:
        """Log out (briefly) and drop the connection."""
        if not self.lost.is_set() and self.client.protocol.transport is not None:
            try:
                await asyncio.wait_for(self.client.logout(), 2)
            except (*_LIBRARY_ERRORS, MailError):
                pass
        transport = self.client.protocol.transport
        if transport is not None:
            transport.close()


async def _starttls(
    client: aioimaplib.IMAP4, context: ssl.SSLContext, server: ServerConfig
) -> None:
    """STARTTLS (RFC 3501 6.2.1), then the capabilities again: they change under TLS."""
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise MailConnectionError(f"IMAP {server.host}:{server.port} offers no STARTTLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), server.timeout)
    if response.result != "OK":
        raise MailConnectionError(f"STARTTLS refused: {_text(response)}")
    loop = asyncio.get_running_loop()
    protocol.transport = await loop.start_tls(
        protocol.transport, protocol, context, server_hostname=server.host
    )
    await asyncio.wait_for(protocol.capability(), server.timeout)


def _lines(response: Any) -> list[bytes]:
    return [bytes(line) for line in response.lines if isinstance(line, bytes | bytearray)]


def _text(response: Any) -> str:
    lines = _lines(response)
    return lines[-1].decode("utf-8", "replace")[:200] if lines else ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
