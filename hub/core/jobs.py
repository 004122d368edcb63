"""The deliver job: one typed record for every outbound note the hub sends, one constructor.

A job says what to send (``purpose``) about which delivery, to whom (``target``), over which
channels in order (``channels``; ``channel_index`` is the one to try now) and in which durable
retry round. Pushes fall back over the route's channels; notes (reminders, escalations, delivery
failures) fall back over the target department's channels, paper last, so a note never dies on
its first channel. On the bus and in the outbox the job is a JSON object (``to_payload``);
``DeliverJob.from_payload`` reads it back and refuses anything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hub.bus.topology import deliver_queue
from hub.channels import Purpose
from hub.message import Channel
from hub.routing.model import Department


@dataclass(frozen=True)
class DeliverJob:
    delivery_id: str
    purpose: Purpose
    target: str
    channels: tuple[Channel, ...]
    channel_index: int = 0
    round: int = 0
    summary_zh: str = ""

    def __post_init__(self) -> None:
        if not self.channels or not 0 <= self.channel_index < len(self.channels):
            raise ValueError(f"job for {self.delivery_id}: no channel at {self.channel_index}")

    @property
    def channel(self) -> Channel:
        return self.channels[self.channel_index]

    @property
    def queue(self) -> str:
        return deliver_queue(self.channel.value)

    @property
    def next_channel(self) -> Channel | None:
        nxt = self.channel_index + 1
        return self.channels[nxt] if nxt < len(self.channels) else None

    def next_round(self) -> DeliverJob:
        return replace(self, round=self.round + 1)

    def fallen_back(self) -> DeliverJob:
        """The same job on the next channel, from round 0 (caller checked ``next_channel``)."""
        return replace(self, channel_index=self.channel_index + 1, round=0)

    def to_payload(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "purpose": self.purpose.value,
            "target": self.target,
            "channels": [c.value for c in self.channels],
            "channel_index": self.channel_index,
            "round": self.round,
            "summary_zh": self.summary_zh,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DeliverJob:
        """The job in ``payload``; KeyError/ValueError/TypeError when it is not one."""
        channels = payload.get("channels")
        if channels is None:  # a job written before 0.4: one channel, no fallback list
            channels = [payload["channel"]]
        if not isinstance(channels, list):
            raise TypeError("channels must be a list")
        return cls(
            delivery_id=str(payload["delivery_id"]),
            purpose=Purpose(payload["purpose"]),
            target=str(payload["target"]),
            channels=tuple(Channel(c) for c in channels),
            channel_index=int(payload.get("channel_index", 0)),
            round=int(payload.get("round", 0)),
            summary_zh=str(payload.get("summary_zh", "")),
        )


def push_job(delivery_id: str, department_id: str, channels: Sequence[str]) -> DeliverJob:
    """The push of a delivery to its department over the route's channels."""
    return DeliverJob(delivery_id, Purpose.PUSH, department_id, tuple(Channel(c) for c in channels))


def note_job(
    delivery_id: str,
    purpose: Purpose,
    target: Department,
    summary_zh: str,
    *,
    prefer: Channel | None = None,
    classified: bool = False,
) -> DeliverJob:
    """A note to ``target`` over ``note_channels`` (see there)."""
    channels = note_channels(target, prefer=prefer, classified=classified)
    return DeliverJob(delivery_id, purpose, target.id, channels, summary_zh=summary_zh)


def note_channels(
    target: Department, *, prefer: Channel | None = None, classified: bool = False
) -> tuple[Channel, ...]:
    """The channels a note to ``target`` tries, in order: ``prefer`` (the channel that reached
    it before) first, then its online channels in the hub's order, paper last; paper only for a
    classified message (the dispatcher refuses online channels for those anyway)."""
    order = [c for c in Channel if c is not Channel.PAPER]
    if prefer is not None and prefer is not Channel.PAPER:
        order.remove(prefer)
        order.insert(0, prefer)
    online = [] if classified else [c for c in order if target.channels.has(c)]
    return (*online, Channel.PAPER)
