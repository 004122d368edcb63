"""Acting on one inbound mail: classify, check trust, tell the hub, say where the mail goes.

:class:`InboundProcessor` ``handle(raw)`` is synchronous (the hub's API is) and does no mail
I/O: the watcher fetches the bytes, runs ``handle`` in a worker thread, then files the mail
in the folder the returned :class:`Outcome` names. What happens to each kind of mail:

==================  ==========================================================  ==========
mail                action                                                      folder
==================  ==========================================================  ==========
reply “认领”        ``HubApi.claim`` (actor: the From address, channel email)     Processed
reply “异议：…”     ``HubApi.object`` with the reason                            Processed
  refused (409…)    the hub has already recorded the refusal; logged             Processed
push                attachments to the blob store, then ``HubApi.accept`` each   Processed
  unroutable        ``RoutingError``: the mail is quarantined with the reason   Quarantine
bounce (5.x.x)      ``HubApi.report_bounce``: the hub falls back to the next     Processed
                    channel of the route
spoofed sender      ``HubApi.quarantine_input`` with the trust check's reason   Quarantine
anything else       ``HubApi.quarantine_input`` with the reason (bilingual)     Quarantine
==================  ==========================================================  ==========

Every action is idempotent in the hub (a repeated claim answers the same, a repeated accept is
a duplicate), so a mail read twice after a crash does no harm. Log events: ``mail.received``,
``claim.by_mail``, ``objection.by_mail``, ``push.by_mail``, ``mail.bounce``,
``mail.quarantined`` (with the reason), bound to ``mail_id`` and, when known, ``delivery_id``
and ``message_id``. Bodies and attachments are never logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import structlog

from adapters.email.config import EmailConfig
from adapters.email.normalize import (
    Bounce,
    Inbound,
    Push,
    Reply,
    arrived_at,
    classify,
    from_address,
    mail_id,
    parse_mail,
)
from adapters.email.trust import Directory, check_push, check_reply
from hub.blobs import BlobStore
from hub.core.api import HubApi
from hub.errors import ActionError, FieldProblem, NormalizeError, NotFoundError, RoutingError
from hub.message import Channel

__all__ = ["InboundProcessor", "Outcome"]

log = structlog.get_logger(__name__)
Log = structlog.typing.FilteringBoundLogger


@dataclass(frozen=True)
class Outcome:
    """Where the mail goes (``processed`` or ``quarantine``) and what was done."""

    folder: Literal["processed", "quarantine"]
    action: str  # claim | objection | push | bounce | refused | quarantined


class InboundProcessor:
    def __init__(
        self, config: EmailConfig, hub: HubApi, directory: Directory, blobs: BlobStore
    ) -> None:
        self.config, self.hub, self.directory, self.blobs = config, hub, directory, blobs

    def handle(self, raw: bytes) -> Outcome:
        """Act on one mail; exceptions only for failures of the hub itself (the ledger)."""
        msg = parse_mail(raw)
        mid = mail_id(msg)
        sender = from_address(msg)
        bound = log.bind(mail_id=mid, channel=Channel.EMAIL.value)
        bound.info("mail.received", sender=sender, size=len(raw))
        try:
            found: Inbound = classify(
                msg,
                secret=self.config.token_secret,
                domain=self.config.domain,
                sender_department=self.directory.department_of(sender),
                max_attachment_bytes=self.config.max_attachment_bytes,
            )
        except NormalizeError as exc:
            return self._quarantine(raw, mid, exc.problems, bound)
        except Exception as exc:  # noqa: BLE001 - a mail we cannot parse is kept, not lost
            bound.exception("mail.unreadable")
            return self._quarantine(raw, mid, [_unreadable(exc)], bound)
        return self._act(found, raw, mid, bound, arrived_at(msg))

    def handle_oversized(self, header: bytes, size: int) -> Outcome:
        """A mail too big to fetch: its header is quarantined with the reason."""
        mid = mail_id(parse_mail(header))
        bound = log.bind(mail_id=mid, channel=Channel.EMAIL.value)
        bound.info("mail.received", size=size)
        problem = FieldProblem(
            "",
            f"邮件大小 {size} 字节超过上限（附件合计不超过 "
            f"{self.config.max_attachment_bytes} 字节），未读取正文",
            f"the mail is {size} bytes, over the limit (attachments at most "
            f"{self.config.max_attachment_bytes} bytes): its body was not read",
        )
        return self._quarantine(header, mid, [problem], bound)

    def _act(
        self, found: Inbound, raw: bytes, mid: str, bound: Log, arrived: dt.datetime | None
    ) -> Outcome:
        if isinstance(found, Reply):  # it counts from the mail's arrival at our mail server
            return self._reply(found, raw, mid, bound, arrived)
        if isinstance(found, Push):
            return self._push(found, raw, mid, bound)
        if isinstance(found, Bounce):
            return self._bounce(found, raw, mid, bound)
        problem = FieldProblem("", found.reason_zh, found.reason_en)
        return self._quarantine(raw, mid, [problem], bound)

    def _reply(
        self, reply: Reply, raw: bytes, mid: str, bound: Log, arrived: dt.datetime | None
    ) -> Outcome:
        try:
            view = self.hub.delivery_view(reply.delivery_id)
        except NotFoundError as exc:
            return self._quarantine(raw, mid, [FieldProblem("", exc.zh, exc.en)], bound)
        verdict = check_reply(self.directory, reply, view.department_id)
        if not verdict.ok:
            return self._quarantine(raw, mid, [verdict.problem()], bound)
        bound = bound.bind(delivery_id=reply.delivery_id, message_id=view.message_id)
        event = f"{reply.action}.by_mail"
        try:
            if reply.action == "claim":
                result = self.hub.claim(
                    reply.delivery_id,
                    department_id=view.department_id,
                    actor=reply.sender,
                    channel=Channel.EMAIL,
                    at=arrived,
                )
            else:
                result = self.hub.object(
                    reply.delivery_id,
                    department_id=view.department_id,
                    reason=reply.reason,
                    actor=reply.sender,
                    channel=Channel.EMAIL,
                    at=arrived,
                )
        except ActionError as exc:  # recorded by the hub; the mail is handled all the same
            bound.warning(event, outcome="refused", reason=exc.en)
            return Outcome("processed", "refused")
        bound.info(event, outcome=result.state, late=result.late)
        return Outcome("processed", reply.action)

    def _push(self, push: Push, raw: bytes, mid: str, bound: Log) -> Outcome:
        verdict = check_push(
            self.directory, push.sender, push.messages, sender_header=push.sender_header
        )
        if not verdict.ok:
            return self._quarantine(raw, mid, [verdict.problem()], bound)
        for _name, _media_type, data in push.attachments:
            self.blobs.put(data)  # before any message refers to it
        problems: list[FieldProblem] = []
        for message in push.messages:
            try:
                accepted = self.hub.accept(message)
            except RoutingError as exc:
                problems.append(FieldProblem(message.source.source_id, exc.zh, exc.en))
                continue
            bound.info(
                "push.by_mail",
                message_id=accepted.message_id,
                duplicate=accepted.duplicate,
                kind=message.kind.value,
                department_id=verdict.department_id,
            )
        if problems:  # the others are accepted; a replay of this mail makes them duplicates
            return self._quarantine(raw, mid, problems, bound)
        return Outcome("processed", "push")

    def _bounce(self, bounce: Bounce, raw: bytes, mid: str, bound: Log) -> Outcome:
        try:
            view = self.hub.delivery_view(bounce.delivery_id)
        except NotFoundError as exc:
            return self._quarantine(raw, mid, [FieldProblem("", exc.zh, exc.en)], bound)
        reason = f"{bounce.status} {bounce.recipient}: {bounce.diagnostic}"[:500]
        self.hub.report_bounce(bounce.delivery_id, channel=Channel.EMAIL, reason=reason)
        bound.info(
            "mail.bounce",
            delivery_id=bounce.delivery_id,
            message_id=view.message_id,
            recipient=bounce.recipient,
            status=bounce.status,
        )
        return Outcome("processed", "bounce")

    def _quarantine(
        self, raw: bytes, mid: str, problems: list[FieldProblem], bound: Log
    ) -> Outcome:
        quarantine_id = self.hub.quarantine_input(
            channel=Channel.EMAIL, raw=raw, problems=problems, source_id=mid
        )
        reason = "; ".join(f"{p.path}: {p.en}" if p.path else p.en for p in problems)
        bound.warning("mail.quarantined", reason=reason[:500], quarantine_id=quarantine_id)
        return Outcome("quarantine", "quarantined")


def _unreadable(exc: Exception) -> FieldProblem:
    return FieldProblem(
        "", "邮件无法解析，已隔离待人工处理", f"the mail could not be parsed ({type(exc).__name__})"
    )
