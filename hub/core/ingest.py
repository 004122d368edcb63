"""Ingest: a valid canonical message is committed once, routed in the same transaction.

A push is acknowledged to its sender only after this transaction commits: the message, its
deliveries (one per recipient, with the rules of their deadlines) and their push jobs in the
outbox. Concurrent pushes share that transaction (``hub.core.group_commit``), and a batch of
any size is the same six statements. The same source id twice gives one message (the idempotency key
is unique; a concurrent insert of it waits for the first and then does nothing); the second
call reports a duplicate. Input that is not a valid message is quarantined with its reason,
never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.bus.topology import ROUTE
from hub.core.api import Accepted
from hub.core.codec import message_to_json
from hub.core.routing_stage import record_routing
from hub.core.states import MessageState
from hub.errors import FieldProblem, RoutingError
from hub.ledger.batch import NewJob, Writes, among
from hub.ledger.db import Database
from hub.ledger.events import append_event
from hub.ledger.schema import MessageRow, QuarantineRow
from hub.message import CanonicalMessage, Channel
from hub.routing.decision import RoutingResult
from hub.routing.router import Router

log = structlog.get_logger(__name__)
_MESSAGES: Table = MessageRow.__table__  # type: ignore[assignment]


def check_addressable(router: Router, message: CanonicalMessage) -> None:
    """Reject at once what routing would certainly reject: unknown sender or recipients."""
    known = router.departments
    if message.sender.department_id not in known:
        raise RoutingError(
            f"未知的发送部门 {message.sender.department_id!r} "
            f"(unknown sender department {message.sender.department_id!r})"
        )
    for dept in message.recipients:
        if dept not in known:
            raise RoutingError(f"未知的收件部门 {dept!r} (unknown department {dept!r})")


def accept_batch(
    session: Session,
    router: Router,
    messages: Sequence[CanonicalMessage],
    *,
    now: dt.datetime,
    route: bool = True,
    published: bool = True,
) -> tuple[list[Accepted | RoutingError], list[NewJob]]:
    """Commit the messages new to the ledger in the caller's transaction, each routed at once
    when ``route`` (its deliveries and push jobs written here; the sender's lateness counts
    from ``now``, its acceptance), else with a routing job. A message routing cannot handle
    here gets the routing job too: the routing stage quarantines it with the reason.

    Per message: ``Accepted`` (``duplicate`` when its source id was accepted before, or earlier
    in this batch) or the RoutingError of an unknown sender or recipient (nothing recorded).
    Returns those and the jobs to publish after commit. The same few statements whatever the
    size (six on PostgreSQL: known ids, messages, deliveries, events, outbox ids, outbox)."""
    results: list[Accepted | RoutingError | None] = [None] * len(messages)
    candidates: dict[str, tuple[CanonicalMessage, RoutingResult | None]] = {}
    for index, message in enumerate(messages):
        try:
            check_addressable(router, message)
        except RoutingError as exc:
            results[index] = exc
            continue
        if message.message_id not in candidates:
            candidates[message.message_id] = (
                message,
                _route(router, message, now) if route else None,
            )
    fresh = _insert_new(session, candidates, now=now)
    writes = Writes(published=published)
    for message_id in sorted(fresh):
        message, routed = candidates[message_id]
        _received(writes, message, now)
        if routed is None:
            writes.job(ROUTE, {"message_id": message_id}, now=now)
        else:
            record_routing(writes, router, message, routed, now, now=now)
    jobs = writes.apply(session)
    reported: set[str] = set()
    for index, message in enumerate(messages):
        if results[index] is None:
            duplicate = message.message_id not in fresh or message.message_id in reported
            reported.add(message.message_id)
            results[index] = Accepted(message.message_id, duplicate=duplicate)
    return [r for r in results if r is not None], jobs


def _route(router: Router, message: CanonicalMessage, now: dt.datetime) -> RoutingResult | None:
    """The routing of ``message`` accepted ``now``, or None to leave it to the routing stage."""
    try:
        return router.resolve(message, now)
    except Exception:  # noqa: BLE001 - the routing stage records why (quarantine)
        return None


def _insert_new(
    session: Session,
    candidates: dict[str, tuple[CanonicalMessage, RoutingResult | None]],
    *,
    now: dt.datetime,
) -> set[str]:
    """Insert the message rows; the ids of those that were not in the ledger yet.

    The known ones are read first; the insert skips any that a concurrent transaction of
    another process inserted meanwhile (it waits for that one to commit), and the deliveries
    written next for such a message violate their unique key: the batch fails and is run
    again one message at a time, which then finds it. A multi-row INSERT … RETURNING would
    say it in one statement, but psycopg parses such a long statement afresh each time."""
    if not candidates:
        return set()
    known = set(
        session.scalars(
            select(_MESSAGES.c.message_id).where(among(session, _MESSAGES.c.message_id, candidates))
        )
    )
    rows = []
    for message_id in sorted(set(candidates) - known):  # one lock order for concurrent batches
        message, routed = candidates[message_id]
        late = routed is not None and any(
            d.push_check is not None and d.push_check.late for d in routed.recipients
        )
        rows.append(_message_values(message, now, routed is not None, late))
    if rows:
        session.execute(_insert_ignoring_duplicates(session), rows)
    return {row["message_id"] for row in rows}


def _insert_ignoring_duplicates(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(_MESSAGES).on_conflict_do_nothing()


def _message_values(
    message: CanonicalMessage, now: dt.datetime, routed: bool, late: bool
) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "idempotency_key": message.idempotency_key,
        "kind": message.kind.value,
        "direction": message.direction.value,
        "sender_id": message.sender.department_id,
        "subject": message.subject,
        "classified": message.classification.is_classified,
        "channel": message.source.channel.value,
        "source_id": message.source.source_id,
        "in_reply_to": message.correlation.in_reply_to if message.correlation else None,
        "payload": message_to_json(message),
        "received_at": message.source.received_at,
        "accepted_at": now,
        "state": MessageState.ROUTED if routed else MessageState.ACCEPTED,
        "push_late": late,
    }


def _received(writes: Writes, message: CanonicalMessage, now: dt.datetime) -> None:
    writes.event(
        "message.received",
        at=now,
        actor=message.sender.department_id,
        message_id=message.message_id,
        department_id=message.sender.department_id,
        channel=message.source.channel.value,
        data={"kind": message.kind.value, "source_id": message.source.source_id},
    )
    log.info(
        "message.received",
        message_id=message.message_id,
        kind=message.kind.value,
        channel=message.source.channel.value,
    )


def quarantine(
    db: Database,
    *,
    stage: str,
    channel: Channel,
    raw: bytes,
    problems: list[FieldProblem],
    now: dt.datetime,
    source_id: str = "",
    message_id: str | None = None,
) -> int:
    """Record input that could not go on, with every problem; returns the quarantine id."""
    zh = "；".join(f"{p.path}: {p.zh}" if p.path else p.zh for p in problems)
    en = "; ".join(f"{p.path}: {p.en}" if p.path else p.en for p in problems)
    with db.transaction() as session:
        row = QuarantineRow(
            at=now,
            stage=stage,
            channel=channel.value,
            source_id=source_id,
            message_id=message_id,
            raw=raw,
            reason_zh=zh,
            reason_en=en,
            problems=[{"path": p.path, "zh": p.zh, "en": p.en} for p in problems],
            state="open",
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            "message.quarantined",
            at=now,
            message_id=message_id,
            channel=channel.value,
            data={"quarantine_id": row.id, "stage": stage, "reason": en[:500]},
        )
    log.warning(
        "message.quarantined",
        quarantine_id=row.id,
        stage=stage,
        message_id=message_id,
        channel=channel.value,
    )
    return row.id
