"""The routing.yaml schema: strict pydantic models, each node validating itself.

Cross-references between nodes (departments named by routes, policies per kind) are checked
afterwards by :mod:`hub.routing.crossref`; this module only knows single nodes.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hub.clock.calendar import CalendarConfig
from hub.clock.spec import DeadlineSpec, DeadlineSpecField
from hub.message import Channel, Direction, MessageKind
from hub.routing.matchers import Match, check_message_path
from hub.routing.timing import forward_problem, reminder_problem

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FieldPath = Annotated[str, AfterValidator(check_message_path)]

#: Recipient placeholders a route may use in ``to``.
RECIPIENTS_PLACEHOLDER = "@recipients"  # the message's own ``recipients``
APPROVAL_BUREAU_PLACEHOLDER = "@approval_bureau"
PLACEHOLDERS = frozenset({RECIPIENTS_PLACEHOLDER, APPROVAL_BUREAU_PLACEHOLDER})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportPeriod(StrEnum):
    MONTHLY = "monthly"  # 每月通报 (周村区 第七条)
    QUARTERLY = "quarterly"  # 每季度通报 (冠县 第二十三条)
    PERIODIC = "periodic"  # 定期通报 (梁山县 第十八条), operator picks the cadence
    NONE = "none"


class Measures(Strict):
    """The source document of the rules, and its validity period (warned about when expired)."""

    title: Text
    document_number: Text | None = None
    issued_by: Text | None = None
    effective_from: dt.date
    effective_until: dt.date | None = None

    @model_validator(mode="after")
    def _period(self) -> Measures:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until 早于 effective_from (validity ends before it starts)")
        return self


class Jurisdiction(Strict):
    name: Text
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    province: Text | None = None
    measures: Measures
    report_period: ReportPeriod = ReportPeriod.NONE


class Contact(Strict):
    name: Text
    title: Text | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    filed_on: dt.date | None = None  # 备案日期 of a liaison change


class PlatformAddress(Strict):
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]


class EmailAddress(Strict):
    addresses: tuple[
        Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...
    ] = Field(min_length=1)


class SelfbuiltAddress(Strict):
    system: Text
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None


class PaperAddress(Strict):
    address: Text
    recipient: Text | None = None


class DepartmentChannels(Strict):
    platform: PlatformAddress | None = None
    email: EmailAddress | None = None
    selfbuilt: SelfbuiltAddress | None = None
    paper: PaperAddress | None = None

    def has(self, channel: Channel) -> bool:
        return getattr(self, channel.value) is not None


class DepartmentRole(StrEnum):
    APPROVAL = "approval"  # 行政审批部门
    SUPERVISION = "supervision"  # 行业主管/监管部门
    ENFORCEMENT = "enforcement"  # 综合执法部门
    GOVERNMENT_OFFICE = "government_office"  # 县政府办公室
    COORDINATION = "coordination"  # 联席会议 / 协调小组 / 营商环境局
    CREDIT_PLATFORM = "credit_platform"  # 信用信息平台


def _forwards(spec: DeadlineSpec) -> DeadlineSpec:
    """Claim, objection, reply and push deadlines count forward: "-1wd" there cannot work."""
    problem = forward_problem(spec)
    if problem is not None:
        raise ValueError(f"{problem[0]} ({problem[1]})")
    return spec


ForwardSpec = Annotated[DeadlineSpecField, AfterValidator(_forwards)]


class EscalationStep(Strict):
    """One step of a department's escalation chain (提醒 → 约谈)."""

    to: Id
    action: Literal["remind", "notify", "interview"] = "notify"  # 提醒 / 通知 / 约谈
    after: ForwardSpec | None = None  # time after the previous step; None = at once
    contact: Contact | None = None


class Department(Strict):
    id: Id
    name: Text
    role: DepartmentRole = DepartmentRole.SUPERVISION
    channels: DepartmentChannels
    liaisons: tuple[Contact, ...] = ()
    escalation: tuple[EscalationStep, ...] = ()


class PushRule(Strict):
    """The sender's own push deadline, counted from a date in the message (default occurred_at)."""

    within: ForwardSpec
    from_: FieldPath = Field(default="occurred_at", alias="from")


def _backwards(spec: DeadlineSpec) -> DeadlineSpec:
    """Reminders and advance notices count back; "1wd" there means "1wd before"."""
    if spec.before:
        return spec
    if spec.kind == "same_day":
        raise ValueError("提醒或提前量不能是“当日” (a reminder or advance notice needs a length)")
    return DeadlineSpec(spec.kind, spec.half_days, before=True)


BeforeSpec = Annotated[DeadlineSpecField, AfterValidator(_backwards)]


def _after_arrival(
    reminders: tuple[DeadlineSpec, ...], info: ValidationInfo
) -> tuple[DeadlineSpec, ...]:
    """Every reminder must fire after the push arrives (see :mod:`hub.routing.timing`)."""
    within = info.data.get("within")
    if not isinstance(within, DeadlineSpec):
        return reminders  # the deadline itself is invalid and reported
    for reminder in reminders:
        problem = reminder_problem(within, reminder)
        if problem is not None:
            raise ValueError(f"{problem[0]} ({problem[1]})")
    return reminders


