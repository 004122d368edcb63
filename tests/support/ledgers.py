"""``ledger_url``: a test that involves the ledger runs on SQLite and on PostgreSQL.

Import the fixture into a test module (``from tests.support.ledgers import ledger_url``); the
PostgreSQL case is marked ``postgres`` and needs the server (skipped locally, failed in CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.postgres import admin_host_port, temporary_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    require_server: Callable[[str, str, int], None],
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hub.db"
        return
    require_server("PostgreSQL", *admin_host_port())
    with temporary_database("hub_ledger") as url:
        yield url
