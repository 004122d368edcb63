"""The mail a department receives: headers, threading, the clerk's text, HTML, attachments."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import hub
from adapters.email.config import EmailConfig, ServerConfig
from adapters.email.fields import deadline_words
from adapters.email.render import render
from adapters.email.threading import MESSAGE_ID, find_delivery, root_message_id, subject_tag
from hub.blobs import BlobStore
from hub.channels import OutboundNote, Purpose
from hub.message import CanonicalMessage
from hub.routing.model import EmailAddress
from hub.validation import parse_message

TZ = ZoneInfo("Asia/Shanghai")
SAMPLES = Path(hub.__file__).parent / "samples"
CONFIG = EmailConfig(smtp=ServerConfig(host="127.0.0.1", port=587), token_secret="test-secret")
DELIVERY = "Dabcdefghijklmnopqrstuvwxy"
CLAIM_DUE = dt.datetime(2026, 10, 9, 0, 0, tzinfo=TZ)  # 2026-10-08 24:00, a Thursday
OBJECTION_DUE = dt.datetime(2026, 10, 10, 0, 0, tzinfo=TZ)
NOW = dt.datetime(2026, 10, 8, 9, 0, tzinfo=TZ)
APPROVAL = "liangshan/01-approval_decision-food-licence.json"


def sample(relative: str, **changes: Any) -> CanonicalMessage:
    data = json.loads((SAMPLES / relative).read_text(encoding="utf-8"))
    data.update(changes)
    return parse_message(json.dumps(data, ensure_ascii=False))


def note(message: CanonicalMessage | None = None, **changes: Any) -> OutboundNote:
    fields: dict[str, Any] = {
        "delivery_id": DELIVERY, "purpose": Purpose.PUSH, "message": message or sample(APPROVAL),
        "department_id": "scjg", "department_name": "梁山县市场监督管理局",
        "address": EmailAddress(addresses=("scjg@dept.test", "scjg-backup@dept.test")),
        "claim_due": CLAIM_DUE, "objection_due": OBJECTION_DUE,
        "deadlines_zh": {"认领期限": "2026-10-08 24:00", "异议期限": "2026-10-09 24:00"},
    }  # fmt: skip
    fields.update(changes)
    return OutboundNote(**fields)


def rendered(n: OutboundNote, blobs: BlobStore | None = None, **config: Any) -> EmailMessage:
    """Render, serialize as sent, and parse back the way a mail client would."""
    mail = render(n, CONFIG.model_copy(update=config), blobs, now=NOW)
    parsed = email.message_from_bytes(bytes(mail), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def plain(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize(
    "relative",
    [APPROVAL, "liangshan/02-supervision_info-suspension.json",
     "danzhou/02-joint_inspection_request-ktv.json", "zhoucun/04-inquiry-construction-permit.json"],
)  # fmt: skip
def test_subject_decodes_to_chinese_with_the_tag(purpose: Purpose, relative: str) -> None:
    message = sample(relative)
    raw = bytes(render(note(message, purpose=purpose), CONFIG, None, now=NOW))
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # RFC 2047: no raw UTF-8 in the header section
    assert b"=?utf-8?" in head

    subject = email.message_from_bytes(raw, policy=email.policy.default)["Subject"]

    tag = subject_tag(DELIVERY, "test-secret")
    assert subject == f"【审管互动】{purpose.label}：{message.subject} {tag}"
    assert find_delivery(f"Re: {subject}", "", "test-secret", "hub.test") == DELIVERY


def test_from_to_date_and_hub_headers() -> None:
    mail = rendered(note())
    assert mail["From"].addresses[0].display_name == "审管互动 Hub"
    assert mail["From"].addresses[0].addr_spec == "hub@hub.test"
    assert [a.addr_spec for a in mail["To"].addresses] == [
        "scjg@dept.test", "scjg-backup@dept.test"]  # fmt: skip
    assert mail["To"].addresses[0].display_name == "梁山县市场监督管理局"
    assert mail["Date"].datetime == NOW
    assert mail["X-Hub-Delivery"] == DELIVERY
    assert mail["X-Hub-Purpose"] == "push"
    assert mail["X-Hub-Message"] == note().message.message_id


def test_a_push_is_the_thread_root_and_stable_across_resends() -> None:
    first, resend = rendered(note()), rendered(note(attempt=3))
    assert first["Message-ID"] == root_message_id(DELIVERY, "hub.test")
    assert resend["Message-ID"] == first["Message-ID"]
    assert first["In-Reply-To"] is None and first["References"] is None


@pytest.mark.parametrize("purpose", [p for p in Purpose if p is not Purpose.PUSH])
def test_other_notes_thread_under_the_push(purpose: Purpose) -> None:
    mail = rendered(note(purpose=purpose, attempt=2, summary_zh="认领期限将至"))
    root = root_message_id(DELIVERY, "hub.test")
    found = MESSAGE_ID.fullmatch(mail["Message-ID"])
    assert found is not None and found.groups() == (DELIVERY, purpose.value, "hub.test")
    assert mail["Message-ID"] != root
    assert mail["In-Reply-To"] == root
    assert mail["References"] == root


@pytest.mark.parametrize(
    ("purpose", "auto"),
    [(Purpose.PUSH, False), (Purpose.REMINDER, False), (Purpose.AUTO_CLAIMED, False),
     (Purpose.ESCALATION, True), (Purpose.NOTICE, True)],
)  # fmt: skip
def test_only_escalations_and_notices_are_auto_submitted(purpose: Purpose, auto: bool) -> None:
    mail = rendered(note(purpose=purpose))
    assert (mail["Auto-Submitted"] == "auto-generated") is auto
    assert (mail["Auto-Submitted"] is None) is not auto


def test_the_wire_format_is_crlf_and_parses_back() -> None:
    raw = bytes(render(note(), CONFIG, None, now=NOW))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html"]


# --- what the clerk reads -------------------------------------------------------------------------


def test_a_push_of_an_approval_decision_says_what_and_how_to_claim() -> None:
    text = plain(
        rendered(
            note(
                deadlines_zh={
                    "认领期限": "2026-10-08 24:00",
                    "认领时限": "1个工作日",
                    "异议期限": "2026-10-09 24:00",
                }
            )
        )
    )

    for expected in (
        "梁山县市场监督管理局：",
        "信息类型：审批信息（审→管）",
        "发送部门：梁山县行政审批服务局（联络员 李静，0537-7321056）",
        "事项名称：食品经营许可（新办）",
        "行政相对人：梁山县水泊人家餐饮管理有限公司",
        "统一社会信用代码：91370832MA3C4R7K7J",
        "许可文号：JY13708320012345",
        "许可日期：2026年9月15日",
        "有效期：2026年9月15日至2031年9月14日",
        "许可内容：",
        "热食类食品制售",
        "请于 2026年10月8日（星期四）24:00 前认领（1个工作日内）。",
        "认领期限：2026-10-08 24:00",
        "请于 2026年10月9日（星期五）24:00 前提出异议",
        "异议期限：2026-10-09 24:00",
        "直接回复本邮件，正文第一行写“认领”即可完成认领",
        "正文第一行写“异议：”后接理由",
        f"推送编号 {DELIVERY}",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("zhoucun/01-approval_decision-yiye-yizheng.json",
         ["行业综合许可证编号：ZB370306BLD2026-0158", "照面信息·许可事项：食品经营许可；出版物零售",
          "告知承诺制办理：是"]),
        (
            "guanxian/01-approval_decision-construction-permit.json",
            ["【监管风险点】", "1. ", "有效期：长期有效（自2026年9月16日起）"],
        ),
        ("liangshan/02-supervision_info-suspension.json",
         ["监管信息类别：责令停产停业", "处罚（处理）决定书文号：", "决定日期：", "内容摘要："]),
        ("liangshan/03-revocation_advice-revoke.json", ["建议处理方式：撤销", "理由及依据："]),
        ("liangshan/04-handling_result-revoked.json", ["处理结果：", "所答复的消息：M"]),
        ("guanxian/04-policy_change-eia-catalogue.json", ["调整类型：", "收到通知日期："]),
        ("guanxian/05-meeting_notice-hazchem-training.json", ["通知类型：", "时间：", "地点："]),
        ("zhoucun/04-inquiry-construction-permit.json", ["函询事项：", "问题："]),
        ("danzhou/02-joint_inspection_request-ktv.json",
         ["踏勘时间：2026年10月14日（星期三）09:30", "联系人：陈星宇", "行政审批联系人：符小燕",
          "踏勘地址：海南省儋州市那大镇中兴大街218号二楼"]),
        ("baokang/02-commitment_verification-untrue.json", ["核查结果：承诺不实", "核查情况："]),
    ],
)  # fmt: skip
def test_each_kind_shows_its_key_fields(relative: str, expected: list[str]) -> None:
    text = plain(rendered(note(sample(relative))))
    for line in expected:
        assert line in text, line


def test_a_reminder_carries_the_summary_and_still_says_how_to_claim() -> None:
    text = plain(rendered(note(purpose=Purpose.REMINDER, summary_zh="距认领期限不足半个工作日")))
    assert "尚未认领" in text and "距认领期限不足半个工作日" in text
    assert "正文第一行写“认领”" in text


def test_an_escalation_informs_without_asking_for_a_claim() -> None:
    n = note(purpose=Purpose.ESCALATION, about_department_id="scjg",
             department_name="梁山县人民政府办公室", summary_zh="市场监管局逾期未认领")  # fmt: skip
    text = plain(rendered(n))
    assert "市场监管局逾期未认领" in text and "无需回复" in text
    assert "正文第一行写“认领”" not in text and "请于" not in text


def test_an_auto_claim_notice_offers_only_an_objection() -> None:
    text = plain(rendered(note(purpose=Purpose.AUTO_CLAIMED, summary_zh="已超时自动认领")))
    assert "超时自动认领" in text and "第一行写“异议：”" in text
    assert "即可完成认领" not in text
    assert "前认领" not in text and "前提出异议" in text


def test_deadline_words_for_a_time_of_day() -> None:
    noon = dt.datetime(2026, 10, 9, 12, 0, tzinfo=TZ)
    assert deadline_words(noon) == "2026年10月9日（星期五）12:00"
    utc = dt.datetime(2026, 10, 8, 16, 0, tzinfo=dt.UTC)  # = 2026-10-09 00:00 in Shanghai
    assert deadline_words(utc) == "2026年10月8日（星期四）24:00"


def test_html_is_escaped_and_shows_the_same_fields() -> None:
    message = sample(APPROVAL, subject="<script>alert('x')</script> & 食品经营许可")
    page = html(rendered(note(message)))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "&amp; 食品经营许可" in page
    assert "统一社会信用代码" in page and "91370832MA3C4R7K7J" in page
    assert 'lang="zh-CN"' in page


# --- attachments ----------------------------------------------------------------------------------

LETTER = "告知承诺书（梁山县水泊人家餐饮管理有限公司）.pdf".encode()
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
CSV = "名称,数量\r\n灭火器,3\r\n".encode()


def with_attachments(store: BlobStore, *, missing: bool = False) -> CanonicalMessage:
    refs = [
        {"sha256": store.put(PDF), "size": len(PDF), "media_type": "application/pdf",
         "name": LETTER.decode()},
        {"sha256": store.put(CSV), "size": len(CSV), "media_type": "text/csv",
         "name": "检查清单.csv"},
    ]  # fmt: skip
    if missing:
        refs.append({"sha256": "ab" * 32, "size": 4096, "media_type": "image/jpeg",
                     "name": "现场照片.jpg"})  # fmt: skip
    return sample(APPROVAL, attachments=refs)


def attached(mail: EmailMessage) -> dict[str, bytes]:
    files = {}
    for part in mail.iter_attachments():
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        files[str(part.get_filename())] = data
    return files


def test_attachments_are_attached_with_intact_bytes_and_chinese_names(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    message = with_attachments(store)
    raw = bytes(render(note(message), CONFIG, store, now=NOW))
    assert b"filename*=utf-8''" in raw  # RFC 2231

    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    files = attached(mail)
    assert set(files) == {LETTER.decode(), "检查清单.csv"}
    for ref in message.attachments:
        assert hashlib.sha256(files[ref.name]).hexdigest() == ref.sha256
    assert mail.get_content_type() == "multipart/mixed"
    assert "已随本邮件附上" in plain(mail) and LETTER.decode() in plain(mail)


def test_missing_blobs_are_listed_as_on_the_platform(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    mail = rendered(note(with_attachments(store, missing=True)), store)
    assert "现场照片.jpg" not in attached(mail)
    text = plain(mail)
    assert "未随本邮件发送，请登录审管互动平台查看" in text
    assert f"现场照片.jpg（4.0 KB，SHA-256 {'ab' * 32}）" in text


def test_attachments_beyond_the_size_limit_are_listed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    mail = rendered(note(with_attachments(store)), store, max_attachment_bytes=len(PDF))
    assert set(attached(mail)) == {LETTER.decode()}
    assert "检查清单.csv（" in plain(mail).split("未随本邮件发送")[1]


def test_without_a_blob_store_every_attachment_is_listed(tmp_path: Path) -> None:
    mail = rendered(note(with_attachments(BlobStore(tmp_path))), None)
    assert attached(mail) == {}
    assert mail.get_content_type() == "multipart/alternative"
    assert "未随本邮件发送" in plain(mail)
