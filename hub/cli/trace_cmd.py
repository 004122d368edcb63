"""``hub trace ID``: one message (or delivery) — header, deliveries, then every event in order."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from hub.cli.context import JsonOption, fail, ledger
from hub.cli.labels import (
    direction_label,
    event_label,
    kind_label,
    local_time,
    state_label,
)
from hub.cli.output import console, emit_json
from hub.clock.deadline import display_instant
from hub.ops.trace import DeliveryInfo, EventInfo, MessageInfo, Trace, trace


def register_trace(app: typer.Typer) -> None:
    app.command("trace")(trace_cmd)


def trace_cmd(
    ident: str = typer.Argument(..., metavar="ID", help="消息编号 M… 或投递编号 D…"),
    as_json: bool = JsonOption,
) -> None:
    """追踪一条消息：消息信息、各投递、全部事件（按发生顺序）(trace a message)."""
    with ledger() as db, db.transaction() as session:
        found = trace(session, ident.strip())
    if found is None:
        fail(f"找不到消息或投递 {ident}", f"no message or delivery {ident!r} in the ledger")
    if as_json:
        emit_json(found.to_json())
        return
    for line in header_lines(found.message):
        console.print(line)
    if found.quarantine_ids:
        ids = "、".join(f"#{i}" for i in found.quarantine_ids)
        console.print(f"隔离记录 {ids}（hub quarantine show ID）")
    console.print(deliveries_table(found.deliveries))
    console.print(events_table(found))


def header_lines(m: MessageInfo) -> list[str]:
    late = "  [red]发送方推送逾期[/red]" if m.push_late else ""
    secret = "  [yellow]涉密[/yellow]" if m.classified else ""
    return [
        f"[bold]消息 {m.message_id}[/bold]  {kind_label(m.kind)}（{direction_label(m.direction)}）"
        f"  状态 {state_label('message', m.state)}{late}{secret}",
        f"标题 {escape(m.subject)}",
        f"发送部门 {m.sender_id}  渠道 {m.channel}  来源编号 {escape(m.source_id)}",
        f"收到 {local_time(m.received_at)}  接收 {local_time(m.accepted_at)}",
    ]


def deliveries_table(deliveries: list[DeliveryInfo]) -> Table:
    table = Table(title=f"投递 {len(deliveries)} 项 (deliveries)", title_justify="left")
    for column in (
        "收件部门",
        "投递编号",
        "路由",
        "渠道",
        "投递",
        "认领",
        "认领期限",
        "异议",
        "回复",
    ):
        table.add_column(column, overflow="fold")
    for d in deliveries:
        table.add_row(
            d.department_id,
            d.delivery_id,
            d.route_id,
            " → ".join(d.channels),
            _transport(d),
            _claim(d),
            display_instant(d.claim_due) + (" (暂定)" if d.provisional else ""),
            _window(state_label("objection", d.objection_state), d.objection_due),
            _window(state_label("reply", d.reply_state), d.reply_due),
        )
    return table


def _transport(d: DeliveryInfo) -> str:
    text = state_label("transport", d.transport_state)
    if d.delivered_channel:
        text += f"（{d.delivered_channel}）"
    if d.delivered_at is not None:
        text += f"\n送达 {local_time(d.delivered_at)}"
    return f"{text}\n尝试 {d.attempts} 次"


def _claim(d: DeliveryInfo) -> str:
    text = state_label("claim", d.claim_state)
    if d.claimed_at is not None:
        text += f"\n{local_time(d.claimed_at)}"
    if d.escalation_level:
        text += f"\n已升级 {d.escalation_level} 级"
    return text


def _window(label: str, due: Any) -> str:
    return label if due is None else f"{label}\n期限 {display_instant(due)}"


def events_table(t: Trace) -> Table:
    departments = {d.delivery_id: d.department_id for d in t.deliveries}
    table = Table(title=f"事件 {len(t.events)} 条 (events, in order)", title_justify="left")
    for column in ("#", "时间", "事件", "部门", "操作人", "渠道", "详情"):
        table.add_column(column, overflow="fold")
    for e in t.events:
        table.add_row(
            str(e.seq),
            local_time(e.at),
            _event_text(e),
            e.department_id or departments.get(e.delivery_id or "", "—"),
            escape(e.actor),
            e.channel or "—",
            escape(_data_text(e.data)),
        )
    return table


def _event_text(e: EventInfo) -> str:
    label = event_label(e.type)
    return label if label == e.type else f"{label}\n[dim]{e.type}[/dim]"


def _data_text(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else ""
