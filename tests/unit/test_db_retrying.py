"""``Database.retrying``: deadlock victims and serialization failures run again, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub.ledger.db import Database


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstate: str, times: int) -> tuple[list[int], object]:
    calls: list[int] = []

    def work(session: Session) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("UPDATE timers …", {}, _PgError(sqlstate))
        return "done"

    return calls, work


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_transient_failures_are_run_again(tmp_path: Path, sqlstate: str) -> None:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    calls, work = _failing(sqlstate, 2)
    assert db.retrying(work) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3


def test_other_errors_and_the_last_attempt_are_raised(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    calls, work = _failing("23505", 1)  # unique violation: running again cannot help
    with pytest.raises(OperationalError):
        db.retrying(work)  # type: ignore[arg-type]
    assert len(calls) == 1
    calls, work = _failing("40P01", 10)
    with pytest.raises(OperationalError):
        db.retrying(work, attempts=3)  # type: ignore[arg-type]
    assert len(calls) == 3
