"""``PlatformAdapter``: the platform channel (平台推送) as the hub sees it.

Inbound, ``normalize`` accepts a canonical message JSON or the 审管信息互动平台's own format.
Outbound, ``deliver`` POSTs a JSON callback to the department's ``PlatformAddress.endpoint``::

    {"delivery_id", "purpose", "purpose_zh", "attempt", "department_id", "department_name",
     "about_department_id", "message": <canonical message JSON>,
     "deadlines": {"claim_due": iso | null, "objection_due": …, "reply_due": …},
     "deadlines_zh": {"认领期限": "2026-10-08 24:00", …}, "summary_zh",
     "actions": {"claim": "/deliveries/<id>/claim", "objection": …, "reply": …}}

with headers ``Idempotency-Key: <delivery_id>:<purpose>:<about_department_id or ''>`` (the
receiver dedupes on it: retries of one note carry the same key), ``X-Hub-Delivery``,
``X-Hub-Message``, ``X-Hub-Purpose`` and, when a secret is configured, ``X-Hub-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes>``. Escalations and notices carry no actions:
their reader is not the department that claims.

Classified (涉密) or offline-only content is refused before any request is made, whatever the
router decided: classified content never goes online.

In flight: at most ``max_in_flight_per_department`` callbacks to one department and
``max_in_flight`` in all (:class:`InFlight`); the others wait for a slot, at most
``queue_timeout_s``, then fail retryably without being sent. The wait is not part of the request's
own ``total_timeout_s``, which starts once a slot is held; so one ``deliver`` takes at most
``queue_timeout_s + total_timeout_s``, and that sum is ``send_timeout`` (the hub sizes its job
leases from it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import structlog
from pydantic_core import to_json

from adapters.platform.client import PlatformClient
from adapters.platform.config import PlatformConfig
from adapters.platform.normalize import normalize_platform
from hub.channels import ChannelAdapter, OutboundNote, Purpose, Receipt
from hub.clock.now import Clock, SystemClock
from hub.errors import DeliveryError, MessageError, NormalizeError
from hub.message import CanonicalMessage, Channel
from hub.routing.model import PlatformAddress
from hub.validation import parse_message

log = structlog.get_logger(__name__)

_ACTIONS: dict[Purpose, tuple[str, ...]] = {
    Purpose.PUSH: ("claim", "objection", "reply"),
    Purpose.REMINDER: ("claim", "objection", "reply"),
    Purpose.AUTO_CLAIMED: ("objection", "reply"),
}


class CallbackClient(Protocol):
    """What the adapter needs from an HTTP client (``PlatformClient``, or a fake in tests)."""

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class InFlight:
    """At most ``per_key`` holders of a slot per key (department) and ``total`` in all.

    A semaphore per key, made on the key's first use and kept (there are tens of departments,
    not millions), and one for all; the key's is taken first, so a department queued behind its
    own bound holds no slot of the others. ``slot`` waits at most ``wait_s`` for both.
    """

    def __init__(self, total: int, per_key: int, wait_s: float) -> None:
        self._all = asyncio.Semaphore(total)
        self._per_key = per_key
        self._wait_s = wait_s
        self._keyed: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one slot of ``key`` and one of all; DeliveryError (retryable) if none in time."""
        own = self._keyed.get(key)
        if own is None:
            own = self._keyed[key] = asyncio.Semaphore(self._per_key)
        try:
            if own.locked() or self._all.locked():
                async with asyncio.timeout(self._wait_s):
                    await _acquire_both(own, self._all)
            else:  # both free: taken at once, no timer needed
                await _acquire_both(own, self._all)
        except TimeoutError as exc:
            raise DeliveryError(
                "no free callback slot in time (回调并发已满，等待超时)",
                retryable=True,
                details={"department_id": key, "waited_s": str(self._wait_s)},
            ) from exc
        try:
            yield
        finally:
            self._all.release()
            own.release()


async def _acquire_both(first: asyncio.Semaphore, second: asyncio.Semaphore) -> None:
    await first.acquire()
    try:
        await second.acquire()
    except BaseException:
        first.release()
        raise


