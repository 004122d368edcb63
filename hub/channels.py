"""What every channel adapter looks like to the hub (``adapters/<channel>/adapter.py``).

An adapter normalizes its channel's raw input into canonical messages (pure, raises
``NormalizeError``) and delivers outbound notes (raises ``DeliveryError`` saying whether a retry
can help). Adapters never own deadlines or claim states: they report, the hub decides.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hub.message import CanonicalMessage, Channel


class Purpose(StrEnum):
    """Why the hub sends something to a department."""

    PUSH = "push"  # the message itself, to be claimed
    REMINDER = "reminder"  # 提醒: the claim deadline is near
    ESCALATION = "escalation"  # to the next step of the escalation chain
    AUTO_CLAIMED = "auto_claimed"  # 超时自动认领 notice to the late department
    NOTICE = "notice"  # anything else worth telling (objection window closed, deemed agreed)
    DELIVERY_FAILED = "delivery_failed"  # 投递失败: to the sender, the push reached nobody

    @property
    def label(self) -> str:
        return {
            "push": "推送",
            "reminder": "认领提醒",
            "escalation": "逾期升级",
            "auto_claimed": "超时自动认领通知",
            "notice": "通知",
            "delivery_failed": "投递失败通知",
        }[self.value]


@dataclass(frozen=True)
class OutboundNote:
    """One thing to send to one department over one channel."""

    delivery_id: str
    purpose: Purpose
    message: CanonicalMessage
    department_id: str  # the recipient of this note
    department_name: str
    address: object  # the channel's address model from routing.yaml (e.g. PlatformAddress)
    attempt: int = 1
    claim_due: dt.datetime | None = None
    objection_due: dt.datetime | None = None
    reply_due: dt.datetime | None = None
    deadlines_zh: dict[str, str] = field(default_factory=dict)  # "认领期限": "2026-10-08 24:00"
    summary_zh: str = ""  # one line for reminders and escalations
    about_department_id: str | None = None  # escalations: the department that is late
    about_department_name: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What a channel says after accepting a note."""

    channel: Channel
    reference: str = ""
    detail: str = ""


class ChannelAdapter(Protocol):
    """The interface of ``adapters/<channel>/adapter.py``."""

    channel: Channel

    def normalize(self, raw: bytes) -> CanonicalMessage:
        """Map one raw inbound payload to a canonical message (pure; NormalizeError)."""
        ...

    async def deliver(self, note: OutboundNote) -> Receipt:
        """Send ``note``; raise DeliveryError(retryable=…) on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
