"""冠县 profile (profiles/guanxian.yaml, shipped as routing.yaml): every rule, values by hand.

2026 calendar used below: Mid-Autumn Sep 25–27 off, National Day Oct 1–7 off, 调休 workdays
Sun Sep 20 and Sat Oct 10. Working days after Wed Sep 30: Oct 8 (1), 9 (2), 10 (3), 12 (4),
13 (5), 14 (6), 15 (7), 16 (8). "D 24:00" is the exclusive instant D+1 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

COUNTY = "guanxian"
CONSTRUCTION = "guanxian/01-approval_decision-construction-permit"
HAZCHEM = "guanxian/02-approval_decision-hazchem-no-storage"
PENALTY = "guanxian/03-supervision_info-other-penalty"
EIA = "guanxian/04-policy_change-eia-catalogue"
TRAINING = "guanxian/05-meeting_notice-hazchem-training"
HOLIDAY_EVE = "2026-09-30T16:00"
PENALTY_ON_EVE = {
    "occurred_at": "2026-09-30T16:00:00+08:00",
    "body.decision.decision_date": "2026-09-30",
    "body.decision.published_date": "2026-09-30",
}

CASES = [
    # --- 审批信息 第十七条(一)(三) ------------------------------------------------------------
    pytest.param(
        HAZCHEM,
        HOLIDAY_EVE,
        {},
        "yjgl",
        {
            "route": "approval-hazardous",
            "policy": "approval-info",
            "claim_due": "2026-10-09 24:00",
            "on_timeout": "auto_claim",
            "reminders": ["2026-10-09 13:30"],
        },
        id="冠县 第十七条(一) 审批信息2个工作日内认领，超期自动认领（跨国庆）",
    ),
    pytest.param(
        HAZCHEM,
        None,
        {},
        "yjgl",
        {"push_due": "2026-09-22 24:00", "push_late": False, "claim_due": "2026-09-24 24:00"},
        id="冠县 第十七条(一) 审批完成后即时推送（含监管风险点，按时）",
    ),
    pytest.param(
        HAZCHEM,
        "2026-10-08T09:00",
        {"occurred_at": "2026-09-30T15:00:00+08:00"},
        "yjgl",
        {"push_due": "2026-09-30 24:00", "push_late": True},
        id="冠县 第十七条(一) 审批信息节后才推送为超时",
    ),
    pytest.param(
        CONSTRUCTION,
        None,
        {},
        "zjj",
        {
            "route": "approval-construction",
            "channels": ["selfbuilt", "platform", "paper"],
            "claim_due": "2026-09-18 24:00",
        },
        id="冠县 第十七条(三) 工程建设项目经工程建设项目审批系统推送",
    ),
    pytest.param(
        HAZCHEM,
        None,
        {"body.item.name": "建设项目环境影响报告表审批", "recipients": ["sthj"]},
        "sthj",
        {"route": "approval-environment", "claim_due": "2026-09-24 24:00"},
        id="冠县 第十七条(一) 环评审批信息推送生态环境分局",
    ),
    # --- 监管信息 第十七条(二)、信用 第十九条(一) ---------------------------------------------
    pytest.param(
        PENALTY,
        None,
        {},
        "xzsp",
        {
            "route": "supervision-to-bureau",
            "policy": "supervision-info",
            "push_due": "2026-10-19 24:00",
            "push_late": False,
            "claim_due": "2026-10-20 24:00",
            "on_timeout": "auto_claim",
        },
        id="冠县 第十七条(二) 处理信息公布后3个工作日内推送（10月14日公布，按时）",
    ),
    pytest.param(
        PENALTY,
        "2026-10-12T09:00",
        PENALTY_ON_EVE,
        "xzsp",
        {"push_due": "2026-10-10 24:00", "push_late": True},
        id="冠县 第十七条(二) 节前公布、节后第4个工作日推送为超时",
    ),
    pytest.param(
        PENALTY,
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "claim_due": "2026-10-09 24:00",
            "on_timeout": "auto_claim",
            "reminders": ["2026-10-09 13:30"],
        },
        id="冠县 第十七条(二) 审批服务局2个工作日内认领，超期自动认领（跨国庆）",
    ),
    pytest.param(
        PENALTY,
        "2026-10-15T10:00",
        PENALTY_ON_EVE,
        "xyxx",
        {
            "route": "supervision-credit-copy",
            "policy": "credit-copy",
            "channels": ["selfbuilt", "paper"],
            "push_due": "2026-10-15 24:00",
            "push_late": False,
            "claim_due": None,
            "recipients": {"xyxx", "xzsp"},
        },
        id="冠县 第十九条(一) 处理决定作出后7个工作日内推送信用信息平台（跨国庆，按时）",
    ),
    pytest.param(
        PENALTY,
        "2026-10-16T09:00",
        PENALTY_ON_EVE,
        "xyxx",
        {"push_due": "2026-10-15 24:00", "push_late": True},
        id="冠县 第十九条(一) 第8个工作日才推送信用信息平台为超时",
    ),
    # --- 文件、会议 第二十条；函询 第二十一条 --------------------------------------------------
    pytest.param(
        EIA,
        None,
        {},
        "xzsp",
        {
            "policy": "policy-documents",
            "push_due": "2026-09-28 24:00",
            "push_late": False,
            "claim_due": "2026-09-30 24:00",
            "on_timeout": "auto_claim",
        },
        id="冠县 第二十条 生态环境分局制发文件同时发审批服务局",
    ),
    pytest.param(
        EIA,
        HOLIDAY_EVE,
        {"occurred_at": "2026-09-30T10:00:00+08:00"},
        "xzsp",
        {"claim_due": "2026-10-09 24:00"},
        id="冠县 第二十条 相关文件2个工作日内认领（跨国庆）",
    ),
    pytest.param(
        TRAINING,
        None,
        {},
        "xzsp",
        {"policy": "notices", "claim_due": "2026-10-19 24:00"},
        id="冠县 第二十条 组织业务培训通知审批服务局参加",
    ),
    pytest.param(
        "zhoucun/04-inquiry-construction-permit",
        HOLIDAY_EVE,
        {},
        "xzsp",
        {
            "policy": "inquiry",
            "claim_due": "2026-10-09 24:00",
            "on_timeout": "escalate",
            "reply_due": None,
        },
        id="冠县 第二十一条 问题快速处理通道：函询超期升级，办法未设回复时限",
    ),
    # --- 渠道、通报、升级、有效期 ---------------------------------------------------------------
    pytest.param(
        HAZCHEM,
        None,
        {
            "classification": {"level": "secret"},
            "source.channel": "paper",
            "source.system": "paper-registry",
        },
        "yjgl",
        {"channels": ["paper"], "note": "仅纸质"},
        id="冠县 第十八条 确需线下传输的涉密信息仅纸质推送",
    ),
    pytest.param(
        HAZCHEM,
        HOLIDAY_EVE,
        {},
        "yjgl",
        {"report_period": "quarterly"},
        id="冠县 第二十三条 信息认领每季度通报",
    ),
    pytest.param(
        HAZCHEM,
        HOLIDAY_EVE,
        {},
        "yjgl",
        {"escalation": ["xzsp", "zfb"]},
        id="冠县 第二十三条 超期认领严重的先由审批服务局提醒，整改不力由县政府办公室约谈",
    ),
    pytest.param(
        HAZCHEM,
        HOLIDAY_EVE,
        {},
        "yjgl",
        {"warnings": []},
        id="冠县 暂行办法自2022-09-02施行，无到期告警",
    ),
]


@pytest.mark.parametrize(("sample", "at", "edits", "department", "expect"), CASES)
def test_guanxian_rule(
    check: Any,
    sample: str,
    at: str | None,
    edits: dict[str, Any],
    department: str,
    expect: dict[str, Any],
) -> None:
    check(COUNTY, sample, at, edits, department, expect)


def test_guanxian_escalation_steps(profile: Any) -> None:
    departments = {d.id: d for d in profile(COUNTY).config.departments}
    chain = departments["yjgl"].escalation
    steps = [(s.to, s.action, str(s.after) if s.after else None) for s in chain]
    assert steps == [("xzsp", "remind", None), ("zfb", "interview", "5wd")]
    assert departments["sthj"].channels.paper is not None
