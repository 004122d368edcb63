"""The SMTP side of the email channel: the only module of the hub that imports aiosmtplib.

``SmtpPool(config)`` keeps up to ``pool_size`` connected, authenticated clients and reuses them;
a send on a reused connection that the server has meanwhile closed (``SMTPServerDisconnected``,
or the ``421`` a server says before hanging up) is retried once on a fresh connection. Sends to
one recipient domain are limited to ``per_domain_concurrency`` at a time. TLS is STARTTLS
(required, never silently skipped) or implicit TLS, verified against ``cafile`` unless
``verify`` is off; AUTH runs when a username is set.

Every aiosmtplib/ssl/socket error becomes a ``DeliveryError`` (``raise … from exc``)::

    every recipient refused, all 5xx (550 unknown mailbox)   permanent; code, text, refused
    any 4xx (450 mailbox busy, 421 service unavailable)      retryable
    AUTH refused (535)                                       permanent: the configuration is wrong
    TLS certificate not verified                             permanent: CA file or certificate
    STARTTLS or AUTH not offered, invalid address            permanent
    connection refused, timeouts, disconnects                retryable

Some recipients refused and others accepted: the mail is sent; ``SendResult.refused`` lists the
refused ones (and a ``smtp.recipients_refused`` warning is logged). ``details`` never carry the
message or the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TypeVar

import aiosmtplib
import structlog

from adapters.email.config import EmailConfig, ServerConfig
from hub.errors import DeliveryError

__all__ = ["SendResult", "SmtpPool", "tls_context", "translate_error"]

log = structlog.get_logger(__name__)
_TEXT = 300  # characters of a server answer kept in details
_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True)
class SendResult:
    """What the server said: its answer to DATA (queue id) and any recipients it refused."""

    answer: str
    refused: dict[str, str] = field(default_factory=dict)  # address -> "550 5.1.1 …"


ClientFactory = Callable[[], aiosmtplib.SMTP]


class SmtpPool:
    """A bounded pool of SMTP connections to the configured submission server."""

    def __init__(self, config: EmailConfig, *, factory: ClientFactory | None = None) -> None:
        self._config = config
        self._server = config.smtp
        self._factory = factory or (lambda: new_client(config))
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(config.pool_size)
        self._domains: dict[str, asyncio.Semaphore] = {}
        self._closed = False
        self.connections_opened = 0
        """How many connections this pool has opened (tests measure reuse with it)."""

    async def send(self, message: EmailMessage, recipients: Sequence[str]) -> SendResult:
        """Submit ``message`` to ``recipients``; DeliveryError says whether a retry can help."""
        if self._closed:
            raise DeliveryError("SMTP pool is closed (邮件连接池已关闭)", retryable=True)
        try:
            async with self._domain_limits(recipients), self._slots:
                result = await self._send_reusing(message, list(recipients))
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, ValueError) as exc:
            raise translate_error(exc, self._server) from exc
        if result.refused:
            log.warning("smtp.recipients_refused", refused=sorted(result.refused))
        return result

    async def aclose(self) -> None:
        """Say QUIT on every idle connection; connections in use close when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)

    async def _send_reusing(self, message: EmailMessage, recipients: list[str]) -> SendResult:
        client = self._take_idle()
        if client is not None:
            try:
                return await self._send_on(client, message, recipients)
            except aiosmtplib.SMTPServerDisconnected as exc:
                log.info("smtp.reconnect", error=type(exc).__name__)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code != 421:
                    raise
                log.info("smtp.reconnect", code=exc.code)
        return await self._send_on(await self._open(), message, recipients)

    async def _send_on(
        self, client: aiosmtplib.SMTP, message: EmailMessage, recipients: list[str]
    ) -> SendResult:
        try:
            errors, answer = await client.send_message(
                message, sender=self._config.from_address, recipients=recipients
            )
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            self._release(client)  # the envelope was reset (RSET): the connection is usable
            raise
        except BaseException:
            client.close()  # state unknown after a timeout, disconnect or cancel
            raise
        self._release(client)
        refused = {address: _said(r.code, r.message) for address, r in errors.items()}
        return SendResult(answer=answer, refused=refused)

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return None

    async def _open(self) -> aiosmtplib.SMTP:
        client = self._factory()
        await client.connect()
        self.connections_opened += 1
        log.debug("smtp.connected", host=self._server.host, port=self._server.port)
        return client

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and not self._closed:
            self._idle.append(client)
        else:
            client.close()

    @contextlib.asynccontextmanager
    async def _domain_limits(self, recipients: Sequence[str]) -> AsyncIterator[None]:
        """Hold one slot of each recipient domain (in sorted order: no lock-order deadlock)."""
        domains = sorted({r.rsplit("@", 1)[-1].lower() for r in recipients})
        async with contextlib.AsyncExitStack() as stack:
            for domain in domains:
                limit = self._domains.setdefault(
                    domain, asyncio.Semaphore(self._config.per_domain_concurrency)
                )
                await stack.enter_async_context(limit)
            yield


