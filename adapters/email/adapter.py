"""``EmailAdapter``: the email channel (邮件推送, 公务安全邮箱) as the hub sees it.

Outbound, ``deliver`` renders the note (``render.py``: threaded, Chinese, claimable by reply)
and submits it through the SMTP pool (``client.py``) to the department's
``EmailAddress.addresses``; the receipt's reference is the mail's Message-ID. Inbound,
``normalize`` maps a raw RFC 5322 mail to a canonical message (``normalize.py``).

Classified (涉密) or offline-only content is refused before anything is rendered, whatever the
router decided: classified content never goes online, and mail is the least controlled channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from adapters.email.client import SendResult, SmtpPool
from adapters.email.config import EmailConfig
from adapters.email.render import BlobSource, render
from hub.channels import ChannelAdapter, OutboundNote, Receipt
from hub.errors import DeliveryError
from hub.message import CanonicalMessage, Channel
from hub.routing.model import EmailAddress

log = structlog.get_logger(__name__)


class MailSender(Protocol):
    """What the adapter needs from an SMTP pool (``SmtpPool``, or a fake in tests)."""

    async def send(self, message: EmailMessage, recipients: Sequence[str]) -> SendResult: ...

    async def aclose(self) -> None: ...


class EmailAdapter:
    """The email channel: deliver notes as threaded mail, normalize replies and pushes."""

    channel: Channel = Channel.EMAIL

    def __init__(
        self,
        config: EmailConfig,
        blobs: BlobSource | None = None,
        *,
        pool: MailSender | None = None,
    ) -> None:
        self.config = config
        self._blobs = blobs  # None: attachments are listed, not attached
        self._pool: MailSender = pool or SmtpPool(config)

    @property
    def send_timeout(self) -> float:
        """The longest one delivery may take: connect, then send (the job lease derives from it)."""
        return 2 * self.config.smtp.timeout

    def normalize(self, raw: bytes) -> CanonicalMessage:
        """A raw mail (RFC 5322 bytes) as a canonical message (NormalizeError if it is not one)."""
        from adapters.email.normalize import normalize_email  # the inbound half, pure

        return normalize_email(raw)

    async def deliver(self, note: OutboundNote) -> Receipt:
        """Render and submit ``note``; DeliveryError says whether a retry can help."""
        bound = log.bind(
            delivery_id=note.delivery_id,
            message_id=note.message.message_id,
            channel=self.channel.value,
            purpose=note.purpose.value,
            attempt=note.attempt,
        )
        _refuse_offline(note, bound)
        recipients = _recipients(note)
        mail = render(note, self.config, self._blobs)
        bound = bound.bind(mail_id=str(mail["Message-ID"]))
        try:
            result = await self._pool.send(mail, recipients)
        except DeliveryError as exc:
            bound.warning(
                "delivery.failed",
                reason=exc.reason,
                retryable=exc.retryable,
                code=exc.details.get("code"),
            )
            raise
        bound.info("delivery.sent", answer=result.answer[:200], refused=sorted(result.refused))
        return Receipt(self.channel, reference=str(mail["Message-ID"]), detail=_detail(result))

    async def aclose(self) -> None:
        """Close the SMTP connections."""
        await self._pool.aclose()


def _refuse_offline(note: OutboundNote, bound: Any) -> None:
    """Classified or offline-only content never leaves by mail, whatever routing said."""
    classification = note.message.classification
    if classification.is_classified:
        bound.error("security.classified_online", level=classification.level.value)
        raise DeliveryError(
            "classified content may only travel on paper (涉密信息只能纸质推送，不能通过邮件发送)",
            retryable=False,
            details={"classification": classification.level.value},
        )
    if classification.offline_only:
        bound.error("security.classified_online", level="offline_only")
        raise DeliveryError(
            "offline-only content is not sent by mail (不宜线上推送的信息不能通过邮件发送)",
            retryable=False,
            details={"classification": "offline_only"},
        )


def _recipients(note: OutboundNote) -> tuple[str, ...]:
    if isinstance(note.address, EmailAddress):
        return note.address.addresses
    raise DeliveryError(
        "no email address for the department (部门未配置公务邮箱地址)",
        retryable=False,
        details={"department_id": note.department_id, "address": type(note.address).__name__},
    )


def _detail(result: SendResult) -> str:
    """The server's answer, and who was refused when only some recipients were."""
    if not result.refused:
        return result.answer[:200]
    refused = "; ".join(f"{address} {said}" for address, said in sorted(result.refused.items()))
    return f"{result.answer[:200]} | 部分收件人被拒收 (refused): {refused}"[:500]


if TYPE_CHECKING:
    from adapters.email.config import ServerConfig

    _check: ChannelAdapter = EmailAdapter(
        EmailConfig(smtp=ServerConfig(host="localhost", port=587))
    )
