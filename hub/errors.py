"""The hub's exception tree. Every error the hub raises on purpose derives from ``HubError``.

HubError
├── ConfigError                 routing.yaml or calendar config is invalid (YAML path + line)
├── MessageError                a payload is not a valid canonical message (field problems)
│   └── NormalizeError          an adapter could not map a channel's raw payload
├── CalendarError               a working-day spec or calendar override is malformed
├── RoutingError                a valid message cannot be routed (unknown department, no route);
│   │                           carries ``zh``, ``en`` and ``path`` like ActionError
│   └── ClassifiedRoutingError  classified (涉密) content would leave by a non-paper channel
└── DeliveryError               a channel failed; ``retryable`` says whether retry helps
"""

from __future__ import annotations

from dataclasses import dataclass, field


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


def split_bilingual(text: str) -> tuple[str, str] | None:
    """Split the house form ``中文说明 (English text)`` at its trailing balanced parentheses."""
    if not text.endswith(")"):
        return None
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            zh, en = text[:index].rstrip(), text[index + 1 : -1]
            return (zh, en) if zh and en else None
    return None


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field, in Chinese for operators and English for engineers."""

    path: str
    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.zh} ({self.en})"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, located by YAML path and line (1-based, 0 = unknown)."""

    path: str
    line: int
    zh: str
    en: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else f"line {self.line}"
        return f"{where}: {self.path or '<root>'}: {self.zh} ({self.en})"


class ConfigError(HubError):
    """A config file failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MessageError(HubError):
    """A payload is not a valid canonical message; ``problems`` lists every field problem."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NormalizeError(MessageError):
    """An adapter could not map a raw channel payload to a canonical message."""


class CalendarError(HubError):
    """A working-day spec or a calendar override is malformed."""


class RoutingError(HubError):
    """A valid message cannot be routed (unknown department, nothing matched).

    ``zh`` and ``en`` say why, ``path`` names what it concerns (a message field such as
    ``recipients`` or a route id; "" when nothing in particular). ``str(exc)`` stays the house
    form ``中文 (English)``. The one-argument form ``RoutingError("中文 (English)")`` is still
    accepted and split into ``zh`` and ``en``.
    """

    def __init__(self, zh: str, en: str | None = None, *, path: str = "") -> None:
        if en is None:
            text = zh
            zh, en = split_bilingual(text) or (text, text)
        else:
            text = f"{zh} ({en})"
        self.zh = zh
        self.en = en
        self.path = path
        super().__init__(text)


class ClassifiedRoutingError(RoutingError):
    """Classified (涉密) content would leave by a channel other than paper."""


@dataclass
class DeliveryError(HubError):
    """A channel failed to deliver. ``retryable`` is True when trying again may help."""

    reason: str
    retryable: bool
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        kind = "retryable" if self.retryable else "permanent"
        return f"{kind} delivery error: {self.reason}"


class ActionError(HubError):
    """A claim, objection or reply cannot be applied; ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} ({en})")


class NotFoundError(ActionError):
    """No such delivery or message."""


class ForbiddenError(ActionError):
    """The acting department may not act on that delivery."""


class StateConflictError(ActionError):
    """The delivery's state does not allow the action (e.g. already auto-claimed)."""
