"""The paper adapter: render each outbound note as a printable 纸质推送单 in the spool folder."""

from __future__ import annotations

import asyncio

import structlog

from adapters.paper.client import write_spool
from adapters.paper.config import PaperConfig
from adapters.paper.normalize import normalize_paper
from hub.channels import OutboundNote, Receipt
from hub.errors import DeliveryError
from hub.message import CanonicalMessage, Channel

log = structlog.get_logger(__name__)


class PaperAdapter:
    channel = Channel.PAPER

    def __init__(self, config: PaperConfig | None = None) -> None:
        self.config = config or PaperConfig()

    def normalize(self, raw: bytes) -> CanonicalMessage:
        return normalize_paper(raw)

    async def deliver(self, note: OutboundNote) -> Receipt:
        name = f"{note.delivery_id}-{note.purpose.value}-{note.attempt}"
        folder = self.config.spool_dir / note.department_id
        try:
            path = await asyncio.to_thread(
                write_spool,
                folder,
                name,
                render(note),
                {
                    "delivery_id": note.delivery_id,
                    "purpose": note.purpose.value,
                    "department_id": note.department_id,
                    "message": note.message.model_dump(mode="json"),
                },
            )
        except OSError as exc:
            raise DeliveryError(
                f"无法写入纸质推送单 (cannot write the spool file): {exc}", retryable=True
            ) from exc
        log.info(
            "delivery.spooled",
            delivery_id=note.delivery_id,
            message_id=note.message.message_id,
            channel="paper",
        )
        return Receipt(Channel.PAPER, reference=str(path))

    async def aclose(self) -> None:
        return None


def render(note: OutboundNote) -> str:
    """The printable sheet: what it is, for whom, the deadlines and how to claim."""
    m = note.message
    lines = [
        f"审管互动信息纸质推送单（{note.purpose.label}）",
        f"密级：{m.classification.level.label}",
        f"收件部门：{note.department_name}",
        f"信息类型：{m.kind.label}（{m.direction.label}）",
        f"标题：{m.subject}",
        f"发送部门：{m.sender.name or m.sender.department_id}",
        f"推送编号：{note.delivery_id}    消息编号：{m.message_id}",
    ]
    lines += [f"{label}：{value}" for label, value in note.deadlines_zh.items()]
    if note.summary_zh:
        lines.append(f"说明：{note.summary_zh}")
    lines += [f"附件：{a.name}（sha256 {a.sha256[:12]}…，{a.size} 字节）" for a in m.attachments]
    lines.append("认领方式：收到后由联络员在审管互动平台登记认领，或回执签字后交回行政审批部门。")
    return "\n".join(lines) + "\n"
