"""The platform channel's HTTP client: the only module of the adapter that imports aiohttp.

``PlatformClient.post_json`` sends one JSON callback and returns ``(status, body)`` for a 2xx
answer. Everything else becomes a :class:`hub.errors.DeliveryError` (``raise … from exc``):

    connect error, timeout, broken connection   retryable
    HTTP 5xx, 429, 408                          retryable (``retry_after`` kept when given)
    HTTP 3xx (redirects are not followed)       permanent
    other HTTP 4xx                              permanent
    invalid or unsupported URL                  permanent

``details`` carry ``host``, ``status`` and a short excerpt of the answer, never the request body.

One ``aiohttp.ClientSession`` per client, made on first use on the loop that sends (the hub runs
every adapter on one background loop, ``hub/core/asyncrunner.py``) and closed by ``aclose``. Its
``TCPConnector`` keeps connections alive and reuses them; it holds at most ``max_in_flight``
connections, ``max_connections`` to one host. The adapter admits at most ``max_in_flight``
callbacks at once, so a callback waits for a connection only when many departments share one
host and ``max_connections`` is set below ``max_in_flight``. ``total_timeout_s`` bounds the
whole request (a wait for a pooled connection, connect, send, and reading the answer);
``connect_timeout_s`` bounds opening a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from adapters.platform.config import PlatformConfig
from hub.errors import DeliveryError

MAX_RESPONSE_BYTES = 64 * 1024
"""Answers are read up to this size; a receipt is small, and the rest is not needed."""

EXCERPT_CHARS = 200
_RETRYABLE_STATUS = frozenset({408, 429})
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
_CONTENT_TYPE = {"Content-Type": "application/json; charset=utf-8"}


class PlatformClient:
    """An async HTTP client with a bounded keep-alive pool and a whole-request time limit."""

    def __init__(self, config: PlatformConfig) -> None:
        self._config = config
        self._timeout = aiohttp.ClientTimeout(
            total=config.total_timeout_s, sock_connect=config.connect_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """POST ``payload`` (serialized JSON) to ``url``; ``(status, body)`` on 2xx.

        The payload is passed as bytes so that a signature over it matches what is sent.
        """
        session = self._session_here()
        try:
            async with session.post(
                url,
                data=payload,
                headers={**_CONTENT_TYPE, **headers},
                allow_redirects=False,  # a redirect is an answer (3xx, permanent), not followed
            ) as response:
                status = response.status
                body = await _read_limited(response.content)
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translate_transport_error(exc, url) from exc
        check_status(status, body, url, retry_after)
        return status, body

    def _session_here(self) -> aiohttp.ClientSession:
        """The session, made on first use on the running loop (it cannot move to another)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._config.max_in_flight,
                limit_per_host=self._config.connections_per_host,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": self._config.user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),  # callbacks never carry cookies
            )
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("PlatformClient is bound to the event loop that first used it")
        return self._session

    async def aclose(self) -> None:
        """Close the pooled connections (a later callback opens a new session)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_limited(content: aiohttp.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_RESPONSE_BYTES:
        chunk = await content.read(MAX_RESPONSE_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def translate_transport_error(exc: BaseException, url: str) -> DeliveryError:
    """Our error for an aiohttp error (or timeout) raised before an HTTP answer was read."""
    details = {"host": _host(url), "error": type(exc).__name__}
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return DeliveryError("timeout", retryable=True, details=details)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return DeliveryError("invalid callback URL", retryable=False, details=details)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return DeliveryError("connect failed", retryable=True, details=details)
    if isinstance(exc, _BROKEN):  # reset, closed early, or an answer that is not HTTP
        return DeliveryError("connection broken", retryable=True, details=details)
    return DeliveryError("http error", retryable=False, details=details)


def check_status(status: int, body: bytes, url: str, retry_after: str | None = None) -> None:
    """Raise DeliveryError for any answer but 2xx: retryable for 5xx, 429 and 408."""
    if 200 <= status < 300:
        return
    details = {"host": _host(url), "status": str(status), "body": excerpt(body)}
    if retry_after:
        details["retry_after"] = retry_after[:40]
    if status >= 500 or status in _RETRYABLE_STATUS:
        raise DeliveryError(f"HTTP {status}", retryable=True, details=details)
    raise DeliveryError(f"HTTP {status}", retryable=False, details=details)


def excerpt(body: bytes) -> str:
    """The start of an answer as one line of text, for error details."""
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:EXCERPT_CHARS]


def _host(url: str) -> str:
    """Scheme, host and port only: paths and queries may carry tokens."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "?"
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{port}" if port else "")
