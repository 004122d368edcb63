"""Routing: the routing.yaml schema, its three-pass loader and the router it compiles to."""

from hub.routing.decision import DeadlineCheck, RecipientDecision, RoutingResult
from hub.routing.loader import LoadedRouting, default_routing_path, load_routing, load_routing_text
from hub.routing.model import RoutingConfig
from hub.routing.router import Router

__all__ = [
    "DeadlineCheck",
    "LoadedRouting",
    "RecipientDecision",
    "Router",
    "RoutingConfig",
    "RoutingResult",
    "default_routing_path",
    "load_routing",
    "load_routing_text",
]
