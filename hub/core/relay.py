"""The outbox relay: publishes what is due, republishes lost jobs, quarantines failing ones.

``hub run`` runs a pass every ``HUB_RELAY_INTERVAL`` (``Hub.relay``). A pass first reads, in one
aggregate query over the pending rows and without a write lock, what there is to do per queue
(``pending_summary``), then only takes the write transactions it needs:

1. **Quarantines exhausted jobs** (a transaction of its own). A pending job whose lease ran out
   after ``max_attempts`` leases (``HUB_MAX_JOB_ATTEMPTS``, default 10) was taken and never
   completed that many times: its handler raised, or its process died, each time. It gets a
   quarantine entry (stage ``relay``; the reason names the queue, the job, its attempts and
   publishes and the last error on record), a ``job.quarantined`` event and a ``job.quarantined``
   log line, and its outbox row is closed: ``done_at`` set and ``quarantine_id`` naming the entry,
   so ``lease``/``complete`` refuse it and a late handler applies nothing. ``hub quarantine
   replay`` puts the same job in the outbox again as a new row (:func:`requeue`).
2. **Publishes** due jobs never published (delayed retries, deferred fast-path publishes).
3. **Republishes lost jobs.** A job published, not done and not leased is offered again when

       published_at + min(redeliver_after * 2 ** (publishes - 1), max_wait) <= now

   (``publishes`` counts every time it went on the bus: 30 s, 60 s, 120 s … capped at 1 h by
   default). One due again after ``max_publishes`` publishes (default 10: about 4 h after its
   first) is quarantined instead, as in step 1: the bus never got it to a handler that finished
   it. Route jobs are not leased (routing commits or rolls back at once), so a route job that
   always fails is caught here, by its publish count.

   In a queue the bus reports busy (messages waiting) a job may simply be waiting behind a
   backlog, and copying every old row there would flood the backlog (a 100,000-message backfill
   would get a copy per row and per doubling). There a job is republished only once it has been
   **overtaken**: a job of its queue published at least ``redeliver_after`` after it has already
   been completed (the newest publish among the queue's last completions, ``queue_head``).
   Queues are first in, first out, so its own message reached a consumer before that one did;
   it is neither done nor leased, so the message was lost, or its consumer died before leasing
   it. A backlog never overtakes its own rows, so it gets no copies; a queue that never drains
   gets its lost jobs back after its lag plus the wait. The ``redeliver_after`` margin covers
   consumers taking messages in parallel batches; at worst a job held in a stuck consumer's
   prefetch gets one copy, which its handler finds done. A queue the bus reports empty, or
   cannot tell, needs no such proof.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bus.base import Bus
from hub.clock.now import Clock
from hub.ledger.db import Database
from hub.ledger.events import append_event
from hub.ledger.outbox import (
    QueueSummary,
    close_quarantined,
    enqueue,
    exhausted_rows,
    mark_published,
    pending_summary,
    queue_head,
    stale_rows,
    unpublished_rows,
)
from hub.ledger.schema import AttemptRow, DeliveryRow, MessageRow, OutboxRow, QuarantineRow

log = structlog.get_logger(__name__)

STAGE = "relay"  # the quarantine stage of the jobs the relay gives up on
DELIVER_PREFIX = "hub.deliver."


@dataclass(frozen=True)
class RelayPolicy:
    """When lost jobs are republished and when a job is given up (see the module doc)."""

    redeliver_after: float = 30.0  # HUB_REDELIVER_AFTER
    max_wait: float = 3600.0
    max_attempts: int = 10  # HUB_MAX_JOB_ATTEMPTS
    max_publishes: int = 10
    limit: int = 500  # jobs per pass and step
    head_sample: int = 20  # completions looked at to find how far a queue's consumers got

    def wait(self, publishes: int) -> float:
        """Seconds from a job's last publish until it is offered again."""
        cap = max(self.max_wait, self.redeliver_after)
        return float(min(self.redeliver_after * 2 ** (max(publishes, 1) - 1), cap))

    def waits(self) -> list[dt.timedelta]:
        """``wait(1)``, ``wait(2)`` … up to the first capped one (which holds from then on)."""
        cap = max(self.max_wait, self.redeliver_after)
        out = []
        for publishes in range(1, 64):  # the doubling reaches any cap long before
            seconds = self.wait(publishes)
            out.append(dt.timedelta(seconds=seconds))
            if seconds >= cap:
                break
        return out


