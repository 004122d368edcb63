"""Alembic environment: uses the engine handed over in ``config.attributes['engine']``."""

from __future__ import annotations

from alembic import context

from hub.ledger.schema import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
