"""The real test mail servers (Postfix + Dovecot from ``scripts/mail-servers``), from Python.

Plain helpers, no fixtures (``tests/conftest.py`` has ``mail_servers`` and ``clean_mailboxes``).
Every mailbox's password is ``hubtest``. Where they are comes from the environment that
``scripts/mail-servers env`` prints (defaults: everything on 127.0.0.1, CA at
``/etc/hub-mail/ca.pem``)::

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = HUB, "scjg@dept.test", "关于…的推送"
    msg.set_content("正文")
    send_as(HUB, PASSWORD, "scjg@dept.test", msg)
    got = wait_for_mail("scjg@dept.test", PASSWORD, lambda m: m["Subject"] == "关于…的推送")

Messages read over IMAP are parsed with ``email.policy.default`` after turning the server's CRLF
line endings into LF, so bodies compare equal to what was sent.
"""

from __future__ import annotations

import imaplib
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

PASSWORD = "hubtest"
HUB = "hub@hub.test"  # the hub's own mailbox: sends from it, reads replies and bounces in it
XZSP = "xzsp@hub.test"
DEPARTMENTS = ("scjg@dept.test", "zjj@dept.test", "wsjk@dept.test", "yjgl@dept.test")
OUTSIDER = "outsider@elsewhere.test"  # a real, authenticated user of a foreign domain
MAILBOXES = (HUB, XZSP, *DEPARTMENTS, OUTSIDER)
BOUNCING = "ghost@dept.test"  # Postfix accepts it (250), delivery fails: a DSN to the sender
TEMPFAIL = "tempfail@dept.test"  # always "450 4.2.0" at RCPT
FOLDERS = ("INBOX", "Processed", "Quarantine")  # every mailbox has these

MessagePredicate = Callable[[EmailMessage], bool]


@dataclass(frozen=True)
class MailServers:
    """Where the test mail servers listen, and the CA their certificate is signed by."""

    host: str = "127.0.0.1"
    smtp_port: int = 25  # MX-style: local domains only, no AUTH (bounces, "foreign" mail)
    submission_port: int = 587  # STARTTLS, then AUTH required
    smtps_port: int = 465  # implicit TLS + AUTH
    imap_host: str = "127.0.0.1"
    imap_port: int = 143  # plain (STARTTLS offered), IDLE
    imaps_port: int = 993  # implicit TLS
    cafile: str = "/etc/hub-mail/ca.pem"
    password: str = PASSWORD

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the servers' certificate against ``cafile``."""
        return ssl.create_default_context(cafile=self.cafile)

    def smtp_url(self, address: str = HUB, mode: str = "starttls") -> str:
        """``smtp+starttls://user:pass@host:587`` etc. for ``adapters.email.config``."""
        scheme, port = {
            "starttls": ("smtp+starttls", self.submission_port),
            "tls": ("smtps", self.smtps_port),
            "plain": ("smtp", self.smtp_port),
        }[mode]
        user = address.replace("@", "%40")
        return f"{scheme}://{user}:{self.password}@{self.host}:{port}"

    def imap_url(self, address: str = HUB, mode: str = "tls") -> str:
        """``imaps://user:pass@host:993`` etc. for ``adapters.email.config``."""
        scheme, port = {
            "tls": ("imaps", self.imaps_port),
            "starttls": ("imap+starttls", self.imap_port),
            "plain": ("imap", self.imap_port),
        }[mode]
        user = address.replace("@", "%40")
        return f"{scheme}://{user}:{self.password}@{self.imap_host}:{port}"


def servers_from_env() -> MailServers:
    """The servers named by ``HUB_TEST_SMTP_HOST`` & co. (see ``scripts/mail-servers env``)."""
    env = os.environ.get
    host = env("HUB_TEST_SMTP_HOST", "127.0.0.1")
    return MailServers(
        host=host,
        smtp_port=int(env("HUB_TEST_SMTP_PORT", "25")),
        submission_port=int(env("HUB_TEST_SUBMISSION_PORT", "587")),
        smtps_port=int(env("HUB_TEST_SMTPS_PORT", "465")),
        imap_host=env("HUB_TEST_IMAP_HOST", host),
        imap_port=int(env("HUB_TEST_IMAP_PORT", "143")),
        imaps_port=int(env("HUB_TEST_IMAPS_PORT", "993")),
        cafile=env("HUB_TEST_MAIL_CAFILE", "/etc/hub-mail/ca.pem"),
        password=env("HUB_TEST_MAIL_PASSWORD", PASSWORD),
    )


def mail_servers_up(servers: MailServers | None = None, timeout: float = 1.0) -> bool:
    """True when submission (587) and IMAPS (993) accept TCP connections."""
    s = servers or servers_from_env()
    for host, port in ((s.host, s.submission_port), (s.imap_host, s.imaps_port)):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            return False
    return True


