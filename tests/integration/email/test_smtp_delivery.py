"""The outbound half of the email channel against the real Postfix + Dovecot.

The hub submits as hub@hub.test (587 STARTTLS + AUTH, or 465 implicit TLS, certificates verified
with the test CA); the department reads its mailbox over IMAPS. Connection counting and a
server hanging up on an idle connection use a TCP relay in front of Postfix that counts the
connections it accepts and can close them all, as a server's idle timeout does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import certifi
import pytest

import hub
from adapters.email import EmailAdapter, EmailConfig
from adapters.email.client import SmtpPool
from adapters.email.config import ServerConfig, TlsMode
from adapters.email.threading import root_message_id, subject_tag
from hub.blobs import BlobStore
from hub.channels import OutboundNote, Purpose
from hub.errors import DeliveryError
from hub.message import CanonicalMessage
from hub.routing.model import EmailAddress
from hub.validation import parse_message
from tests.support.mail import HUB, TEMPFAIL, MailServers, wait_for_mail

pytestmark = [pytest.mark.mail, pytest.mark.anyio]

TZ = ZoneInfo("Asia/Shanghai")
SAMPLES = Path(hub.__file__).parent / "samples"
SECRET = "integration-secret"
SCJG = "scjg@dept.test"
DELIVERY = "Dintegrationtestdeliveryaa"
LETTER = "告知承诺书（梁山县水泊人家餐饮管理有限公司）.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def config(servers: MailServers, *, port: int | None = None, tls: TlsMode = "starttls",
           **changes: Any) -> EmailConfig:  # fmt: skip
    smtp: dict[str, Any] = {
        "host": servers.host, "port": port or servers.submission_port, "tls": tls,
        "username": HUB, "password": servers.password, "cafile": Path(servers.cafile),
        "timeout": 10.0,
    }  # fmt: skip
    smtp.update(changes.pop("smtp", {}))
    return EmailConfig(smtp=ServerConfig(**smtp), token_secret=SECRET, **changes)


def approval(store: BlobStore | None = None) -> CanonicalMessage:
    data = json.loads((SAMPLES / "liangshan/01-approval_decision-food-licence.json").read_text())
    if store is not None:
        data["attachments"] = [{"sha256": store.put(PDF), "size": len(PDF),
                                "media_type": "application/pdf", "name": LETTER}]  # fmt: skip
    return parse_message(json.dumps(data, ensure_ascii=False))


def note(message: CanonicalMessage | None = None, **changes: Any) -> OutboundNote:
    fields: dict[str, Any] = {
        "delivery_id": DELIVERY, "purpose": Purpose.PUSH, "message": message or approval(),
        "department_id": "scjg", "department_name": "梁山县市场监督管理局",
        "address": EmailAddress(addresses=(SCJG,)),
        "claim_due": dt.datetime(2026, 10, 9, tzinfo=TZ),
        "deadlines_zh": {"认领期限": "2026-10-08 24:00"},
    }  # fmt: skip
    fields.update(changes)
    return OutboundNote(**fields)


def body(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def deliver(cfg: EmailConfig, n: OutboundNote, blobs: BlobStore | None = None) -> str:
    adapter = EmailAdapter(cfg, blobs)
    try:
        return (await adapter.deliver(n)).reference
    finally:
        await adapter.aclose()


async def refused(cfg: EmailConfig, n: OutboundNote) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await deliver(cfg, n)
    return caught.value


# --- what arrives ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_a_push_arrives_readable_and_intact(
    clean_mailboxes: MailServers, tmp_path: Path, mode: TlsMode
) -> None:
    servers = clean_mailboxes
    port = servers.submission_port if mode == "starttls" else servers.smtps_port
    store = BlobStore(tmp_path)

    reference = await deliver(config(servers, port=port, tls=mode), note(approval(store)), store)

    got = wait_for_mail(SCJG, servers.password, lambda m: m["Message-ID"] == reference)
    tag = subject_tag(DELIVERY, SECRET)
    subject = "食品经营许可证核发：梁山县水泊人家餐饮管理有限公司"
    assert got["Subject"] == f"【审管互动】推送：{subject} {tag}"
    assert got["From"].addresses[0].display_name == "审管互动 Hub"
    assert reference == root_message_id(DELIVERY, "hub.test")
    assert got["Auto-Submitted"] is None and got["X-Hub-Delivery"] == DELIVERY
    text = body(got)
    for expected in ("事项名称：食品经营许可（新办）", "统一社会信用代码：91370832MA3C4R7K7J",
                     "许可文号：JY13708320012345", "请于 2026年10月8日（星期四）24:00 前认领",
                     "正文第一行写“认领”"):  # fmt: skip
        assert expected in text, expected
    (attachment,) = list(got.iter_attachments())
    assert attachment.get_filename() == LETTER
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes) and hashlib.sha256(data).hexdigest() == hashlib.sha256(
        PDF).hexdigest()  # fmt: skip


async def test_a_reminder_lands_in_the_push_thread(clean_mailboxes: MailServers) -> None:
    cfg = config(clean_mailboxes)
    push_id = await deliver(cfg, note())
    reminder_id = await deliver(cfg, note(purpose=Purpose.REMINDER, summary_zh="认领期限将至"))

    reminder = wait_for_mail(SCJG, clean_mailboxes.password,
                             lambda m: m["Message-ID"] == reminder_id)  # fmt: skip
    assert reminder["In-Reply-To"] == push_id
    assert reminder["References"] == push_id
    assert str(reminder["Subject"]).startswith("【审管互动】认领提醒：")
    assert "认领期限将至" in body(reminder)


async def test_a_partly_refused_mail_is_delivered_to_the_others(
    clean_mailboxes: MailServers,
) -> None:
    adapter = EmailAdapter(config(clean_mailboxes))
    try:
        receipt = await adapter.deliver(
            note(address=EmailAddress(addresses=(SCJG, "nosuch@dept.test")))
        )
    finally:
        await adapter.aclose()
    assert "nosuch@dept.test 550" in receipt.detail
    wait_for_mail(SCJG, clean_mailboxes.password, lambda m: m["Message-ID"] == receipt.reference)


# --- what fails, and whether a retry can help -----------------------------------------------------


async def test_an_unknown_mailbox_is_permanent_with_its_code(
    clean_mailboxes: MailServers,
) -> None:
    error = await refused(
        config(clean_mailboxes), note(address=EmailAddress(addresses=("nosuch@dept.test",)))
    )
    assert error.retryable is False
    assert error.details["code"] == "550"
    assert "nosuch@dept.test" in error.details["refused"] and "拒收" in error.reason


async def test_a_temporary_refusal_is_retryable(clean_mailboxes: MailServers) -> None:
    error = await refused(
        config(clean_mailboxes), note(address=EmailAddress(addresses=(TEMPFAIL,)))
    )
    assert error.retryable is True and error.details["code"] == "450"


async def test_a_wrong_password_is_a_permanent_configuration_error(
    mail_servers: MailServers,
) -> None:
    error = await refused(config(mail_servers, smtp={"password": "wrong"}), note())
    assert error.retryable is False and error.details["code"] == "535"
    assert "用户名或密码" in error.reason and "AUTH" in error.reason
    assert "wrong" not in json.dumps(error.details)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_a_certificate_the_ca_does_not_sign_is_permanent(
    mail_servers: MailServers, mode: TlsMode
) -> None:
    port = mail_servers.submission_port if mode == "starttls" else mail_servers.smtps_port
    public_cas = {"cafile": Path(certifi.where())}  # real CAs: none signed the test certificate
    error = await refused(config(mail_servers, port=port, tls=mode, smtp=public_cas), note())
    assert error.retryable is False
    assert "证书" in error.reason and "CA" in error.reason


async def test_nothing_listening_is_retryable(mail_servers: MailServers) -> None:
    error = await refused(config(mail_servers, smtp={"port": await _free_port()}), note())
    assert error.retryable is True


# --- the pool -------------------------------------------------------------------------------------


class Relay:
    """A TCP relay to Postfix that counts connections and can hang up on all of them."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()
        assert self._server is not None
        self._server.close()

    async def hang_up(self) -> None:
        """Close every connection, both ways, as a server's idle timeout does."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0.05)  # let the client's event loop see the end of the stream

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _free_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


@contextlib.asynccontextmanager
async def relayed_pool(servers: MailServers) -> AsyncIterator[tuple[Relay, SmtpPool]]:
    async with Relay((servers.host, servers.submission_port)) as relay:
        pool = SmtpPool(config(servers, pool_size=1, smtp={"port": relay.port}))
        try:
            yield relay, pool
        finally:
            await pool.aclose()


def _mail(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = HUB, SCJG, f"连接复用测试 {n}"
    mail["Message-ID"] = f"<pool-{n}@hub.test>"
    mail.set_content("测试")
    return mail


async def test_the_pool_reuses_one_connection(clean_mailboxes: MailServers) -> None:
    async with relayed_pool(clean_mailboxes) as (relay, pool):
        for n in range(5):
            await pool.send(_mail(n), [SCJG])
        assert pool.connections_opened == 1 and relay.accepted == 1
    wait_for_mail(SCJG, clean_mailboxes.password, lambda m: m["Message-ID"] == "<pool-4@hub.test>")


async def test_the_pool_survives_the_server_closing_an_idle_connection(
    clean_mailboxes: MailServers,
) -> None:
    async with relayed_pool(clean_mailboxes) as (relay, pool):
        await pool.send(_mail(1), [SCJG])
        await relay.hang_up()  # the idle pooled connection is gone

        await pool.send(_mail(2), [SCJG])

        assert pool.connections_opened == 2 and relay.accepted == 2
    wait_for_mail(SCJG, clean_mailboxes.password, lambda m: m["Message-ID"] == "<pool-2@hub.test>")
