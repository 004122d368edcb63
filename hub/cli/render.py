"""Rich rendering of routing results and config problems for operators (Chinese labels)."""

from __future__ import annotations

from rich.table import Table
from rich.tree import Tree

from hub.clock.deadline import Deadline
from hub.errors import ConfigProblem
from hub.message import CanonicalMessage
from hub.routing.decision import RecipientDecision, RoutingResult
from hub.routing.tree import CompiledRoute

ON_TIMEOUT_LABELS = {"auto_claim": "超时自动认领", "escalate": "超时升级"}
SILENCE_LABELS = {"agreed": "逾期视为同意", "accepted": "逾期视为认可", "none": ""}


def deadline_text(deadline: Deadline | None) -> str:
    if deadline is None:
        return "—"
    return f"{deadline.display()}（{deadline.spec.label}）"


def problems_table(problems: list[ConfigProblem]) -> Table:
    table = Table(title=f"配置错误 {len(problems)} 处 (config errors)", show_lines=False)
    for column in ("位置 line", "路径 path", "问题 problem"):
        table.add_column(column, overflow="fold")
    for p in problems:
        where = f"{p.file}:{p.line}" if p.file else str(p.line)
        table.add_row(where, p.path or "<root>", f"{p.zh}\n[dim]{p.en}[/dim]")
    return table


def result_table(message: CanonicalMessage, result: RoutingResult) -> Table:
    title = (
        f"{message.kind.label}（{message.direction.label}）{message.subject}  "
        f"发送部门 {message.sender.department_id}  到达 {result.at:%Y-%m-%d %H:%M}"
    )
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("收件部门", "路由", "渠道顺序", "认领期限", "超时处理", "异议期限", "回复期限"):
        table.add_column(column, overflow="fold")
    for d in result.recipients:
        table.add_row(
            f"{d.department_name}\n[dim]{d.department_id}[/dim]",
            d.route_id,
            " → ".join(c.label for c in d.channels),
            deadline_text(d.claim_due) + _reminder_text(d),
            ON_TIMEOUT_LABELS.get(d.on_timeout or "", "—"),
            deadline_text(d.objection_due),
            deadline_text(d.reply_due) + _silence(d),
        )
    return table


def result_notes(result: RoutingResult) -> list[str]:
    notes = [f"⚠ {w}" for w in result.warnings]
    for d in result.recipients:
        notes.extend(f"{d.department_id}: {n}" for n in d.notes)
        if d.push_check and d.push_check.late:
            notes.append(
                f"{d.department_id}: 推送已超过发送方时限 {d.push_check.deadline.display()} "
                "(sender pushed late)"
            )
        if d.advance_check and d.advance_check.late:
            notes.append(
                f"{d.department_id}: 未按要求提前 {d.advance_check.deadline.spec.label} 推送 "
                f"(advance notice late; due {d.advance_check.deadline.display()})"
            )
        if d.basis:
            notes.append(f"{d.department_id}: 依据 {'、'.join(d.basis)}")
    return notes


def route_tree(route: CompiledRoute) -> Tree:
    tree = Tree(_route_label(route))
    for child in route.children:
        tree.add(route_tree(child))
    return tree


def _route_label(route: CompiledRoute) -> str:
    to = ", ".join(route.to or ()) or "—"
    channels = "→".join(c.label for c in route.channels)
    more = " [continue]" if route.continue_ else ""
    policy = f" 策略 {route.policy_id}" if route.policy_id else ""
    return f"[bold]{route.id}[/bold]  收件 {to}  渠道 {channels}{policy}{more}"


def _reminder_text(d: RecipientDecision) -> str:
    if not d.reminders:
        return ""
    return "\n提醒 " + "、".join(r.display() for r in d.reminders)


def _silence(d: RecipientDecision) -> str:
    label = SILENCE_LABELS.get(d.reply_silence or "none", "")
    return f"\n{label}" if label else ""
