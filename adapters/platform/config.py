"""Options of the platform channel (平台推送): HTTP client limits, request size, callback signing.

Strict like every config model of the hub: unknown keys are rejected, values checked on load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.errors import ConfigError, ConfigProblem

MIB = 1024 * 1024

EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]
BaseUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s?#]+[^/\s?#]$")]


class PlatformConfig(BaseModel):
    """How the platform adapter talks HTTP, in both directions.

    Outbound (callbacks to departments): ``connect_timeout_s``, ``total_timeout_s`` (one
    request), ``queue_timeout_s`` (the wait for an in-flight slot before it), ``max_in_flight``,
    ``max_in_flight_per_department``, ``max_connections`` (per host), ``user_agent``,
    ``signing_secret_env``.
    Inbound (the HTTP API): ``max_body_bytes``, ``public_base_url``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="建立连接超时（秒） / connect timeout in seconds"
    )
    total_timeout_s: float = Field(
        default=15.0, gt=0, le=300, description="单次回调总超时（秒） / whole-request timeout"
    )
    queue_timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="等待并发名额的最长时间（秒），超时则本次回调可重试地失败，不发出请求"
        " / longest wait for an in-flight slot; past it the callback fails retryably, unsent",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="同时进行的回调总数上限（也是连接池上限） / callbacks in flight in total"
        " (also the connection pool's size)",
    )
    max_in_flight_per_department: int = Field(
        default=4,
        ge=1,
        le=100,
        description="每个部门同时进行的回调上限 / callbacks in flight to one department",
    )
    max_connections: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="到同一主机的连接上限；为空则同 max_in_flight"
        " / connections to one host; unset = max_in_flight",
    )
    user_agent: str = Field(
        default="shenguan-hub/0.1 (+platform)",
        min_length=1,
        max_length=200,
        description="回调请求的 User-Agent / User-Agent of callbacks",
    )
    max_body_bytes: int = Field(
        default=2 * MIB,
        ge=1024,
        le=64 * MIB,
        description="接口请求体上限（字节）；附件只传引用，不传内容"
        " / request body limit in bytes; attachments travel as references, not bytes",
    )
    signing_secret_env: EnvVarName | None = Field(
        default=None,
        description="保存回调 HMAC 密钥的环境变量名；为空则不签名"
        " / name of the env var holding the HMAC secret for callbacks; unset = unsigned",
    )
    public_base_url: BaseUrl | None = Field(
        default=None,
        description="Hub 接口对外地址，用于回调中的操作链接；为空则给相对路径"
        " / public base URL of the hub API for action links; unset = relative paths",
    )

    @property
    def connections_per_host(self) -> int:
        """``max_connections``, or ``max_in_flight`` when unset (no callback waits for one)."""
        return self.max_in_flight if self.max_connections is None else self.max_connections

    @property
    def send_timeout_s(self) -> float:
        """The longest one callback may take: a wait for a slot, then the request itself."""
        return self.queue_timeout_s + self.total_timeout_s

    def signing_secret(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        """The HMAC secret from ``signing_secret_env``; ConfigError when named but missing."""
        if self.signing_secret_env is None:
            return None
        env: Mapping[str, str] = os.environ if environ is None else environ
        value = env.get(self.signing_secret_env, "")
        if not value:
            raise ConfigError(
                [
                    ConfigProblem(
                        path="signing_secret_env",
                        line=0,
                        zh=f"环境变量 {self.signing_secret_env} 未设置或为空，无法为回调签名",
                        en=f"environment variable {self.signing_secret_env} is unset or empty;"
                        " callbacks cannot be signed",
                    )
                ]
            )
        return value.encode("utf-8")
