"""Engine and sessions for the ledger: SQLite in WAL mode by default, PostgreSQL by URL.

``HUB_DATABASE_URL`` selects the database (``postgresql+psycopg://…``); the default is
``sqlite:///var/hub.db`` under the working directory. SQLite transactions begin IMMEDIATE so two
writers never deadlock on a lock upgrade; PostgreSQL runs READ COMMITTED with row locks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic_core import from_json, to_json
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from hub.backoff import backoff_wait

log = structlog.get_logger(__name__)
T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///var/hub.db"
JSON_CODEC: dict[str, Any] = {  # JSON columns through pydantic-core (Rust): ~3× json's speed
    "json_serializer": lambda value: to_json(value).decode("utf-8"),
    "json_deserializer": from_json,
}


def database_url() -> str:
    return os.environ.get("HUB_DATABASE_URL", DEFAULT_DATABASE_URL)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: ``database_url()``), tuned for the ledger's use."""
    url = url or database_url()
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # no pre-ping: a dropped connection fails its one transaction (the outbox retries the
    # work) and is replaced
    return create_engine(url, pool_size=10, max_overflow=10, **JSON_CODEC)


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get("hub_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine and its session factories; ``transaction()`` is the unit of work.

    On SQLite, writers in this process take turns on a lock (SQLite allows one writer; waiting
    on the lock here wakes at once, where SQLite's busy handler sleeps), and ``read()`` opens a
    deferred transaction that takes no write lock. Other processes still wait on busy_timeout.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(
            self.engine.execution_options(hub_readonly=True), expire_on_commit=False
        )
        sqlite = self.engine.dialect.name == "sqlite"
        self._writer: threading.RLock | None = threading.RLock() if sqlite else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._write_turn(), self._sessions() as session, session.begin():
            yield session

    def retrying(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``work`` in a transaction; again (at most ``attempts`` times in all, after the
        hub's backoff) when PostgreSQL aborted it as a deadlock victim or a serialization
        failure. Any other error, or the last one, is raised."""
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=backoff_wait(0.01, 0.2),
            retry=retry_if_exception(is_transient),
            before_sleep=_log_retry,
            reraise=True,
        ):
            with attempt, self.transaction() as session:
                return work(session)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only (no write lock on SQLite); rolled back at the end."""
        with self._reads() as session, session.begin():
            yield session
            session.rollback()

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    def dispose(self) -> None:
        self.engine.dispose()


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    sqlstate = _sqlstate(exc) if isinstance(exc, DBAPIError) else None
    log.warning("db.transaction_retried", attempt=state.attempt_number, sqlstate=sqlstate)


def is_transient(exc: BaseException) -> bool:
    """A database error after which the same transaction, run again, can succeed."""
    return isinstance(exc, DBAPIError) and _sqlstate(exc) in TRANSIENT_SQLSTATES
