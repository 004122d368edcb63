"""Inbound mail classification: replies (claim / objection), pushes, bounces, everything else."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from adapters.email.normalize import (
    Bounce,
    Push,
    Reply,
    Unrecognized,
    classify,
    html_text,
    normalize_email,
    parse_mail,
)
from adapters.email.threading import root_message_id, subject_tag
from hub.errors import NormalizeError
from hub.message import Channel, MessageKind

ROOT = Path(__file__).resolve().parents[3]
SECRET = "unit-secret"
DOMAIN = "hub.test"
DELIVERY = "D" + "abcdefghijklmnopqrstuvwxy"
OTHER = "D" + "z" * 25
TAG = subject_tag(DELIVERY, SECRET)
DATE = dt.datetime(2026, 9, 30, 16, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
USCC = "91370832MA3C4R7K7J"
BAD_USCC = "91370832MA3C4R7K7X"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def mail(
    body: str | None = "认领",
    *,
    subject: str = f"Re: 【审管互动】推送：食品经营许可 {TAG}",
    sender: str = "scjg@dept.test",
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "hub@hub.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(DATE)
    msg["Message-ID"] = "<reply-1@dept.test>"
    for name, value in (headers or {}).items():
        msg[name] = value
    if body is not None:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    return msg


def classify_mail(msg: EmailMessage, **kwargs: Any) -> object:
    # Round-trip through bytes, as the watcher gets them from IMAP.
    return classify(parse_mail(bytes(msg)), secret=SECRET, domain=DOMAIN, **kwargs)


# --- claims ------------------------------------------------------------------------------------

QUOTED = "\n\n> 【审管互动】推送：食品经营许可\n> 请于 2026-10-08 24:00 前认领。\n"


@pytest.mark.parametrize(
    "body",
    [
        "认领",
        "已认领。",
        "确认认领",
        "收到！",
        "已收到",
        "同意",
        "认领　！！",  # full-width space and punctuation
        "\n\n   \n认领\n",  # blank lines first
        "认领" + QUOTED,
        "收到\n在 2026年9月30日 16:00，审管互动 Hub <hub@hub.test> 写道：\n> 异议：不对\n",
        "同意\n-----原始邮件-----\n发件人: 审管互动 Hub <hub@hub.test>\n异议：x\n",
        "已收到\nOn Wed, Sep 30, 2026 at 4:00 PM Hub <hub@hub.test> wrote:\n> 异议：x\n",
        "认领\n发件人: hub@hub.test\n",
        "认领\r\n\r\n________________________________\r\nFrom: Hub\r\n",
    ],
    ids=lambda body: repr(body[:12]),
)
def test_claim_variants(body: str) -> None:
    result = classify_mail(mail(body))
    assert isinstance(result, Reply)
    assert (result.action, result.delivery_id, result.sender) == (
        "claim",
        DELIVERY,
        "scjg@dept.test",
    )
    assert result.reason == ""


def test_html_only_reply_is_read_without_rendering() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>认领()</script></head><body>"
        "<div>&nbsp;</div><div>收到！</div><blockquote>异议：旧内容</blockquote></body></html>"
    )
    result = classify_mail(mail(None, html=html))
    assert isinstance(result, Reply) and result.action == "claim"


def test_plain_part_wins_over_html() -> None:
    result = classify_mail(mail("认领", html="<p>异议：HTML 里的内容不算</p>"))
    assert isinstance(result, Reply) and result.action == "claim"


def test_html_blockquote_and_hr_end_the_reply() -> None:
    assert html_text("<p>认领</p><blockquote><p>x</p></blockquote>").split() == ["认领", ">"]
    assert "_____" in html_text("<div>a</div><hr><div>From: b</div>")


def test_references_find_the_delivery_without_a_tag() -> None:
    msg = mail(
        "认领", subject="Re: 推送", headers={"References": root_message_id(DELIVERY, DOMAIN)}
    )
    result = classify_mail(msg)
    assert isinstance(result, Reply) and result.delivery_id == DELIVERY


def test_in_reply_to_finds_the_delivery() -> None:
    note = f"<{DELIVERY}.reminder.1.abc123@{DOMAIN}>"
    result = classify_mail(mail("认领", subject="Re: 提醒", headers={"In-Reply-To": note}))
    assert isinstance(result, Reply) and result.delivery_id == DELIVERY


# --- objections --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("异议：许可证号有误，应为 JY13708320012345", "许可证号有误，应为 JY13708320012345"),
        ("异议:该企业不在本部门监管范围", "该企业不在本部门监管范围"),
        ("有异议：地址错误\n应为水泊中路168号\n\n> 原推送", "地址错误\n应为水泊中路168号"),
        ("提出异议 该企业已注销", "该企业已注销"),
        ("异议：\n理由见下：\n证照已过期" + QUOTED, "理由见下：\n证照已过期"),
        ("异议\n不属于本部门职责", "不属于本部门职责"),
    ],
)
def test_objection_with_reason(body: str, reason: str) -> None:
    result = classify_mail(mail(body))
    assert isinstance(result, Reply)
    assert (result.action, result.reason) == ("objection", reason)


def test_objection_reason_is_capped() -> None:
    result = classify_mail(mail("异议：" + "很" * 3000))
    assert isinstance(result, Reply) and len(result.reason) == 2000


@pytest.mark.parametrize("body", ["异议", "异议：", "有异议：。", "异议：" + QUOTED])
def test_objection_without_reason_is_unrecognized(body: str) -> None:
    result = classify_mail(mail(body))
    assert isinstance(result, Unrecognized) and result.reason_zh == "异议须写明理由"


# --- not a claim -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "zh_part"),
    [
        (mail("认领", subject="Re: 你好"), "未能对应到任何推送"),
        (mail("认领", subject=f"Re: [审管互动 {DELIVERY}·0000000000]"), "未能对应到任何推送"),
        (
            mail("认领", subject="Re: x", headers={"References": f"<{DELIVERY}.push@evil.test>"}),
            "未能对应到任何推送",
        ),
        (mail("收到，谢谢"), "无法识别回复内容"),
        (mail("您好：\n认领"), "无法识别回复内容"),
        (mail("认领人：张三"), "无法识别回复内容"),
        (mail("> 认领"), "无法识别回复内容"),
        (mail(""), "无法识别回复内容"),
        (mail("收到", headers={"Auto-Submitted": "auto-replied"}), "自动回复"),
        (mail("收到", headers={"X-Autoreply": "yes"}), "自动回复"),
        (mail("认领", sender="a@dept.test, b@dept.test"), "发件人地址缺失或不唯一"),
    ],
    ids=[
        "no-tag-no-references",
        "wrong-token",
        "foreign-message-id",
        "claim-word-with-more-text",
        "greeting-first",
        "claim-word-prefix",
        "only-quoted",
        "empty",
        "auto-submitted",
        "x-autoreply",
        "two-senders",
    ],
)
def test_unrecognized(msg: EmailMessage, zh_part: str) -> None:
    result = classify_mail(msg)
    assert isinstance(result, Unrecognized), result
    assert zh_part in result.reason_zh
    assert result.reason_en


def test_sender_header_is_kept_for_the_trust_check() -> None:
    result = classify_mail(mail("认领", headers={"Sender": "Clerk <clerk@dept.test>"}))
    assert isinstance(result, Reply) and result.sender_header == "clerk@dept.test"


# --- bounces -----------------------------------------------------------------------------------


def original_push() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "审管互动 Hub <hub@hub.test>"
    msg["To"] = "nobody@dept.test"
    msg["Subject"] = f"【审管互动】推送：食品经营许可 {TAG}"
    msg["Message-ID"] = root_message_id(DELIVERY, DOMAIN)
    msg.set_content("请认领")
    return msg


def dsn(status: str, action: str = "failed", *, headers_only: bool = False) -> EmailMessage:
    """A delivery status notification about ``original_push``, laid out as Postfix writes it."""
    original = bytes(original_push()).decode()
    if headers_only:
        returned = "Content-Type: text/rfc822-headers\n\n" + original.split("\n\n", 1)[0]
    else:
        returned = "Content-Type: message/rfc822\n\n" + original
    raw = f"""From: MAILER-DAEMON@hub.test (Mail Delivery System)