class Cause(StrEnum):
    ATTEMPTS = "attempts"
    PUBLISHES = "publishes"


class Relay:
    """One pass at a time over the outbox; any number of processes may run one."""

    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db, self.bus, self.clock = db, bus, clock

    def run(self, policy: RelayPolicy) -> int:
        """One pass; returns how many jobs it published or quarantined. What there is to do
        is read first without a write lock (SQLite has one writer): a pass over a backlog with
        nothing to do costs one aggregate query and locks nothing."""
        now, waits = self.clock.now(), policy.waits()
        with self.db.read() as session:
            summary = pending_summary(
                session, now=now, waits=waits, max_attempts=policy.max_attempts
            )
            bounds = self._bounds(session, policy, summary)
        given_up: list[dict[str, Any]] = []
        if any(q.exhausted for q in summary.values()):
            with self.db.transaction() as session:
                exhausted = exhausted_rows(
                    session, now=now, max_attempts=policy.max_attempts, limit=policy.limit
                )
                given_up = [give_up(session, r, now, policy, Cause.ATTEMPTS) for r in exhausted]
            _log_given_up(given_up)
        if not bounds and not any(q.unpublished for q in summary.values()):
            return len(given_up)
        return len(given_up) + self._publish(now, policy, waits, bounds)

    def _publish(
        self,
        now: dt.datetime,
        policy: RelayPolicy,
        waits: list[dt.timedelta],
        bounds: dict[str, dt.datetime | None],
    ) -> int:
        """Publish due unpublished rows, then the lost ones of ``bounds``' queues (or give up
        on those published ``max_publishes`` times)."""
        worn: list[dict[str, Any]] = []
        with self.db.transaction() as session:
            rows = unpublished_rows(session, now=now, limit=policy.limit)
            limit = policy.limit - len(rows)
            lost = stale_rows(session, now=now, limit=limit, waits=waits, bounds=bounds)
            for row in lost:
                if row.publishes >= policy.max_publishes:
                    worn.append(give_up(session, row, now, policy, Cause.PUBLISHES))
                else:
                    rows.append(row)
            if rows:
                self.bus.publish_many([(r.queue, {"outbox_id": r.id, **r.payload}) for r in rows])
                mark_published(session, [r.id for r in rows], now=now)
        _log_given_up(worn)
        return len(worn) + len(rows)

    def _bounds(
        self, session: Session, policy: RelayPolicy, summary: dict[str, QueueSummary]
    ) -> dict[str, dt.datetime | None]:
        """Queues with stale jobs that may be lost, each with the latest publish that counts
        as lost (None: any; the module doc's step 3)."""
        bounds: dict[str, dt.datetime | None] = {}
        for queue, seen in sorted(summary.items()):
            if seen.oldest_stale is None:
                continue
            if not queue_busy(self.bus, queue):
                bounds[queue] = None
                continue
            head = queue_head(session, queue, sample=policy.head_sample)
            if head is None:
                continue  # nothing completed: nothing overtaken yet
            bound = head - dt.timedelta(seconds=policy.redeliver_after)
            if bound >= seen.oldest_stale:  # else none of them is overtaken: no query
                bounds[queue] = bound
        return bounds


def queue_busy(bus: Bus, queue: str) -> bool:
    """True when the bus says ``queue`` has messages waiting (unknown counts as idle)."""
    try:
        depth = bus.depth(queue)
    except Exception as exc:  # noqa: BLE001 - unknown: treat as idle, as without the check
        log.warning("bus.depth_unknown", queue=queue, error=str(exc))
        return False
    return bool(depth)


