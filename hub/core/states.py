"""Every state the ledger records, and which transitions are allowed, in one place.

A message:   accepted -> routed | quarantined
A delivery has three independent machines and one transport state:
    transport   pending -> delivered -> (bounced) pending ... | failed (投递失败: every channel
                failed; never auto-claimed)
    claim       open -> claimed | claimed_late | auto_claimed; none when no claim is required.
                The claim deadline exists only once delivered: open + no deadline = not yet due.
    objection   none | open -> raised | deemed_accepted (the window closed in silence)
    reply       none | awaiting -> replied | deemed_agreed | overdue
Timers are the deadline engine's due work for a delivery (see hub/core/deadlines.py).
The values are the strings stored in the ledger; a StrEnum compares equal to its value.
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    ACCEPTED = "accepted"
    ROUTED = "routed"
    QUARANTINED = "quarantined"


class TransportState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ClaimState(StrEnum):
    NONE = "none"
    OPEN = "open"
    CLAIMED = "claimed"
    CLAIMED_LATE = "claimed_late"
    AUTO_CLAIMED = "auto_claimed"

    @property
    def is_claimed(self) -> bool:
        return self in (ClaimState.CLAIMED, ClaimState.CLAIMED_LATE, ClaimState.AUTO_CLAIMED)


class ObjectionState(StrEnum):
    NONE = "none"
    OPEN = "open"
    RAISED = "raised"
    DEEMED_ACCEPTED = "deemed_accepted"


class ReplyState(StrEnum):
    NONE = "none"
    AWAITING = "awaiting"
    REPLIED = "replied"
    DEEMED_AGREED = "deemed_agreed"
    OVERDUE = "overdue"


class TimerAction(StrEnum):
    REMIND = "remind"
    CLAIM_TIMEOUT = "claim_timeout"
    ESCALATE = "escalate"
    OBJECTION_CLOSE = "objection_close"
    REPLY_CLOSE = "reply_close"


CLAIM_TIMERS = (
    TimerAction.REMIND.value,
    TimerAction.CLAIM_TIMEOUT.value,
    TimerAction.ESCALATE.value,
)
