"""EmailAdapter with a fake pool (refusals, receipts, logs); SmtpPool with fake SMTP clients."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import pytest
from structlog.testing import capture_logs

import hub
from adapters.email import EmailAdapter, EmailConfig
from adapters.email.client import SendResult, SmtpPool, translate_error
from adapters.email.config import ServerConfig
from hub.channels import ChannelAdapter, OutboundNote, Purpose
from hub.errors import DeliveryError
from hub.message import CanonicalMessage, Channel
from hub.routing.model import EmailAddress, PlatformAddress
from hub.validation import parse_message

pytestmark = pytest.mark.anyio
TZ = ZoneInfo("Asia/Shanghai")
SAMPLES = Path(hub.__file__).parent / "samples"
SERVER = ServerConfig(host="127.0.0.1", port=587, username="hub@hub.test", password="s3cret")
CONFIG = EmailConfig(smtp=SERVER, pool_size=1)
APPROVAL = "liangshan/01-approval_decision-food-licence.json"
SECRET = "liangshan/06-policy_change-secret-paper.json"
OFFLINE = "danzhou/04-supervision_info-suspension-paper.json"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def sample(relative: str) -> CanonicalMessage:
    return parse_message((SAMPLES / relative).read_bytes())


def note(message: CanonicalMessage | None = None, **changes: Any) -> OutboundNote:
    fields: dict[str, Any] = {
        "delivery_id": "Dabcdefghijklmnopqrstuvwxy", "purpose": Purpose.PUSH,
        "message": message or sample(APPROVAL), "department_id": "scjg",
        "department_name": "梁山县市场监督管理局",
        "address": EmailAddress(addresses=("scjg@dept.test",)),
        "claim_due": dt.datetime(2026, 9, 16, tzinfo=TZ),
        "deadlines_zh": {"认领期限": "2026-09-15 24:00"},
    }  # fmt: skip
    fields.update(changes)
    return OutboundNote(**fields)


@dataclass
class FakePool:
    result: SendResult = field(default_factory=lambda: SendResult("2.0.0 Ok: queued as 4ABC"))
    error: DeliveryError | None = None
    sent: list[tuple[EmailMessage, list[str]]] = field(default_factory=list)
    closed: bool = False

    async def send(self, message: EmailMessage, recipients: Sequence[str]) -> SendResult:
        self.sent.append((message, list(recipients)))
        if self.error is not None:
            raise self.error
        return self.result

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


@pytest.fixture
def adapter(pool: FakePool) -> EmailAdapter:
    return EmailAdapter(CONFIG, pool=pool)


def test_it_is_a_channel_adapter(adapter: EmailAdapter) -> None:
    typed: ChannelAdapter = adapter
    assert typed.channel is Channel.EMAIL


# --- refusals before rendering --------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "level"), [(SECRET, "secret"), (OFFLINE, "offline_only")])
async def test_classified_or_offline_content_is_refused_without_smtp(
    adapter: EmailAdapter, pool: FakePool, relative: str, level: str
) -> None:
    with capture_logs() as logs, pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(sample(relative)))

    assert caught.value.retryable is False
    assert "邮件" in caught.value.reason
    assert pool.sent == []
    (event,) = [e for e in logs if e["event"] == "security.classified_online"]
    assert event["log_level"] == "error"
    assert event["level"] == level
    assert event["delivery_id"] == "Dabcdefghijklmnopqrstuvwxy"
    assert event["channel"] == "email"


async def test_a_department_without_a_mailbox_is_a_permanent_error(
    adapter: EmailAdapter, pool: FakePool
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(address=PlatformAddress(endpoint="https://x.example/cb")))
    assert caught.value.retryable is False and pool.sent == []


# --- delivering -----------------------------------------------------------------------------------


async def test_deliver_sends_the_rendered_mail_and_returns_its_message_id(
    adapter: EmailAdapter, pool: FakePool
) -> None:
    with capture_logs() as logs:
        receipt = await adapter.deliver(note())

    (mail, recipients) = pool.sent[0]
    assert recipients == ["scjg@dept.test"]
    assert receipt.channel is Channel.EMAIL
    assert receipt.reference == mail["Message-ID"] == "<Dabcdefghijklmnopqrstuvwxy.push@hub.test>"
    assert receipt.detail == "2.0.0 Ok: queued as 4ABC"
    (sent,) = [e for e in logs if e["event"] == "delivery.sent"]
    assert sent["delivery_id"] == "Dabcdefghijklmnopqrstuvwxy"
    assert sent["message_id"] == note().message.message_id
    assert sent["channel"] == "email" and sent["mail_id"] == receipt.reference
    logged = json.dumps(logs, ensure_ascii=False, default=str)
    assert "梁山县水泊人家" not in logged and "s3cret" not in logged  # no bodies, no secrets


async def test_a_failed_send_is_logged_and_raised(adapter: EmailAdapter, pool: FakePool) -> None:
    pool.error = DeliveryError("busy", retryable=True, details={"code": "450"})
    with capture_logs() as logs, pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note())
    assert caught.value is pool.error
    (failed,) = [e for e in logs if e["event"] == "delivery.failed"]
    assert failed["retryable"] is True and failed["code"] == "450"
    assert failed["delivery_id"] == "Dabcdefghijklmnopqrstuvwxy"


async def test_a_partial_refusal_is_delivered_and_says_who_was_refused(
    adapter: EmailAdapter, pool: FakePool
) -> None:
    pool.result = SendResult("queued as 9XY", {"old@dept.test": "550 5.1.1 unknown"})
    receipt = await adapter.deliver(note(address=EmailAddress(
        addresses=("scjg@dept.test", "old@dept.test"))))  # fmt: skip
    assert "old@dept.test 550 5.1.1 unknown" in receipt.detail


async def test_aclose_closes_the_pool(adapter: EmailAdapter, pool: FakePool) -> None:
    await adapter.aclose()
    assert pool.closed


# --- the SMTP pool, with fake aiosmtplib clients --------------------------------------------------


@dataclass
class FakeSmtp:
    """Stands in for ``aiosmtplib.SMTP``: connects, then answers sends from a script."""

    failures: list[BaseException | None] = field(default_factory=list)  # per send; None: ok
    is_connected: bool = False
    sends: int = 0

    async def connect(self) -> None:
        self.is_connected = True

    async def send_message(self, message: EmailMessage, *, sender: str,
                           recipients: list[str]) -> tuple[dict[str, Any], str]:  # fmt: skip
        self.sends += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            if isinstance(failure, aiosmtplib.SMTPServerDisconnected):
                self.is_connected = False
            raise failure
        return {}, "2.0.0 Ok: queued"

    def close(self) -> None:
        self.is_connected = False

    async def quit(self) -> None:
        self.is_connected = False


def fake_pool(*clients: FakeSmtp) -> SmtpPool:
    queue = list(clients)
    return SmtpPool(CONFIG, factory=lambda: queue.pop(0))  # type: ignore[arg-type,return-value]


async def test_one_connection_is_reused_for_many_sends() -> None:
    first = FakeSmtp()
    pool = fake_pool(first)
    for _ in range(5):
        assert (await pool.send(EmailMessage(), ["scjg@dept.test"])).answer == "2.0.0 Ok: queued"
    assert pool.connections_opened == 1 and first.sends == 5


async def test_a_connection_dropped_by_the_server_is_replaced_once() -> None:
    stale = FakeSmtp(failures=[None, aiosmtplib.SMTPServerDisconnected("gone")])
    fresh = FakeSmtp()
    pool = fake_pool(stale, fresh)
    await pool.send(EmailMessage(), ["scjg@dept.test"])  # opens `stale`, which then idles

    result = await pool.send(EmailMessage(), ["scjg@dept.test"])

    assert result.answer == "2.0.0 Ok: queued"
    assert pool.connections_opened == 2 and fresh.sends == 1


async def test_a_fresh_connection_that_fails_is_not_retried() -> None:
    pool = fake_pool(FakeSmtp(failures=[aiosmtplib.SMTPServerDisconnected("gone")]))
    with pytest.raises(DeliveryError) as caught:
        await pool.send(EmailMessage(), ["scjg@dept.test"])
    assert caught.value.retryable is True and pool.connections_opened == 1


async def test_a_closed_pool_refuses_to_send() -> None:
    pool = fake_pool(FakeSmtp())
    await pool.aclose()
    with pytest.raises(DeliveryError):
        await pool.send(EmailMessage(), ["scjg@dept.test"])


def _refused(*answers: tuple[int, str]) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [
            aiosmtplib.SMTPRecipientRefused(code, text, f"r{i}@dept.test")
            for i, (code, text) in enumerate(answers)
        ]  # fmt: skip
    )


def _unverified() -> aiosmtplib.SMTPConnectError:
    error = aiosmtplib.SMTPConnectError("Error connecting: certificate verify failed")
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "retryable", "code", "words"),
    [
        (_refused((550, "5.1.1 User unknown")), False, "550", "拒收"),
        (_refused((550, "5.1.1 unknown"), (450, "4.2.0 busy")), True, "450,550", "暂时"),
        (_refused((450, "4.2.0 try later")), True, "450", "暂时"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 authentication failed"), False, "535",
         "用户名或密码"),
        (aiosmtplib.SMTPSenderRefused(421, "4.3.0 shutting down", "hub@hub.test"), True, "421",
         "稍后重试"),
        (aiosmtplib.SMTPDataError(554, "5.7.1 rejected"), False, "554", "拒绝"),
        (_unverified(), False, None, "CA"),
        (aiosmtplib.SMTPNotSupported("STARTTLS not supported"), False, None, "配置"),
        (aiosmtplib.SMTPConnectError("connection refused"), True, None, "连接"),
        (aiosmtplib.SMTPConnectTimeoutError("timed out"), True, None, "超时"),
        (aiosmtplib.SMTPServerDisconnected("lost"), True, None, "连接"),
        (ConnectionResetError("reset"), True, None, "连接"),
    ],
)  # fmt: skip
def test_smtp_errors_are_translated(
    error: BaseException, retryable: bool, code: str | None, words: str
) -> None:
    translated = translate_error(error, SERVER)
    assert translated.retryable is retryable
    assert translated.details.get("code") == code
    assert words in translated.reason
    assert "s3cret" not in json.dumps(translated.details)
