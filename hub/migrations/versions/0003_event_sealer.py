"""events sealed after commit: seq from a sequence, chain position and hashes by the sealer

Writers no longer lock the chain head: an event is inserted with ``seq`` from the database
(insertion order) and no hash; the sealer gives it ``chain_seq``, ``prev_hash`` and ``hash``.
Events chained before this revision keep their hashes: their ``chain_seq`` is their ``seq``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS events_seq_seq OWNED BY events.seq")
        op.execute(
            "SELECT setval('events_seq_seq', COALESCE((SELECT max(seq) FROM events), 0) + 1, false)"
        )
        op.execute("ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq')")
    # On SQLite ``seq INTEGER`` primary key is the rowid: it numbers itself.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_seq", SEQ, nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE events SET chain_seq = seq")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_events_chain_seq", ["chain_seq"])
    op.create_index(
        "ix_events_unsealed",
        "events",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("chain_seq IS NULL"),
        sqlite_where=sa.text("chain_seq IS NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError(
        "0003 cannot be undone: events sealed since then are chained by chain_seq, not seq, "
        "and the old verifier would report them broken (restore a backup instead)"
    )
