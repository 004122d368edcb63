"""The real test mail servers behave as the email channel's tests assume (scripts/mail-servers).

Postfix on 25/587/465 and Dovecot on 143/993 at 127.0.0.1: Chinese subjects and UTF-8 bodies
survive, 550 for unknown mailboxes, 450 for the tempfail address, a failed login does not slow
the next one, IDLE pushes within seconds, and an accepted-then-undeliverable message comes back
to the sender as a real DSN (multipart/report).
"""

from __future__ import annotations

import imaplib
import smtplib
import time
import uuid
from email.message import EmailMessage, Message
from email.utils import make_msgid

import pytest

from tests.support.mail import (
    BOUNCING,
    DEPARTMENTS,
    HUB,
    OUTSIDER,
    TEMPFAIL,
    XZSP,
    MailServers,
    imap_connect,
    send_as,
    wait_for_mail,
)

pytestmark = pytest.mark.mail

SCJG, ZJJ, WSJK = DEPARTMENTS[:3]


def message(sender: str, to: str, subject: str, body: str = "正文\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content(body)
    return msg


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def test_submission_delivers_a_chinese_subject_and_utf8_body(
    clean_mailboxes: MailServers,
) -> None:
    subject = unique("关于某某食品经营许可证核查的协查推送（第1号）")
    body = "市场监管局：\n\n请于3个工作日内反馈核查结果。\n审管互动平台\n"
    sent = message(HUB, SCJG, subject, body)
    head = sent.as_bytes().split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head  # RFC 2047 on the wire, no SMTPUTF8

    assert send_as(HUB, clean_mailboxes.password, SCJG, sent, port=587) == {}

    got = wait_for_mail(SCJG, clean_mailboxes.password, lambda m: m["Subject"] == subject)
    assert got["Message-ID"] == sent["Message-ID"]
    assert got["From"] == HUB
    body_part = got.get_body(("plain",))
    assert isinstance(body_part, EmailMessage)
    assert body_part.get_content() == body
    assert "Authenticated sender: hub@hub.test" in str(got.get_all("Received"))


def test_implicit_tls_on_465(clean_mailboxes: MailServers) -> None:
    subject = unique("465 隐式TLS")
    send_as(XZSP, clean_mailboxes.password, ZJJ, message(XZSP, ZJJ, subject), port=465)
    wait_for_mail(ZJJ, clean_mailboxes.password, lambda m: m["Subject"] == subject)


def test_port_25_takes_mail_for_local_domains_without_auth(clean_mailboxes: MailServers) -> None:
    """How bounces and "foreign" (even spoofed) mail arrive: no AUTH, any envelope sender."""
    subject = unique("来自外部")
    spoofed = message(SCJG, HUB, subject)
    send_as(SCJG, "not-used", HUB, spoofed, port=clean_mailboxes.smtp_port)
    got = wait_for_mail(HUB, clean_mailboxes.password, lambda m: m["Subject"] == subject)
    assert "Authenticated sender" not in str(got.get_all("Received"))


def test_unknown_mailbox_is_refused_with_550_at_rcpt(mail_servers: MailServers) -> None:
    nobody = "nobody@dept.test"
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_as(HUB, mail_servers.password, nobody, message(HUB, nobody, "无此信箱"))
    code, text = refused.value.recipients[nobody]
    assert code == 550 and b"5.1.1" in text


def test_tempfail_address_answers_450(mail_servers: MailServers) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_as(HUB, mail_servers.password, TEMPFAIL, message(HUB, TEMPFAIL, "稍后再试"))
    code, text = refused.value.recipients[TEMPFAIL]
    assert code == 450 and text.startswith(b"4.2.0")


def test_never_relays_even_when_authenticated(mail_servers: MailServers) -> None:
    away = "someone@example.com"
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_as(HUB, mail_servers.password, away, message(HUB, away, "relay"))
    assert refused.value.recipients[away][0] == 554


def test_submission_needs_starttls_then_auth(mail_servers: MailServers) -> None:
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=5) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        assert smtp.mail(HUB)[0] == 530  # 5.7.0 Must issue a STARTTLS command first
        smtp.rset()
        smtp.starttls(context=mail_servers.ssl_context())
        smtp.ehlo()
        assert smtp.has_extn("auth")
        smtp.mail(HUB)
        assert smtp.rcpt(SCJG)[0] == 554  # no AUTH, no mail


