"""The hub as adapters and the HTTP API see it: accept pushes, act on deliveries, look things up.

``HubApi`` is implemented by :class:`hub.core.hub.Hub`; adapters depend on this protocol only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from hub.errors import FieldProblem, RoutingError
from hub.message import CanonicalMessage, Channel


@dataclass(frozen=True)
class Accepted:
    """A push committed to the ledger (``duplicate``: the same source id was accepted before)."""

    message_id: str
    duplicate: bool


@dataclass(frozen=True)
class ActionResult:
    """The outcome of a claim, objection or reply."""

    delivery_id: str
    state: str  # the delivery's claim/objection/reply state after the action
    at: dt.datetime
    late: bool = False
    note_zh: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class DeliveryView:
    delivery_id: str
    message_id: str
    department_id: str
    route_id: str
    channels: tuple[str, ...]
    transport_state: str
    delivered_channel: str | None
    claim_state: str
    claim_due: dt.datetime | None
    on_timeout: str | None
    objection_state: str
    objection_due: dt.datetime | None
    reply_state: str
    reply_due: dt.datetime | None
    provisional: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        data["channels"] = list(self.channels)
        return data


class HubApi(Protocol):
    def accept(self, message: CanonicalMessage) -> Accepted:
        """Validate against routing (known sender and recipients) and commit; RoutingError."""
        ...

    async def accept_async(self, message: CanonicalMessage) -> Accepted:
        """``accept`` for the event loop: committed with concurrent pushes (group commit)."""
        ...

    def accept_many(self, messages: Sequence[CanonicalMessage]) -> list[Accepted | RoutingError]:
        """Accept several messages in one transaction; per message its ``Accepted`` or the
        ``RoutingError`` that refused it (unknown sender or recipient; nothing recorded)."""
        ...

    async def accept_many_async(
        self, messages: Sequence[CanonicalMessage]
    ) -> list[Accepted | RoutingError]:
        """``accept_many`` for the event loop."""
        ...

    def quarantine_input(
        self, *, channel: Channel, raw: bytes, problems: list[FieldProblem], source_id: str = ""
    ) -> int:
        """Record input that could not be accepted; returns the quarantine id."""
        ...

    def authenticate(self, token: str) -> str | None:
        """The department id a bearer token belongs to, or None."""
        ...

    # ``at``: when the department acted, if the channel knows it (a mail's arrival at the mail
    # server); bounded by the hub's clock. None: now.
    def claim(
        self,
        delivery_id: str,
        *,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult: ...

    def object(
        self,
        delivery_id: str,
        *,
        department_id: str,
        reason: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult: ...

    def reply(
        self,
        delivery_id: str,
        *,
        department_id: str,
        text: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult: ...

    async def claim_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult:
        """``claim`` for the event loop: committed with concurrent claims (group commit)."""
        ...

    async def object_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        reason: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult: ...

    async def reply_async(
        self,
        delivery_id: str,
        *,
        department_id: str,
        text: str,
        actor: str,
        channel: Channel,
        at: dt.datetime | None = None,
    ) -> ActionResult: ...

    async def delivery_view_async(
        self, delivery_id: str, *, department_id: str | None = None
    ) -> DeliveryView: ...

    async def authenticate_async(self, token: str) -> str | None:
        """``authenticate`` for the event loop (a cached token answers without the ledger)."""
        ...

    def report_bounce(self, delivery_id: str, *, channel: Channel, reason: str) -> None:
        """A channel learned after the fact that a push did not arrive (DSN)."""
        ...

    def delivery_view(self, delivery_id: str, *, department_id: str | None = None) -> DeliveryView:
        """NotFoundError; ForbiddenError when ``department_id`` is not the recipient."""
        ...
