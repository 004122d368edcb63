"""Deterministic ids: the same message and department always give the same delivery id."""

from __future__ import annotations

import base64
import hashlib


def delivery_id(message_id: str, department_id: str) -> str:
    digest = hashlib.sha256(f"{message_id}\x1f{department_id}".encode()).digest()
    return "D" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:25]
