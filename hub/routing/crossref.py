"""The cross-reference pass: problems that span nodes of a routing.yaml that is valid node by node.

Like Alertmanager's ``undefined receiver "X" used in route``: every problem names the node (YAML
path and line) and says what is wrong in Chinese and English. All problems are collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hub.errors import ConfigProblem
from hub.message import ALLOWED_DIRECTIONS, Channel, Direction, MessageKind
from hub.routing.model import PLACEHOLDERS, Department, Route, RoutingConfig
from hub.routing.views import admitted, meet
from hub.routing.yamlsource import PathKey, YamlDocument


@dataclass(frozen=True)
class _Inherited:
    to: tuple[str, ...] | None
    channels: tuple[Channel, ...] | None
    kinds: frozenset[str] | None
    directions: frozenset[str] | None
    classifications: frozenset[str] | None


def cross_check(config: RoutingConfig, doc: YamlDocument) -> list[ConfigProblem]:
    """Every cross-reference problem of ``config`` (empty when it is consistent)."""
    checker = _Checker(config, doc)
    checker.departments()
    checker.policies()
    checker.routes()
    return checker.problems


class _Checker:
    def __init__(self, config: RoutingConfig, doc: YamlDocument) -> None:
        self.config = config
        self.doc = doc
        self.problems: list[ConfigProblem] = []
        self.depts: dict[str, Department] = {}
        for dept in config.departments:
            self.depts.setdefault(dept.id, dept)

    def add(self, loc: PathKey, zh: str, en: str) -> None:
        self.problems.append(self.doc.problem(loc, zh, en))

    # -- departments -----------------------------------------------------------------------
    def departments(self) -> None:
        seen: set[str] = set()
        for i, dept in enumerate(self.config.departments):
            if dept.id in seen:
                self.add(
                    ("departments", i, "id"),
                    f"部门 id 重复：{dept.id}",
                    f"duplicate department id {dept.id!r}",
                )
            seen.add(dept.id)
            if dept.channels.paper is None:
                self.add(
                    ("departments", i, "channels"),
                    f"部门 {dept.id} 没有纸质地址（涉密和离线推送只能走纸质）",
                    f"department {dept.id!r} has no paper address (the only channel for "
                    "classified and offline pushes)",
                )
            for j, step in enumerate(dept.escalation):
                if step.to not in self.depts:
                    self.add(
                        ("departments", i, "escalation", j, "to"),
                        f"升级对象未定义：{step.to}",
                        f"undefined department {step.to!r} used in escalation",
                    )
        bureau = self.depts.get(self.config.approval_bureau)
        if bureau is None:
            self.add(
                ("approval_bureau",),
                f"审批部门未定义：{self.config.approval_bureau}",
                f"undefined department {self.config.approval_bureau!r} as approval_bureau",
            )
        elif bureau.role.value != "approval":
            self.add(
                ("approval_bureau",),
                f"{bureau.id} 的 role 不是 approval",
                f"approval_bureau {bureau.id!r} must have role 'approval'",
            )

    # -- policies --------------------------------------------------------------------------
    def policies(self) -> None:
        owners: dict[tuple[str, str | None], str] = {}
        ids: set[str] = set()
        for i, policy in enumerate(self.config.policies):
            if policy.id in ids:
                self.add(
                    ("policies", i, "id"),
                    f"策略 id 重复：{policy.id}",
                    f"duplicate policy id {policy.id!r}",
                )
            ids.add(policy.id)
            for kind in policy.kinds:
                self._policy_kind(i, policy.id, kind, policy.direction, owners)
        self._coverage(owners)

    def _policy_kind(
        self,
        i: int,
        pid: str,
        kind: MessageKind,
        direction: Direction | None,
        owners: dict[tuple[str, str | None], str],
    ) -> None:
        if direction is not None and direction not in _directions(kind):
            self.add(
                ("policies", i, "direction"),
                f"{kind.label}只能是 {'/'.join(d.label for d in _directions(kind))}",
                f"kind {kind.value!r} never travels {direction.value}",
            )
        key = (kind.value, direction.value if direction else None)
        if key in owners:
            self.add(
                ("policies", i, "kinds"),
                f"{kind.label}（{direction.label if direction else '双向'}）已由策略 "
                f"{owners[key]} 定义",
                f"kind {kind.value!r} "
                f"(direction {key[1] or 'any'}) already has policy {owners[key]!r}",
            )
        owners.setdefault(key, pid)

    def _coverage(self, owners: dict[tuple[str, str | None], str]) -> None:
        for kind in MessageKind:
            for direction in _directions(kind):
                if (kind.value, direction.value) not in owners and (kind.value, None) not in owners:
                    self.add(
                        ("policies",),
                        f"没有适用于{kind.label}（{direction.label}）的策略",
                        f"no policy for kind {kind.value!r} direction {direction.value!r}",
                    )

    # -- routes ----------------------------------------------------------------------------
    def routes(self) -> None:
        root = self.config.route
        loc: PathKey = ("route",)
        if not root.match.is_empty():
            self.add(
                (*loc, "match"), "根路由不能有匹配条件", "the root route must not have matchers"
            )
        if root.channels is None:
            self.add(
                loc,
                "根路由必须设置 channels（默认渠道顺序）",
                "the root route must set channels (the default channel order)",
            )
        ids: dict[str, PathKey] = {}
        start = _Inherited(root.to, root.channels, None, None, None)
        self._route(root, loc, start, ids)
        self._unused_policies()

    def _unused_policies(self) -> None:
        named = {r.policy for r in _all_routes(self.config.route)}
        for i, policy in enumerate(self.config.policies):
            if not policy.kinds and policy.id not in named:
                self.add(
                    ("policies", i),
                    f"策略 {policy.id} 没有 kinds，也没有路由引用它",
                    f"policy {policy.id!r} has no kinds and no route names it",
                )

    def _route(self, route: Route, loc: PathKey, up: _Inherited, ids: dict[str, PathKey]) -> None:
        if route.id in ids:
            self.add((*loc, "id"), f"路由 id 重复：{route.id}", f"duplicate route id {route.id!r}")
        ids.setdefault(route.id, loc)
        here = self._narrow(route, loc, up)
        self._recipients(route, loc, here)
        if route.policy is not None and route.policy not in {p.id for p in self.config.policies}:
            self.add(
                (*loc, "policy"),
                f"策略未定义：{route.policy}",
                f"undefined policy {route.policy!r} used in route {route.id!r}",
            )
        for i, reason in _shadowed(route.routes):
            self.add(
                (*loc, "routes", i),
                f"路由 {route.routes[i].id} 永远不会被匹配：{reason[0]}",
                f"route {route.routes[i].id!r} is unreachable: {reason[1]}",
            )
        for i, child in enumerate(route.routes):
            self._route(child, (*loc, "routes", i), here, ids)

    def _narrow(self, route: Route, loc: PathKey, up: _Inherited) -> _Inherited:
        kinds = meet(up.kinds, admitted(route.match, "kind"))
        directions = meet(up.directions, admitted(route.match, "direction"))
        classes = meet(up.classifications, admitted(route.match, "classification.level"))
        for name, values in (
            ("kind", kinds),
            ("direction", directions),
            ("classification", classes),
        ):
            if values is not None and not values:
                self.add(
                    (*loc, "match", name),
                    f"路由 {route.id} 的 {name} 条件与上级路由矛盾",
                    f"route {route.id!r} is unreachable: its {name} excludes "
                    "everything its parents admit",
                )
        if (
            kinds
            and directions is not None
            and not any(d.value in directions for k in kinds for d in _directions(MessageKind(k)))
        ):
            self.add(
                (*loc, "match"),
                f"路由 {route.id} 的消息类型与方向不可能同时成立",
                f"route {route.id!r} is unreachable: no kind it matches travels that way",
            )
        return _Inherited(
            route.to or up.to, route.channels or up.channels, kinds, directions, classes
        )

    def _recipients(self, route: Route, loc: PathKey, here: _Inherited) -> None:
        for i, target in enumerate(route.to or ()):
            if target not in self.depts and target not in PLACEHOLDERS:
                self.add(
                    (*loc, "to", i),
                    f"部门未定义：{target}",
                    f"undefined department {target!r} used in route {route.id!r}",
                )
        if not route.routes and here.to is None:
            self.add(
                loc,
                f"路由 {route.id} 没有收件部门（to）",
                f"route {route.id!r} is a leaf without recipients (to)",
            )
        targets = [t for t in here.to or () if t in self.depts]
        for channel in here.channels or ():
            for target in targets:
                if not self.depts[target].channels.has(channel):
                    where = "channels" if route.channels else "to"
                    self.add(
                        (*loc, where),
                        f"部门 {target} 没有{channel.label}渠道地址，但路由 {route.id} 使用该渠道",
                        f"department {target!r} has no {channel.value} address "
                        f"but route {route.id!r} delivers over it",
                    )


def _all_routes(route: Route) -> list[Route]:
    out = [route]
    for child in route.routes:
        out.extend(_all_routes(child))
    return out


def _shadowed(siblings: tuple[Route, ...]) -> Iterator[tuple[int, tuple[str, str]]]:
    """Siblings that can never be reached because an earlier one always stops the search."""
    for i, earlier in enumerate(siblings):
        if earlier.continue_:
            continue
        for j in range(i + 1, len(siblings)):
            later = siblings[j]
            if earlier.match.is_empty():
                yield (
                    j,
                    (
                        f"前面的路由 {earlier.id} 匹配全部消息且未设置 continue",
                        f"earlier sibling {earlier.id!r} matches everything without continue",
                    ),
                )
            elif later.match == earlier.match:
                yield (
                    j,
                    (
                        f"与前面的路由 {earlier.id} 条件相同且其未设置 continue",
                        f"same matchers as earlier sibling {earlier.id!r} without continue",
                    ),
                )
        if earlier.match.is_empty():
            return


def _directions(kind: MessageKind) -> tuple[Direction, ...]:
    return tuple(ALLOWED_DIRECTIONS[kind])
