"""The ledger's tables (SQLAlchemy 2, typed). Alembic migrations in ``hub/migrations`` create them.

The ledger is the source of truth: the bus only carries notifications of work recorded here
(the transactional outbox), so a lost bus message delays work but never loses it.

Tables:
    messages           one row per accepted canonical message (idempotency key unique)
    deliveries         one row per (message, recipient department): route, channels, deadlines,
                       transport state and claim / objection / reply state
    delivery_attempts  every try on a channel, with its outcome
    claims             认领: manual, late, or 超时自动认领 — at most one per delivery
    objections         异议 raised in the window
    replies            a reply message answering a delivery's request
    timers             due work (reminders, claim timeout, windows closing, escalation steps),
                       found through a partial index on ``due_at``
    outbox             work to publish on the bus, leased by the consumer, completed in the
                       consumer's own transaction
    quarantine         input that could not be accepted or routed, with its reason
    events             append-only log of every state change (全程留痕), hash-chained by the sealer
    audit_head         the chain's last sealed position and hash
    api_tokens         per-department credentials (sha256 of the token only)
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from hub.core.states import ClaimState, MessageState, ObjectionState, ReplyState, TransportState


class UtcInstant(TypeDecorator[dt.datetime]):
    """An aware instant stored as UTC; SQLite (no time zones) gets it back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger stores aware instants only")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


Instant = UtcInstant()


def State(enum: type[StrEnum]) -> Enum:  # noqa: N802 - reads as a column type
    """A state column: the enum's values stored as VARCHAR(16) (no database enum type, no
    CHECK constraint: a new state needs no migration), read back as enum members."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


ID = String(40)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class MessageRow(Base):
    __tablename__ = "messages"

    message_id: Mapped[str] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(40))
    sender_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    classified: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200))
    in_reply_to: Mapped[str | None] = mapped_column(ID, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(Instant)
    accepted_at: Mapped[dt.datetime] = mapped_column(Instant)
    state: Mapped[MessageState] = mapped_column(State(MessageState), default=MessageState.ACCEPTED)
    push_late: Mapped[bool] = mapped_column(Boolean, default=False)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "department_id", name="uq_delivery_message_department"),
        Index("ix_deliveries_department_claim", "department_id", "claim_state"),
        Index(
            "ix_deliveries_provisional",
            "calendar_version",
            postgresql_where=text("provisional"),
            sqlite_where=text("provisional"),
        ),
    )

    delivery_id: Mapped[str] = mapped_column(ID, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.message_id"), index=True)
    department_id: Mapped[str] = mapped_column(String(64))
    route_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(64))
    channels: Mapped[list[Any]] = mapped_column(JSON)
    channel_index: Mapped[int] = mapped_column(Integer, default=0)
    arrived_at: Mapped[dt.datetime] = mapped_column(Instant)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)  # the policy rules as routed (snapshot)
    calendar_version: Mapped[str] = mapped_column(String(80))
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    # the state machines are drawn in hub/core/states.py
    transport_state: Mapped[TransportState] = mapped_column(
        State(TransportState), default=TransportState.PENDING
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    delivered_channel: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_state: Mapped[ClaimState] = mapped_column(State(ClaimState), default=ClaimState.OPEN)
    claim_due: Mapped[dt.datetime | None] = mapped_column(Instant)
    on_timeout: Mapped[str | None] = mapped_column(String(16))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    objection_state: Mapped[ObjectionState] = mapped_column(
        State(ObjectionState), default=ObjectionState.NONE
    )
    objection_due: Mapped[dt.datetime | None] = mapped_column(Instant)
    reply_state: Mapped[ReplyState] = mapped_column(State(ReplyState), default=ReplyState.NONE)
    reply_due: Mapped[dt.datetime | None] = mapped_column(Instant)
    version: Mapped[int] = mapped_column(Integer, default=0)


class AttemptRow(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # push|reminder|escalation|notice
    channel: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(Instant)
    finished_at: Mapped[dt.datetime] = mapped_column(Instant)
    outcome: Mapped[str] = mapped_column(String(16))  # ok|retryable|permanent
    detail: Mapped[str] = mapped_column(Text, default="")


class ClaimRow(Base):
    __tablename__ = "claims"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # claimed|claimed_late|auto_claimed
    actor: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(Instant)
    responsible_department: Mapped[str | None] = mapped_column(String(64))


class ObjectionRow(Base):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(Instant)


class ReplyRow(Base):
    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    reply_message_id: Mapped[str | None] = mapped_column(ID)
    text: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(Instant)


class TimerRow(Base):
    __tablename__ = "timers"
    __table_args__ = (
        Index(
            "ix_timers_due_open",
            "due_at",
            postgresql_where=text("fired_at IS NULL AND cancelled_at IS NULL"),
            sqlite_where=text("fired_at IS NULL AND cancelled_at IS NULL"),
        ),
        UniqueConstraint("delivery_id", "action", "step", name="uq_timer_delivery_action_step"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    action: Mapped[str] = mapped_column(String(24))  # remind|claim_timeout|objection_close|...
    step: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(Instant)
    spec: Mapped[str] = mapped_column(String(24), default="")
    fired_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(Instant)


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "available_at",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
        Index(  # a queue's latest completions: how far its consumers got (the relay)
            "ix_outbox_done",
            "queue",
            "done_at",
            postgresql_where=text("done_at IS NOT NULL"),
            sqlite_where=text("done_at IS NOT NULL"),
        ),
        Index(
            "ix_outbox_quarantined",
            "queue",
            postgresql_where=text("quarantine_id IS NOT NULL"),
            sqlite_where=text("quarantine_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    queue: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(Instant)
    available_at: Mapped[dt.datetime] = mapped_column(Instant)
    published_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    lease_until: Mapped[dt.datetime | None] = mapped_column(Instant)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # leases taken
    done_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    publishes: Mapped[int] = mapped_column(Integer, default=0)  # times put on the bus
    # set when the relay gave up on the job (done_at is set too: nobody takes it again)
    quarantine_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_error: Mapped[str | None] = mapped_column(Text)  # why its handler last failed


class QuarantineRow(Base):
    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(Instant)
    stage: Mapped[str] = mapped_column(String(16))  # ingest|route|deliver
    channel: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200), default="")
    message_id: Mapped[str | None] = mapped_column(ID, index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason_zh: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    problems: Mapped[list[Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open|replayed|discarded
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Instant)


class EventRow(Base):
    """One event. ``seq`` is given at insert (insertion order, no lock); the sealer later gives
    it ``chain_seq``, its place in the hash chain, with ``prev_hash`` and ``hash``."""

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_unsealed",
            "seq",
            postgresql_where=text("chain_seq IS NULL"),
            sqlite_where=text("chain_seq IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(Instant)
    type: Mapped[str] = mapped_column(String(48))
    message_id: Mapped[str | None] = mapped_column(ID, index=True)
    delivery_id: Mapped[str | None] = mapped_column(ID, index=True)
    department_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    chain_seq: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), unique=True
    )
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditHeadRow(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(Instant)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Instant)


class MailCursorRow(Base):
    """How far the email watcher has read a mailbox: the last UID filed, under a UIDVALIDITY.

    Advanced only after the message was acted on and moved out of the mailbox, so a crash
    re-reads at most the message in hand (the hub's actions are idempotent).
    """

    __tablename__ = "mail_cursors"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(Instant)
