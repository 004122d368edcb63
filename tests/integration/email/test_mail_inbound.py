"""The inbound half of the email channel against real Postfix + Dovecot and a real hub.

The watcher reads hub@hub.test over IMAPS (993, verified with the test CA) and stays in IDLE;
departments reply and push from their own mailboxes through the submission port (587, AUTH).
The hub runs on a temporary SQLite ledger (``make_rig``: recording bus, manual clock).
"""

from __future__ import annotations

import asyncio
import io
import smtplib
import subprocess
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from adapters.email.config import EmailConfig, ServerConfig
from adapters.email.threading import root_message_id, subject_tag
from adapters.email.trust import Directory
from adapters.email.watcher import Cursor, CursorStore, MailWatcher
from hub.blobs import BlobStore
from hub.core.api import HubApi
from hub.ledger.schema import ClaimRow, MessageRow, ObjectionRow, QuarantineRow
from tests.support.mail import (
    BOUNCING,
    HUB,
    OUTSIDER,
    PASSWORD,
    MailServers,
    imap_fetch_all,
    send_as,
    wait_for_mail,
)
from tests.support.waits import scaled
from tests.unit.core.conftest import Rig, make_rig, message

pytestmark = [pytest.mark.mail, pytest.mark.anyio]

SECRET = "integration-secret"
SCJG, ZJJ = "scjg@dept.test", "zjj@dept.test"
DOVEADM = ["/usr/bin/doveadm", "-c", "/etc/hub-mail/dovecot.conf"]
USCC = "91370832MA3C4R7K7J"
# the approval policy of minimal.yaml gains an objection window, so objections can be raised
WITH_OBJECTIONS = (
    "claim: {within: 1wd, on_timeout: auto_claim}",
    "claim: {within: 1wd, on_timeout: auto_claim}\n    objection: {within: 2wd}",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingHub:
    """The real hub, with a record of the bounces reported to it."""

    def __init__(self, hub: HubApi) -> None:
        self._hub = hub
        self.bounces: list[tuple[str, str]] = []

    def report_bounce(self, delivery_id: str, *, channel: Any, reason: str) -> None:
        self.bounces.append((delivery_id, reason))
        self._hub.report_bounce(delivery_id, channel=channel, reason=reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)


@dataclass
class Inbound:
    rig: Rig
    hub: RecordingHub
    watcher: MailWatcher
    logs: list[MutableMapping[str, Any]]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def delivery(self, department: str = "scjg") -> str:
        """A fresh approval decision pushed to ``department``: its delivery id."""
        serial = f"mail-{time.monotonic_ns()}"
        pushed = message(
            "guanxian/01*.json",
            recipients=[department],
            source={**_sample_source(), "source_id": serial},
        )
        message_id = self.rig.push(pushed)
        (view,) = [
            v for v in self.rig.hub.deliveries_of(message_id) if v.department_id == department
        ]
        return view.delivery_id

    def claim_state(self, delivery_id: str) -> str:
        return self.rig.hub.delivery_view(delivery_id).claim_state

    def count(self, row: type[Any], **where: object) -> int:
        with self.rig.db.read() as session:
            query = select(func.count()).select_from(row)
            for key, value in where.items():
                query = query.where(getattr(row, key) == value)
            return int(session.scalar(query) or 0)

    def events(self, name: str) -> list[MutableMapping[str, Any]]:
        return [e for e in self.logs if e["event"] == name]

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> float:
        """Wait for ``check``; the limit is scaled for a busy machine (the wait ends as soon as
        it holds, so a scaled limit costs nothing when all is well)."""
        timeout = scaled(timeout)
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"not within {timeout} s; events: {self._seen()}")
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    def _seen(self) -> list[str]:
        return [f"{e['event']} {e.get('reason', '')}".strip() for e in self.logs]

    async def idling(self, connections: int = 1) -> None:
        """Wait until the watcher has connected ``connections`` times and entered IDLE."""
        await self.until(lambda: len(self.events("mail.connected")) >= connections)
        await asyncio.sleep(0.3)  # from SELECT to IDLE: a handful of commands