To: hub@hub.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.hub.test
Arrival-Date: Wed, 30 Sep 2026 16:00:00 +0800 (CST)

Final-Recipient: rfc822; nobody@dept.test
Original-Recipient: rfc822;nobody@dept.test
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <nobody@dept.test>:
    Recipient address rejected: User unknown

--B
{returned}
--B--
"""
    return parse_mail(raw.replace("\n", "\r\n").encode())


@pytest.mark.parametrize("headers_only", [False, True], ids=["rfc822", "rfc822-headers"])
def test_permanent_dsn_is_a_bounce(headers_only: bool) -> None:
    result = classify_mail(dsn("5.1.1", headers_only=headers_only))
    assert isinstance(result, Bounce)
    assert (result.delivery_id, result.recipient, result.status) == (
        DELIVERY,
        "nobody@dept.test",
        "5.1.1",
    )
    assert result.diagnostic.startswith("550 5.1.1 <nobody@dept.test>: Recipient address rejected")


def test_delayed_dsn_is_not_a_bounce() -> None:
    result = classify_mail(dsn("4.4.1", action="delayed"))
    assert isinstance(result, Unrecognized) and "4.x.x" in result.reason_zh


def test_bounce_of_someone_elses_mail_is_unrecognized() -> None:
    report = dsn("5.1.1")
    for part in report.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            assert isinstance(payload, list)
            inner = payload[0]
            assert isinstance(inner, EmailMessage)
            inner.replace_header("Subject", "hello")
            inner.replace_header("Message-ID", "<x@elsewhere.test>")
    result = classify_mail(report)
    assert isinstance(result, Unrecognized) and "退信无法对应" in result.reason_zh


# --- pushes ------------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n" + b"0" * 2000


def push_mail(
    *files: tuple[str, str, bytes], sender: str = "zjj@dept.test", subject: str = "【审管推送】9月"
) -> EmailMessage:
    msg = mail(None, subject=subject, sender=sender)
    msg.set_content("请查收附件。")
    for name, media_type, data in files:
        maintype, subtype = media_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def sample(path: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "hub" / "samples" / path).read_text("utf-8"))
    data.update(changes)
    return data


def zjj_penalty(**changes: Any) -> dict[str, Any]:
    import hashlib

    pdf_ref = {
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "size": len(PDF),
        "media_type": "application/pdf",
        "name": "处罚决定书.pdf",
    }
    return sample(
        "guanxian/03-supervision_info-other-penalty.json", attachments=[pdf_ref], **changes
    )


def as_json(data: object) -> tuple[str, str, bytes]:
    return ("push.json", "application/json", json.dumps(data, ensure_ascii=False).encode())


def test_push_with_a_json_message_and_its_attachment() -> None:
    msg = push_mail(as_json(zjj_penalty()), ("处罚决定书.pdf", "application/pdf", PDF))
    result = classify_mail(msg, sender_department="zjj")
    assert isinstance(result, Push)
    (message,) = result.messages
    assert message.kind is MessageKind.SUPERVISION_INFO
    assert message.source.channel is Channel.EMAIL  # the channel it came by, whatever it said
    assert result.attachments == [("处罚决定书.pdf", "application/pdf", PDF)]
    assert result.sender == "zjj@dept.test"


def test_push_with_a_json_list_and_the_english_subject() -> None:
    first = zjj_penalty()
    second = zjj_penalty(source={**first["source"], "source_id": "other-id"})
    msg = push_mail(as_json([first, second]), ("处罚决定书.pdf", "application/pdf", PDF),
                    subject="[HUB-PUSH] penalties")  # fmt: skip
    result = classify_mail(msg)
    assert isinstance(result, Push) and len(result.messages) == 2


def test_push_json_attachment_must_be_in_the_mail() -> None:
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(as_json(zjj_penalty())))
    assert [p.path for p in caught.value.problems] == ["push.json:attachments.0.sha256"]


def test_push_of_classified_json_by_mail_is_refused() -> None:
    secret = sample("liangshan/06-policy_change-secret-paper.json")
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(as_json([secret])))
    assert [p.path for p in caught.value.problems] == ["push.json:1:source.channel"]


def test_push_json_that_is_not_json() -> None:
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(("push.json", "application/json", b"{nope")))
    assert caught.value.problems[0].path == "push.json"


SUPERVISION_HEADER = [
    "信息类型", "监管类别", "行政相对人", "统一社会信用代码", "许可文号", "处罚决定书文号",
    "决定日期", "监管内容", "接收部门", "业务流水号", "附件",
]  # fmt: skip


def supervision_row(uscc: str = USCC, serial: str | None = "ZJJ-2026-0018") -> list[object]:
    return [
        "监管信息", "责令停产停业", "测试县宏达烧烤店", uscc, "JY23708320009876",
        "测住建罚〔2026〕18号", dt.datetime(2026, 9, 21), "责令停业整顿十五日", "xzsp", serial,
        "处罚决定书.pdf",
    ]  # fmt: skip


APPROVAL_HEADER = [
    "信息类型*", "事项名称", "事项编码", "行政相对人", "统一社会信用代码", "联系人", "联系电话",
    "许可文号", "许可日期", "有效期至", "许可内容",
]  # fmt: skip
APPROVAL_ROW = [
    "审批信息", "建筑工程施工许可", "370832-JZSG-01", "测试县建工集团有限公司", USCC, "王建国",
    13953712345, "370832202609300101", "2026/9/30", "长期", "新建办公楼",
]  # fmt: skip


def xlsx(*rows: Sequence[object]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_push_with_an_xlsx_sheet() -> None:
    data = xlsx(SUPERVISION_HEADER, supervision_row(), [], supervision_row(serial=None))
    msg = push_mail(("push.xlsx", XLSX, data), ("处罚决定书.pdf", "application/pdf", PDF))
    result = classify_mail(msg, sender_department="zjj")
    assert isinstance(result, Push)
    first, second = result.messages
    assert first.sender.department_id == "zjj" and first.recipients == ("xzsp",)
    assert first.field("body.party.uscc") == USCC
    assert first.field("body.decision.decision_date") == dt.date(2026, 9, 21)
    assert first.occurred_at == dt.datetime(2026, 9, 21, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert (first.source.system, first.source.source_id) == ("email", "ZJJ-2026-0018")
    assert first.source.received_at == DATE
    assert second.source.source_id == "reply-1@dept.test#4"  # Message-ID#row
    assert [a.name for a in first.attachments] == ["处罚决定书.pdf"]
    assert result.attachments == [("处罚决定书.pdf", "application/pdf", PDF)]


def test_push_with_an_approval_sheet_typed_cells() -> None:
    msg = push_mail(("审批.xlsx", "application/octet-stream", xlsx(APPROVAL_HEADER, APPROVAL_ROW)))
    result = classify_mail(msg, sender_department="xzsp")
    assert isinstance(result, Push)
    (message,) = result.messages
    assert message.kind is MessageKind.APPROVAL_DECISION
    assert message.field("body.party.contact.phone") == "13953712345"
    assert message.field("body.licence.decision_date") == dt.date(2026, 9, 30)
    assert message.field("body.licence.valid_until") is None
    assert message.subject == "建筑工程施工许可：测试县建工集团有限公司"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_push_with_a_csv_as_excel_writes_it(encoding: str) -> None:
    lines = [",".join(APPROVAL_HEADER), ",".join(str(v) for v in APPROVAL_ROW)]
    data = "\r\n".join(lines).encode(encoding)
    result = classify_mail(push_mail(("push.csv", "text/csv", data)), sender_department="xzsp")
    assert isinstance(result, Push)
    assert result.messages[0].field("body.party.name") == "测试县建工集团有限公司"


def test_bad_uscc_in_row_3_names_file_row_and_column() -> None:
    data = xlsx(SUPERVISION_HEADER, supervision_row(), supervision_row(uscc=BAD_USCC, serial="x"))
    msg = push_mail(("push.xlsx", XLSX, data), ("处罚决定书.pdf", "application/pdf", PDF))
    with pytest.raises(NormalizeError) as caught:
        classify_mail(msg, sender_department="zjj")
    (problem,) = caught.value.problems
    assert problem.path == "push.xlsx:3:统一社会信用代码"
    assert "校验码" in problem.zh


@pytest.mark.parametrize(
    ("rows", "paths"),
    [
        ([["信息类型", "备注"], ["监管信息", "x"]], ["push.xlsx:1:备注"]),
        ([["行政相对人"], ["某公司"]], ["push.xlsx:1:信息类型"]),
        ([["信息类型"], ["许可信息"]], ["push.xlsx:2:信息类型"]),
        (
            [["信息类型", "监管类别", "监管内容"], ["监管信息", "罚款", "x"]],
            ["push.xlsx:2:监管类别"],
        ),
        (
            [["信息类型", "事项名称", "附件"], ["审批信息", "x", "missing.pdf"]],
            ["push.xlsx:2:附件"],
        ),
        ([["信息类型"]], [""]),
    ],
    ids=["unknown-column", "no-kind-column", "bad-kind", "bad-category", "missing-file", "no-rows"],
)
def test_sheet_problems(rows: list[list[object]], paths: list[str]) -> None:
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(("push.xlsx", XLSX, xlsx(*rows))), sender_department="zjj")
    assert [p.path for p in caught.value.problems] == paths


def test_missing_licence_fields_are_named_by_column() -> None:
    rows = [["信息类型", "事项名称", "行政相对人", "联系人"], ["审批信息", "x", "某公司", "王"]]
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(("a.xlsx", XLSX, xlsx(*rows))), sender_department="xzsp")
    assert [p.path for p in caught.value.problems] == ["a.xlsx:2:许可文号"]


def test_sheet_from_an_unregistered_mailbox_is_refused() -> None:
    msg = push_mail(("push.xlsx", XLSX, xlsx(APPROVAL_HEADER, APPROVAL_ROW)))
    with pytest.raises(NormalizeError) as caught:
        classify_mail(msg, sender_department=None)
    assert caught.value.problems[0].path == "push.xlsx"
    assert "未登记" in caught.value.problems[0].zh


def test_oversized_attachments_name_the_file_and_the_limit() -> None:
    msg = push_mail(as_json(zjj_penalty()), ("处罚决定书.pdf", "application/pdf", PDF))
    with pytest.raises(NormalizeError) as caught:
        classify_mail(msg, max_attachment_bytes=1000)
    (problem,) = caught.value.problems
    assert problem.path == "处罚决定书.pdf"
    assert "1000" in problem.zh and "1000" in problem.en


def test_forbidden_media_type_names_the_file() -> None:
    msg = push_mail(as_json(zjj_penalty()), ("处罚决定书.pdf", "application/pdf", PDF),
                    ("tool.exe", "application/x-msdownload", b"MZ"))  # fmt: skip
    with pytest.raises(NormalizeError) as caught:
        classify_mail(msg)
    (problem,) = caught.value.problems
    assert problem.path == "tool.exe" and "application/x-msdownload" in problem.zh


def test_generic_media_type_is_read_from_the_extension() -> None:
    msg = push_mail(as_json(zjj_penalty()), ("处罚决定书.pdf", "application/octet-stream", PDF))
    result = classify_mail(msg)
    assert isinstance(result, Push)
    assert result.attachments == [("处罚决定书.pdf", "application/pdf", PDF)]


def test_push_without_a_data_file() -> None:
    with pytest.raises(NormalizeError) as caught:
        classify_mail(push_mail(("a.pdf", "application/pdf", PDF)))
    assert "须附 .json" in caught.value.problems[0].zh


def test_normalize_email_returns_the_first_pushed_message() -> None:
    msg = push_mail(as_json(zjj_penalty()), ("处罚决定书.pdf", "application/pdf", PDF))
    message = normalize_email(bytes(msg))
    assert message.sender.department_id == "zjj"
    with pytest.raises(NormalizeError) as caught:
        normalize_email(bytes(mail("认领")))
    assert caught.value.problems[0].path == "Subject"
