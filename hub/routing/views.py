"""What each route of a routing.yaml can admit and do, with everything it inherits resolved.

The checks that reason over the whole tree (classified content, escalation, channels, kinds no
route delivers) read these views instead of walking the tree themselves. A view knows the
values of each closed-domain field the route can admit (its own matchers met with its
ancestors'), evaluated exactly over the domain, so ``regex`` and ``not_in`` count as much as a
list; ``None`` means unrestricted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from hub.message import ALLOWED_DIRECTIONS, Channel, ClassificationLevel, Direction, MessageKind
from hub.routing.matchers import NAMED_FIELDS, Condition, Match
from hub.routing.model import (
    APPROVAL_BUREAU_PLACEHOLDER,
    RECIPIENTS_PLACEHOLDER,
    Policy,
    PolicyPatch,
    PolicyRules,
    Route,
    RoutingConfig,
)
from hub.routing.yamlsource import PathKey

#: Closed-domain message fields, by dotted path, with every value they can take.
DOMAINS: dict[str, frozenset[str]] = {
    "kind": frozenset(k.value for k in MessageKind),
    "direction": frozenset(d.value for d in Direction),
    "classification.level": frozenset(c.value for c in ClassificationLevel),
    "classification.offline_only": frozenset({"true", "false"}),
}
CLASSIFIED = frozenset(c.value for c in ClassificationLevel if c.is_classified)


def admitted(match: Match, path: str) -> frozenset[str] | None:
    """The values of closed-domain field ``path`` that ``match`` lets through (None: all)."""
    domain = DOMAINS[path]
    values = set(domain)
    for cond in _conditions(match, path):
        test = cond.predicate()
        values = {v for v in values if test(v)}
    if path == "classification.level" and match.classified is not None:
        values &= CLASSIFIED if match.classified else domain - CLASSIFIED
    return None if values == domain else frozenset(values)


def _conditions(match: Match, path: str) -> Iterator[Condition]:
    for name, field_path in NAMED_FIELDS.items():
        cond: Condition | None = getattr(match, name)
        if field_path == path and cond is not None:
            yield cond
    if path in match.fields:
        yield match.fields[path]


def meet(up: frozenset[str] | None, here: frozenset[str] | None) -> frozenset[str] | None:
    """What both admit (None = unrestricted)."""
    if up is None:
        return here
    return up if here is None else up & here


@dataclass(frozen=True)
class RouteView:
    """One route with what it inherits: recipients, channels, policy, overrides, admitted values."""

    route: Route
    loc: PathKey
    to: tuple[str, ...] | None
    channels: tuple[Channel, ...]
    channels_loc: PathKey  # where the channels in force are written
    policy_id: str | None
    overrides: PolicyPatch | None
    admits: dict[str, frozenset[str] | None]
    can_be_result: bool  # a message can stop here (no child always takes it)
    parent: RouteView | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.route.id

    def admits_only_paper_content(self) -> bool:
        """Every message this route admits is classified or offline-only (paper only)."""
        levels = self.admits["classification.level"]
        offline = self.admits["classification.offline_only"]
        only_classified = levels is not None and bool(levels) and levels <= CLASSIFIED
        return only_classified or offline == frozenset({"true"})

    def kind_directions(self) -> list[tuple[MessageKind, Direction]]:
        """Every (kind, direction) pair this route admits."""
        kinds, directions = self.admits["kind"], self.admits["direction"]
        return [
            (kind, direction)
            for kind in MessageKind
            if kinds is None or kind.value in kinds
            for direction in ALLOWED_DIRECTIONS[kind]
            if directions is None or direction.value in directions
        ]

    def targets(self, config: RoutingConfig) -> tuple[list[str], bool]:
        """The departments named (ids, the approval bureau) and whether ``@recipients`` is used."""
        named: list[str] = []
        for target in self.to or ():
            if target == APPROVAL_BUREAU_PLACEHOLDER:
                named.append(config.approval_bureau)
            elif target != RECIPIENTS_PLACEHOLDER:
                named.append(target)
        return named, RECIPIENTS_PLACEHOLDER in (self.to or ())


def route_views(config: RoutingConfig) -> list[RouteView]:
    """A view of every route, depth-first from the root."""
    out: list[RouteView] = []
    _walk(config.route, ("route",), None, out)
    return out


def _walk(route: Route, loc: PathKey, up: RouteView | None, out: list[RouteView]) -> None:
    admits = {
        path: meet(up.admits[path] if up else None, admitted(route.match, path)) for path in DOMAINS
    }
    overrides = route.overrides
    if up is not None and up.overrides is not None:
        overrides = overrides.over(up.overrides) if overrides is not None else up.overrides
    view = RouteView(
        route=route,
        loc=loc,
        to=route.to if route.to is not None else (up.to if up else None),
        channels=route.channels or (up.channels if up else (Channel.PAPER,)),
        channels_loc=(*loc, "channels") if route.channels or up is None else up.channels_loc,
        policy_id=route.policy or (up.policy_id if up else None),
        overrides=overrides,
        admits=admits,
        can_be_result=not any(child.match.is_empty() for child in route.routes),
        parent=up,
    )
    out.append(view)
    for i, child in enumerate(route.routes):
        _walk(child, (*loc, "routes", i), view, out)


def policy_for(
    config: RoutingConfig, policy_id: str | None, kind: MessageKind, direction: Direction
) -> Policy | None:
    """The policy the router applies to a message of ``kind`` and ``direction`` on a route.

    ``policy_id`` is the route's own (inherited) policy, which wins; else the policy for the
    kind and direction, or failing that the one for the kind in any direction.
    """
    if policy_id is not None:
        return next((p for p in config.policies if p.id == policy_id), None)
    fallback: Policy | None = None
    for policy in config.policies:
        if kind in policy.kinds:
            if policy.direction == direction:
                return policy
            if policy.direction is None:
                fallback = policy
    return fallback


def rules_for(view: RouteView, policy: Policy) -> PolicyRules | None:
    """The policy's rules with the route's overrides (None when they make it invalid)."""
    if view.overrides is None:
        return policy
    try:
        return view.overrides.apply(policy)
    except ValidationError:
        return None  # reported by hub.routing.patches