def _sample_source() -> dict[str, Any]:
    return message("guanxian/01*.json").source.model_dump(mode="json")


@pytest.fixture
async def inbound(
    tmp_path: Path, mail_servers: MailServers, clean_mailboxes: MailServers
) -> AsyncIterator[Inbound]:
    rig = make_rig(tmp_path, WITH_OBJECTIONS)
    hub = RecordingHub(rig.hub)
    imap = ServerConfig(
        host=mail_servers.imap_host, port=mail_servers.imaps_port, tls="tls", username=HUB,
        password=PASSWORD, cafile=Path(mail_servers.cafile), timeout=10,
    )  # fmt: skip
    config = EmailConfig(
        from_address=HUB,
        smtp=ServerConfig(host=mail_servers.host, port=mail_servers.submission_port),
        imap=imap,
        token_secret=SECRET,
        idle_timeout=300,
    )
    directory = Directory.from_departments(rig.hub.router.departments.values())
    blobs = BlobStore(tmp_path / "blobs")
    watcher = MailWatcher(config, hub, directory, rig.db, blobs, rig.clock)
    with capture_logs() as logs:
        world = Inbound(rig, hub, watcher, logs)
        yield world
        world.stop.set()
        if world.task is not None:
            await asyncio.wait_for(world.task, 3)
    rig.hub.close()
    rig.db.dispose()


def start(world: Inbound) -> None:
    world.task = asyncio.create_task(world.watcher.run(world.stop))


def reply(delivery_id: str, body: str, sender: str = SCJG) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, HUB
    msg["Subject"] = f"回复：【审管互动】推送：建筑工程施工许可 {subject_tag(delivery_id, SECRET)}"
    msg["In-Reply-To"] = root_message_id(delivery_id, "hub.test")
    msg.set_content(body + "\n\n在 2026年9月30日 16:00，审管互动 Hub 写道：\n> 请认领\n")
    return msg


async def send(sender: str, msg: EmailMessage) -> None:
    await asyncio.to_thread(send_as, sender, PASSWORD, HUB, msg)


def folder(name: str) -> list[EmailMessage]:
    return imap_fetch_all(HUB, PASSWORD, name)


async def test_claim_by_reply_is_recorded_within_seconds_over_idle(inbound: Inbound) -> None:
    delivery_id = inbound.delivery()
    start(inbound)
    await inbound.idling()
    # When scjg replies “认领” from its registered mailbox
    began = time.monotonic()
    await send(SCJG, reply(delivery_id, "认领"))
    after_send = await inbound.until(lambda: inbound.claim_state(delivery_id) == "claimed", 5.0)
    latency = time.monotonic() - began
    print(
        f"\nIDLE claim latency: {latency * 1000:.0f} ms from SMTP send to claim recorded"
        f" ({after_send * 1000:.0f} ms after the server accepted the mail)"
    )
    # Then the claim is on record by email, the mail filed under Processed, the inbox empty
    assert latency < 5.0
    with inbound.rig.db.read() as session:
        claim = session.get(ClaimRow, delivery_id)
        assert claim is not None and (claim.channel, claim.actor) == ("email", SCJG)
    await inbound.until(lambda: len(folder("Processed")) == 1)
    assert folder("INBOX") == []
    (event,) = inbound.events("claim.by_mail")
    assert (event["delivery_id"], event["outcome"]) == (delivery_id, "claimed")


