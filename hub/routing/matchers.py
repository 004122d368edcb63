"""Route matchers: conditions on message fields, validated per node and compiled to predicates.

A condition is written as a scalar (equality), a list (one of), or a mapping with one or more of
``eq``, ``in``, ``not_in``, ``regex``, ``not_regex``, ``exists``. Regexes are anchored (full match),
like Alertmanager's. Named matchers read well-known fields; ``fields`` reaches any message field by
its dotted path (``body.party.uscc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.message import ClassificationLevel, Direction, MessageKind, message_field_paths

if TYPE_CHECKING:
    from hub.message import CanonicalMessage

Scalar = str | int | bool

#: Named matcher -> dotted message path it reads.
NAMED_FIELDS: dict[str, str] = {
    "kind": "kind",
    "direction": "direction",
    "sender": "sender.department_id",
    "item_name": "body.item.name",
    "item_code": "body.item.code",
    "classification": "classification.level",
}

#: Named matchers whose values come from a closed set.
ENUM_DOMAINS: dict[str, frozenset[str]] = {
    "kind": frozenset(k.value for k in MessageKind),
    "direction": frozenset(d.value for d in Direction),
    "classification": frozenset(c.value for c in ClassificationLevel),
}


def check_message_path(path: str) -> str:
    """``path`` if it names a field of some canonical message, else a bilingual ValueError."""
    if path not in message_field_paths():
        raise ValueError(f"消息中没有字段 {path!r}，见 hub schema (no message field {path!r})")
    return path


class Condition(BaseModel):
    """One condition on one value. Every part given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    eq: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Scalar, ...] | None = None
    regex: str | None = None
    not_regex: str | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {"in": list(value)}
        if isinstance(value, str | int | bool):
            return {"eq": value}
        return value

    @field_validator("regex", "not_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"正则表达式无效 {value!r}：{exc} (invalid regex {value!r}: {exc})"
                ) from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(
                "条件为空 (empty condition: give eq, in, not_in, regex, not_regex or exists)"
            )
        return self

    def listed_values(self) -> frozenset[str] | None:
        """The closed set of values this condition admits, when it is an eq/in condition."""
        if self.regex or self.not_regex or self.exists is not None:
            return None
        values: set[str] | None = None
        if self.eq is not None:
            values = {str(self.eq)}
        if self.in_ is not None:
            listed = {str(v) for v in self.in_}
            values = listed if values is None else values & listed
        if values is not None and self.not_in is not None:
            values -= {str(v) for v in self.not_in}
        return None if values is None else frozenset(values)

    def predicate(self) -> Callable[[Any], bool]:
        """Compile to a function of the field value (``None`` when the field is absent)."""
        checks: list[Callable[[Any], bool]] = []
        if self.exists is not None:
            want = self.exists
            checks.append(lambda v: (v is not None) == want)
        if self.eq is not None:
            eq = _norm(self.eq)
            checks.append(lambda v: v is not None and _norm(v) == eq)
        if self.in_ is not None:
            allowed = frozenset(_norm(x) for x in self.in_)
            checks.append(lambda v: v is not None and _norm(v) in allowed)
        if self.not_in is not None:
            banned = frozenset(_norm(x) for x in self.not_in)
            checks.append(lambda v: v is None or _norm(v) not in banned)
        if self.regex is not None:
            pattern = re.compile(self.regex)
            checks.append(lambda v: v is not None and pattern.fullmatch(_norm(v)) is not None)
        if self.not_regex is not None:
            anti = re.compile(self.not_regex)
            checks.append(lambda v: v is None or anti.fullmatch(_norm(v)) is None)
        return lambda value: all(check(value) for check in checks)


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Match(BaseModel):
    """The matchers of one route. All must hold; an empty match matches every message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Condition | None = None
    direction: Condition | None = None
    sender: Condition | None = None
    item_name: Condition | None = None
    item_code: Condition | None = None
    classification: Condition | None = None
    classified: bool | None = None
    fields: dict[str, Condition] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_values(self) -> Match:
        for name, domain in ENUM_DOMAINS.items():
            cond: Condition | None = getattr(self, name)
            values = cond.listed_values() if cond is not None else None
            for value in sorted((values or frozenset()) - domain):
                raise ValueError(
                    f"{name} 的取值 {value!r} 不存在，可选：{', '.join(sorted(domain))} "
                    f"(unknown {name} {value!r})"
                )
        for path in self.fields:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", path):
                raise ValueError(
                    f"字段路径格式错误 {path!r} (bad field path {path!r}: use dotted names)"
                )
            check_message_path(path)
        return self

    def is_empty(self) -> bool:
        return not self.model_fields_set - {"fields"} and not self.fields

    def conditions(self) -> dict[str, Condition]:
        """Every condition keyed by the dotted message path it reads."""
        out = {NAMED_FIELDS[n]: getattr(self, n) for n in NAMED_FIELDS if getattr(self, n)}
        out.update(self.fields)
        return out

    def admitted(self, name: str) -> frozenset[str] | None:
        """Closed set of values a named enum matcher admits (None = unrestricted)."""
        cond: Condition | None = getattr(self, name)
        if name == "classification" and self.classified is not None:
            levels = {c.value for c in ClassificationLevel if c.is_classified == self.classified}
            base = cond.listed_values() if cond else None
            return frozenset(levels if base is None else levels & base)
        return cond.listed_values() if cond else None

    def compile(self) -> Callable[[CanonicalMessage], bool]:
        """A predicate over messages."""
        tests = [(path, cond.predicate()) for path, cond in self.conditions().items()]
        classified = self.classified

        def matches(message: CanonicalMessage) -> bool:
            if classified is not None and message.classification.is_classified != classified:
                return False
            return all(test(message.field(path)) for path, test in tests)

        return matches
