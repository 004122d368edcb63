"""Checks over the whole route tree, after the cross-reference pass found it consistent.

Errors (the config cannot work):

* a route that can only admit classified or offline-only messages (by its own matchers or its
  ancestors') and has an online channel, its own or inherited;
* an escalation chain step to the department itself, or a chain that visits a department twice;
* a department named by a route (an id or ``@approval_bureau``) whose policy there escalates
  claim timeouts (``on_timeout: escalate``), when the department has no escalation chain.

Warnings (the config works, but something will not happen as written):

* a route addressing ``@recipients`` with an escalating policy, when some departments have no
  chain (the sender picks the recipients, so the check cannot know whether they will be used);
* a kind and direction a policy covers that no route with recipients can admit (such pushes
  cannot be routed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hub.errors import ConfigProblem
from hub.message import ALLOWED_DIRECTIONS
from hub.routing.model import RoutingConfig
from hub.routing.views import RouteView, policy_for, route_views, rules_for
from hub.routing.yamlsource import PathKey, YamlDocument


@dataclass
class Findings:
    """Errors stop loading; warnings are shown (``hub routing check``, ``hub run``)."""

    errors: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)


def names(ids: Iterable[str], limit: int = 6) -> str:
    """``a、b、c`` (at most ``limit`` ids, then ``等 N 个``)."""
    items = sorted(set(ids))
    shown = "、".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} 等 {len(items)} 个"


def check_tree(config: RoutingConfig, doc: YamlDocument) -> Findings:
    """Every tree-wide problem of a config that passed the cross-reference pass."""
    views = route_views(config)
    found = Findings()
    found.errors.extend(_classified(views, doc))
    found.errors.extend(_chains(config, doc))
    found.extend(_escalation_reach(config, views, doc))
    found.warnings.extend(_unrouted_kinds(config, views, doc))
    return found


def _classified(views: list[RouteView], doc: YamlDocument) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    reported: set[str] = set()
    for view in views:
        online = [c.value for c in view.channels if c.is_online]
        if not online or not view.admits_only_paper_content():
            continue
        inherited = view.route.channels is None
        if inherited and view.parent is not None and view.parent.id in reported:
            reported.add(view.id)  # the parent's problem; fixing it fixes this route
            continue
        reported.add(view.id)
        where = "" if not inherited else "（渠道继承自上级路由）"
        problems.append(
            doc.problem(
                (*view.loc, "channels"),
                f"路由 {view.id} 只能匹配涉密或不宜线上的消息，却使用线上渠道 "
                f"{', '.join(online)}{where}；涉密信息只能纸质推送",
                f"route {view.id!r} can only admit classified or offline-only messages but "
                f"lists online channels ({', '.join(online)}"
                f"{', inherited' if inherited else ''}); classified content may only go on paper",
            )
        )
    return problems


def _chains(config: RoutingConfig, doc: YamlDocument) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for i, dept in enumerate(config.departments):
        seen: set[str] = set()
        for j, step in enumerate(dept.escalation):
            loc: PathKey = ("departments", i, "escalation", j, "to")
            if step.to == dept.id:
                problems.append(
                    doc.problem(
                        loc,
                        f"部门 {dept.id} 的升级链指向其自身",
                        f"the escalation chain of {dept.id!r} escalates to {dept.id!r} itself",
                    )
                )
            elif step.to in seen:
                problems.append(
                    doc.problem(
                        loc,
                        f"部门 {dept.id} 的升级链再次指向 {step.to}（循环）",
                        f"the escalation chain of {dept.id!r} returns to {step.to!r} (a cycle)",
                    )
                )
            seen.add(step.to)
    return problems


def _escalating_policies(config: RoutingConfig, view: RouteView) -> list[str]:
    """Ids of the policies this route applies that escalate claim timeouts."""
    out: set[str] = set()
    for kind, direction in view.kind_directions():
        policy = policy_for(config, view.policy_id, kind, direction)
        if policy is None:
            continue
        rules = rules_for(view, policy)
        if rules is not None and rules.claim is not None and rules.claim.on_timeout == "escalate":
            out.add(policy.id)
    return sorted(out)


def _escalation_reach(config: RoutingConfig, views: list[RouteView], doc: YamlDocument) -> Findings:
    chainless = {d.id for d in config.departments if not d.escalation}
    named: dict[str, set[tuple[str, str]]] = defaultdict(set)
    addressed: list[tuple[RouteView, list[str]]] = []
    for view in views:
        if not view.can_be_result or not view.to:
            continue
        policies = _escalating_policies(config, view)
        if not policies:
            continue
        targets, anyone = view.targets(config)
        for dept in chainless.intersection(targets):
            named[dept].update((view.id, p) for p in policies)
        if anyone:
            addressed.append((view, policies))
    found = Findings()
    index = {d.id: i for i, d in enumerate(config.departments)}
    for dept, uses in sorted(named.items()):
        routes, used = names(r for r, _ in uses), names(p for _, p in uses)
        found.errors.append(
            doc.problem(
                ("departments", index[dept], "id"),
                f"部门 {dept} 没有升级链（escalation），但路由 {routes} 按策略 {used} "
                "对其超时升级；请配置升级链或改用 auto_claim",
                f"department {dept!r} has no escalation chain but route {routes} escalates "
                f"its claim timeouts (policy {used}): give it a chain or use auto_claim",
            )
        )
    if addressed and chainless:
        found.warnings.append(_recipients_warning(addressed, chainless, doc))
    return found


def _recipients_warning(
    addressed: list[tuple[RouteView, list[str]]], chainless: set[str], doc: YamlDocument
) -> ConfigProblem:
    routes = names(view.id for view, _ in addressed)
    policies = names((p for _, ps in addressed for p in ps), limit=3)
    return doc.problem(
        (*addressed[0][0].loc, "to"),
        f"部门 {names(chainless)} 没有升级链：路由 {routes} 投递给推送方指定的部门（@recipients）"
        f"时按策略 {policies} 超时升级，发给这些部门的推送超时后不会升级",
        f"{names(chainless)} have no escalation chain: route {routes} delivers to the "
        f"sender's @recipients with escalating policy {policies}, so their timeouts would "
        "escalate to nobody",
    )


def _unrouted_kinds(
    config: RoutingConfig, views: list[RouteView], doc: YamlDocument
) -> list[ConfigProblem]:
    delivered = {
        pair for view in views if view.can_be_result and view.to for pair in view.kind_directions()
    }
    problems: list[ConfigProblem] = []
    for i, policy in enumerate(config.policies):
        missing = [
            (kind, direction)
            for kind in policy.kinds
            for direction in sorted(ALLOWED_DIRECTIONS[kind], key=str)
            if policy.direction in (None, direction) and (kind, direction) not in delivered
        ]
        if not missing:
            continue
        zh = "、".join(f"{k.label}（{d.label}）" for k, d in missing)
        en = ", ".join(f"{k.value!r} ({d.value})" for k, d in missing)
        first = policy.kinds.index(missing[0][0])
        problems.append(
            doc.problem(
                ("policies", i, "kinds", first),
                f"策略 {policy.id} 的 {zh} 没有任何有收件部门的路由能匹配：此类推送无法路由",
                f"no route with recipients admits {en} of policy {policy.id!r}: such pushes "
                "cannot be routed",
            )
        )
    return problems
