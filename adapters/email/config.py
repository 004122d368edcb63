"""Email channel settings: SMTP out, IMAP in, the hub's own address, tokens and limits.

From the environment (``EmailConfig.from_env``):
    HUB_SMTP_URL   smtp+starttls://USER:PASS@HOST:587   (also smtp://, smtps:// implicit TLS)
    HUB_IMAP_URL   imap+starttls://USER:PASS@HOST:143   (also imap://, imaps://)
    HUB_MAIL_FROM  hub@hub.test                          (the hub's mailbox, replies come back here)
    HUB_MAIL_CAFILE  a CA bundle to verify the servers' certificates (self-signed in tests)
    HUB_MAIL_TOKEN_SECRET  key of the per-delivery reply tokens (HMAC)
URL query options: ``?verify=false`` turns off certificate checks (never in production).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import ConfigError, ConfigProblem

TlsMode = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[str, TlsMode]] = {
    "smtp": ("smtp", "plain"),
    "smtp+starttls": ("smtp", "starttls"),
    "smtps": ("smtp", "tls"),
    "imap": ("imap", "plain"),
    "imap+starttls": ("imap", "starttls"),
    "imaps": ("imap", "tls"),
}


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int
    tls: TlsMode = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    cafile: Path | None = None
    verify: bool = True
    timeout: float = 30.0


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_address: str = "hub@hub.test"
    from_name: str = "审管互动 Hub"
    smtp: ServerConfig
    imap: ServerConfig | None = None
    token_secret: str = Field(default="dev-only-secret", repr=False)
    pool_size: int = 4  # SMTP connections kept open
    per_domain_concurrency: int = 2  # sends at once to one recipient domain
    max_attachment_bytes: int = 20 * 1024 * 1024
    mailbox: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    idle_timeout: float = 25 * 60.0  # re-issue IDLE before servers drop it (RFC 2177: 29 min)
    poll_interval: float = 30.0  # when the server has no IDLE

    @property
    def domain(self) -> str:
        return self.from_address.rsplit("@", 1)[-1]

    @classmethod
    def from_env(cls) -> EmailConfig | None:
        """The config from HUB_SMTP_URL etc., or None when email is not configured."""
        smtp = os.environ.get("HUB_SMTP_URL")
        if not smtp:
            return None
        cafile = os.environ.get("HUB_MAIL_CAFILE")
        imap = os.environ.get("HUB_IMAP_URL")
        return cls(
            from_address=os.environ.get("HUB_MAIL_FROM", "hub@hub.test"),
            smtp=server_from_url(smtp, "smtp", cafile),
            imap=server_from_url(imap, "imap", cafile) if imap else None,
            token_secret=os.environ.get("HUB_MAIL_TOKEN_SECRET", "dev-only-secret"),
        )


def server_from_url(url: str, kind: str, cafile: str | None = None) -> ServerConfig:
    """``smtp+starttls://user:pass@host:587?verify=false`` → ServerConfig."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or scheme[0] != kind or not parts.hostname:
        raise ConfigError(
            [
                ConfigProblem(
                    f"HUB_{kind.upper()}_URL",
                    0,
                    f"邮件服务器地址无效：{parts.scheme}://…",
                    f"bad {kind} URL scheme or host (use {kind}://, {kind}+starttls:// or {kind}s://)",
                )
            ]
        )
    query = parse_qs(parts.query)
    default_port = {
        "smtp": {"plain": 25, "starttls": 587, "tls": 465},
        "imap": {"plain": 143, "starttls": 143, "tls": 993},
    }[kind][scheme[1]]
    return ServerConfig(
        host=parts.hostname,
        port=parts.port or default_port,
        tls=scheme[1],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        cafile=Path(query["cafile"][0]) if "cafile" in query else _path(cafile),
        verify=query.get("verify", ["true"])[0].lower() != "false",
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
