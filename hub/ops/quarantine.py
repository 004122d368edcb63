"""Quarantined input: list it, look at it, replay it after a fix, or discard it with a reason.

An entry is ``open`` until an operator resolves it: ``replayed`` (the input went on) or
``discarded`` (with a reason). Every resolution, and every failed replay, is an event in the
chain (``quarantine.replayed`` / ``quarantine.discarded`` / ``quarantine.replay_failed``). The
raw bytes of an entry never change; what a replay can fix is the hub's configuration.

Replay by stage:
    ingest  the raw bytes are parsed again (``parse_message``) and accepted through
            ``Hub.accept`` — which checks sender and recipients against the *current* routing.
            Still invalid or unaddressable: the entry stays open and the problems are returned.
            Already accepted meanwhile (same source id): the entry is marked replayed, duplicate.
            Accepting and marking are two commits; a crash between them leaves the entry open and
            a second replay finds the duplicate and marks it.
    route   the message is in the ledger in state ``quarantined``. It is first resolved against
            the current routing as a dry run; if that fails, nothing changes (no second entry
            for the same message) and the problems are returned. Otherwise, in ONE transaction,
            the message goes back to ``accepted``, is routed by the routing stage's own code
            (``route_job``, as ``Hub.handle_route`` does) and the entry is marked replayed.
    relay   a job the outbox relay gave up on (``hub.core.relay``): the same job goes into the
            outbox again as a new row, and the entry is marked replayed, in one transaction.
    other   refused (``deliver`` entries are not produced by the hub yet).

The jobs a replay creates are published through the hub's bus (see ``hub.ops.handoff`` for the
CLI's case).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from hub.core.codec import message_from_json
from hub.core.hub import Hub
from hub.core.relay import STAGE as RELAY_STAGE
from hub.core.relay import requeue
from hub.core.routing_stage import route_job
from hub.core.states import MessageState
from hub.errors import (
    HubError,
    MessageError,
    NotFoundError,
    RoutingError,
    StateConflictError,
    split_bilingual,
)
from hub.ledger.batch import NewJob
from hub.ledger.events import append_event
from hub.ledger.schema import MessageRow, QuarantineRow
from hub.ops.jsonable import jsonable
from hub.validation import parse_message

log = structlog.get_logger(__name__)

Problem = dict[str, str]  # {"path", "zh", "en"}, as stored in quarantine.problems


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    stage: str
    channel: str
    source_id: str
    message_id: str | None
    reason_zh: str
    reason_en: str
    problems: list[Problem]
    state: str
    resolved_at: dt.datetime | None
    raw_size: int
    raw: bytes = b""  # only filled by get_entry; left out of to_json()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


@dataclass(frozen=True)
class ReplayResult:
    entry_id: int
    stage: str
    ok: bool
    state: str  # the entry's state afterwards: replayed | open
    message_id: str | None = None
    duplicate: bool = False
    jobs: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def list_entries(session: Session, state: str | None = "open", limit: int = 100) -> list[Entry]:
    """Entries in ``state`` (None: all), newest first, without their raw bytes."""
    query = (
        select(QuarantineRow, func.length(QuarantineRow.raw))
        .options(defer(QuarantineRow.raw))
        .order_by(QuarantineRow.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(QuarantineRow.state == state)
    return [_entry(row, size or 0) for row, size in session.execute(query)]


def get_entry(session: Session, entry_id: int) -> Entry | None:
    """One entry with its raw bytes; None when there is no such entry."""
    row = session.get(QuarantineRow, entry_id)
    return None if row is None else _entry(row, len(row.raw), raw=row.raw)


def _entry(row: QuarantineRow, size: int, raw: bytes = b"") -> Entry:
    return Entry(
        id=row.id,
        at=row.at,
        stage=row.stage,
        channel=row.channel,
        source_id=row.source_id,
        message_id=row.message_id,
        reason_zh=row.reason_zh,
        reason_en=row.reason_en,
        problems=[dict(p) for p in row.problems],
        state=row.state,
        resolved_at=row.resolved_at,
        raw_size=size,
        raw=raw,
    )


def _open_entry(session: Session, entry_id: int) -> QuarantineRow:
    """The entry, locked; NotFoundError, or StateConflictError when it is resolved already."""
    row = session.get(QuarantineRow, entry_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"隔离记录 {entry_id} 不存在", f"no quarantine entry {entry_id}")
    if row.state != "open":
        raise StateConflictError(
            f"隔离记录 {entry_id} 已处理（{row.state}）",
            f"quarantine entry {entry_id} is already {row.state}",
        )
    return row


def discard(session: Session, entry_id: int, reason: str, *, now: dt.datetime, actor: str) -> Entry:
    """Close an open entry without replaying it; ``reason`` goes on record."""
    if not reason.strip():
        raise ValueError("a reason is required to discard a quarantine entry")
    row = _open_entry(session, entry_id)
    row.state, row.resolved_at = "discarded", now
    append_event(
        session,
        "quarantine.discarded",
        at=now,
        actor=actor,
        message_id=row.message_id,
        channel=row.channel,
        data={"quarantine_id": row.id, "stage": row.stage, "reason": reason},
    )
    log.info("quarantine.discarded", quarantine_id=row.id, message_id=row.message_id)
    return _entry(row, len(row.raw))


def replay(hub: Hub, entry_id: int, *, actor: str = "operator") -> ReplayResult:
    """Try an open entry again with the hub's current configuration (see the module doc)."""
    with hub.db.transaction() as session:
        row = _open_entry(session, entry_id)
        stage, raw = row.stage, row.raw
    if stage == "ingest":
        return _replay_ingest(hub, entry_id, raw, actor)
    if stage == "route":
        return _replay_route(hub, entry_id, actor)
    if stage == RELAY_STAGE:
        return _replay_relay(hub, entry_id, actor)
    problem = {
        "path": "",
        "zh": f"不支持重放 {stage} 阶段的隔离记录",
        "en": f"entries of stage {stage!r} cannot be replayed",
    }
    return ReplayResult(entry_id, stage, ok=False, state="open", problems=[problem])