async def test_objection_by_reply(inbound: Inbound) -> None:
    delivery_id = inbound.delivery()
    start(inbound)
    await send(SCJG, reply(delivery_id, "异议：许可证号与证照不符，\n请核实后重新推送。"))
    await inbound.until(lambda: inbound.count(ObjectionRow) == 1)
    with inbound.rig.db.read() as session:
        (row,) = session.scalars(select(ObjectionRow))
        assert row.reason == "许可证号与证照不符，\n请核实后重新推送。"
        assert (row.channel, row.actor) == ("email", SCJG)
    assert inbound.rig.hub.delivery_view(delivery_id).objection_state == "raised"


async def test_reply_from_an_outsider_is_quarantined_not_claimed(inbound: Inbound) -> None:
    delivery_id = inbound.delivery()
    start(inbound)
    # When an outsider answers with the right subject tag (it leaked) and “认领”
    await send(OUTSIDER, reply(delivery_id, "认领", sender=OUTSIDER))
    await inbound.until(lambda: inbound.count(QuarantineRow) == 1)
    # Then nothing is claimed, the ledger keeps the mail with the reason, the mail is filed
    assert inbound.claim_state(delivery_id) == "open"
    with inbound.rig.db.read() as session:
        (row,) = session.scalars(select(QuarantineRow))
        assert row.channel == "email" and row.reason_en.startswith("From: spoofed:")
        assert OUTSIDER in row.reason_zh and b"\r\n" in row.raw
    # in a thread: blocking here would stall the watcher, which runs on this event loop
    got = await asyncio.to_thread(
        wait_for_mail, HUB, PASSWORD, lambda m: m["From"] == OUTSIDER, folder="Quarantine"
    )
    assert str(got["Subject"]).endswith(subject_tag(delivery_id, SECRET))
    assert folder("Processed") == []