class ClaimRule(Strict):
    within: ForwardSpec
    on_timeout: Literal["auto_claim", "escalate"]
    reminders: tuple[BeforeSpec, ...] = ()  # before the claim deadline: "-0.5wd" or "0.5wd"
    _reminders_after_arrival = field_validator("reminders")(_after_arrival)


class ObjectionRule(Strict):
    """Window for objection/feedback; silence means accepted (未提出异议的，视为认可)."""

    within: ForwardSpec
    silence: Literal["accepted"] = "accepted"


class ReplyRule(Strict):
    """A reply is expected; ``silence: agreed`` = 逾期不回复的视为同意."""

    within: ForwardSpec
    silence: Literal["agreed", "none"] = "none"
    reminders: tuple[BeforeSpec, ...] = ()
    _reminders_after_arrival = field_validator("reminders")(_after_arrival)


class AdvanceRule(Strict):
    """The push must arrive at least ``before`` ahead of a time in the message.

    E.g. 联合踏勘: contact the department at least 1 working day before the inspection.
    """

    before: BeforeSpec
    of: FieldPath


class PolicyRules(Strict):
    """The rules a policy sets; also the shape of a route's partial ``overrides``."""

    push: PushRule | None = None
    claim: ClaimRule | None = None
    objection: ObjectionRule | None = None
    reply: ReplyRule | None = None
    advance_notice: AdvanceRule | None = None
    report_period: ReportPeriod | None = None


class PolicyPatch(Strict):
    """A route's partial change to its policy: only the fields given replace the policy's."""

    push: dict[str, object] | None = None
    claim: dict[str, object] | None = None
    objection: dict[str, object] | None = None
    reply: dict[str, object] | None = None
    advance_notice: dict[str, object] | None = None
    report_period: ReportPeriod | None = None

    @model_validator(mode="after")
    def _fields_exist(self) -> PolicyPatch:
        shapes: dict[str, type[BaseModel]] = {
            "push": PushRule,
            "claim": ClaimRule,
            "objection": ObjectionRule,
            "reply": ReplyRule,
            "advance_notice": AdvanceRule,
        }
        for name, shape in shapes.items():
            patch = getattr(self, name)
            known = {f.alias or n for n, f in shape.model_fields.items()}
            for key in sorted(set(patch or {}) - known):
                raise ValueError(
                    f"{name} 没有字段 {key!r}，可选：{', '.join(sorted(known))} "
                    f"(unknown {name} field {key!r})"
                )
        return self

    def apply(self, rules: PolicyRules) -> PolicyRules:
        """``rules`` with this patch laid over it (raises ``ValidationError`` if incomplete)."""
        base = rules.model_dump(
            include=set(PolicyRules.model_fields), by_alias=True, exclude_none=True, mode="json"
        )
        return PolicyRules.model_validate(_overlay(base, self.model_dump(exclude_none=True)))

    def over(self, base: PolicyPatch | None) -> PolicyPatch:
        """This patch laid over a parent route's patch."""
        if base is None:
            return self
        merged = _overlay(base.model_dump(exclude_none=True), self.model_dump(exclude_none=True))
        return PolicyPatch.model_validate(merged)


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, merging one level of nested mappings."""
    merged = dict(base)
    for name, value in top.items():
        old = merged.get(name)
        merged[name] = (
            {**old, **value} if isinstance(value, dict) and isinstance(old, dict) else value
        )
    return merged


class Policy(PolicyRules):
    id: Id
    kinds: tuple[MessageKind, ...] = ()  # empty: applies only where a route names it
    direction: Direction | None = None
    basis: tuple[Text, ...] = ()  # the articles the rules come from, e.g. "冠县 第十七条(一)"


class Route(Strict):
    id: Id
    match: Match = Field(default_factory=Match)
    to: tuple[str, ...] | None = None
    channels: tuple[Channel, ...] | None = None
    policy: Id | None = None
    overrides: PolicyPatch | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[Route, ...] = ()
    description: Text | None = None

    @model_validator(mode="after")
    def _node(self) -> Route:
        if self.channels is not None:
            if not self.channels:
                raise ValueError("channels 不能为空 (channels must not be empty)")
            if len(set(self.channels)) != len(self.channels):
                raise ValueError("channels 有重复 (a channel is listed twice)")
        if self.to is not None and not self.to:
            raise ValueError("to 不能为空列表 (to must name at least one department)")
        return self


class RoutingConfig(Strict):
    version: Literal[1] = 1
    jurisdiction: Jurisdiction
    approval_bureau: Id
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    departments: tuple[Department, ...] = Field(min_length=1)
    policies: tuple[Policy, ...] = Field(min_length=1)
    route: Route
