"""Chinese labels and time formats for operator output (unknown values are shown raw)."""

from __future__ import annotations

import datetime as dt

from hub.clock.now import DEFAULT_TZ
from hub.message_enums import Direction, MessageKind

EVENT_LABELS: dict[str, str] = {
    "message.received": "收到推送",
    "message.quarantined": "隔离",
    "push.late": "发送方推送逾期",
    "delivery.created": "生成投递",
    "delivery.sent": "已送达",
    "delivery.retry_scheduled": "重试排程",
    "delivery.fallback": "改用备用渠道",
    "delivery.dead_lettered": "渠道放弃（死信）",
    "delivery.failed": "投递失败（各渠道均失败，不计认领期限）",
    "delivery.bounced": "退信，改投",
    "deadline.ignored_undelivered": "未送达，不计逾期",
    "claim.recorded": "已认领",
    "claim.auto": "超时自动认领",
    "claim.refused": "认领被拒",
    "reminder.sent": "认领提醒",
    "deadline.missed": "认领逾期",
    "escalation.triggered": "逐级升级",
    "escalation.scheduled": "升级排程",
    "notice.undeliverable": "通知对象不存在",
    "escalation.exhausted": "升级链已用尽",
    "objection.recorded": "提出异议",
    "objection.refused": "异议被拒",
    "objection.deemed_accepted": "异议期满视为认可",
    "reply.recorded": "已回复",
    "reply.refused": "回复被拒",
    "reply.deemed_agreed": "逾期视为同意",
    "reply.overdue": "回复逾期",
    "quarantine.replayed": "隔离重放",
    "job.quarantined": "任务隔离",
    "quarantine.replay_failed": "隔离重放失败",
    "quarantine.discarded": "隔离丢弃",
    "token.issued": "签发令牌",
    "token.revoked": "吊销令牌",
}

STATE_LABELS: dict[str, dict[str, str]] = {
    "message": {"accepted": "待路由", "routed": "已路由", "quarantined": "已隔离"},
    "transport": {"pending": "投递中", "delivered": "已送达", "failed": "投递失败"},
    "claim": {
        "open": "待认领",
        "claimed": "已认领",
        "claimed_late": "超时认领",
        "auto_claimed": "超时自动认领",
    },
    "objection": {
        "none": "—",
        "open": "异议期内",
        "raised": "已提异议",
        "deemed_accepted": "视为认可",
    },
    "reply": {
        "none": "—",
        "awaiting": "待回复",
        "replied": "已回复",
        "deemed_agreed": "视为同意",
        "overdue": "回复逾期",
    },
    "quarantine": {"open": "待处理", "replayed": "已重放", "discarded": "已丢弃"},
    "stage": {"ingest": "接收", "route": "路由", "deliver": "投递", "relay": "转发"},
}


def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


def state_label(kind: str, value: str) -> str:
    return STATE_LABELS.get(kind, {}).get(value, value)


def kind_label(kind: str) -> str:
    try:
        return MessageKind(kind).label
    except ValueError:
        return kind


def direction_label(direction: str) -> str:
    try:
        return Direction(direction).label
    except ValueError:
        return direction


def local_time(value: dt.datetime | None) -> str:
    """``2026-10-08 16:00:05`` in Asia/Shanghai; ``—`` for none."""
    if value is None:
        return "—"
    return value.astimezone(DEFAULT_TZ).strftime("%Y-%m-%d %H:%M:%S")


def age_text(seconds: float | None) -> str:
    """``3 秒``, ``5 分钟``, ``2 小时``, ``3 天`` (whole units, rounded down); ``—`` for none."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    for unit, size in (("天", 86400), ("小时", 3600), ("分钟", 60)):
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} 秒"
