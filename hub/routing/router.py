"""The router: a message and an instant in, one decision per recipient department out.

Classified (涉密) or offline-only messages leave by paper only, whatever the route says; if any
online channel survived to the end the router raises ``ClassifiedRoutingError`` instead of
returning, so a wrong config or a bug cannot leak such content online.
"""

from __future__ import annotations

import datetime as dt

import structlog

from hub.clock.calendar import WorkCalendar
from hub.clock.deadline import Deadline, compute_deadline
from hub.clock.spec import DeadlineSpec
from hub.errors import ClassifiedRoutingError, RoutingError
from hub.message import CanonicalMessage, Channel
from hub.routing.decision import DeadlineCheck, RecipientDecision, RoutingResult
from hub.routing.model import (
    APPROVAL_BUREAU_PLACEHOLDER,
    RECIPIENTS_PLACEHOLDER,
    Department,
    Policy,
    PolicyRules,
    RoutingConfig,
)
from hub.routing.tree import CompiledRoute, compile_route
from hub.routing.validity import validity_warnings
from hub.routing.views import policy_for

log = structlog.get_logger(__name__)


class Router:
    """Resolves messages against one compiled ``routing.yaml``."""

    def __init__(self, config: RoutingConfig, calendar: WorkCalendar | None = None) -> None:
        self.config = config
        self.calendar = calendar or WorkCalendar(config.calendar)
        self.tree: CompiledRoute = compile_route(config.route)
        self.departments: dict[str, Department] = {d.id: d for d in config.departments}

    def resolve(self, message: CanonicalMessage, at: dt.datetime | None = None) -> RoutingResult:
        """Route ``message`` as if it arrived at ``at`` (default: its ``received_at``)."""
        at = at or message.source.received_at
        bound = log.bind(message_id=message.message_id, kind=message.kind.value)
        self._check_sender(message)
        decisions: list[RecipientDecision] = []
        seen: set[str] = set()
        for route in self.tree.select(message):
            for dept_id in self._expand(route, message):
                if dept_id in seen or dept_id == message.sender.department_id:
                    continue
                seen.add(dept_id)
                decisions.append(self._decide(message, at, route, self.departments[dept_id]))
                bound.info("route.matched", route_id=route.id, department=dept_id)
        if not decisions:
            raise RoutingError(f"没有匹配的路由或收件部门 (no route delivers {message.message_id})")
        return RoutingResult(
            message.message_id, message.kind.value, at, tuple(decisions), tuple(self._warnings(at))
        )

    def policy_for(self, message: CanonicalMessage, route: CompiledRoute) -> Policy:
        """The policy a route applies: its own (inherited) or the one for kind and direction."""
        policy = policy_for(self.config, route.policy_id, message.kind, message.direction)
        if policy is None:
            raise RoutingError(f"没有适用于 {message.kind.value} 的策略 (no policy for this kind)")
        return policy

    def _check_sender(self, message: CanonicalMessage) -> None:
        if message.sender.department_id not in self.departments:
            raise RoutingError(
                f"未知的发送部门 {message.sender.department_id!r} "
                f"(unknown sender department {message.sender.department_id!r})"
            )

    def _expand(self, route: CompiledRoute, message: CanonicalMessage) -> list[str]:
        out: list[str] = []
        for target in route.to or ():
            if target == RECIPIENTS_PLACEHOLDER:
                if not message.recipients:
                    raise RoutingError(
                        f"路由 {route.id} 需要消息指定 recipients "
                        f"(route {route.id!r} needs the message's recipients)"
                    )
                out.extend(message.recipients)
            elif target == APPROVAL_BUREAU_PLACEHOLDER:
                out.append(self.config.approval_bureau)
            else:
                out.append(target)
        for dept_id in out:
            if dept_id not in self.departments:
                raise RoutingError(f"未知的收件部门 {dept_id!r} (unknown department {dept_id!r})")
        return out

    def _decide(
        self, message: CanonicalMessage, at: dt.datetime, route: CompiledRoute, dept: Department
    ) -> RecipientDecision:
        policy = self.policy_for(message, route)
        rules: PolicyRules = route.overrides.apply(policy) if route.overrides else policy
        channels, notes = self._channels(message, route, dept)
        claim = rules.claim
        claim_due = self._due(at, claim.within) if claim else None
        return RecipientDecision(
            department_id=dept.id,
            department_name=dept.name,
            route_id=route.id,
            route_path=route.path,
            channels=channels,
            policy_id=policy.id,
            basis=policy.basis,
            claim_due=claim_due,
            on_timeout=claim.on_timeout if claim else None,
            reminders=self._reminders(claim_due, claim.reminders if claim else ()),
            objection_due=self._due(at, rules.objection.within) if rules.objection else None,
            reply_due=self._due(at, rules.reply.within) if rules.reply else None,
            reply_silence=rules.reply.silence if rules.reply else None,
            push_check=self._push_check(message, at, rules),
            advance_check=self._advance_check(message, at, rules),
            report_period=(rules.report_period or self.config.jurisdiction.report_period).value,
            escalation=tuple(step.to for step in dept.escalation),
            notes=notes,
        )

    def _channels(
        self, message: CanonicalMessage, route: CompiledRoute, dept: Department
    ) -> tuple[tuple[Channel, ...], tuple[str, ...]]:
        notes: list[str] = []
        channels = tuple(c for c in route.channels if dept.channels.has(c))
        if len(channels) < len(route.channels):
            notes.append("部分渠道无地址已跳过 (channels without an address skipped)")
        if message.classification.paper_only:
            channels = (Channel.PAPER,)
            notes.append("涉密或不宜线上：仅纸质推送 (classified/offline: paper only)")
        if not channels:
            channels = (Channel.PAPER,)
        self._assert_paper_only(message, channels)
        return channels, tuple(notes)

    def _assert_paper_only(self, message: CanonicalMessage, channels: tuple[Channel, ...]) -> None:
        """Last line of defence: classified content never gets an online channel."""
        online = [c.value for c in channels if c.is_online]
        if message.classification.is_classified and online:
            log.error("security.classified_online", message_id=message.message_id, channels=online)
            raise ClassifiedRoutingError(
                f"涉密消息 {message.message_id} 不得线上推送 (classified content on {online})"
            )

    def _due(self, start: dt.datetime, spec: DeadlineSpec) -> Deadline:
        return compute_deadline(self.calendar, start, spec)

    def _reminders(
        self, due: Deadline | None, specs: tuple[DeadlineSpec, ...]
    ) -> tuple[Deadline, ...]:
        if due is None:
            return ()
        return tuple(self._due(due.due, spec) for spec in specs)

    def _push_check(
        self, message: CanonicalMessage, at: dt.datetime, rules: PolicyRules
    ) -> DeadlineCheck | None:
        if rules.push is None:
            return None
        start = _instant(message.field(rules.push.from_), self.calendar)
        if start is None:
            return None
        deadline = self._due(start, rules.push.within)
        return DeadlineCheck(deadline, at >= deadline.due)

    def _advance_check(
        self, message: CanonicalMessage, at: dt.datetime, rules: PolicyRules
    ) -> DeadlineCheck | None:
        if rules.advance_notice is None:
            return None
        target = _instant(message.field(rules.advance_notice.of), self.calendar)
        if target is None:
            return None
        latest = self._due(target, rules.advance_notice.before)
        return DeadlineCheck(latest, at > latest.due)

    def _warnings(self, at: dt.datetime) -> list[str]:
        day = at.astimezone(self.calendar.tz).date()
        return validity_warnings(self.config.jurisdiction.measures, day)


def _instant(value: object, calendar: WorkCalendar) -> dt.datetime | None:
    """A date or datetime message field as an aware instant (a date means its 00:00)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=calendar.tz)
    return None