def send_as(
    address: str,
    password: str,
    to: str | Sequence[str],
    message: EmailMessage,
    port: int = 587,
    *,
    servers: MailServers | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Send ``message`` with envelope sender ``address``; return the refused recipients.

    587: STARTTLS (CA verified) then AUTH as ``address``; 465: implicit TLS then AUTH; 25: the
    MX-style port, STARTTLS and no AUTH (mail from anyone to our domains, e.g. spoofed).
    Raises ``smtplib.SMTPRecipientsRefused`` when every recipient is refused (``.recipients``
    maps each to ``(code, message)``), ``smtplib.SMTPAuthenticationError`` on a bad password.
    """
    s = servers or servers_from_env()
    recipients = [to] if isinstance(to, str) else list(to)
    context = s.ssl_context()
    client: smtplib.SMTP
    if port == s.smtps_port:
        client = smtplib.SMTP_SSL(s.host, port, timeout=10, context=context)
    else:
        client = smtplib.SMTP(s.host, port, timeout=10)
    with client:
        if port != s.smtps_port:
            client.starttls(context=context)
        if port != s.smtp_port:
            client.login(address, password)
        return client.send_message(message, from_addr=address, to_addrs=recipients)


def imap_connect(address: str, password: str, servers: MailServers | None = None) -> imaplib.IMAP4:
    """A logged-in IMAP connection over implicit TLS (993), certificate checked with the CA."""
    s = servers or servers_from_env()
    imap = imaplib.IMAP4_SSL(s.imap_host, s.imaps_port, ssl_context=s.ssl_context(), timeout=10)
    try:
        imap.login(address, password)
    except BaseException:
        imap.shutdown()
        raise
    return imap


def parse_message(raw: bytes) -> EmailMessage:
    """An IMAP message's bytes, CRLF normalised to LF, parsed with ``email.policy.default``."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
    assert isinstance(parsed, EmailMessage)
    return parsed


def _fetch_open(imap: imaplib.IMAP4, folder: str) -> list[EmailMessage]:
    """Every message in ``folder`` (examined read-only, fetched with PEEK: flags unchanged)."""
    typ, data = imap.select(_quote(folder), readonly=True)
    if typ != "OK":
        raise AssertionError(f"cannot open {folder!r}: {data!r}")
    if int(data[0] or b"0") == 0:
        return []
    typ, items = imap.fetch("1:*", "(BODY.PEEK[])")
    if typ != "OK":
        raise AssertionError(f"FETCH in {folder!r} failed: {items!r}")
    return [parse_message(item[1]) for item in items if isinstance(item, tuple)]


def imap_fetch_all(
    address: str, password: str, folder: str = "INBOX", *, servers: MailServers | None = None
) -> list[EmailMessage]:
    """Every message in ``folder`` of ``address``'s mailbox, oldest first (nothing marked read)."""
    imap = imap_connect(address, password, servers)
    try:
        return _fetch_open(imap, folder)
    finally:
        imap.logout()


def wait_for_mail(
    address: str,
    password: str,
    predicate: MessagePredicate,
    timeout: float = 10.0,
    *,
    folder: str = "INBOX",
    servers: MailServers | None = None,
) -> EmailMessage:
    """The first message in ``folder`` matching ``predicate``, polling every 0.1 s.

    Raises ``AssertionError`` naming the subjects seen when none matches within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    imap = imap_connect(address, password, servers)
    try:
        while True:
            messages = _fetch_open(imap, folder)
            for message in messages:
                if predicate(message):
                    return message
            if time.monotonic() >= deadline:
                seen = [str(m.get("Subject", "")) for m in messages]
                raise AssertionError(
                    f"no matching mail in {address} {folder} after {timeout} s; subjects: {seen}"
                )
            time.sleep(0.1)
    finally:
        imap.logout()


def empty_mailbox(
    address: str,
    password: str,
    folders: Iterable[str] = FOLDERS,
    *,
    servers: MailServers | None = None,
) -> None:
    """Delete and expunge every message in ``folders`` (a missing folder is skipped)."""
    imap = imap_connect(address, password, servers)
    try:
        for folder in folders:
            typ, data = imap.select(_quote(folder))
            if typ != "OK" or int(data[0] or b"0") == 0:
                continue
            imap.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
            imap.expunge()
    finally:
        imap.logout()


def empty_all_mailboxes(servers: MailServers | None = None) -> None:
    """``empty_mailbox`` for every test mailbox, all at once (one IMAP connection each)."""
    s = servers or servers_from_env()
    with ThreadPoolExecutor(max_workers=len(MAILBOXES)) as pool:
        futures = [pool.submit(empty_mailbox, a, s.password, servers=s) for a in MAILBOXES]
    for future in futures:
        future.result()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
