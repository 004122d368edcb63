"""The envelope parts of the canonical message: sender, classification, attachments, source.

Import them from ``hub.message``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from hub.message_dates import EventDatetime
from hub.message_enums import Channel, ClassificationLevel
from hub.message_parts import STRICT, Contact, Sha256, Title, custom_error

MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
"""Default attachment size limit; override with validation context ``max_attachment_bytes``."""

ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        "application/pdf",
        "application/ofd",  # 版式文档 OFD (GB/T 33190), the government's native format
        "image/jpeg",
        "image/png",
        "image/tiff",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
        "text/plain",
        "application/json",
        "application/zip",
    }
)

_MEDIA_TYPE_ENUM: list[JsonValue] = [*sorted(ALLOWED_MEDIA_TYPES)]
DepartmentId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]
MessageId = Annotated[str, StringConstraints(pattern=r"^M[a-z2-7]{25}$")]
SourceId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
SystemName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class Sender(BaseModel):
    """The department that pushes the message."""

    model_config = STRICT

    department_id: DepartmentId = Field(description="部门标识，如 xzsp、scjg / department id")
    name: Title | None = Field(default=None, description="部门名称 / department name")
    contact: Contact | None = Field(default=None, description="联络员 / liaison officer")


class Classification(BaseModel):
    """密级: classified (涉密) content and what cannot go online travel on paper only."""

    model_config = STRICT

    level: ClassificationLevel = Field(
        default=ClassificationLevel.UNCLASSIFIED, description="密级 / classification level"
    )
    offline_only: bool = Field(
        default=False, description="不便采用线上方式推送 / must not be pushed online"
    )

    @property
    def is_classified(self) -> bool:
        """True for 秘密, 机密 and 绝密."""
        return self.level.is_classified

    @property
    def paper_only(self) -> bool:
        """True when the message may only travel by the paper channel."""
        return self.is_classified or self.offline_only


class AttachmentRef(BaseModel):
    """A reference to an attachment stored by content hash (the bytes travel separately)."""

    model_config = STRICT

    sha256: Sha256 = Field(description="内容 SHA-256（小写十六进制） / content hash")
    size: int = Field(gt=0, description="字节数 / size in bytes")
    media_type: str = Field(
        max_length=100,
        description="媒体类型 / media type",
        json_schema_extra={"enum": _MEDIA_TYPE_ENUM},
    )
    name: str = Field(min_length=1, max_length=255, description="文件名（不含路径） / file name")

    @field_validator("size")
    @classmethod
    def _within_limit(cls, size: int, info: ValidationInfo) -> int:
        limit = MAX_ATTACHMENT_BYTES
        if isinstance(info.context, dict):
            limit = int(info.context.get("max_attachment_bytes", limit))
        if size > limit:
            raise custom_error(
                "attachment_too_large",
                f"附件大小 {size} 字节超过上限 {limit} 字节",
                f"attachment size {size} bytes exceeds the limit of {limit} bytes",
            )
        return size

    @field_validator("media_type")
    @classmethod
    def _allowed_type(cls, media_type: str) -> str:
        if media_type not in ALLOWED_MEDIA_TYPES:
            raise custom_error(
                "media_type_not_allowed",
                f"不允许的附件类型 {media_type}，允许：{', '.join(sorted(ALLOWED_MEDIA_TYPES))}",
                f"media type {media_type} is not allowed; allowed: "
                + ", ".join(sorted(ALLOWED_MEDIA_TYPES)),
            )
        return media_type

    @field_validator("name")
    @classmethod
    def _plain_file_name(cls, name: str) -> str:
        bad = name in (".", "..") or any(c in "/\\" or ord(c) < 32 for c in name)
        if bad:
            raise custom_error(
                "attachment_name_invalid",
                "文件名不能含路径分隔符或控制字符，也不能是 . 或 ..",
                "file name must not contain path separators or control characters, nor be . or ..",
            )
        return name


class Correlation(BaseModel):
    """Which earlier message a reply answers."""

    model_config = STRICT

    in_reply_to: MessageId = Field(description="所答复消息的 message_id / message answered")
    request_source_id: SourceId | None = Field(
        default=None, description="请求在来源系统中的编号 / the request's source id"
    )


class Source(BaseModel):
    """Where the hub got the message: channel, system and the system's own id."""

    model_config = STRICT

    channel: Channel = Field(description="推送渠道 / channel")
    system: SystemName = Field(description="来源系统，如 sd-zwfw、gcjs、email / source system")
    source_id: SourceId = Field(description="来源系统中的编号 / id in the source system")
    received_at: EventDatetime = Field(description="Hub 收到时间 / time the hub received it")

    @property
    def idempotency_key(self) -> str:
        """SHA-256 hex of channel, system and source id: the same push twice has the same key."""
        raw = f"{self.channel.value}\x1f{self.system}\x1f{self.source_id}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()
