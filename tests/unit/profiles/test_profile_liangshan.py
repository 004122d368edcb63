"""梁山县 profile (profiles/liangshan.yaml): every rule of the seed's column, values worked by hand.

2026 calendar used below: Mid-Autumn Sep 25–27 off, National Day Oct 1–7 off, 调休 workdays
Sun Sep 20 and Sat Oct 10. Working days after Wed Sep 30: Oct 8 (1), 9 (2), 10 (3), 12 (4),
13 (5), 14 (6), 15 (7), 16 (8). "D 24:00" is the exclusive instant D+1 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

COUNTY = "liangshan"
FOOD = "liangshan/01-approval_decision-food-licence"
SUSPENSION = "liangshan/02-supervision_info-suspension"
ADVICE = "liangshan/03-revocation_advice-revoke"
RESULT = "liangshan/04-handling_result-revoked"
POLICY = "liangshan/05-policy_change-public-place"
SECRET = "liangshan/06-policy_change-secret-paper"
HOLIDAY_EVE = "2026-09-30T16:00"  # Wednesday afternoon before the National Day holiday
XZSP = {"department_id": "xzsp", "name": "梁山县行政审批服务局"}
ZJJ = {"department_id": "zjj", "name": "梁山县住房和城乡建设局"}
PAPER = {"source.channel": "paper", "source.system": "paper-registry"}

CASES = [
    # --- 审批信息 -----------------------------------------------------------------------------
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {
            "route": "approval-food",
            "policy": "approval-info",
            "claim_due": "2026-09-30 24:00",
            "on_timeout": "escalate",
            "channels": ["platform", "email", "paper"],
        },
        id="梁山县 第十九条(一) 审批信息收到当日认领（国庆前最后一个工作日）",
    ),
    pytest.param(
        FOOD,
        "2026-10-03T10:00",
        {},
        "scjg",
        {"claim_due": "2026-10-08 24:00", "on_timeout": "escalate"},
        id="梁山县 第十九条(一) 假日收到的审批信息于节后第一个工作日当日认领",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"objection_due": "2026-10-08 24:00", "basis": "梁山县 第十九条(四)"},
        id="梁山县 第十九条(四) 审批信息异议及时提出（1个工作日，跨国庆），逾期视为认可",
    ),
    pytest.param(
        FOOD,
        None,
        {},
        "scjg",
        {"push_due": "2026-09-15 24:00", "push_late": False},
        id="梁山县 第十九条(一) 线上审批信息即时推送（当日，按时）",
    ),
    pytest.param(
        FOOD,
        "2026-10-08T09:00",
        {"occurred_at": "2026-09-30T15:00:00+08:00"},
        "scjg",
        {"push_due": "2026-09-30 24:00", "push_late": True},
        id="梁山县 第十九条(一) 线上审批信息节后才推送为超时",
    ),
    pytest.param(
        FOOD,
        "2026-10-08T10:00",
        {**PAPER, "occurred_at": "2026-09-30T15:00:00+08:00"},
        "scjg",
        {
            "route": "approval-paper",
            "channels": ["paper"],
            "push_due": "2026-10-08 24:00",
            "push_late": False,
            "claim_due": "2026-10-08 24:00",
        },
        id="梁山县 第十九条(一) 纸质推送的审批信息及时推送（1个工作日，跨国庆）",
    ),
    # --- 监管信息 -----------------------------------------------------------------------------
    pytest.param(
        SUSPENSION,
        "2026-10-15T10:00",
        {"occurred_at": "2026-09-30T16:00:00+08:00", "body.decision.decision_date": "2026-09-30"},
        "xzsp",
        {
            "route": "to-bureau",
            "policy": "supervision-info",
            "push_due": "2026-10-15 24:00",
            "push_late": False,
        },
        id="梁山县 第十九条(三) 停产停业信息处罚决定后7个工作日内推送（跨国庆，按时）",
    ),
    pytest.param(
        SUSPENSION,
        "2026-10-16T09:00",
        {"occurred_at": "2026-09-30T16:00:00+08:00", "body.decision.decision_date": "2026-09-30"},
        "xzsp",
        {"push_due": "2026-10-15 24:00", "push_late": True},
        id="梁山县 第十九条(三) 第8个工作日才推送监管信息为超时",
    ),
    pytest.param(
        SUSPENSION,
        None,
        {},
        "xzsp",
        {"push_due": "2026-10-08 24:00", "push_late": False, "claim_due": "2026-09-28 24:00"},
        id="梁山县 第十九条(三) 样例：9月21日处罚决定，7个工作日至10月8日",
    ),
    pytest.param(
        SUSPENSION,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "claim_due": "2026-10-10 24:00",
            "on_timeout": "escalate",
            "reminders": ["2026-10-10 13:30"],
        },
        id="梁山县 第十九条(三) 审批部门3个工作日内认领监管信息（调休周六为第3个工作日）",
    ),
    pytest.param(
        SUSPENSION,
        "2026-09-30T10:00",
        {
            "body.category": "training",
            "body.party": None,
            "body.decision": None,
            "body.licence_number": None,
        },
        "xzsp",
        {"push_due": None, "claim_due": "2026-10-10 24:00"},
        id="梁山县 第十九条(三) 7个工作日时限只适用于处罚类监管信息",
    ),
    # --- 监管建议书 / 处理结果 ----------------------------------------------------------------
    pytest.param(
        ADVICE,
        None,
        {},
        "xzsp",
        {
            "policy": "revocation-advice",
            "push_due": "2026-10-14 24:00",
            "push_late": False,
            "claim_due": "2026-10-16 24:00",
        },
        id="梁山县 第十九条(四) 监管建议书2个工作日内书面告知（按时）",
    ),
    pytest.param(
        ADVICE,
        "2026-10-09T09:00",
        {"body.decision.decision_date": "2026-09-29"},
        "xzsp",
        {"push_due": "2026-10-08 24:00", "push_late": True, "claim_due": "2026-10-13 24:00"},
        id="梁山县 第十九条(四) 监管建议书跨国庆第3个工作日才告知为超时",
    ),
    pytest.param(
        RESULT,
        "2026-10-09T11:00",
        {"body.handled_date": "2026-09-30"},
        "scjg",
        {
            "route": "addressed",
            "policy": "handling-result",
            "push_due": "2026-10-09 24:00",
            "push_late": False,
            "claim_due": "2026-10-09 24:00",
        },
        id="梁山县 第十九条(四) 处理完成之日起2个工作日内推送处理结果（跨国庆）",
    ),
    pytest.param(
        RESULT,
        "2026-10-12T09:00",
        {"body.handled_date": "2026-09-30"},
        "scjg",
        {"push_due": "2026-10-09 24:00", "push_late": True},
        id="梁山县 第十九条(四) 处理结果第4个工作日才推送为超时",
    ),
    # --- 政策调整 -----------------------------------------------------------------------------
    pytest.param(
        POLICY,
        None,
        {},
        "xzsp",
        {
            "policy": "policy-change-up",
            "push_due": "2026-09-16 24:00",
            "push_late": False,
            "claim_due": "2026-09-20 24:00",
        },
        id="梁山县 第十九条(五) 收到通知当日告知审批部门（调休周日为认领第3个工作日）",
    ),
    pytest.param(
        POLICY,
        "2026-10-08T09:30",
        {"body.notice_received_date": "2026-09-30"},
        "xzsp",
        {"push_due": "2026-09-30 24:00", "push_late": True, "claim_due": "2026-10-12 24:00"},
        id="梁山县 第十九条(五) 节前收到的通知节后才告知为超时",
    ),
    pytest.param(
        POLICY,
        HOLIDAY_EVE,
        {"direction": "approval_to_supervision", "sender": XZSP, "recipients": ["wsjk"]},
        "wsjk",
        {"policy": "policy-change-down", "route": "addressed", "claim_due": "2026-09-30 24:00"},
        id="梁山县 第十九条(五) 审批部门当日告知监管部门（当日认领，类推第十九条(一)）",
    ),
    # --- 会议培训 / 函询 / 告知承诺 -----------------------------------------------------------
    pytest.param(
        "guanxian/05-meeting_notice-hazchem-training",
        "2026-10-08T16:00",
        {"occurred_at": "2026-09-30T15:00:00+08:00"},
        "xzsp",
        {
            "policy": "meeting-notice-up",
            "push_due": "2026-10-08 24:00",
            "push_late": False,
            "claim_due": "2026-10-12 24:00",
        },
        id="梁山县 第十九条(六) 会议培训安排及时告知（1个工作日，跨国庆）",
    ),
    pytest.param(
        "zhoucun/04-inquiry-construction-permit",
        HOLIDAY_EVE,
        {"sender": ZJJ},
        "xzsp",
        {
            "policy": "inquiry-up",
            "reply_due": "2026-10-10 24:00",
            "reply_silence": "none",
            "claim_due": "2026-10-10 24:00",
        },
        id="梁山县 第二十条 受询单位及时回复（3个工作日，不视为同意）",
    ),
    pytest.param(
        "zhoucun/02-commitment_verification-post-check",
        "2026-10-01T10:00",
        {"sender": XZSP},
        "scjg",
        {"policy": "other-down", "claim_due": "2026-10-08 24:00"},
        id="梁山县 第二十三条 告知承诺核查结果当日认领（类推第十九条(一)，假日顺延）",
    ),
    # --- 渠道 ---------------------------------------------------------------------------------
    pytest.param(
        SECRET,
        None,
        {},
        "xzsp",
        {"channels": ["paper"], "note": "仅纸质", "route": "to-bureau"},
        id="梁山县 第十七条(四) 涉密文件仅纸质推送",
    ),
    pytest.param(
        FOOD,
        None,
        {**PAPER, "classification": {"level": "confidential"}},
        "scjg",
        {"channels": ["paper"], "route": "approval-paper"},
        id="梁山县 第十七条(二) 公务邮箱只推送非涉密信息：机密审批信息仅纸质",
    ),
    pytest.param(
        FOOD,
        None,
        {"body.item.name": "建筑工程施工许可证核发", "recipients": ["zjj"]},
        "zjj",
        {"route": "approval-construction", "channels": ["selfbuilt", "platform", "email", "paper"]},
        id="梁山县 第十七条(三) 工程建设项目经省级自建业务系统推送",
    ),
    # --- 通报、升级、有效期 -------------------------------------------------------------------
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"report_period": "periodic"},
        id="梁山县 第十八条 定期通报上传认领情况",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"escalation": ["xzsp", "lxhy"]},
        id="梁山县 第十八条 第十六条 超时先由审批部门通报再报联席会议",
    ),
    pytest.param(
        SUSPENSION,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {"escalation": ["lxhy"]},
        id="梁山县 第十六条 审批部门超时报联席会议",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"warnings": ["2026-01-30", "已过期"]},
        id="梁山县 第三十二条 办法有效期至2026-01-30，之后路由告警",
    ),
    pytest.param(
        FOOD,
        "2026-01-29T10:00",
        {},
        "scjg",
        {"warnings": [], "claim_due": "2026-01-29 24:00"},
        id="梁山县 第三十二条 有效期内不告警",
    ),
]


@pytest.mark.parametrize(("sample", "at", "edits", "department", "expect"), CASES)
def test_liangshan_rule(
    check: Any,
    sample: str,
    at: str | None,
    edits: dict[str, Any],
    department: str,
    expect: dict[str, Any],
) -> None:
    check(COUNTY, sample, at, edits, department, expect)


def test_liangshan_profile_loads_with_expiry_warning(profile: Any) -> None:
    loaded = profile(COUNTY)
    assert loaded.config.jurisdiction.code == "370832"
    assert str(loaded.config.jurisdiction.measures.effective_until) == "2026-01-30"
    assert any("已过期" in w for w in loaded.warnings)
