"""Canonical messages in and out of the ledger's JSON column."""

from __future__ import annotations

import json
from typing import Any

from hub.message import CanonicalMessage
from hub.message_parts import STORED


def message_to_json(message: CanonicalMessage) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json")
    return data


def message_from_json(payload: dict[str, Any]) -> CanonicalMessage:
    """Re-validate a stored message (strict JSON mode, as it was accepted; the checksums it
    passed on entry are not recomputed)."""
    return CanonicalMessage.model_validate_json(
        json.dumps(payload, ensure_ascii=False), context={STORED: True}
    )
