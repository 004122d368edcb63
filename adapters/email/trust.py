"""Who may act by mail: the departments' registered mailboxes decide (pure, no I/O).

The routing config lists each department's mailboxes (``channels.email.addresses``). A
:class:`Directory` maps every registered address — compared whole and case-insensitively —
to its department. The rules:

* a **reply** (claim or objection) is trusted only when its From address is one of the
  registered addresses of the department the delivery went to; anything else is ``spoofed``
  (an outsider, another department, or a department writing about someone else's delivery);
* a **push** is trusted only when its From address is registered to exactly one department and
  every pushed message names that department as its sender;
* when the mail has a ``Sender:`` header (sent on someone's behalf), it must be the From
  address itself: mail sent on behalf of a department by another mailbox is not trusted.

What this does not do: verify that the From header is genuine. SPF, DKIM and DMARC are checked
by the secure-mail gateway (公务安全邮箱) in front of the hub's mailbox, which must reject or
mark mail that fails them; the hub trusts the mailbox it reads, not the Internet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adapters.email.normalize import Reply
from hub.errors import FieldProblem
from hub.message import CanonicalMessage
from hub.routing.model import Department

__all__ = ["Directory", "Verdict", "check_push", "check_reply"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a trust check; ``code`` is ``ok``, ``spoofed``, ``unregistered``,
    ``ambiguous``, ``on_behalf`` or ``foreign_sender``."""

    ok: bool
    code: str = "ok"
    department_id: str | None = None
    reason_zh: str = ""
    reason_en: str = ""

    def problem(self) -> FieldProblem:
        return FieldProblem("From", self.reason_zh, self.reason_en)


class Directory:
    """Registered mailbox → department, from the routing config's departments."""

    def __init__(self, addresses: Mapping[str, Iterable[str]]) -> None:
        """``addresses``: department id → its registered mailboxes."""
        self._of_department = {
            dept: frozenset(_normal(a) for a in found) for dept, found in addresses.items()
        }
        owners: dict[str, set[str]] = {}
        for dept, mailboxes in self._of_department.items():
            for address in mailboxes:
                owners.setdefault(address, set()).add(dept)
        self._owners = {address: frozenset(depts) for address, depts in owners.items()}

    @classmethod
    def from_departments(cls, departments: Iterable[Department]) -> Directory:
        return cls(
            {d.id: d.channels.email.addresses if d.channels.email else () for d in departments}
        )

    def department_of(self, address: str | None) -> str | None:
        """The one department ``address`` is registered to (None: none, or several)."""
        owners = self.owners(address)
        return next(iter(owners)) if len(owners) == 1 else None

    def owners(self, address: str | None) -> frozenset[str]:
        return self._owners.get(_normal(address or ""), frozenset())

    def addresses_of(self, department_id: str) -> frozenset[str]:
        return self._of_department.get(department_id, frozenset())


def _normal(address: str) -> str:
    return address.strip().lower()


def check_reply(directory: Directory, reply: Reply, delivery_department: str) -> Verdict:
    """A claim or objection may come only from the delivery's department's own mailboxes."""
    on_behalf = _on_behalf(reply.sender, reply.sender_header)
    if on_behalf is not None:
        return on_behalf
    if _normal(reply.sender) in directory.addresses_of(delivery_department):
        return Verdict(True, department_id=delivery_department)
    return Verdict(
        False,
        "spoofed",
        reason_zh=f"发件地址 {reply.sender} 不是部门 {delivery_department} 登记的邮箱，"
        "不能代其认领或提出异议（疑似冒用）",
        reason_en=f"spoofed: {reply.sender} is not a registered mailbox of "
        f"{delivery_department}, the department this delivery went to",
    )


def check_push(
    directory: Directory,
    sender: str,
    messages: Iterable[CanonicalMessage],
    *,
    sender_header: str | None = None,
) -> Verdict:
    """A push must come from a mailbox registered to one department, in that department's name."""
    on_behalf = _on_behalf(sender, sender_header)
    if on_behalf is not None:
        return on_behalf
    owners = directory.owners(sender)
    if len(owners) != 1:
        return _unknown_sender(sender, owners)
    (department,) = owners
    foreign = sorted({m.sender.department_id for m in messages} - {department})
    if foreign:
        return Verdict(
            False,
            "foreign_sender",
            department,
            f"发件邮箱属于部门 {department}，不能以 {'、'.join(foreign)} 的名义推送（疑似冒用）",
            f"spoofed: the mailbox belongs to {department} and may not push in the name of "
            + ", ".join(foreign),
        )
    return Verdict(True, department_id=department)


def _unknown_sender(sender: str, owners: frozenset[str]) -> Verdict:
    if owners:
        names = ", ".join(sorted(owners))
        return Verdict(
            False,
            "ambiguous",
            reason_zh=f"发件邮箱 {sender} 登记在多个部门名下（{names}），无法确定推送部门",
            reason_en=f"{sender} is registered to several departments ({names})",
        )
    return Verdict(
        False,
        "unregistered",
        reason_zh=f"发件邮箱 {sender} 未登记为任何部门的邮箱，不接受其推送（疑似冒用）",
        reason_en=f"spoofed: {sender} is not a registered department mailbox",
    )


def _on_behalf(sender: str, sender_header: str | None) -> Verdict | None:
    if sender_header is None or _normal(sender_header) == _normal(sender):
        return None
    return Verdict(
        False,
        "on_behalf",
        reason_zh=f"邮件由 {sender_header} 代 {sender} 发出（Sender 与 From 不一致），不予受理",
        reason_en=f"spoofed: sent by {sender_header} on behalf of {sender} (Sender is not From)",
    )
