"""Queue names of the hub. Every queue is a plain work queue: one message, one consumer.

=====================  ===================================================================
``hub.ingest``         a channel adapter stored an inbound push; normalize and record it
``hub.route``          a recorded message is ready to be routed to its recipients
``hub.deliver.<ch>``   a delivery is due on channel ``<ch>`` (platform, email, selfbuilt, paper)
``hub.timers``         a nudge for the deadline engine (a claim deadline may have passed)
``hub.dead``           notifications a worker gave up on, kept for an operator to inspect
=====================  ===================================================================

There is no delay queue: delayed retry is done by the ledger's outbox, whose rows carry a future
``available_at`` and are published by the relay once due. The bus only ever carries work that is
ready now.
"""

from __future__ import annotations

from typing import Final

from hub.message_enums import Channel

PREFIX: Final = "hub"
INGEST: Final = "hub.ingest"
ROUTE: Final = "hub.route"
TIMERS: Final = "hub.timers"
DEAD: Final = "hub.dead"

DELIVERY_CHANNELS: Final = tuple(channel.value for channel in Channel)


def deliver_queue(channel: str | Channel) -> str:
    """The delivery queue of ``channel``; raises ValueError for a channel the hub does not have."""
    if channel not in DELIVERY_CHANNELS:
        known = ", ".join(DELIVERY_CHANNELS)
        raise ValueError(f"unknown delivery channel {channel!r}; known: {known}")
    return f"{PREFIX}.deliver.{Channel(channel).value}"


DELIVER_QUEUES: Final = tuple(deliver_queue(channel) for channel in DELIVERY_CHANNELS)
ALL_QUEUES: Final = (INGEST, ROUTE, *DELIVER_QUEUES, TIMERS, DEAD)