def _replay_ingest(hub: Hub, entry_id: int, raw: bytes, actor: str) -> ReplayResult:
    try:
        accepted = hub.accept(parse_message(raw))
    except HubError as exc:
        return _failed(hub, entry_id, "ingest", None, _problems_of(exc), actor)
    with hub.db.transaction() as session:
        row = session.get(QuarantineRow, entry_id, with_for_update=True)
        if row is not None and row.state == "open":
            _mark_replayed(
                session,
                row,
                accepted.message_id,
                hub.clock.now(),
                actor,
                duplicate=accepted.duplicate,
            )
    return ReplayResult(
        entry_id,
        "ingest",
        ok=True,
        state="replayed",
        message_id=accepted.message_id,
        duplicate=accepted.duplicate,
        jobs=0 if accepted.duplicate else 1,
    )


def _replay_route(hub: Hub, entry_id: int, actor: str) -> ReplayResult:
    with hub.db.transaction() as session:
        row = _open_entry(session, entry_id)
        message_id = row.message_id
        jobs, problems = _route_again(session, hub, row, actor)
    if problems:
        return _failed(hub, entry_id, "route", message_id, problems, actor)
    hub.publish(jobs)
    return ReplayResult(
        entry_id, "route", ok=True, state="replayed", message_id=message_id, jobs=len(jobs)
    )


def _replay_relay(hub: Hub, entry_id: int, actor: str) -> ReplayResult:
    with hub.db.transaction() as session:
        row = _open_entry(session, entry_id)
        now, message_id = hub.clock.now(), row.message_id
        job, replaces = requeue(session, row.raw, now=now)
        _mark_replayed(
            session, row, message_id, now, actor, outbox_id=job.id, replaces_outbox_id=replaces
        )
    hub.publish([job])
    return ReplayResult(
        entry_id, RELAY_STAGE, ok=True, state="replayed", message_id=message_id, jobs=1
    )


