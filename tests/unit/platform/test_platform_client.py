"""PlatformClient against real local HTTP servers: aiohttp errors become DeliveryErrors."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest

from adapters.platform.client import (
    MAX_RESPONSE_BYTES,
    PlatformClient,
    excerpt,
    translate_transport_error,
)
from adapters.platform.config import PlatformConfig
from hub.errors import DeliveryError

pytestmark = pytest.mark.anyio
SECRET_BODY = b'{"token":"s3cret-body"}'

# path -> (status, extra headers, body)
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/ok": (200, {}, b'{"receipt": "R-1"}'),
    "/accepted": (202, {}, b""),
    "/unavailable": (503, {}, b"<html>\n  Service   Unavailable\n</html>"),
    "/busy": (429, {"Retry-After": "30"}, b"slow down"),
    "/request-timeout": (408, {}, b"too slow"),
    "/gone": (404, {}, b"x" * 1000),
    "/bad": (400, {}, "参数错误".encode()),
    "/redirect": (302, {"Location": "http://example.invalid/"}, b""),
    "/moved": (301, {"Location": "/ok"}, b""),
    "/huge": (200, {}, b"y" * (MAX_RESPONSE_BYTES * 3)),
}


class Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.seen.append((self.path, dict(self.headers), self.rfile.read(length)))
        if self.path in ("/slow", "/hangup", "/garbage", "/trickle"):
            getattr(self, self.path[1:])()
            return
        status, headers, content = ROUTES.get(self.path, (200, {}, b"{}"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client stopped reading
            self.wfile.write(content)

    def slow(self) -> None:  # no answer within the client's time limit
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def hangup(self) -> None:  # the connection closes before any answer
        self.close_connection = True

    def garbage(self) -> None:  # an answer that is not HTTP
        self.wfile.write(b"this is not HTTP at all\r\n\r\n")
        self.close_connection = True

    def trickle(self) -> None:  # headers at once, then the body far too slowly
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(10):
                self.wfile.write(b"z" * 10)
                self.wfile.flush()
                time.sleep(0.1)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
async def client() -> AsyncIterator[PlatformClient]:
    client = PlatformClient(PlatformConfig(total_timeout_s=0.3, user_agent="test-agent/1"))
    yield client
    await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_2xx_returns_status_and_body(server: str, client: PlatformClient) -> None:
    status, answer = await client.post_json(f"{server}/ok", b'{"a":1}', {"X-Test": "1"})
    assert (status, answer) == (200, b'{"receipt": "R-1"}')
    path, headers, sent = Handler.seen[-1]
    assert (path, sent) == ("/ok", b'{"a":1}')
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "test-agent/1"
    assert headers["X-Test"] == "1"
    assert await client.post_json(f"{server}/accepted", b"{}", {}) == (202, b"")


@pytest.mark.parametrize(
    ("path", "retryable", "status"),
    [
        ("/unavailable", True, "503"),
        ("/busy", True, "429"),
        ("/request-timeout", True, "408"),
        ("/gone", False, "404"),
        ("/bad", False, "400"),
        ("/redirect", False, "302"),
        ("/moved", False, "301"),
    ],
)
async def test_http_status_translation(
    server: str, client: PlatformClient, path: str, retryable: bool, status: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await client.post_json(f"{server}{path}", SECRET_BODY, {})
    error = caught.value
    assert (error.retryable, error.details["status"]) == (retryable, status)
    assert error.details["host"] == server
    assert len(error.details["body"]) <= 200
    assert "s3cret-body" not in repr(error.details)
    assert error.__cause__ is None  # an HTTP answer, not a translated aiohttp error
    assert Handler.seen[-1][0] == path  # a redirect is an answer: nothing was followed


async def test_error_details_carry_an_excerpt_and_retry_after(
    server: str, client: PlatformClient
) -> None:
    with pytest.raises(DeliveryError) as unavailable:
        await client.post_json(f"{server}/unavailable", b"{}", {})
    assert unavailable.value.details["body"] == "<html> Service Unavailable </html>"
    with pytest.raises(DeliveryError) as busy:
        await client.post_json(f"{server}/busy", b"{}", {})
    assert busy.value.details["retry_after"] == "30"
    with pytest.raises(DeliveryError) as bad:
        await client.post_json(f"{server}/bad", b"{}", {})
    assert bad.value.details["body"] == "参数错误"


async def test_connection_refused_is_retryable(client: PlatformClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(DeliveryError) as caught:
        await client.post_json(url, SECRET_BODY, {})
    assert caught.value.retryable is True
    assert caught.value.reason == "connect failed"
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert caught.value.details == {"host": url[:-2], "error": "ClientConnectorError"}


@pytest.mark.parametrize("path", ["/hangup", "/garbage"])
async def test_broken_connection_is_retryable(
    server: str, client: PlatformClient, path: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await client.post_json(f"{server}{path}", SECRET_BODY, {})
    assert (caught.value.reason, caught.value.retryable) == ("connection broken", True)
    assert "s3cret-body" not in repr(caught.value.details)


@pytest.mark.parametrize("path", ["/slow", "/trickle"])
async def test_slow_server_times_out_retryably(
    server: str, client: PlatformClient, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        await client.post_json(f"{server}{path}", b"{}", {})
    assert time.monotonic() - started < 0.9  # 0.3 s for the whole request, the answer included
    assert (caught.value.reason, caught.value.retryable) == ("timeout", True)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "not a url", "http://"])
async def test_unusable_url_is_permanent(client: PlatformClient, url: str) -> None:
    with pytest.raises(DeliveryError) as caught:
        await client.post_json(url, b"{}", {})
    assert (caught.value.reason, caught.value.retryable) == ("invalid callback URL", False)


async def test_huge_answer_is_read_only_up_to_the_limit(
    server: str, client: PlatformClient
) -> None:
    status, answer = await client.post_json(f"{server}/huge", b"{}", {})
    assert (status, len(answer)) == (200, MAX_RESPONSE_BYTES)
    assert await client.post_json(f"{server}/ok", b"{}", {}) == (200, b'{"receipt": "R-1"}')


async def test_closed_client_opens_a_new_session(server: str, client: PlatformClient) -> None:
    await client.post_json(f"{server}/ok", b"{}", {})
    await client.aclose()
    assert await client.post_json(f"{server}/accepted", b"{}", {}) == (202, b"")


@pytest.mark.parametrize(
    ("exc", "reason", "retryable"),
    [
        (aiohttp.ServerDisconnectedError(), "connection broken", True),
        (aiohttp.ClientOSError(104, "reset"), "connection broken", True),
        (aiohttp.ClientPayloadError("cut short"), "connection broken", True),
        (aiohttp.ConnectionTimeoutError("slow connect"), "timeout", True),
        (aiohttp.SocketTimeoutError("slow read"), "timeout", True),
        (TimeoutError(), "timeout", True),
        (aiohttp.NonHttpUrlClientError("ftp://x"), "invalid callback URL", False),
        (aiohttp.InvalidUrlClientError("::"), "invalid callback URL", False),
        (aiohttp.ClientError("other"), "http error", False),
    ],
)
def test_translate_transport_error(exc: BaseException, reason: str, retryable: bool) -> None:
    error = translate_transport_error(exc, "https://dept.example:8443/cb?token=s3cret")
    assert (error.reason, error.retryable) == (reason, retryable)
    assert error.details == {"host": "https://dept.example:8443", "error": type(exc).__name__}


def test_excerpt_is_one_short_line() -> None:
    assert excerpt(b"a\n\n  b\tc") == "a b c"
    assert len(excerpt(b"z" * 5000)) == 200
    assert excerpt(b"\xff\xfe ok") == "\ufffd\ufffd ok"
