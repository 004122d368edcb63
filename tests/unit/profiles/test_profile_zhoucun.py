"""周村区 profile (profiles/zhoucun.yaml): every rule of the seed's column, values worked by hand.

2026 calendar used below: Mid-Autumn Sep 25–27 off, National Day Oct 1–7 off, 调休 workdays
Sun Sep 20 and Sat Oct 10. Working days after Wed Sep 30: Oct 8 (1), 9 (2), 10 (3), 12 (4),
13 (5), 14 (6), 15 (7), 16 (8), 19 (9), 20 (10). "D 24:00" is the exclusive instant D+1 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

COUNTY = "zhoucun"
YIYE = "zhoucun/01-approval_decision-yiye-yizheng"
POST_CHECK = "zhoucun/02-commitment_verification-post-check"
REVOKED = "zhoucun/03-supervision_info-licence-revoked"
INQUIRY = "zhoucun/04-inquiry-construction-permit"
INQUIRY_REPLY = "zhoucun/05-inquiry_reply-construction-permit"
MEETING = "zhoucun/06-meeting_notice-liaison-meeting"
INSPECTION = "danzhou/02-joint_inspection_request-ktv"
HOLIDAY_EVE = "2026-09-30T16:00"
SCJG = {"department_id": "scjg", "name": "淄博市周村区市场监督管理局"}
BREACH = {
    "direction": "supervision_to_approval",
    "sender": SCJG,
    "recipients": ["xzsp"],
    "occurred_at": "2026-09-30T15:00:00+08:00",
    "body.result": "untrue",
}

CASES = [
    # --- 审批信息 第七条(一) ------------------------------------------------------------------
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "scjg",
        {
            "route": "approval-yiye-yizheng",
            "policy": "approval-info",
            "claim_due": "2026-10-08 24:00",
            "on_timeout": "auto_claim",
            "reminders": ["2026-10-08 13:30"],
            "channels": ["platform", "paper"],
        },
        id="周村区 第七条(一)1 审批信息1个工作日内认领，超时视为自动认领（跨国庆）",
    ),
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "whly",
        {
            "recipients": {"scjg", "whly"},
            "claim_due": "2026-10-08 24:00",
            "on_timeout": "auto_claim",
        },
        id="周村区 第七条(一)1 一业一证审批信息同步推送各相关监管部门",
    ),
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"objection_due": "2026-10-08 24:00"},
        id="周村区 第七条(一)1 对审批信息有疑问1个工作日内反馈",
    ),
    pytest.param(
        YIYE,
        None,
        {},
        "scjg",
        {"push_due": "2026-09-09 24:00", "push_late": False},
        id="周村区 第七条(一)1 作出审批决定后即时推送（按时）",
    ),
    pytest.param(
        YIYE,
        "2026-10-08T09:00",
        {"occurred_at": "2026-09-30T15:00:00+08:00"},
        "scjg",
        {"push_due": "2026-09-30 24:00", "push_late": True},
        id="周村区 第七条(一)1 审批信息节后才推送为超时",
    ),
    pytest.param(
        YIYE,
        None,
        {
            "body.comprehensive_licence": None,
            "body.item.name": "建筑工程施工许可证核发",
            "body.commitment": False,
            "body.commitment_letter_sha256": None,
            "recipients": ["zjj"],
        },
        "zjj",
        {"route": "approval-construction", "channels": ["selfbuilt", "platform", "paper"]},
        id="周村区 第七条(一)1 经自建业务系统推送工程建设审批信息",
    ),
    # --- 监管信息 第七条(二) ------------------------------------------------------------------
    pytest.param(
        REVOKED,
        None,
        {},
        "xzsp",
        {
            "route": "to-bureau",
            "policy": "supervision-info",
            "claim_due": "2026-10-10 24:00",
            "on_timeout": "escalate",
            "push_due": "2026-10-09 24:00",
            "push_late": False,
        },
        id="周村区 第七条(二)1 监管信息即时推送、1个工作日内认领（调休周六）",
    ),
    pytest.param(
        REVOKED,
        HOLIDAY_EVE,
        {"occurred_at": "2026-09-30T10:00:00+08:00"},
        "xzsp",
        {
            "claim_due": "2026-10-08 24:00",
            "objection_due": "2026-10-08 24:00",
            "push_due": "2026-09-30 24:00",
            "push_late": False,
        },
        id="周村区 第七条(二)1 监管信息认领与反馈各1个工作日（跨国庆）",
    ),
    pytest.param(
        REVOKED,
        "2026-10-10T09:00",
        {},
        "xzsp",
        {"push_due": "2026-10-09 24:00", "push_late": True},
        id="周村区 第七条(二)1 监管信息次日才推送为超时",
    ),
    pytest.param(
        "liangshan/05-policy_change-public-place",
        HOLIDAY_EVE,
        {"occurred_at": "2026-09-30T09:40:00+08:00"},
        "xzsp",
        {
            "policy": "supervision-info",
            "push_due": "2026-09-30 24:00",
            "push_late": False,
            "claim_due": "2026-10-08 24:00",
            "basis": "周村区 第七条(二)2",
        },
        id="周村区 第七条(二)2 法律法规政策标准调整信息即时推送",
    ),
    pytest.param(
        "liangshan/03-revocation_advice-revoke",
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "policy": "revocation-advice",
            "claim_due": "2026-10-08 24:00",
            "reply_due": "2026-10-13 24:00",
            "reply_silence": "none",
        },
        id="周村区 第七条(二)3 函告变更撤销许可，审批部门及时作出处理决定（5个工作日）",
    ),
    pytest.param(
        "liangshan/04-handling_result-revoked",
        "2026-10-08T09:00",
        {"body.handled_date": "2026-09-30"},
        "scjg",
        {
            "policy": "handling-result",
            "push_due": "2026-09-30 24:00",
            "push_late": True,
            "claim_due": "2026-10-09 24:00",
        },
        id="周村区 第七条(二)3 处理决定同时推送监管部门：节后才推送为超时",
    ),
    # --- 函询 第十二条 ------------------------------------------------------------------------
    pytest.param(
        INQUIRY,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "policy": "inquiry",
            "reply_due": "2026-10-10 24:00",
            "reply_silence": "agreed",
            "claim_due": "2026-10-08 24:00",
        },
        id="周村区 第十二条 函询及时回复（3个工作日），逾期不回复视为同意",
    ),
    pytest.param(
        INQUIRY,
        None,
        {},
        "xzsp",
        {"reply_due": "2026-09-30 24:00", "claim_due": "2026-09-28 24:00"},
        id="周村区 第十二条 样例函询：回复期限跨中秋至9月30日",
    ),
    pytest.param(
        INQUIRY_REPLY,
        None,
        {},
        "zjj",
        {"policy": "other", "claim_due": "2026-09-29 24:00", "reply_due": None},
        id="周村区 第十二条 函询答复1个工作日内认领（类推第七条）",
    ),
    # --- 联合踏勘 第十一条 --------------------------------------------------------------------
    pytest.param(
        INSPECTION,
        HOLIDAY_EVE,
        {"body.inspection_at": "2026-10-09T09:30:00+08:00"},
        "whly",
        {
            "policy": "joint-inspection",
            "advance_latest": "2026-10-08 09:00",
            "advance_late": False,
            "claim_due": "2026-10-08 24:00",
        },
        id="周村区 第十一条 联合踏勘至少提前1个工作日对接（按时）",
    ),
    pytest.param(
        INSPECTION,
        HOLIDAY_EVE,
        {"body.inspection_at": "2026-10-08T09:30:00+08:00"},
        "whly",
        {"advance_latest": "2026-09-30 09:00", "advance_late": True},
        id="周村区 第十一条 节后第一天踏勘、节前下午才对接为不足1个工作日",
    ),
    # --- 告知承诺 第八条 ----------------------------------------------------------------------
    pytest.param(
        POST_CHECK,
        None,
        {},
        "scjg",
        {
            "policy": "commitment-post-check",
            "push_due": "2026-09-22 24:00",
            "push_late": False,
            "claim_due": "2026-09-20 24:00",
            "on_timeout": "auto_claim",
        },
        id="周村区 第八条 后置核验10个工作日内核验并推送（调休周日，按时）",
    ),
    pytest.param(
        POST_CHECK,
        "2026-10-21T09:00",
        {
            "body.promise_date": "2026-09-30",
            "body.promised_deadline": "2026-10-14",
            "occurred_at": "2026-10-20T16:00:00+08:00",
        },
        "scjg",
        {"push_due": "2026-10-20 24:00", "push_late": True},
        id="周村区 第八条 承诺后第11个工作日才推送核验结果为超时（跨国庆）",
    ),
    pytest.param(
        POST_CHECK,
        HOLIDAY_EVE,
        BREACH,
        "xzsp",
        {
            "route": "to-bureau",
            "policy": "commitment-breach",
            "push_due": "2026-09-30 24:00",
            "push_late": False,
            "claim_due": "2026-10-08 24:00",
            "on_timeout": "escalate",
        },
        id="周村区 第八条 发现违反承诺即时反馈审批部门",
    ),
    # --- 培训、例会、通报、升级 ---------------------------------------------------------------
    pytest.param(
        "guanxian/05-meeting_notice-hazchem-training",
        None,
        {},
        "xzsp",
        {
            "policy": "training-info",
            "push_due": "2026-10-15 24:00",
            "push_late": False,
            "claim_due": "2026-10-16 24:00",
        },
        id="周村区 第七条(二)2 业务培训信息即时推送",
    ),
    pytest.param(
        MEETING,
        None,
        {},
        "sthj",
        {
            "recipients": {"scjg", "wsjk", "zjj", "yjgl", "sthj"},
            "policy": "other",
            "claim_due": "2026-10-14 24:00",
        },
        id="周村区 第七条 联络员例会通知按指定部门推送",
    ),
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"report_period": "monthly"},
        id="周村区 第七条 每月通报审批信息、监管信息上传认领情况",
    ),
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"escalation": ["xzsp"]},
        id="周村区 第七条 第十五条 超时由审批部门通报",
    ),
    pytest.param(
        REVOKED,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {"escalation": ["zfb"]},
        id="周村区 第十五条 审批部门超时报区政府办公室",
    ),
    pytest.param(
        YIYE,
        None,
        {
            "classification": {"level": "secret"},
            "source.channel": "paper",
            "source.system": "paper-registry",
        },
        "scjg",
        {"channels": ["paper"], "note": "仅纸质"},
        id="周村区 第七条 涉密审批信息仅纸质推送",
    ),
    pytest.param(
        YIYE,
        HOLIDAY_EVE,
        {},
        "scjg",
        {"warnings": []},
        id="周村区 第十七条 自印发之日起执行，无到期告警",
    ),
]


@pytest.mark.parametrize(("sample", "at", "edits", "department", "expect"), CASES)
def test_zhoucun_rule(
    check: Any,
    sample: str,
    at: str | None,
    edits: dict[str, Any],
    department: str,
    expect: dict[str, Any],
) -> None:
    check(COUNTY, sample, at, edits, department, expect)


def test_zhoucun_jurisdiction(profile: Any) -> None:
    jurisdiction = profile(COUNTY).config.jurisdiction
    assert (jurisdiction.code, jurisdiction.measures.document_number) == (
        "370306",
        "周政办字〔2021〕46号",
    )
    assert str(jurisdiction.measures.effective_from) == "2021-12-31"
