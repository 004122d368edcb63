"""The platform channel's HTTP client: the only module of the adapter that imports httpx.

``PlatformClient.post_json`` sends one JSON callback and returns ``(status, body)`` for a 2xx
answer. Everything else becomes a :class:`hub.errors.DeliveryError` (``raise … from exc``):

    connect error, timeout, broken connection   retryable
    HTTP 5xx, 429, 408                          retryable (``retry_after`` kept when given)
    HTTP 3xx (redirects are not followed)       permanent
    other HTTP 4xx                              permanent
    invalid or unsupported URL                  permanent

``details`` carry ``host``, ``status`` and a short excerpt of the answer, never the request body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from adapters.platform.config import PlatformConfig
from hub.errors import DeliveryError

MAX_RESPONSE_BYTES = 64 * 1024
"""Answers are read up to this size; a receipt is small, and the rest is not needed."""

EXCERPT_CHARS = 200
_RETRYABLE_STATUS = frozenset({408, 429})


class PlatformClient:
    """An async HTTP client with a bounded connection pool and a whole-request time limit."""

    def __init__(self, config: PlatformConfig) -> None:
        self._total = config.total_timeout_s
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.total_timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            headers={"User-Agent": config.user_agent},
            follow_redirects=False,  # a redirect is an answer (3xx, permanent), not followed
        )

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """POST ``payload`` (serialized JSON) to ``url``; ``(status, body)`` on 2xx.

        The payload is passed as bytes so that a signature over it matches what is sent.
        """
        try:
            async with asyncio.timeout(self._total):
                status, body, response_headers = await self._send(url, payload, headers)
        except TimeoutError as exc:
            raise DeliveryError(
                "timeout", retryable=True, details={"host": _host(url), "error": "TimeoutError"}
            ) from exc
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc, url) from exc
        check_status(status, body, url, response_headers.get("retry-after"))
        return status, body

    async def _send(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, httpx.Headers]:
        all_headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        request = self._http.build_request("POST", url, content=payload, headers=all_headers)
        response = await self._http.send(request, stream=True)
        try:
            body = await _read_limited(response)
        finally:
            await response.aclose()
        return response.status_code, body, response.headers

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: MAX_RESPONSE_BYTES - size])
        size += len(chunks[-1])
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


def translate_transport_error(exc: httpx.HTTPError, url: str) -> DeliveryError:
    """Our error for an httpx error raised before an HTTP status was received."""
    details = {"host": _host(url), "error": type(exc).__name__}
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError("timeout", retryable=True, details=details)
    if isinstance(exc, httpx.ConnectError):
        return DeliveryError("connect failed", retryable=True, details=details)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeliveryError("invalid callback URL", retryable=False, details=details)
    if isinstance(exc, httpx.TransportError):
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
