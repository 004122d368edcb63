"""儋州市 profile (profiles/danzhou.yaml): every rule of the seed's column, values worked by hand.

2026 calendar used below: Mid-Autumn Sep 25–27 off, National Day Oct 1–7 off, 调休 workdays
Sun Sep 20 and Sat Oct 10. Working days after Wed Sep 30: Oct 8 (1), 9 (2), 10 (3), 12 (4).
"D 24:00" is the exclusive instant D+1 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

COUNTY = "danzhou"
HYGIENE = "danzhou/01-approval_decision-public-place-hygiene"
REQUEST = "danzhou/02-joint_inspection_request-ktv"
INSPECTORS = "danzhou/03-joint_inspection_reply-inspectors"
SUSPENSION = "danzhou/04-supervision_info-suspension-paper"
INQUIRY = "danzhou/05-inquiry-pesticide-licence"
HOLIDAY_EVE = "2026-09-30T16:00"
ONLINE = {
    "classification": None,
    "source.channel": "platform",
    "source.system": "hn-zwfw",
}
ABSENT = {
    "body.inspectors": [],
    "body.absent": True,
    "body.absence_reason": "同日承担省级文化市场专项检查任务",
}

CASES = [
    # --- 审批信息 第九条(一) ------------------------------------------------------------------
    pytest.param(
        HYGIENE,
        HOLIDAY_EVE,
        {},
        "wsjk",
        {
            "route": "approval-health",
            "policy": "approval-info",
            "claim_due": "2026-10-08 24:00",
            "on_timeout": "escalate",
            "reminders": ["2026-10-08 13:30"],
        },
        id="儋州市 第九条(一) 监管部门1个工作日内完成认领（跨国庆）",
    ),
    pytest.param(
        HYGIENE,
        HOLIDAY_EVE,
        {},
        "wsjk",
        {"objection_due": "2026-10-09 24:00"},
        id="儋州市 第九条(一) 对审批结果有疑问的2个工作日内书面反馈",
    ),
    pytest.param(
        HYGIENE,
        None,
        {},
        "wsjk",
        {"push_due": "2026-09-14 24:00", "push_late": False, "claim_due": "2026-09-14 24:00"},
        id="儋州市 第九条(一) 综合窗口办结后1个工作日内推送（周五办结，按时）",
    ),
    pytest.param(
        HYGIENE,
        "2026-10-09T09:00",
        {"occurred_at": "2026-09-30T16:00:00+08:00"},
        "wsjk",
        {"push_due": "2026-10-08 24:00", "push_late": True},
        id="儋州市 第九条(一) 节后第2个工作日才推送审批信息为超时",
    ),
    # --- 联合踏勘 第八条 ----------------------------------------------------------------------
    pytest.param(
        REQUEST,
        HOLIDAY_EVE,
        {},
        "whly",
        {
            "route": "joint-inspection-request",
            "channels": ["email", "paper"],
            "policy": "joint-inspection",
            "reply_due": "2026-10-08 24:00",
            "reply_silence": "none",
            "claim_due": "2026-10-08 24:00",
        },
        id="儋州市 第八条(二) 联系单经OA邮箱推送，1个工作日内报踏勘人员名单",
    ),
    pytest.param(
        REQUEST,
        None,
        {},
        "whly",
        {"reply_due": "2026-10-13 24:00"},
        id="儋州市 第八条(二) 样例联系单：10月12日收到，10月13日前报名单",
    ),
    pytest.param(
        INSPECTORS,
        None,
        {},
        "xzsp",
        {
            "route": "joint-inspection-reply",
            "channels": ["email", "paper"],
            "policy": "other",
            "claim_due": "2026-10-13 24:00",
        },
        id="儋州市 第八条(二) 踏勘人员名单经OA邮箱报行政审批部门",
    ),
    pytest.param(
        INSPECTORS,
        None,
        ABSENT,
        "xzsp",
        {"route": "joint-inspection-reply", "advance_latest": None},
        id="儋州市 第八条(四) 不能参加踏勘的书面告知（提前0.5个工作日无法由路由校验）",
    ),
    # --- 监管信息、撤销决定、法规变化 第九条(二)(三)、第六条 ------------------------------------
    pytest.param(
        SUSPENSION,
        None,
        {},
        "xzsp",
        {
            "route": "written-to-bureau",
            "policy": "supervision-info",
            "channels": ["paper"],
            "note": "仅纸质",
            "push_due": "2026-09-30 24:00",
            "push_late": False,
            "claim_due": "2026-10-08 24:00",
        },
        id="儋州市 第九条(二) 停业整顿书面告知，纸质件登记（1个工作日内认领，跨国庆）",
    ),
    pytest.param(
        SUSPENSION,
        None,
        ONLINE,
        "xzsp",
        {"channels": ["paper", "platform", "selfbuilt"]},
        id="儋州市 第九条(二) 影响审批的处罚信息书面抄送：纸质优先",
    ),
    pytest.param(
        SUSPENSION,
        "2026-10-09T10:00",
        {"occurred_at": "2026-09-30T16:00:00+08:00"},
        "xzsp",
        {"push_due": "2026-10-08 24:00", "push_late": True},
        id="儋州市 第六条(八) 监管信息及时推送（1个工作日）：节后第2个工作日为超时",
    ),
    pytest.param(
        "liangshan/03-revocation_advice-revoke",
        HOLIDAY_EVE,
        {"occurred_at": "2026-09-30T09:00:00+08:00"},
        "xzsp",
        {
            "route": "written-to-bureau",
            "policy": "supervision-info",
            "push_due": "2026-10-08 24:00",
            "push_late": False,
            "claim_due": "2026-10-08 24:00",
        },
        id="儋州市 第九条(二) 撤销撤回变更许可的决定书面告知审批部门",
    ),
    pytest.param(
        "liangshan/04-handling_result-revoked",
        HOLIDAY_EVE,
        {},
        "scjg",
        {"policy": "handling-result", "claim_due": "2026-10-08 24:00", "push_due": None},
        id="儋州市 第九条(二) 审批部门将处理结果告知监管部门（无时限）",
    ),
    pytest.param(
        "liangshan/05-policy_change-public-place",
        "2026-10-08T15:00",
        {"body.notice_received_date": "2026-09-30"},
        "xzsp",
        {
            "route": "written-to-bureau",
            "policy": "policy-change",
            "push_due": "2026-10-08 24:00",
            "push_late": False,
            "channels": ["paper", "platform", "selfbuilt"],
        },
        id="儋州市 第九条(三) 法规政策变化及时书面告知（1个工作日，跨国庆）",
    ),
    # --- 函询 第十条 --------------------------------------------------------------------------
    pytest.param(
        INQUIRY,
        HOLIDAY_EVE,
        {},
        "nync",
        {
            "policy": "inquiry",
            "reply_due": "2026-10-10 24:00",
            "reply_silence": "none",
            "claim_due": "2026-10-08 24:00",
        },
        id="儋州市 第十条 受询单位及时回复（3个工作日，调休周六）",
    ),
    pytest.param(
        INQUIRY,
        None,
        {},
        "nync",
        {"reply_due": "2026-10-22 24:00", "claim_due": "2026-10-20 24:00"},
        id="儋州市 第十条 样例函询：10月19日收到，10月22日前回复",
    ),
    # --- 升级、通报、有效期 -------------------------------------------------------------------
    pytest.param(
        HYGIENE,
        HOLIDAY_EVE,
        {},
        "wsjk",
        {"escalation": ["yshj", "dxb"]},
        id="儋州市 第十三条 营商环境建设局检查评估，不配合的抄送市委督效办",
    ),
    pytest.param(
        HYGIENE,
        HOLIDAY_EVE,
        {},
        "wsjk",
        {"report_period": "none"},
        id="儋州市 办法未规定定期通报",
    ),
    pytest.param(
        HYGIENE,
        HOLIDAY_EVE,
        {},
        "wsjk",
        {"warnings": []},
        id="儋州市 第十五条 自印发之日起执行（试行），无到期告警",
    ),
]


@pytest.mark.parametrize(("sample", "at", "edits", "department", "expect"), CASES)
def test_danzhou_rule(
    check: Any,
    sample: str,
    at: str | None,
    edits: dict[str, Any],
    department: str,
    expect: dict[str, Any],
) -> None:
    check(COUNTY, sample, at, edits, department, expect)


def test_danzhou_liaisons_name_a_leader_and_a_contact(profile: Any) -> None:
    """第八条(一): 各行政主管部门须明确一名分管领导及联系人."""
    departments = {d.id: d for d in profile(COUNTY).config.departments}
    assert len(departments["whly"].liaisons) == 2
    assert departments["xzsp"].channels.email is not None  # OA 邮箱
