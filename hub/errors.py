"""The hub's exception tree. Every error the hub raises on purpose derives from ``HubError``.

HubError
├── ConfigError                 routing.yaml or calendar config is invalid (YAML path + line)
├── MessageError                a payload is not a valid canonical message (field problems)
│   └── NormalizeError          an adapter could not map a channel's raw payload
├── CalendarError               a working-day spec or calendar override is malformed
├── RoutingError                a valid message cannot be routed (unknown department, no route)
│   └── ClassifiedRoutingError  classified (涉密) content would leave by a non-paper channel
└── DeliveryError               a channel failed; ``retryable`` says whether retry helps
"""

from __future__ import annotations

from dataclasses import dataclass, field


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


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
    """A valid message cannot be routed (unknown department, nothing matched)."""


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