def give_up(
    session: Session, row: OutboxRow, now: dt.datetime, policy: RelayPolicy, cause: Cause
) -> dict[str, Any]:
    """Quarantine the job of ``row`` and close the row, in the caller's transaction; returns
    what to log once committed."""
    message_id, delivery_id, channel = _about(session, row)
    error = row.last_error or _last_error(session, delivery_id)
    zh, en = _reason(row, policy, cause)
    problems = [{"path": "", "zh": zh, "en": en}]
    if error:
        problems.append({"path": "last_error", "zh": f"最后记录的错误：{error}", "en": error})
        zh, en = f"{zh}；最后记录的错误：{error}", f"{en}; last error: {error}"
    else:
        zh, en = f"{zh}；无错误记录，见日志 worker.failed", f"{en}; no error on record: see logs"
    entry = QuarantineRow(
        at=now,
        stage=STAGE,
        channel=channel,
        source_id=f"outbox:{row.id}",
        message_id=message_id,
        raw=_raw(row),
        reason_zh=zh,
        reason_en=en,
        problems=problems,
        state="open",
    )
    session.add(entry)
    session.flush()
    close_quarantined(session, row.id, quarantine_id=entry.id, now=now)
    facts = {
        "outbox_id": row.id,
        "queue": row.queue,
        "cause": cause.value,
        "attempts": row.attempts,
        "publishes": row.publishes,
        "quarantine_id": entry.id,
    }
    append_event(
        session,
        "job.quarantined",
        at=now,
        message_id=message_id,
        delivery_id=delivery_id,
        channel=channel or None,
        data=facts,
    )
    return {**facts, "message_id": message_id, "delivery_id": delivery_id}


def _log_given_up(records: list[dict[str, Any]]) -> None:
    for record in records:
        log.warning("job.quarantined", **record)


def _reason(row: OutboxRow, policy: RelayPolicy, cause: Cause) -> tuple[str, str]:
    job = f"队列 {row.queue} 的任务 #{row.id}"
    if cause is Cause.ATTEMPTS:
        return (
            f"{job} 已被领取处理 {row.attempts} 次均未完成（上限 {policy.max_attempts} 次），"
            "不再重试",
            f"job #{row.id} of queue {row.queue} was taken {row.attempts} times and never "
            f"completed (limit {policy.max_attempts}); no longer offered",
        )
    return (
        f"{job} 已发布 {row.publishes} 次、被领取 {row.attempts} 次，仍未完成"
        f"（发布上限 {policy.max_publishes} 次），不再重发",
        f"job #{row.id} of queue {row.queue} was published {row.publishes} times and taken "
        f"{row.attempts} times without completing (limit {policy.max_publishes} publishes); "
        "no longer republished",
    )


def _about(session: Session, row: OutboxRow) -> tuple[str | None, str | None, str]:
    """The job's message, delivery and channel, as far as its payload and the ledger tell."""
    payload = row.payload
    delivery_id = _text(payload.get("delivery_id"))
    message_id = _text(payload.get("message_id"))
    if message_id is None and delivery_id is not None:
        delivery = session.get(DeliveryRow, delivery_id)
        message_id = delivery.message_id if delivery is not None else None
    if row.queue.startswith(DELIVER_PREFIX):
        return message_id, delivery_id, row.queue.removeprefix(DELIVER_PREFIX)
    message = session.get(MessageRow, message_id) if message_id else None
    return message_id, delivery_id, message.channel if message is not None else ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _last_error(session: Session, delivery_id: str | None) -> str:
    """The last failed try recorded for the job's delivery ('' when none)."""
    if delivery_id is None:
        return ""
    attempt = session.scalar(
        select(AttemptRow)
        .where(AttemptRow.delivery_id == delivery_id, AttemptRow.outcome != "ok")
        .order_by(AttemptRow.id.desc())
        .limit(1)
    )
    if attempt is None:
        return ""
    return f"{attempt.channel} {attempt.outcome}: {attempt.detail}"[:500]


def _raw(row: OutboxRow) -> bytes:
    """The job as the entry keeps it: enough to put it in the outbox again."""
    job = {
        "outbox_id": row.id,
        "queue": row.queue,
        "payload": row.payload,
        "attempts": row.attempts,
        "publishes": row.publishes,
        "created_at": row.created_at.isoformat(),
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }
    return json.dumps(job, ensure_ascii=False).encode("utf-8")


def requeue(session: Session, raw: bytes, *, now: dt.datetime) -> tuple[OutboxRow, int | None]:
    """Replay a ``relay`` entry's job (its ``raw``) as a new outbox row (fresh counts); returns
    the row, which the caller publishes after commit, and the id of the row it replaces."""
    job = json.loads(raw)
    row = enqueue(session, str(job["queue"]), dict(job["payload"]), now=now, published=True)
    session.flush()
    return row, job.get("outbox_id")
