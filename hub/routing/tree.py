"""The compiled route tree: matchers turned into predicates, inheritance resolved once.

Matching follows Alertmanager: a message enters the root; each matching child is descended
depth-first; the first matching child stops the search among its siblings unless it has
``continue: true``; a node none of whose children match is itself the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.message import Channel
from hub.routing.model import PolicyPatch, Route

if TYPE_CHECKING:
    from hub.message import CanonicalMessage


@dataclass(frozen=True)
class CompiledRoute:
    id: str
    path: tuple[str, ...]
    matches: Callable[[CanonicalMessage], bool]
    to: tuple[str, ...] | None
    channels: tuple[Channel, ...]
    policy_id: str | None
    overrides: PolicyPatch | None
    continue_: bool
    children: tuple[CompiledRoute, ...]

    def select(self, message: CanonicalMessage) -> list[CompiledRoute]:
        """The routes that take ``message`` (empty when this node does not match)."""
        if not self.matches(message):
            return []
        chosen: list[CompiledRoute] = []
        for child in self.children:
            found = child.select(message)
            chosen.extend(found)
            if found and not child.continue_:
                break
        return chosen or [self]

    def walk(self) -> list[CompiledRoute]:
        """This node and all below it, depth-first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def compile_route(route: Route, parent: CompiledRoute | None = None) -> CompiledRoute:
    """Compile a validated route (and its children), inheriting from ``parent``."""
    path = (*parent.path, route.id) if parent else (route.id,)
    channels = route.channels or (parent.channels if parent else (Channel.PAPER,))
    node = CompiledRoute(
        id=route.id,
        path=path,
        matches=route.match.compile(),
        to=route.to if route.to is not None else (parent.to if parent else None),
        channels=channels,
        policy_id=route.policy or (parent.policy_id if parent else None),
        overrides=_patch(route.overrides, parent.overrides if parent else None),
        continue_=route.continue_,
        children=(),
    )
    children = tuple(compile_route(child, node) for child in route.routes)
    return CompiledRoute(**{**node.__dict__, "children": children})


def _patch(own: PolicyPatch | None, inherited: PolicyPatch | None) -> PolicyPatch | None:
    return own.over(inherited) if own is not None else inherited
