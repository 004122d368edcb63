"""What a push must pass before the hub accepts it, shared by the single and batch endpoints.

:func:`screen` turns a body into a :class:`CanonicalMessage` or a :class:`Refusal`: not UTF-8
JSON (400), invalid (422, every problem), pushed in another department's name (403, not
quarantined: the sender is known and told), classified content (422, with a security alarm).
:func:`quarantine` records refused bodies in the hub, all of a request in one thread hop (the
hub's ``quarantine_input`` is synchronous and rare: it must not run on the event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from adapters.platform.api_schema import FIXED
from hub.core.api import HubApi
from hub.errors import FieldProblem, MessageError, RoutingError
from hub.message import CanonicalMessage, Channel, ClassificationLevel
from hub.validation import parse_message

log = structlog.get_logger(__name__)
PLATFORM = Channel.PLATFORM
_CLASSIFIED = {level.value for level in ClassificationLevel if level.is_classified} | {
    level.label for level in ClassificationLevel if level.is_classified
}


@dataclass(frozen=True)
class Format:
    """How one endpoint's body becomes a canonical message, and where its sender is named."""

    parse: Callable[[bytes], CanonicalMessage]
    sender_key: str
    source_id_path: tuple[str, ...]


CANONICAL = Format(parse_message, "sender.department_id", ("source", "source_id"))


@dataclass(frozen=True)
class Refusal:
    """Why a push is not accepted: its answer, and the problems it is quarantined with (when
    ``quarantine``; an empty body never is)."""

    status: int
    error: str
    zh: str
    en: str
    problems: list[FieldProblem] = field(default_factory=list)
    quarantine: bool = True
    listed: bool = False  # the answer lists the problems

    def content(self, quarantine_id: int | None) -> dict[str, Any]:
        """The error answer's body (``quarantine_id`` present, maybe None, when it applies)."""
        content: dict[str, Any] = {"error": self.error, "zh": self.zh, "en": self.en}
        if self.listed:
            content["problems"] = [{"path": p.path, "zh": p.zh, "en": p.en} for p in self.problems]
        if self.quarantine:
            content["quarantine_id"] = quarantine_id
        return content


def screen(raw: bytes, department: str, fmt: Format) -> CanonicalMessage | Refusal:
    """The message in ``raw``, or why it is refused: not JSON, invalid, spoofed, classified."""
    refusal = not_json(raw)
    if refusal is not None:
        return refusal
    try:
        message = fmt.parse(raw)
    except MessageError as exc:
        _alarm_if_classified(raw, department)
        return invalid(exc.problems)
    if message.sender.department_id != department:
        return _spoofed(message, department, fmt)
    if message.classification.is_classified:
        _alarm_if_classified(raw, department)
        _, zh, en = FIXED["classified_online"]
        return invalid([FieldProblem("classification.level", zh, en)])
    return message


def not_json(raw: bytes) -> Refusal | None:
    """400 (quarantined unless empty) for a body that is not UTF-8 or not JSON."""
    try:
        json.loads(raw.decode("utf-8"))
        return None
    except UnicodeDecodeError:
        error = "invalid_encoding"
    except (ValueError, RecursionError):
        error = "invalid_json"
    status, zh, en = FIXED[error]
    return Refusal(status, error, zh, en, [FieldProblem("", zh, en)])


def _spoofed(message: CanonicalMessage, department: str, fmt: Format) -> Refusal:
    """403 when the token's department is not the message's sender (not quarantined)."""
    claimed = message.sender.department_id
    log.warning(
        "security.sender_spoofed",
        message_id=message.message_id,
        department=department,
        claimed_sender=claimed,
    )
    return Refusal(
        403,
        "sender_mismatch",
        f"令牌属于部门 {department}，不能以部门 {claimed} 的名义推送（{fmt.sender_key}）",
        f"the token belongs to {department}; it cannot push as {claimed} ({fmt.sender_key})",
        quarantine=False,
    )


def invalid(problems: list[FieldProblem]) -> Refusal:
    return Refusal(
        422,
        "invalid_message",
        f"消息校验未通过，共 {len(problems)} 处问题，已隔离登记",
        f"the message failed validation with {len(problems)} problem(s); it was quarantined",
        list(problems),
        listed=True,
    )


def unroutable(exc: RoutingError) -> Refusal:
    return Refusal(422, "unroutable", exc.zh, exc.en, [FieldProblem(exc.path, exc.zh, exc.en)])


async def quarantine(
    hub: HubApi, department: str, fmt: Format, refused: Sequence[tuple[bytes, Refusal]]
) -> list[int | None]:
    """Quarantine each refused body that calls for it (one thread hop for all); their ids."""
    kept = [refusal.quarantine and bool(raw) for raw, refusal in refused]

    def record() -> list[int | None]:
        return [
            _record(hub, department, fmt, raw, refusal) if keep else None
            for (raw, refusal), keep in zip(refused, kept, strict=True)
        ]

    if not any(kept):
        return [None] * len(refused)
    return await asyncio.to_thread(record)


def _record(hub: HubApi, department: str, fmt: Format, raw: bytes, refusal: Refusal) -> int:
    source_id = _dig(raw, *fmt.source_id_path)
    qid = hub.quarantine_input(
        channel=PLATFORM,
        raw=raw,
        problems=refusal.problems,
        source_id=source_id[:200] if isinstance(source_id, str) else "",
    )
    log.warning(
        "message.rejected",
        reason=refusal.error,
        quarantine_id=qid,
        problems=len(refusal.problems),
        department=department,
        channel=PLATFORM.value,
    )
    return qid


def _dig(raw: bytes, *path: str) -> object:
    """The value at ``path`` in a JSON body, or None (for quarantine records and alarms)."""
    try:
        node: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _alarm_if_classified(raw: bytes, department: str) -> None:
    """Log a security event when a refused body says it is classified (涉密) content."""
    level = _dig(raw, "mj") or _dig(raw, "classification", "level")
    if isinstance(level, str) and level in _CLASSIFIED:
        log.error("security.classified_online", department=department, level=level)