class PlatformAdapter:
    """The platform channel: normalize pushes, deliver notes as signed JSON callbacks."""

    channel: Channel = Channel.PLATFORM

    def __init__(
        self,
        config: PlatformConfig | None = None,
        *,
        clock: Clock | None = None,
        client: CallbackClient | None = None,
    ) -> None:
        self.config = config or PlatformConfig()
        self._clock = clock or SystemClock()
        self._secret = self.config.signing_secret()  # ConfigError now rather than unsigned later
        self._client = client or PlatformClient(self.config)
        self._in_flight = InFlight(
            self.config.max_in_flight,
            self.config.max_in_flight_per_department,
            self.config.queue_timeout_s,
        )

    @property
    def send_timeout(self) -> float:
        """The longest one delivery may take (the hub derives its job lease from it): the wait
        for an in-flight slot (``queue_timeout_s``) plus the request (``total_timeout_s``)."""
        return self.config.send_timeout_s

    def normalize(self, raw: bytes) -> CanonicalMessage:
        """A canonical message JSON (has ``kind`` and ``body``) or a platform push."""
        if not _looks_canonical(raw):
            return normalize_platform(raw, received_at=self._clock.now())
        try:
            return parse_message(raw)
        except MessageError as exc:
            raise NormalizeError(exc.problems) from exc

    async def deliver(self, note: OutboundNote) -> Receipt:
        """POST the note's callback; DeliveryError says whether a retry can help."""
        bound = log.bind(
            delivery_id=note.delivery_id,
            message_id=note.message.message_id,
            channel=self.channel.value,
            purpose=note.purpose.value,
            attempt=note.attempt,
        )
        _refuse_offline(note, bound)
        url = _endpoint(note)
        body = encode_payload(callback_payload(note, self.config.public_base_url))
        try:
            async with self._in_flight.slot(note.department_id):
                status, answer = await self._client.post_json(url, body, self.headers(note, body))
        except DeliveryError as exc:
            bound.warning(
                "delivery.failed",
                reason=exc.reason,
                retryable=exc.retryable,
                status=exc.details.get("status"),
            )
            raise
        reference = _receipt(answer) or str(status)
        bound.info("delivery.sent", status=status, reference=reference)
        return Receipt(self.channel, reference=reference, detail=f"HTTP {status}")

    def headers(self, note: OutboundNote, body: bytes) -> dict[str, str]:
        """The callback headers, signed over ``body`` when a secret is configured."""
        headers = {
            "Idempotency-Key": idempotency_key(note),
            "X-Hub-Delivery": note.delivery_id,
            "X-Hub-Message": note.message.message_id,
            "X-Hub-Purpose": note.purpose.value,
        }
        if self._secret is not None:
            headers["X-Hub-Signature"] = sign(self._secret, body)
        return headers

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def idempotency_key(note: OutboundNote) -> str:
    """``<delivery_id>:<purpose>:<about_department_id or ''>``: equal for retries of one note."""
    return f"{note.delivery_id}:{note.purpose.value}:{note.about_department_id or ''}"


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body bytes (the receiver recomputes and compares)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def callback_payload(note: OutboundNote, base_url: str | None = None) -> dict[str, Any]:
    """The JSON object POSTed to the department for ``note``."""
    return {
        "delivery_id": note.delivery_id,
        "purpose": note.purpose.value,
        "purpose_zh": note.purpose.label,
        "attempt": note.attempt,
        "department_id": note.department_id,
        "department_name": note.department_name,
        "about_department_id": note.about_department_id,
        "message": note.message,  # serialized by encode_payload (pydantic-core, in Rust)
        "deadlines": {
            "claim_due": note.claim_due.isoformat() if note.claim_due else None,
            "objection_due": note.objection_due.isoformat() if note.objection_due else None,
            "reply_due": note.reply_due.isoformat() if note.reply_due else None,
        },
        "deadlines_zh": dict(note.deadlines_zh),
        "summary_zh": note.summary_zh,
        "actions": action_links(note, base_url),
    }


def action_links(note: OutboundNote, base_url: str | None = None) -> dict[str, str]:
    """Where the department acts on its delivery; none for escalations and notices."""
    if note.about_department_id is not None:
        return {}
    path = f"{base_url or ''}/deliveries/{quote(note.delivery_id, safe='')}"
    return {action: f"{path}/{action}" for action in _ACTIONS.get(note.purpose, ())}


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (the exact bytes that are signed and sent); models inside are
    serialized as ``model_dump(mode="json")`` would, without the intermediate dicts."""
    return to_json(payload)


def _refuse_offline(note: OutboundNote, bound: Any) -> None:
    """Classified or offline-only content never leaves by this channel, whatever routing said."""
    classification = note.message.classification
    if classification.is_classified:
        bound.error("security.classified_online", level=classification.level.value)
        raise DeliveryError(
            "classified content may only travel on paper (涉密信息只能纸质推送)",
            retryable=False,
            details={"classification": classification.level.value},
        )
    if classification.offline_only:
        bound.warning("delivery.failed", reason="offline_only", retryable=False)
        raise DeliveryError(
            "offline-only content is not pushed online (不宜线上推送)",
            retryable=False,
            details={"classification": "offline_only"},
        )


def _endpoint(note: OutboundNote) -> str:
    if isinstance(note.address, PlatformAddress):
        return note.address.endpoint
    raise DeliveryError(
        "no platform address for the department (部门未配置平台回调地址)",
        retryable=False,
        details={"department_id": note.department_id, "address": type(note.address).__name__},
    )


def _looks_canonical(raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "kind" in data and "body" in data


def _receipt(answer: bytes) -> str:
    """The ``receipt`` the department returned, if its answer is JSON with one."""
    try:
        data = json.loads(answer)
    except (ValueError, RecursionError):
        return ""
    value = data.get("receipt") if isinstance(data, dict) else None
    return str(value)[:200] if isinstance(value, str | int) and value != "" else ""


if TYPE_CHECKING:
    _check: ChannelAdapter = PlatformAdapter()
