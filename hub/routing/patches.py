"""Check each route's policy ``overrides`` against every policy it may be applied to."""

from __future__ import annotations

from pydantic import ValidationError

from hub.errors import ConfigProblem
from hub.routing.model import Route, RoutingConfig
from hub.routing.tree import compile_route
from hub.routing.yamlsource import PathKey, YamlDocument


def check_patches(config: RoutingConfig, doc: YamlDocument) -> list[ConfigProblem]:
    """A route's overrides must leave every policy it can meet complete and valid."""
    problems: list[ConfigProblem] = []
    tree = compile_route(config.route)
    locs = dict(_locations(config.route, ("route",)))
    for node in tree.walk():
        if node.overrides is None:
            continue
        candidates = [p for p in config.policies if node.policy_id in (None, p.id)]
        for policy in candidates:
            try:
                node.overrides.apply(policy)
            except ValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                problems.append(
                    doc.problem(
                        (*locs[node.id], "overrides"),
                        f"路由 {node.id} 的 overrides 应用到策略 {policy.id} 后无效：{detail}",
                        f"route {node.id!r} overrides make policy {policy.id!r} invalid: {detail}",
                    )
                )
    return problems


def _locations(route: Route, loc: PathKey) -> list[tuple[str, PathKey]]:
    out = [(route.id, loc)]
    for i, child in enumerate(route.routes):
        out.extend(_locations(child, (*loc, "routes", i)))
    return out
