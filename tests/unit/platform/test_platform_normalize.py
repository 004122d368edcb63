"""The platform's own push format → canonical message: table-driven good and bad payloads."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from adapters.platform import normalize
from adapters.platform.normalize import PLATFORM_SYSTEM, normalize_platform, platform_path
from hub.errors import MessageError, NormalizeError
from hub.message import (
    ApprovalDecisionBody,
    Channel,
    Direction,
    MessageKind,
    SupervisionCategory,
    SupervisionInfoBody,
)
from tests.unit.platform.conftest import APPROVAL_PUSH, SUPERVISION_PUSH, TZ, body, changed

LETTER = "a" * 64
LETTER_FJ = {"wjmc": "告知承诺书.pdf", "wjdx": 1024, "wjlx": "application/pdf", "sha256": LETTER,
             "fjlx": "告知承诺书"}  # fmt: skip


def test_approval_push_maps_every_field() -> None:
    message = normalize_platform(body(APPROVAL_PUSH))
    assert (message.kind, message.direction) == (
        MessageKind.APPROVAL_DECISION,
        Direction.APPROVAL_TO_SUPERVISION,
    )
    assert message.sender.department_id == "xzsp"
    assert message.sender.name == "梁山县行政审批服务局"
    assert message.sender.contact is not None and message.sender.contact.phone == "0537-7321056"
    assert message.recipients == ("scjg",)
    assert message.subject == "食品经营许可（新办）：梁山县水泊人家餐饮管理有限公司"
    assert (message.source.channel, message.source.system) == (Channel.PLATFORM, PLATFORM_SYSTEM)
    assert message.source.source_id == "SGHD-370832-20260915-0031"
    assert message.source.received_at == dt.datetime(2026, 9, 15, 10, 12, 41, tzinfo=TZ)
    assert message.occurred_at == dt.datetime(2026, 9, 15, tzinfo=TZ)  # the decision date
    b = message.body
    assert isinstance(b, ApprovalDecisionBody)
    assert (b.item.name, b.item.code) == ("食品经营许可（新办）", "370832-SPJY-XK-001")
    assert (b.party.name, b.party.uscc) == ("梁山县水泊人家餐饮管理有限公司", "91370832MA3C4R7K7J")
    assert b.party.contact is not None and b.party.contact.name == "王建国"
    assert b.licence.number == "JY13708320012345"
    assert (b.licence.decision_date, b.licence.valid_until) == (
        dt.date(2026, 9, 15),
        dt.date(2031, 9, 14),
    )
    assert b.commitment is False


def test_supervision_push_maps_category_decision_and_recipients() -> None:
    message = normalize_platform(body(SUPERVISION_PUSH))
    assert message.direction is Direction.SUPERVISION_TO_APPROVAL
    assert message.recipients == ("xzsp",)
    assert message.subject == "责令停产停业：梁山县宏达烧烤店"
    b = message.body
    assert isinstance(b, SupervisionInfoBody)
    assert b.category is SupervisionCategory.SUSPENSION
    assert b.decision is not None
    assert b.decision.document_number == "梁市监处罚〔2026〕118号"
    assert b.decision.decision_date == dt.date(2026, 9, 21)  # from YYYYMMDD
    assert b.licence_number == "JY23708320009876"
    assert message.occurred_at == dt.datetime(2026, 9, 21, tzinfo=TZ)


GOOD: list[tuple[str, dict[str, Any], str, object]] = [
    ("revoked", changed(SUPERVISION_PUSH, jglb="吊销许可证件"), "body.category",
     SupervisionCategory.LICENCE_REVOKED),
    ("alias", changed(SUPERVISION_PUSH, jglb="吊销许可证"), "body.category",
     SupervisionCategory.LICENCE_REVOKED),
    ("training needs no party", changed(SUPERVISION_PUSH, jglb="业务培训", xdr_mc=None,
     xdr_tyshxydm=None, xkwh=None, cfjdswh=None, cfjdrq=None), "body.party", None),
    ("no expiry", changed(APPROVAL_PUSH, yxqz="长期"), "body.licence.valid_until", None),
    ("empty string = absent", changed(APPROVAL_PUSH, xkzmc=""), "body.licence.name", None),
    ("jsbm split", changed(APPROVAL_PUSH, jsbm="scjg，wjj; yjj"), "recipients",
     ("scjg", "wjj", "yjj")),
    ("no jsbm", changed(APPROVAL_PUSH, jsbm=None), "recipients", ()),
    ("tssj with offset", changed(APPROVAL_PUSH, tssj="2026-09-15T02:12:41+00:00"),
     "source.received_at", dt.datetime(2026, 9, 15, 10, 12, 41, tzinfo=TZ)),
    ("tssj compact", changed(APPROVAL_PUSH, tssj="20260915101241"), "source.received_at",
     dt.datetime(2026, 9, 15, 10, 12, 41, tzinfo=TZ)),
    ("xkrq with time", changed(APPROVAL_PUSH, xkrq="2026-09-15 00:00:00"),
     "body.licence.decision_date", dt.date(2026, 9, 15)),
    ("fssj", changed(APPROVAL_PUSH, fssj="2026-09-15 09:30:00"), "occurred_at",
     dt.datetime(2026, 9, 15, 9, 30, tzinfo=TZ)),
    ("bt", changed(APPROVAL_PUSH, bt="自定义标题"), "subject", "自定义标题"),
    ("xtbs", changed(APPROVAL_PUSH, xtbs="sd-zwfw"), "source.system", "sd-zwfw"),
    ("mj 非涉密", changed(APPROVAL_PUSH, mj="非涉密"), "classification.level", "unclassified"),
    ("risk points", changed(APPROVAL_PUSH, fxd=["排烟", "消防"]), "body.risk_points",
     ("排烟", "消防")),
    ("commitment", changed(APPROVAL_PUSH, gzcn="是", fj=[LETTER_FJ]),
     "body.commitment_letter_sha256", LETTER),
    ("commitment bool", changed(APPROVAL_PUSH, gzcn=True, fj=[LETTER_FJ]), "body.commitment",
     True),
    ("attachment keys", changed(APPROVAL_PUSH, fj=[LETTER_FJ]), "attachments",
     None),  # checked below
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "path", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD]
)
def test_good_payloads(data: dict[str, Any], path: str, expected: object) -> None:
    message = normalize_platform(body(data))
    if path == "attachments":
        (attachment,) = message.attachments
        assert (attachment.name, attachment.size) == ("告知承诺书.pdf", 1024)
        assert attachment.sha256 == LETTER
        return
    assert message.field(path) == expected


def test_received_at_given_by_the_hub_wins_over_tssj() -> None:
    at = dt.datetime(2026, 9, 15, 10, 13, tzinfo=TZ)
    assert normalize_platform(body(APPROVAL_PUSH), received_at=at).source.received_at == at


def test_same_ywlsh_gives_the_same_message_id() -> None:
    first = normalize_platform(body(APPROVAL_PUSH))
    again = normalize_platform(body(changed(APPROVAL_PUSH, tssj="2026-09-15 11:00:00")))
    assert first.message_id == again.message_id


BAD: list[tuple[str, bytes, list[str]]] = [
    ("not json", b"{xxlx:", [""]),
    ("not utf-8", "{\"xxlx\": \"审批信息\"}".encode("gbk"), [""]),
    ("array", b"[]", [""]),
    ("no xxlx", body(changed(APPROVAL_PUSH, xxlx=None)), ["xxlx"]),
    ("unsupported xxlx", body(changed(APPROVAL_PUSH, xxlx="监管建议书")), ["xxlx"]),
    ("xxlx not text", body(changed(APPROVAL_PUSH, xxlx=1)), ["xxlx"]),
    ("unknown key", body(changed(APPROVAL_PUSH, foo="x")), ["foo"]),
    ("key of the other kind", body(changed(APPROVAL_PUSH, jglb="责令停产停业")), ["jglb"]),
    ("no tssj", body(changed(APPROVAL_PUSH, tssj=None)), ["tssj"]),
    ("bad tssj", body(changed(APPROVAL_PUSH, tssj="昨天")), ["tssj"]),
    ("bad uscc", body(changed(APPROVAL_PUSH, xdr_tyshxydm="91370832MA3C4R7K7X")),
     ["xdr_tyshxydm"]),
    ("no sxmc", body(changed(APPROVAL_PUSH, sxmc=None)), ["sxmc"]),
    ("no party contact", body(changed(APPROVAL_PUSH, xdr_lxr=None, xdr_lxdh=None)), ["xdr_lxdh"]),
    ("bad phone", body(changed(APPROVAL_PUSH, xdr_lxdh="call me")), ["xdr_lxdh"]),
    ("no party", body(changed(APPROVAL_PUSH, xdr_mc=None, xdr_tyshxydm=None, xdr_lxr=None,
                              xdr_lxdh=None, xdr_dz=None)), ["xdr_mc"]),
    ("no xkrq", body(changed(APPROVAL_PUSH, xkrq=None)), ["xkrq"]),
    ("bad xkrq", body(changed(APPROVAL_PUSH, xkrq="15/09/2026")), ["xkrq"]),
    ("expiry before decision", body(changed(APPROVAL_PUSH, yxqz="2026-01-01")), ["yxqz"]),
    ("xkwh not text", body(changed(APPROVAL_PUSH, xkwh=123)), ["xkwh"]),
    ("bad tsbm", body(changed(APPROVAL_PUSH, tsbm="XZSP!")), ["tsbm"]),
    ("no tsbm", body(changed(APPROVAL_PUSH, tsbm=None, tsbm_mc=None, tsr=None, tsr_lxdh=None)),
     ["tsbm"]),
    ("no ywlsh", body(changed(APPROVAL_PUSH, ywlsh=None)), ["ywlsh"]),
    ("bad jsbm", body(changed(APPROVAL_PUSH, jsbm=["scjg", "市场监管局"])), ["jsbm.1"]),
    ("bad mj", body(changed(APPROVAL_PUSH, mj="内部")), ["mj"]),
    ("classified", body(changed(APPROVAL_PUSH, mj="秘密")), ["mj"]),
    ("bad gzcn", body(changed(APPROVAL_PUSH, gzcn="可能")), ["gzcn"]),
    ("commitment without letter", body(changed(APPROVAL_PUSH, gzcn="是")), ["fj"]),
    ("bad wjdx", body(changed(APPROVAL_PUSH, fj=[{**LETTER_FJ, "wjdx": "1 KB"}])), ["fj.0.wjdx"]),
    ("no sha256", body(changed(APPROVAL_PUSH, fj=[{k: v for k, v in LETTER_FJ.items()
                                                  if k != "sha256"}])), ["fj.0.sha256"]),
    ("bad fxd", body(changed(APPROVAL_PUSH, fxd="一条")), ["fxd"]),
    ("unknown jglb", body(changed(SUPERVISION_PUSH, jglb="罚款")), ["jglb"]),
    ("no jglb", body(changed(SUPERVISION_PUSH, jglb=None)), ["jglb"]),
    ("no jgnr", body(changed(SUPERVISION_PUSH, jgnr=None)), ["jgnr"]),
    ("suspension without decision", body(changed(SUPERVISION_PUSH, cfjdswh=None, cfjdrq=None)),
     ["cfjdswh"]),
    ("published before decision", body(changed(SUPERVISION_PUSH, gsrq="2026-09-01")), ["gsrq"]),
    ("every problem at once", body(changed(APPROVAL_PUSH, sxmc=None, xdr_tyshxydm="bad", foo=1,
                                           mj="内部", tssj=None)),
     ["foo", "mj", "sxmc", "tssj", "xdr_tyshxydm"]),  # each key once
]  # fmt: skip


@pytest.mark.parametrize(("raw", "paths"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_payloads_name_the_platform_keys(raw: bytes, paths: list[str]) -> None:
    with pytest.raises(NormalizeError) as caught:
        normalize_platform(raw)
    assert sorted(p.path for p in caught.value.problems) == sorted(paths)
    for problem in caught.value.problems:
        assert problem.zh and problem.en


def test_canonical_problems_are_wrapped_and_chained() -> None:
    with pytest.raises(NormalizeError) as caught:
        normalize_platform(body(changed(APPROVAL_PUSH, xdr_tyshxydm="91370832MA3C4R7K7X")))
    assert isinstance(caught.value, MessageError)
    assert isinstance(caught.value.__cause__, MessageError)
    (problem,) = caught.value.problems
    assert "校验码" in problem.zh and "check character" in problem.en


def test_unsupported_kind_points_to_the_canonical_endpoint() -> None:
    with pytest.raises(NormalizeError) as caught:
        normalize_platform(body(changed(APPROVAL_PUSH, xxlx="政策调整")))
    assert "POST /messages" in caught.value.problems[0].en


@pytest.mark.parametrize(
    ("canonical", "platform"),
    [
        ("body.party.uscc", "xdr_tyshxydm"),
        ("body.party.contact.phone", "xdr_lxdh"),
        ("body.party.contact.name", "xdr_lxr"),
        ("body.licence.number", "xkwh"),
        ("attachments.2.size", "fj.2.wjdx"),
        ("attachments.0.media_type", "fj.0.wjlx"),
        ("recipients.1", "jsbm.1"),
        ("body.risk_points.0", "fxd.0"),
        ("sender.department_id", "tsbm"),
        ("source.channel", "mj"),
        ("", ""),
        ("correlation.in_reply_to", "correlation.in_reply_to"),
    ],
)
def test_platform_path(canonical: str, platform: str) -> None:
    assert platform_path(canonical) == platform


def test_the_docstring_examples_are_valid_pushes() -> None:
    doc = normalize.__doc__ or ""
    blocks = re.findall(r"::\n\n((?: {4}.*\n|\n)+)", doc)
    assert len(blocks) == 2
    kinds = {normalize_platform(body(json.loads(block))).kind for block in blocks}
    assert kinds == {MessageKind.APPROVAL_DECISION, MessageKind.SUPERVISION_INFO}