def _route_again(
    session: Session, hub: Hub, row: QuarantineRow, actor: str
) -> tuple[list[NewJob], list[Problem]]:
    """Route the entry's message in the caller's transaction; problems if it still cannot be."""
    now = hub.clock.now()
    message = _quarantined_message(session, row)
    try:  # dry run first: a failure changes nothing
        hub.router.resolve(message_from_json(message.payload), message.accepted_at)
    except HubError as exc:
        return [], _problems_of(exc)
    except Exception as exc:  # noqa: BLE001 - as the routing stage: still unroutable, said why
        return [], [
            {"path": "", "zh": f"路由时出错：{type(exc).__name__}: {exc}", "en": repr(exc)}
        ]
    message.state = MessageState.ACCEPTED
    jobs = route_job(session, hub.router, outbox_id=None, message_id=message.message_id, now=now)
    if message.state != "routed":  # cannot happen after the dry run; roll everything back
        raise StateConflictError("重放后仍无法路由", "routing failed after the dry run")
    _mark_replayed(session, row, message.message_id, now, actor, duplicate=False)
    return jobs, []


def _quarantined_message(session: Session, row: QuarantineRow) -> MessageRow:
    message = (
        session.get(MessageRow, row.message_id, with_for_update=True) if row.message_id else None
    )
    if message is None:
        raise NotFoundError(
            f"隔离记录 {row.id} 对应的消息不存在",
            f"entry {row.id}: its message is not in the ledger",
        )
    if message.state != "quarantined":
        raise StateConflictError(
            f"消息 {message.message_id} 的状态是 {message.state}，不是 quarantined",
            f"message {message.message_id} is {message.state}, not quarantined",
        )
    return message


def _mark_replayed(
    session: Session,
    row: QuarantineRow,
    message_id: str | None,
    now: dt.datetime,
    actor: str,
    **facts: object,
) -> None:
    """Resolve ``row`` as replayed, with ``facts`` (the stage's) in its event and log line."""
    row.state, row.resolved_at = "replayed", now
    if row.message_id is None:
        row.message_id = message_id
    append_event(
        session,
        "quarantine.replayed",
        at=now,
        actor=actor,
        message_id=message_id,
        channel=row.channel or None,
        data={"quarantine_id": row.id, "stage": row.stage, **facts},
    )
    log.info(
        "quarantine.replayed",
        quarantine_id=row.id,
        message_id=message_id,
        stage=row.stage,
        **facts,
    )


def _failed(
    hub: Hub,
    entry_id: int,
    stage: str,
    message_id: str | None,
    problems: list[Problem],
    actor: str,
) -> ReplayResult:
    """Put the failed attempt on record; the entry stays open."""
    with hub.db.transaction() as session:
        append_event(
            session,
            "quarantine.replay_failed",
            at=hub.clock.now(),
            actor=actor,
            message_id=message_id,
            data={"quarantine_id": entry_id, "stage": stage, "problems": problems},
        )
    log.warning("quarantine.replay_failed", quarantine_id=entry_id, stage=stage)
    return ReplayResult(
        entry_id, stage, ok=False, state="open", message_id=message_id, problems=problems
    )


def _problems_of(exc: HubError) -> list[Problem]:
    if isinstance(exc, MessageError):
        return [{"path": p.path, "zh": p.zh, "en": p.en} for p in exc.problems]
    if isinstance(exc, RoutingError):
        return [{"path": exc.path, "zh": exc.zh, "en": exc.en}]
    zh, en = split_bilingual(str(exc)) or (str(exc), str(exc))
    return [{"path": "", "zh": zh, "en": en}]
