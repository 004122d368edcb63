"""A throw-away PostgreSQL database on the machine's server (trust auth), migrated."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from hub.ledger.db import Database
from hub.ledger.migrate import upgrade

ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_host_port() -> tuple[str, int]:
    url = make_url(ADMIN_URL)
    return url.host or "127.0.0.1", url.port or 5432


@contextmanager
def temporary_database(prefix: str = "hub_test") -> Iterator[str]:
    """Create, migrate, yield the SQLAlchemy URL of, and finally drop a fresh database."""
    admin = make_url(ADMIN_URL)
    name = f"{prefix}_{secrets.token_hex(4)}"
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(drivername="postgresql+psycopg", database=name)
    rendered = url.render_as_string(hide_password=False)
    db = Database(rendered)
    upgrade(db.engine)
    db.dispose()
    try:
        yield rendered
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
