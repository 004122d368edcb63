"""The email channel through the whole hub, against the real Postfix + Dovecot.

A push is mailed to the department's mailbox; the department claims by replying “认领” and the
hub's IMAP IDLE watcher records it within seconds; “异议：…” records an objection; a reminder
threads under the original; an unknown mailbox (550) falls back to paper; a spoofed sender is
quarantined; a department's push by mail becomes a routed message.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.email.config import EmailConfig, ServerConfig
from hub.ledger.schema import MessageRow, QuarantineRow
from tests.integration.hub.conftest import TZ, LiveHub
from tests.integration.hub.test_end_to_end import approval
from tests.support.mail import MailServers, send_as, wait_for_mail

pytestmark = pytest.mark.mail
EMAIL_FIRST = ("      to: [scjg]\n", "      to: [scjg]\n      channels: [email, paper]\n")
SAMPLES = Path(__file__).resolve().parents[3] / "hub" / "samples"


def email_config(servers: MailServers) -> EmailConfig:
    def server(port: int, tls: str) -> ServerConfig:
        return ServerConfig(
            host=servers.host,
            port=port,
            tls=tls,  # type: ignore[arg-type]
            username="hub@hub.test",
            password=servers.password,
            cafile=Path(servers.cafile),
        )

    return EmailConfig(
        from_address="hub@hub.test",
        smtp=server(servers.submission_port, "starttls"),
        imap=server(servers.imaps_port, "tls"),
        token_secret="e2e-secret",
        poll_interval=1.0,
    )


def reply_to(original: EmailMessage, first_line: str) -> EmailMessage:
    reply = EmailMessage()
    reply["Subject"] = "回复：" + str(original["Subject"])
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply["References"] = str(original["Message-ID"])
    reply.set_content(f"{first_line}\n\n> 原邮件略\n")
    return reply


def state(hub: LiveHub, message_id: str, key: str) -> object:
    """A field of the message's (single) delivery, None while it is not routed yet."""
    views = hub.service.hub.deliveries_of(message_id)
    return getattr(views[0], key) if views else None


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """SQLite here: the ledger's PostgreSQL behaviour is covered by the hub's own tests."""
    return f"sqlite:///{tmp_path}/hub.db"


@pytest.fixture
def mailing_hub(
    live_hub_factory: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> Callable[..., LiveHub]:
    def start(*replacements: tuple[str, str]) -> LiveHub:
        return live_hub_factory(EMAIL_FIRST, *replacements, email=email_config(clean_mailboxes))

    return start


def pushed_mail(servers: MailServers, box: str = "scjg@dept.test") -> EmailMessage:
    return wait_for_mail(
        box,
        servers.password,
        lambda m: "审管互动" in str(m["Subject"]),
        timeout=15,
        servers=servers,
    )


def test_claim_by_reply(mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers) -> None:
    hub = mailing_hub()
    push_id = hub.post("/messages", "xzsp", content=approval()).json()["message_id"]
    mail = pushed_mail(clean_mailboxes)
    assert "建筑工程施工许可证核发" in str(mail["Subject"])
    wait_until(lambda: state(hub, push_id, "delivered_channel") == "email")
    send_as(
        "scjg@dept.test",
        clean_mailboxes.password,
        "hub@hub.test",
        reply_to(mail, "认领"),
        servers=clean_mailboxes,
    )
    latency = wait_until(lambda: state(hub, push_id, "claim_state") == "claimed")
    print(f"\nreply → claim recorded in {latency:.2f} s")
    assert latency < 10


def test_objection_by_reply(
    mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> None:
    hub = mailing_hub(
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: auto_claim}\n    objection: {within: 1wd}",
        )
    )
    push_id = hub.post("/messages", "xzsp", content=approval()).json()["message_id"]
    mail = pushed_mail(clean_mailboxes)
    send_as(
        "scjg@dept.test",
        clean_mailboxes.password,
        "hub@hub.test",
        reply_to(mail, "异议：许可范围与现场核查情况不符"),
        servers=clean_mailboxes,
    )
    wait_until(lambda: state(hub, push_id, "objection_state") == "raised")


def test_a_reminder_threads_under_the_push(
    mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> None:
    hub = mailing_hub(
        (
            "claim: {within: 1wd, on_timeout: auto_claim}",
            'claim: {within: 1wd, on_timeout: auto_claim, reminders: ["-0.5wd"]}',
        )
    )
    hub.post("/messages", "xzsp", content=approval())
    push = pushed_mail(clean_mailboxes)
    hub.advance_to(dt.datetime(2026, 10, 8, 13, 30, tzinfo=TZ))
    reminder = wait_for_mail(
        "scjg@dept.test",
        clean_mailboxes.password,
        lambda m: "提醒" in str(m["Subject"]),
        timeout=15,
        servers=clean_mailboxes,
    )
    assert str(reminder["In-Reply-To"]) == str(push["Message-ID"])
    assert str(push["Message-ID"]) in str(reminder["References"])


def test_unknown_mailbox_falls_back_to_paper(
    mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> None:
    hub = mailing_hub(
        (
            '      email: {addresses: ["scjg@dept.test"]}',
            '      email: {addresses: ["nosuch@dept.test"]}',
        )
    )
    push_id = hub.post("/messages", "xzsp", content=approval()).json()["message_id"]
    wait_until(lambda: state(hub, push_id, "delivered_channel") == "paper")


def test_a_spoofed_reply_is_quarantined(
    mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> None:
    hub = mailing_hub()
    push_id = hub.post("/messages", "xzsp", content=approval()).json()["message_id"]
    mail = pushed_mail(clean_mailboxes)
    send_as(
        "outsider@elsewhere.test",
        clean_mailboxes.password,
        "hub@hub.test",
        reply_to(mail, "认领"),
        servers=clean_mailboxes,
    )

    def quarantined() -> bool:
        with hub.service.db.read() as session:
            return (
                session.scalar(select(QuarantineRow).where(QuarantineRow.channel == "email"))
                is not None
            )

    wait_until(quarantined)
    assert state(hub, push_id, "claim_state") == "open"


def test_a_department_push_by_mail_is_routed(
    mailing_hub: Callable[..., LiveHub], clean_mailboxes: MailServers
) -> None:
    hub = mailing_hub()
    data = json.loads(
        (SAMPLES / "guanxian" / "03-supervision_info-other-penalty.json").read_text(
            encoding="utf-8"
        )
    )
    data["sender"]["department_id"] = "zjj"
    data["attachments"] = []  # a message may only reference files the mail carries
    data["source"] = {
        **data["source"],
        "channel": "email",
        "system": "email",
        "source_id": "mail-push-1",
    }
    mail = EmailMessage()
    mail["Subject"] = "【审管推送】影响许可的行政处罚"
    mail.set_content("请查收监管信息。")
    mail.add_attachment(
        json.dumps(data, ensure_ascii=False).encode(),
        maintype="application",
        subtype="json",
        filename="push.json",
    )
    send_as(
        "zjj@dept.test", clean_mailboxes.password, "hub@hub.test", mail, servers=clean_mailboxes
    )

    def routed() -> bool:
        with hub.service.db.read() as session:
            row = session.scalar(select(MessageRow).where(MessageRow.sender_id == "zjj"))
            return row is not None and row.state == "routed"

    wait_until(routed)
