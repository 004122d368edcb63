"""outbox: publish count, quarantine link, indexes for the relay

``publishes`` counts how often a job was put on the bus (the relay's growing wait and its cap);
``quarantine_id`` names the quarantine entry of a job the relay gave up on (the row is closed:
``done_at`` set); ``last_error`` says why the job's handler last failed (the relay's quarantine
reason). ``ix_outbox_done`` finds a queue's latest completions (how far its consumers
got), ``ix_outbox_quarantined`` the few quarantined jobs for ``hub status``. Columns are added
in place (no table copy); only pending rows get their publish count.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("publishes", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("outbox", sa.Column("quarantine_id", ID, nullable=True))
    op.add_column("outbox", sa.Column("last_error", sa.Text(), nullable=True))
    # A pending row already on the bus was published once (as far as anyone can tell).
    op.execute("UPDATE outbox SET publishes = 1 WHERE published_at IS NOT NULL AND done_at IS NULL")
    op.create_index(
        "ix_outbox_done",
        "outbox",
        ["queue", "done_at"],
        unique=False,
        postgresql_where=sa.text("done_at IS NOT NULL"),
        sqlite_where=sa.text("done_at IS NOT NULL"),
    )
    op.create_index(
        "ix_outbox_quarantined",
        "outbox",
        ["queue"],
        unique=False,
        postgresql_where=sa.text("quarantine_id IS NOT NULL"),
        sqlite_where=sa.text("quarantine_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_quarantined", table_name="outbox")
    op.drop_index("ix_outbox_done", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("quarantine_id")
        batch_op.drop_column("publishes")
