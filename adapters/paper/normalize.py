"""Inbound paper is registered by an operator as canonical JSON: parse it strictly."""

from __future__ import annotations

from hub.errors import MessageError, NormalizeError
from hub.message import CanonicalMessage
from hub.validation import parse_message


def normalize_paper(raw: bytes) -> CanonicalMessage:
    try:
        return parse_message(raw)
    except MessageError as exc:
        raise NormalizeError(exc.problems) from exc
