"""Delivery status notifications (RFC 3464), read without judging them (pure, no I/O).

A DSN is ``multipart/report; report-type=delivery-status``: a human-readable part, a
``message/delivery-status`` part (one block of per-message fields, then one block per
recipient) and the returned mail (``message/rfc822``) or only its headers
(``text/rfc822-headers``). :func:`read_report` returns the recipients' statuses and the
returned mail's headers; :mod:`adapters.email.normalize` decides what the report means.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

__all__ = ["DeliveryReport", "DsnRecipient", "is_delivery_report", "read_report"]

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_THREAD_HEADERS = ("Message-ID", "In-Reply-To", "References")


@dataclass(frozen=True)
class DsnRecipient:
    """One recipient block: the address, its status (``5.1.1``) and the server's diagnostic."""

    address: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class DeliveryReport:
    recipients: list[DsnRecipient]
    original: Message | None  # the returned mail's headers

    @property
    def failed(self) -> list[DsnRecipient]:
        """Permanent failures (``5.x.x``)."""
        return [r for r in self.recipients if r.status.startswith("5.")]

    @property
    def delayed(self) -> bool:
        """True when some recipient is only delayed (``4.x.x``)."""
        return any(r.status.startswith("4.") for r in self.recipients)

    @property
    def subject(self) -> str:
        return str(self.original.get("Subject", "") or "") if self.original else ""

    @property
    def thread_ids(self) -> str:
        """The returned mail's Message-ID, In-Reply-To and References, space-separated."""
        if self.original is None:
            return ""
        return " ".join(str(self.original.get(h, "") or "") for h in _THREAD_HEADERS)


def is_delivery_report(msg: Message) -> bool:
    report_type = str(msg.get_param("report-type", "") or "").lower()
    return msg.get_content_type() == "multipart/report" and report_type == "delivery-status"


def read_report(msg: Message) -> DeliveryReport:
    recipients = [r for part in msg.walk() for r in _recipients(part)]
    return DeliveryReport(recipients, _returned_headers(msg))


def _recipients(part: Message) -> list[DsnRecipient]:
    if part.get_content_type() != "message/delivery-status":
        return []
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return []
    found = [_recipient(b) for b in blocks[1:] if isinstance(b, Message)]
    return [r for r in found if r is not None]


def _recipient(block: Message) -> DsnRecipient | None:
    status = _STATUS.search(str(block.get("Status", "") or ""))
    if status is None:
        return None
    address = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
    diagnostic = " ".join(str(block.get("Diagnostic-Code", "") or "").split())
    return DsnRecipient(
        address.split(";", 1)[-1].strip().strip("<>").lower(),
        status.group(0),
        diagnostic.split(";", 1)[-1].strip()[:500],
    )


def _returned_headers(msg: Message) -> Message | None:
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
            return HeaderParser(policy=email.policy.default).parsestr(text)
    return None