def new_client(config: EmailConfig) -> aiosmtplib.SMTP:
    """An unconnected aiosmtplib client for the configured server."""
    server = config.smtp
    return aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        local_hostname=config.domain,  # not socket.getfqdn(): it can stall on DNS
        timeout=server.timeout,
        use_tls=server.tls == "tls",
        start_tls=server.tls == "starttls",  # True: fail rather than send in clear text
        tls_context=tls_context(server) if server.tls != "plain" else None,
    )


def tls_context(server: ServerConfig) -> ssl.SSLContext:
    """Verify the server against ``cafile`` (system CAs when unset), or not at all."""
    cafile = str(server.cafile) if server.cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if not server.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await asyncio.wait_for(client.quit(), timeout=5)
    client.close()


# --- error translation ---------------------------------------------------------------------------


def translate_error(exc: BaseException, server: ServerConfig) -> DeliveryError:
    """Our DeliveryError for an SMTP, TLS or socket error (see the module docstring)."""
    details = {"host": server.host, "port": str(server.port), "error": type(exc).__name__}
    certificate = _cause(exc, ssl.SSLCertVerificationError)
    if certificate is not None:
        return _tls_error(certificate, server, details)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return _refused(exc, details)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _auth_error(exc, server, details)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _response_error(exc, details)
    details["text"] = str(exc)[:_TEXT]
    if isinstance(exc, aiosmtplib.SMTPNotSupported | ssl.SSLError | ValueError):
        return DeliveryError(
            f"SMTP 服务器或地址不支持本次发送，请检查邮件配置 (not supported: {exc})"[:_TEXT],
            retryable=False, details=details,
        )  # fmt: skip
    if isinstance(exc, TimeoutError):
        return DeliveryError("SMTP 服务器超时 (SMTP timeout)", retryable=True, details=details)
    return DeliveryError(
        "无法连接 SMTP 服务器或连接中断 (SMTP connection failed)", retryable=True, details=details
    )


def _refused(exc: aiosmtplib.SMTPRecipientsRefused, details: dict[str, str]) -> DeliveryError:
    refused = {r.recipient: _said(r.code, r.message) for r in exc.recipients}
    codes = sorted({r.code for r in exc.recipients})
    listed = ", ".join(f"{address} ({said})" for address, said in refused.items())
    details |= {
        "code": ",".join(map(str, codes)),
        "text": "; ".join(refused.values())[:_TEXT],
        "refused": listed[: _TEXT * 2],
    }
    temporary = any(400 <= c < 500 for c in codes)
    if temporary:
        reason = f"收件服务器暂时拒收，稍后重试 (recipients deferred: SMTP {details['code']})"
    else:
        reason = (f"收件地址被拒收（如邮箱不存在），请核对部门邮箱配置 "
                  f"(all recipients refused: SMTP {details['code']})")  # fmt: skip
    return DeliveryError(reason, retryable=temporary, details=details)


def _auth_error(
    exc: aiosmtplib.SMTPAuthenticationError, server: ServerConfig, details: dict[str, str]
) -> DeliveryError:
    details |= {"code": str(exc.code), "text": exc.message[:_TEXT],
                "username": server.username or ""}  # fmt: skip
    if 400 <= exc.code < 500:
        return DeliveryError(
            f"SMTP 认证暂时失败 (temporary AUTH failure: {exc.code})", True, details
        )
    return DeliveryError(
        f"SMTP 认证失败：用户名或密码错误，请检查 HUB_SMTP_URL 配置 "
        f"(SMTP AUTH failed: {exc.code}, check the configured username and password)",
        retryable=False, details=details,
    )  # fmt: skip


def _response_error(
    exc: aiosmtplib.SMTPResponseException, details: dict[str, str]
) -> DeliveryError:
    details |= {"code": str(exc.code), "text": exc.message[:_TEXT]}
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        details["sender"] = exc.sender
    said = _said(exc.code, exc.message)
    if 400 <= exc.code < 500:
        return DeliveryError(f"SMTP 服务器暂时无法处理，稍后重试 (SMTP {said})"[:_TEXT], True,
                             details)  # fmt: skip
    return DeliveryError(f"SMTP 服务器拒绝发送 (SMTP {said})"[:_TEXT], retryable=False,
                         details=details)  # fmt: skip


def _tls_error(
    exc: ssl.SSLCertVerificationError, server: ServerConfig, details: dict[str, str]
) -> DeliveryError:
    details |= {"text": str(exc.verify_message or exc)[:_TEXT],
                "cafile": str(server.cafile or "(system CAs)")}  # fmt: skip
    return DeliveryError(
        f"SMTP 服务器证书校验失败：请检查 CA 文件（HUB_MAIL_CAFILE）与服务器证书 "
        f"(TLS certificate verification failed: {details['text']})",
        retryable=False, details=details,
    )  # fmt: skip


def _cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """``exc`` or an exception it was raised from (or during) that is a ``kind``."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _said(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}"[:_TEXT]
