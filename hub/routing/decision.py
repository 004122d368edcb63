"""What routing decides for one recipient: route, channels, policy and every deadline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hub.clock.deadline import Deadline
from hub.message import Channel


@dataclass(frozen=True)
class DeadlineCheck:
    """A deadline the sender had to meet (push within N days, notice N days ahead)."""

    deadline: Deadline
    late: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.deadline.to_json(), "late": self.late}


@dataclass(frozen=True)
class RecipientDecision:
    department_id: str
    department_name: str
    route_id: str
    route_path: tuple[str, ...]
    channels: tuple[Channel, ...]
    policy_id: str
    basis: tuple[str, ...]
    claim_due: Deadline | None = None
    on_timeout: str | None = None
    reminders: tuple[Deadline, ...] = ()
    objection_due: Deadline | None = None
    reply_due: Deadline | None = None
    reply_silence: str | None = None
    push_check: DeadlineCheck | None = None
    advance_check: DeadlineCheck | None = None
    report_period: str | None = None
    escalation: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def dl(value: Deadline | None) -> dict[str, Any] | None:
            return value.to_json() if value else None

        return {
            "department": self.department_id,
            "department_name": self.department_name,
            "route": self.route_id,
            "route_path": list(self.route_path),
            "channels": [c.value for c in self.channels],
            "policy": self.policy_id,
            "basis": list(self.basis),
            "claim_due": dl(self.claim_due),
            "on_timeout": self.on_timeout,
            "reminders": [r.to_json() for r in self.reminders],
            "objection_due": dl(self.objection_due),
            "reply_due": dl(self.reply_due),
            "reply_silence": self.reply_silence,
            "push_check": self.push_check.to_json() if self.push_check else None,
            "advance_check": self.advance_check.to_json() if self.advance_check else None,
            "report_period": self.report_period,
            "escalation": list(self.escalation),
            "notes": list(self.notes),
        }

    @property
    def provisional(self) -> bool:
        dues = (self.claim_due, self.objection_due, self.reply_due, *self.reminders)
        return any(d is not None and d.provisional for d in dues)


@dataclass(frozen=True)
class RoutingResult:
    message_id: str
    kind: str
    at: dt.datetime
    recipients: tuple[RecipientDecision, ...]
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "recipients": [r.to_json() for r in self.recipients],
            "warnings": list(self.warnings),
        }
