"""Rigs for the operator queries: a hub on SQLite (tmp file) or on a PostgreSQL test database.

PostgreSQL: ``HUB_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
names a server and a maintenance database; one database ``hub_cli_test_<random>`` is created
for the session, migrated once, emptied before each test and dropped at the end. When the
server is unreachable the tests skip locally and FAIL when ``CI`` is set
(``require_server`` from ``tests/conftest.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.ledger.db import Database
from hub.ledger.events import GENESIS
from hub.ledger.schema import Base
from tests.support.postgres import admin_host_port, temporary_database
from tests.unit.core.conftest import Rig, make_rig

ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url(require_server: Callable[[str, str, int], None]) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (SQLAlchemy URL)."""
    require_server("PostgreSQL", *admin_host_port())
    with temporary_database("hub_cli_test") as url:
        yield url


def empty_postgres(url: str) -> None:
    """Every ledger table emptied and the chain back at genesis (faster than a new database)."""
    db = Database(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)"),
            {"genesis": GENESIS},
        )
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated ledger: a SQLite file, or the session's PostgreSQL db."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    url: str = request.getfixturevalue("pg_url")
    empty_postgres(url)
    return url


@pytest.fixture
def rig(tmp_path: Path, ledger_url: str) -> Iterator[Rig]:
    """A hub (minimal routing, manual clock at 2026-09-30 16:00) on each ledger backend."""
    r = make_rig(tmp_path, url=ledger_url)
    yield r
    r.hub.close()
    r.db.dispose()


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.hub.close()
    r.db.dispose()