def test_a_login_cannot_send_as_another_mailbox(mail_servers: MailServers) -> None:
    forged = message(SCJG, HUB, "冒充")
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=5) as smtp:
        smtp.starttls(context=mail_servers.ssl_context())
        smtp.login(OUTSIDER, mail_servers.password)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(forged, from_addr=SCJG, to_addrs=[HUB])
    assert refused.value.recipients[HUB][0] == 553  # Sender address rejected: not owned by user


def test_wrong_password_gives_535_and_does_not_slow_later_logins(
    mail_servers: MailServers,
) -> None:
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.starttls(context=mail_servers.ssl_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.login(HUB, "wrong-password")
        assert failed.value.smtp_code == 535
    with pytest.raises(imaplib.IMAP4.error):
        imap_connect(HUB, "wrong-password", mail_servers)

    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.starttls(context=mail_servers.ssl_context())
        started = time.monotonic()
        smtp.login(HUB, mail_servers.password)
        smtp_login = time.monotonic() - started
    started = time.monotonic()
    imap_connect(HUB, mail_servers.password, mail_servers).logout()
    imap_login = time.monotonic() - started
    assert smtp_login < 0.5, f"SMTP AUTH after a failure took {smtp_login:.2f} s"
    assert imap_login < 0.5, f"IMAP login after a failure took {imap_login:.2f} s"


def test_idle_sees_a_delivery_within_3_seconds(clean_mailboxes: MailServers) -> None:
    s = clean_mailboxes
    imap = imaplib.IMAP4(s.imap_host, s.imap_port, timeout=10)
    try:
        assert "IDLE" in imap.capabilities
        imap.login(WSJK, s.password)
        imap.select("INBOX")
        imap.send(b"I1 IDLE\r\n")
        assert imap.readline().startswith(b"+")
        send_as(HUB, s.password, WSJK, message(HUB, WSJK, unique("IDLE 推送")))
        delivered = time.monotonic()
        assert imap.sock is not None
        imap.sock.settimeout(3.0)
        line = b""
        try:
            while not line.rstrip().endswith(b"EXISTS"):
                line = imap.readline()
        except TimeoutError:
            pytest.fail("no EXISTS within 3 s of the delivery")
        assert time.monotonic() - delivered < 3.0
        imap.sock.settimeout(10.0)
        imap.send(b"DONE\r\n")
        while not (line := imap.readline()).startswith(b"I1 "):
            pass
        assert line.startswith(b"I1 OK")
    finally:
        try:
            imap.logout()
        except OSError:  # the socket timed out: a failed assertion is already on its way
            imap.shutdown()


def _parts(msg: EmailMessage, content_type: str) -> list[Message]:
    return [part for part in msg.walk() if part.get_content_type() == content_type]


def test_accepted_then_undeliverable_mail_bounces_as_a_dsn(clean_mailboxes: MailServers) -> None:
    sent = message(HUB, BOUNCING, unique("退信测试"))
    message_id = sent["Message-ID"]
    assert send_as(HUB, clean_mailboxes.password, BOUNCING, sent) == {}  # 250: accepted

    dsn = wait_for_mail(
        HUB,
        clean_mailboxes.password,
        lambda m: m.get_content_type() == "multipart/report" and message_id in m.as_string(),
        timeout=10,
    )
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Auto-Submitted"] == "auto-replied"

    (status_part,) = _parts(dsn, "message/delivery-status")
    blocks = status_part.get_payload()
    assert isinstance(blocks, list)
    recipient = next(b for b in blocks if isinstance(b, Message) and b.get("Final-Recipient"))
    assert BOUNCING in recipient["Final-Recipient"]
    assert recipient["Action"] == "failed"
    assert str(recipient["Status"]).startswith("5.")

    returned = _parts(dsn, "message/rfc822")
    if returned:
        original = returned[0].get_payload(0)
        assert isinstance(original, Message)
        assert original["Message-ID"] == message_id
    else:  # RET=HDRS or an oversized original: headers only
        (headers,) = _parts(dsn, "text/rfc822-headers")
        raw = headers.get_payload(decode=True)
        assert isinstance(raw, bytes) and message_id.encode() in raw


def test_processed_and_quarantine_folders_exist(mail_servers: MailServers) -> None:
    imap = imap_connect(OUTSIDER, mail_servers.password, mail_servers)
    try:
        typ, listing = imap.list()
    finally:
        imap.logout()
    assert typ == "OK"
    names = {
        line.decode().rsplit(" ", 1)[-1].strip('"') for line in listing if isinstance(line, bytes)
    }
    assert {"INBOX", "Processed", "Quarantine"} <= names
