"""保康县 profile (profiles/baokang.yaml): every rule of the seed's column, values worked by hand.

2026 calendar used below: Mid-Autumn Sep 25–27 off, National Day Oct 1–7 off, 调休 workdays
Sun Sep 20 and Sat Oct 10. Working days after Wed Sep 30: Oct 8 (1), 9 (2), 10 (3), 12 (4),
13–16 (5–8), 19–23 (9–13), 26–30 (14–18), Nov 2–6 (19–23), Nov 9–13 (24–28), Nov 16 (29),
Nov 17 (30). "D 24:00" is the exclusive instant D+1 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

COUNTY = "baokang"
FOOD = "baokang/01-approval_decision-food-production"
UNTRUE = "baokang/02-commitment_verification-untrue"
REVOKED = "baokang/03-supervision_info-licence-revoked"
ADVICE = "baokang/04-revocation_advice-pesticide"
RESULT = "baokang/05-handling_result-pesticide"
HOLIDAY_EVE = "2026-09-30T16:00"
XZSP = {"department_id": "xzsp", "name": "保康县行政审批局"}

CASES = [
    # --- 审批信息 附件1 第十九条、实施方案 三(二)4、三(三)8 ------------------------------------
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {
            "route": "approval-food",
            "policy": "approval-info",
            "claim_due": "2026-10-10 24:00",
            "on_timeout": "escalate",
            "reminders": ["2026-10-10 13:30"],
            "channels": ["selfbuilt", "platform", "paper"],
        },
        id="保康县 附件1 第十九条(一) 审批信息3个工作日内认领（跨国庆，调休周六）",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"reply_due": "2026-11-17 24:00", "reply_silence": "none"},
        id="保康县 实施方案 三(三)8 监管部门30个工作日内反馈监管结果（跨国庆）",
    ),
    pytest.param(
        FOOD,
        None,
        {},
        "scjg",
        {"reply_due": "2026-11-03 24:00", "claim_due": "2026-09-20 24:00"},
        id="保康县 实施方案 三(三)8 样例：9月16日推送，11月3日前反馈监管结果",
    ),
    pytest.param(
        FOOD,
        None,
        {},
        "scjg",
        {"push_due": "2026-09-16 24:00", "push_late": False},
        id="保康县 实施方案 三(二)4 作出许可决定后第一时间推送（按时）",
    ),
    pytest.param(
        FOOD,
        "2026-10-08T09:00",
        {"occurred_at": "2026-09-30T10:00:00+08:00"},
        "scjg",
        {"push_due": "2026-09-30 24:00", "push_late": True},
        id="保康县 实施方案 三(二)4 审批信息节后才推送为超时",
    ),
    # --- 监管信息 附件1 第二十条(二) -----------------------------------------------------------
    pytest.param(
        REVOKED,
        "2026-10-10T10:00",
        {"body.decision.decision_date": "2026-09-30"},
        "xzsp",
        {
            "route": "to-bureau",
            "policy": "supervision-info",
            "push_due": "2026-10-10 24:00",
            "push_late": False,
        },
        id="保康县 附件1 第二十条(二) 吊销决定后3个工作日内推送（跨国庆，按时）",
    ),
    pytest.param(
        REVOKED,
        "2026-10-12T09:00",
        {"body.decision.decision_date": "2026-09-30"},
        "xzsp",
        {"push_due": "2026-10-10 24:00", "push_late": True},
        id="保康县 附件1 第二十条(二) 第4个工作日才推送为超时",
    ),
    pytest.param(
        REVOKED,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "claim_due": "2026-10-10 24:00",
            "on_timeout": "escalate",
            "reminders": ["2026-10-10 13:30"],
        },
        id="保康县 附件1 第二十条(二) 审批部门3个工作日内认领监管信息",
    ),
    pytest.param(
        REVOKED,
        None,
        {},
        "xzsp",
        {"push_due": "2026-10-22 24:00", "push_late": False, "claim_due": "2026-10-23 24:00"},
        id="保康县 附件1 第二十条(二) 样例：10月19日吊销，10月20日推送",
    ),
    pytest.param(
        REVOKED,
        "2026-10-09T09:00",
        {"body.category": "abnormal_operation", "occurred_at": "2026-09-30T16:00:00+08:00"},
        "xzsp",
        {"route": "supervision-other", "push_due": "2026-10-08 24:00", "push_late": True},
        id="保康县 附件1 第二十条(一) 经营异常等其他监管信息及时推送（1个工作日）：节后第2天为超时",
    ),
    # --- 监管建议书 / 处理结果 ----------------------------------------------------------------
    pytest.param(
        ADVICE,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "policy": "revocation-advice",
            "claim_due": "2026-10-10 24:00",
            "push_due": None,
            "reply_due": None,
        },
        id="保康县 附件1 第二十条(二) 函告撤销许可并附证明材料（3个工作日内认领）",
    ),
    pytest.param(
        RESULT,
        None,
        {},
        "nync",
        {
            "route": "addressed",
            "policy": "handling-result",
            "push_due": "2026-10-23 24:00",
            "push_late": False,
            "claim_due": "2026-10-28 24:00",
        },
        id="保康县 附件1 第二十条(二) 处理决定同时推送至监管部门",
    ),
    pytest.param(
        RESULT,
        "2026-10-08T09:00",
        {"body.handled_date": "2026-09-30"},
        "nync",
        {"push_due": "2026-09-30 24:00", "push_late": True, "claim_due": "2026-10-12 24:00"},
        id="保康县 附件1 第二十条(二) 处理结果节后才推送为超时",
    ),
    pytest.param(
        RESULT,
        None,
        {},
        "gsxt",
        {
            "route": "handling-credit-record",
            "policy": "credit-record",
            "channels": ["selfbuilt", "paper"],
            "claim_due": None,
            "recipients": {"nync", "gsxt"},
        },
        id="保康县 实施方案 三(二)4 依法撤销后录入信用系统",
    ),
    pytest.param(
        RESULT,
        None,
        {"body.action_taken": "no_action"},
        "nync",
        {"recipients": {"nync"}},
        id="保康县 实施方案 三(二)4 不予撤销的处理结果不录入信用系统",
    ),
    # --- 告知承诺 附件1 第二十三条 -------------------------------------------------------------
    pytest.param(
        UNTRUE,
        None,
        {},
        "xzsp",
        {
            "policy": "commitment-result",
            "push_due": "2026-10-16 24:00",
            "push_late": False,
            "claim_due": "2026-10-19 24:00",
        },
        id="保康县 附件1 第二十三条 核查结果作出后3个工作日内推送（按时）",
    ),
    pytest.param(
        UNTRUE,
        "2026-10-12T09:00",
        {"occurred_at": "2026-09-30T16:00:00+08:00"},
        "xzsp",
        {"push_due": "2026-10-10 24:00", "push_late": True},
        id="保康县 附件1 第二十三条 节前核查、节后第4个工作日才推送为超时",
    ),
    pytest.param(
        "zhoucun/02-commitment_verification-post-check",
        HOLIDAY_EVE,
        {"sender": XZSP, "occurred_at": "2026-09-30T15:00:00+08:00"},
        "scjg",
        {
            "policy": "commitment-notice",
            "claim_due": "2026-10-10 24:00",
            "push_due": "2026-10-08 24:00",
            "push_late": False,
        },
        id="保康县 附件1 第二十三条 承诺情况及时推送，监管部门3个工作日内认领",
    ),
    # --- 函询 第二十四条、踏勘 第二十一条、政策 第二十条(一) -----------------------------------
    pytest.param(
        "danzhou/05-inquiry-pesticide-licence",
        HOLIDAY_EVE,
        {"sender": XZSP},
        "nync",
        {
            "policy": "inquiry",
            "reply_due": "2026-10-10 24:00",
            "reply_silence": "agreed",
            "claim_due": "2026-10-10 24:00",
        },
        id="保康县 附件1 第二十四条 函询及时回复（3个工作日），逾期不回复视为同意",
    ),
    pytest.param(
        "danzhou/02-joint_inspection_request-ktv",
        HOLIDAY_EVE,
        {"sender": XZSP},
        "whly",
        {
            "policy": "joint-inspection",
            "reply_due": "2026-10-10 24:00",
            "claim_due": "2026-10-10 24:00",
            "channels": ["selfbuilt", "platform", "paper"],
        },
        id="保康县 附件1 第二十一条 现场踏勘书面意见3个工作日内反馈",
    ),
    pytest.param(
        "liangshan/05-policy_change-public-place",
        "2026-10-09T09:00",
        {"body.notice_received_date": "2026-09-30"},
        "xzsp",
        {
            "policy": "policy-info",
            "push_due": "2026-10-08 24:00",
            "push_late": True,
            "claim_due": "2026-10-13 24:00",
        },
        id="保康县 附件1 第二十条(一) 政策信息及时推送（1个工作日）：节后第2个工作日为超时",
    ),
    # --- 渠道、升级、通报、有效期 -------------------------------------------------------------
    pytest.param(
        REVOKED,
        None,
        {
            "classification": {"level": "secret"},
            "source.channel": "paper",
            "source.system": "paper-registry",
        },
        "xzsp",
        {"channels": ["paper"], "note": "仅纸质"},
        id="保康县 附件1 第十八条 涉密监管信息不经线上系统，仅纸质推送",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"escalation": ["fgb"]},
        id="保康县 附件1 第十七条 超时报放管服改革协调小组统筹协调",
    ),
    pytest.param(
        FOOD,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"report_period": "none", "warnings": []},
        id="保康县 方案自2023-08-08生效，未规定定期通报",
    ),
]


@pytest.mark.parametrize(("sample", "at", "edits", "department", "expect"), CASES)
def test_baokang_rule(
    check: Any,
    sample: str,
    at: str | None,
    edits: dict[str, Any],
    department: str,
    expect: dict[str, Any],
) -> None:
    check(COUNTY, sample, at, edits, department, expect)


def test_baokang_jurisdiction(profile: Any) -> None:
    measures = profile(COUNTY).config.jurisdiction.measures
    assert (measures.document_number, str(measures.effective_from)) == (
        "保职转组发〔2023〕6号",
        "2023-08-08",
    )