def penalty_sheet() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["信息类型", "监管类别", "行政相对人", "统一社会信用代码", "许可文号",
                  "处罚决定书文号", "决定日期", "监管内容", "业务流水号", "附件"])  # fmt: skip
    for n in (1, 2):
        sheet.append(["监管信息", "责令停产停业", f"测试县第{n}烧烤店", USCC, f"JY2370832000987{n}",
                      f"测住建罚〔2026〕1{n}号", "2026-09-21", "责令停业整顿十五日",
                      f"ZJJ-2026-001{n}", "处罚决定书.pdf"])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def push_mail(sender: str = ZJJ) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, HUB, "【审管推送】2026年9月 行政处罚信息"
    msg.set_content("请查收。")
    msg.add_attachment(penalty_sheet(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       filename="处罚信息.xlsx")  # fmt: skip
    msg.add_attachment(b"%PDF-1.4 decision", maintype="application", subtype="pdf",
                       filename="处罚决定书.pdf")  # fmt: skip
    return msg


async def test_department_push_by_mail_with_a_sheet(inbound: Inbound) -> None:
    start(inbound)
    await send(ZJJ, push_mail())
    await inbound.until(lambda: inbound.count(MessageRow, channel="email") == 2)
    with inbound.rig.db.read() as session:
        rows = list(session.scalars(select(MessageRow).where(MessageRow.channel == "email")))
        assert {r.sender_id for r in rows} == {"zjj"}
        assert {r.source_id for r in rows} == {"ZJJ-2026-0011", "ZJJ-2026-0012"}
        ref = rows[0].payload["attachments"][0]
    assert inbound.watcher.processor.blobs.get(ref["sha256"]) == b"%PDF-1.4 decision"
    assert len(inbound.events("push.by_mail")) == 2
    await inbound.until(lambda: len(folder("Processed")) == 1)


async def test_bounce_of_a_push_is_reported_to_the_hub(inbound: Inbound) -> None:
    delivery_id = inbound.delivery()
    start(inbound)
    # Given the hub's push to a mailbox that turns out not to exist: Postfix bounces it
    push = EmailMessage()
    push["From"], push["To"] = HUB, BOUNCING
    push["Subject"] = f"【审管互动】推送：建筑工程施工许可 {subject_tag(delivery_id, SECRET)}"
    push["Message-ID"] = root_message_id(delivery_id, "hub.test")
    push.set_content("请认领")
    await asyncio.to_thread(send_as, HUB, PASSWORD, BOUNCING, push)
    # Then the DSN comes back to hub@hub.test and the watcher reports the bounce
    await inbound.until(lambda: bool(inbound.hub.bounces), 15.0)
    ((bounced, reason),) = inbound.hub.bounces
    assert bounced == delivery_id and reason.startswith(f"5.1.1 {BOUNCING}")
    # the watcher logs it once the hub has acted on it (stopped the deadlines, fallen back)
    await inbound.until(lambda: bool(inbound.events("mail.bounce")), 15.0)
    (event,) = inbound.events("mail.bounce")
    assert event["status"] == "5.1.1"


async def test_after_a_reconnect_nothing_is_handled_twice(inbound: Inbound) -> None:
    first, second = inbound.delivery(), inbound.delivery()
    start(inbound)
    await send(SCJG, reply(first, "认领"))
    await send(ZJJ, push_mail())
    await inbound.until(lambda: inbound.count(MessageRow, channel="email") == 2)
    await inbound.until(lambda: inbound.claim_state(first) == "claimed")
    await inbound.idling()
    # When Dovecot drops the watcher's connection
    kicked = subprocess.run([*DOVEADM, "kick", HUB], capture_output=True, text=True, check=False)
    assert kicked.returncode == 0, kicked.stderr
    await inbound.idling(connections=2)
    await send(SCJG, reply(second, "收到！"))
    await inbound.until(lambda: inbound.claim_state(second) == "claimed")
    # Then the earlier mail was not read again: one claim each, two accepts, all filed
    assert len(inbound.events("claim.by_mail")) == 2
    assert len(inbound.events("push.by_mail")) == 2
    assert inbound.count(ClaimRow) == 2
    assert inbound.events("mail.connection_lost") or inbound.events("mail.connection_failed")
    await inbound.until(lambda: len(folder("Processed")) == 3)


async def test_uidvalidity_change_resets_the_cursor(inbound: Inbound) -> None:
    delivery_id = inbound.delivery()
    # Given a cursor far ahead, for the mailbox as it is now
    status = subprocess.run(
        [*DOVEADM, "-f", "flow", "mailbox", "status", "-u", HUB, "uidvalidity", "INBOX"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    current = int(status.stdout.split("uidvalidity=")[1].split()[0])
    store = CursorStore(inbound.rig.db, inbound.rig.clock)
    store.save(Cursor(inbound.watcher.key, current, 1_000_000))
    # When the server renumbers the mailbox (new UIDVALIDITY) and a claim arrives
    subprocess.run(
        [*DOVEADM, "mailbox", "update", "-u", HUB, "--uid-validity", str(current + 1), "INBOX"],
        check=True,
    )
    await send(SCJG, reply(delivery_id, "认领"))
    start(inbound)
    # Then the old cursor is dropped and the claim is read
    await inbound.until(lambda: inbound.claim_state(delivery_id) == "claimed")
    (changed,) = inbound.events("mail.uidvalidity_changed")
    assert (changed["old"], changed["new"]) == (current, current + 1)


async def test_spoofed_from_over_the_mx_port_is_quarantined(inbound: Inbound) -> None:
    # Given mail claiming to be scjg, sent by anyone through port 25 with an on-behalf Sender
    delivery_id = inbound.delivery()
    msg = reply(delivery_id, "认领")
    msg["Sender"] = OUTSIDER
    start(inbound)
    try:
        await asyncio.to_thread(send_as, OUTSIDER, PASSWORD, HUB, msg, 25)
    except smtplib.SMTPException as exc:  # pragma: no cover - depends on the MX policy
        pytest.skip(f"port 25 refused the mail: {exc}")
    await inbound.until(lambda: inbound.count(QuarantineRow) == 1)
    assert inbound.claim_state(delivery_id) == "open"
