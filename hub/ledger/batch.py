"""Writes of a batch, one statement per table: the hot path's way to the ledger.

A stage that handles many pushes, claims or deliveries in one transaction collects its rows here
instead of adding ORM objects one by one, then ``apply``s them: one INSERT per table (multi-row
VALUES), one executemany UPDATE per kind of change, in a fixed table order. Outbox rows come back
as :class:`NewJob` with their ids (``RETURNING``, in insertion order) for the fast-path publish.
Rare paths keep the ORM (``append_event``, ``enqueue``); both write the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

from hub.ledger.schema import (
    AttemptRow,
    ClaimRow,
    DeliveryRow,
    EventRow,
    MessageRow,
    OutboxRow,
    TimerRow,
)

_TABLE_ORDER: tuple[Table, ...] = tuple(
    row.__table__  # type: ignore[misc]
    for row in (MessageRow, DeliveryRow, AttemptRow, ClaimRow, TimerRow, EventRow)
)
_DELIVERIES: Table = DeliveryRow.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_Column = ColumnElement[Any] | QueryableAttribute[Any]
_NEXT_OUTBOX_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, :n)"
)


class Publishable(Protocol):
    """A committed outbox row (``NewJob`` or an ``OutboxRow``): what the fast path publishes."""

    @property
    def id(self) -> int: ...
    @property
    def queue(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NewJob:
    """An outbox row written by a batch: what the fast path publishes after commit."""

    id: int
    queue: str
    payload: dict[str, Any]


def event_values(
    type: str,
    *,
    at: dt.datetime,
    actor: str = "hub",
    message_id: str | None = None,
    delivery_id: str | None = None,
    department_id: str | None = None,
    channel: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one event row (the sealer chains it after commit)."""
    return {
        "at": at,
        "type": type,
        "message_id": message_id,
        "delivery_id": delivery_id,
        "department_id": department_id,
        "actor": actor,
        "channel": channel,
        "data": data or {},
        "chain_seq": None,
        "prev_hash": None,
        "hash": None,
    }


@dataclass
class Writes:
    """Rows and changes collected for one transaction; ``apply`` writes them."""

    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    delivery_changes: dict[frozenset[str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    jobs: list[dict[str, Any]] = field(default_factory=list)
    published: bool = True  # jobs are published after commit (False: left to the relay)

    def add(self, row: type[Any], values: dict[str, Any]) -> None:
        self.rows[row.__table__].append(values)

    def event(self, type: str, **kw: Any) -> None:
        self.rows[_EVENTS].append(event_values(type, **kw))

    def change_delivery(self, delivery_id: str, **values: Any) -> None:
        """Set columns of a delivery (rows changing the same columns share one executemany)."""
        row = {f"v_{column}": value for column, value in values.items()}
        self.delivery_changes[frozenset(values)].append({"_id": delivery_id, **row})

    def job(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        now: dt.datetime,
        available_at: dt.datetime | None = None,
        published: bool | None = None,
    ) -> None:
        """An outbox row (see ``hub.ledger.outbox.enqueue`` for ``published``)."""
        publish = self.published if published is None else published
        published_now = publish and available_at is None
        self.jobs.append(
            {
                "queue": queue,
                "payload": payload,
                "created_at": now,
                "available_at": available_at or now,
                "attempts": 0,
                "published_at": now if published_now else None,
                "publishes": 1 if published_now else 0,
                "lease_until": None,
                "done_at": None,
            }
        )

    def apply(self, session: Session) -> list[NewJob]:
        """Write everything collected; the jobs to publish (those marked published)."""
        for table in _TABLE_ORDER:
            rows = self.rows.get(table)
            if rows:
                session.execute(insert(table), rows)
        for columns, changes in self.delivery_changes.items():
            statement = (
                update(_DELIVERIES)
                .where(_DELIVERIES.c.delivery_id == bindparam("_id"))
                .values({c: bindparam(f"v_{c}") for c in sorted(columns)})
            )
            session.connection().execute(statement, changes)
        return self._insert_jobs(session)

    def _insert_jobs(self, session: Session) -> list[NewJob]:
        if not self.jobs:
            return []
        if session.get_bind().dialect.name == "postgresql":
            # ids from the sequence first, then a plain executemany: a multi-row INSERT …
            # RETURNING is one long statement psycopg parses afresh every time (~0.5 ms a row)
            ids = list(session.execute(_NEXT_OUTBOX_IDS, {"n": len(self.jobs)}).scalars())
        else:
            # SQLite: the ids it would give (max + 1 …; no outbox row is ever deleted), taken
            # under the write lock every transaction holds (BEGIN IMMEDIATE)
            last = session.execute(select(func.coalesce(func.max(_OUTBOX.c.id), 0))).scalar_one()
            ids = list(range(int(last) + 1, int(last) + 1 + len(self.jobs)))
        for i, job in zip(ids, self.jobs, strict=True):
            job["id"] = i
        session.execute(insert(_OUTBOX), self.jobs)
        return [
            NewJob(int(i), job["queue"], job["payload"])
            for i, job in zip(ids, self.jobs, strict=True)
            if job["publishes"]
        ]


def among(session: Session, column: _Column, values: Iterable[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``: one parameter, so the
    statement text is the same for any number of values and psycopg parses it once (a long
    IN list is parsed afresh every time: ~15 ms for a few hundred values)."""
    listed = sorted(set(values))
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(listed)
    return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))


def pairs_among(
    session: Session, left: _Column, right: _Column, pairs: Iterable[tuple[Any, Any]]
) -> Any:
    """``(left, right) IN pairs`` (on PostgreSQL from two arrays unnested side by side)."""
    listed = sorted(set(pairs))
    if session.get_bind().dialect.name != "postgresql":
        return tuple_(left, right).in_(listed)
    firsts = bindparam(None, [a for a, _ in listed], type_=ARRAY(left.type))
    seconds = bindparam(None, [b for _, b in listed], type_=ARRAY(right.type))
    return tuple_(left, right).in_(select(func.unnest(firsts), func.unnest(seconds)))
