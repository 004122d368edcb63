"""The API's hot requests answered without FastAPI's routing and dependency machinery.

A busy hub's requests are nearly all ``POST /messages`` and body-less
``POST /deliveries/{id}/claim``. Through FastAPI each costs ~0.3–0.5 ms of CPU in routing,
dependency solving and its inner middlewares before the endpoint runs (measured in-process
with a hub that answers at once). :class:`HotPaths` sits inside the request-id middleware and
answers those two with the same functions the FastAPI endpoints call (the same token check,
body limits, screening and group commit) and the same error answers; every other request —
another path or method, a claim with a body, an id the route would refuse — goes on to FastAPI,
whose routes stay declared (OpenAPI documents them).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.platform.api_schema import ApiError, on_error
from hub.errors import ActionError

Handler = Callable[[Request, re.Match[str]], Awaitable[Response]]
Route = tuple[str, re.Pattern[str], Callable[[Scope], bool], Handler]


class HotPaths:
    """ASGI middleware: the first route whose method, path and ``accepts(scope)`` match
    answers the request; anything else goes to ``app``."""

    def __init__(self, app: ASGIApp, routes: Sequence[Route] = ()) -> None:
        self.app, self.routes = app, tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for method, pattern, accepts, handler in self.routes:
                match = pattern.fullmatch(scope["path"])
                if scope["method"] == method and match is not None and accepts(scope):
                    request = Request(scope, receive)
                    try:
                        response = await handler(request, match)
                    except (ApiError, ActionError) as exc:
                        response = on_error(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def without_body(scope: Scope) -> bool:
    """No request body announced (no Content-Length but 0, no Transfer-Encoding)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


def always(scope: Scope) -> bool:
    return True
