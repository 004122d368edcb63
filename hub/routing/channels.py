"""Channels named in routes against the channels a deployment has adapters for.

A running hub delivers on the channels it has adapters for (``hub.service.default_adapters``:
platform and paper always, email when ``HUB_SMTP_URL`` is set; self-built systems are not built
yet). The router gives each department the route's channels it has an address for, in order
(paper when none), and the dispatcher falls back along them when one fails, an unenabled one
failing at once. So, per route and department reached (every department for ``@recipients``):

* a channel without an adapter, when a working channel remains: a **warning** on the route that
  writes the channels, naming the departments and the channel they fall back to;
* no working channel left: an **error** (the push could never be delivered);
* paper not enabled at all: an **error** (classified and offline-only pushes go on paper only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from hub.errors import ConfigProblem
from hub.message import Channel
from hub.routing.model import Department, RoutingConfig
from hub.routing.treecheck import Findings, names
from hub.routing.views import RouteView, route_views
from hub.routing.yamlsource import PathKey, YamlDocument

#: The channels this build has adapters for (adapters/selfbuilt is a placeholder).
IMPLEMENTED_CHANNELS: frozenset[Channel] = frozenset(
    {Channel.PLATFORM, Channel.EMAIL, Channel.PAPER}
)


def parse_channels(text: str) -> frozenset[Channel]:
    """``platform,email,paper`` as channels; ValueError (zh and en) naming an unknown one."""
    out: set[Channel] = set()
    for part in (p.strip() for p in text.split(",")):
        try:
            out.add(Channel(part))
        except ValueError:
            known = ", ".join(c.value for c in Channel)
            raise ValueError(
                f"未知渠道 {part!r}，可选：{known} (unknown channel {part!r}; one of {known})"
            ) from None
    return frozenset(out)


def check_channels(
    config: RoutingConfig, doc: YamlDocument, enabled: Iterable[Channel]
) -> Findings:
    """Errors and warnings for route channels without an enabled adapter."""
    enabled = frozenset(enabled)
    found = Findings()
    if Channel.PAPER not in enabled:
        found.errors.append(
            doc.problem(
                ("route",),
                "本部署未启用纸质渠道：涉密和不宜线上的推送将无法投递",
                "no paper adapter is enabled: classified and offline-only pushes could not be "
                "delivered",
            )
        )
    departments = {d.id: d for d in config.departments}
    fallbacks: dict[tuple[PathKey, Channel], dict[str, set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    routes: dict[tuple[PathKey, Channel], set[str]] = defaultdict(set)
    for view in route_views(config):
        stranded = []
        for dept in _reached(view, config, departments):
            listed = _listed(view, dept)
            if not any(c in enabled for c in listed):
                stranded.append(dept.id)
            for i, channel in enumerate(listed):
                if channel not in enabled:
                    after = next((c.value for c in listed[i + 1 :] if c in enabled), "")
                    fallbacks[(view.channels_loc, channel)][after].add(dept.id)
                    routes[(view.channels_loc, channel)].add(view.id)
        if stranded:
            found.errors.append(_stranded(view, stranded, enabled, doc))
    for (loc, channel), by_fallback in fallbacks.items():
        found.warnings.append(_fallback_warning(loc, channel, by_fallback, routes, doc))
    return found


def _reached(
    view: RouteView, config: RoutingConfig, departments: dict[str, Department]
) -> list[Department]:
    if not view.can_be_result or not view.to:
        return []
    named, anyone = view.targets(config)
    if anyone:
        return list(config.departments)
    return [departments[d] for d in dict.fromkeys(named) if d in departments]


def _listed(view: RouteView, dept: Department) -> tuple[Channel, ...]:
    """The channels the router gives ``dept`` on this route (see Router._channels)."""
    return tuple(c for c in view.channels if dept.channels.has(c)) or (Channel.PAPER,)


def _stranded(
    view: RouteView, depts: list[str], enabled: frozenset[Channel], doc: YamlDocument
) -> ConfigProblem:
    missing = ", ".join(c.value for c in view.channels if c not in enabled)
    return doc.problem(
        view.channels_loc,
        f"路由 {view.id} 对部门 {names(depts)} 没有可用渠道：{missing} 在本部署没有启用的适配器",
        f"route {view.id!r} leaves {names(depts)} with no working channel: no adapter is "
        f"enabled for {missing} in this deployment",
    )


def _fallback_warning(
    loc: PathKey,
    channel: Channel,
    by_fallback: dict[str, set[str]],
    routes: dict[tuple[PathKey, Channel], set[str]],
    doc: YamlDocument,
) -> ConfigProblem:
    zh_parts, en_parts = [], []
    for after, depts in sorted(by_fallback.items()):
        if after:
            zh_parts.append(f"{names(depts)} 改用 {after}")
            en_parts.append(f"{names(depts)} fall back to {after}")
        else:
            zh_parts.append(f"{names(depts)} 在其前面的渠道失败后不再有后备")
            en_parts.append(f"{names(depts)} have no fallback after the channels before it")
    via = names(routes[(loc, channel)], limit=3)
    return doc.problem(
        loc,
        f"渠道 {channel.value}（{channel.label}）在本部署没有启用的适配器（路由 {via}）："
        + "；".join(zh_parts),
        f"channel {channel.value!r} has no adapter enabled in this deployment (route {via}): "
        + "; ".join(en_parts),
    )
