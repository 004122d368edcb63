"""What an operator command opens from the environment, with clear errors instead of tracebacks.

* the ledger: ``HUB_DATABASE_URL`` (default ``sqlite:///var/hub.db``), migrated to head first so
  a fresh database works (``open_database`` / the ``ledger()`` context manager);
* the routing config: ``--config`` or ``HUB_ROUTING`` (default ``./routing.yaml``).

Failures print one line in Chinese and English on stderr and exit 1 (``fail``).
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from alembic.runtime.migration import MigrationContext
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hub.cli.output import err_console
from hub.cli.render import problems_table
from hub.clock.now import DEFAULT_TZ
from hub.errors import ConfigError
from hub.ledger.db import Database, database_url
from hub.ledger.migrate import upgrade
from hub.routing import LoadedRouting, default_routing_path, load_routing

ConfigOption = typer.Option(
    None, "--config", "-c", help="routing.yaml（默认 $HUB_ROUTING 或 ./routing.yaml）"
)
JsonOption = typer.Option(False, "--json", help="输出 JSON (machine-readable)")


def fail(zh: str, en: str, code: int = 1) -> NoReturn:
    """Print ``zh (en)`` on stderr and exit with ``code``."""
    err_console.print(f"[red]{escape(zh)}[/red] ({escape(en)})")
    raise typer.Exit(code)


def masked_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def open_database(migrate: bool = True) -> Database:
    """The ledger at ``HUB_DATABASE_URL``, migrated to head unless ``migrate`` is False."""
    url = database_url()
    try:
        db = Database(url)
        if migrate:
            upgrade(db.engine)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        fail(f"无法打开数据库 {masked_url(url)}", _reason(exc))
    return db


@contextmanager
def ledger(migrate: bool = True) -> Iterator[Database]:
    """``open_database`` for the length of a command; database errors end it with exit 1."""
    db = open_database(migrate)
    try:
        yield db
    except SQLAlchemyError as exc:
        fail("数据库操作失败", _reason(exc))
    finally:
        db.dispose()


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:300]


def current_revision(db: Database) -> str | None:
    """The Alembic revision the database is at (None: not migrated)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_routing(path: Path | None) -> LoadedRouting:
    """The routing config at ``path`` (default ``$HUB_ROUTING``); its problems + exit 1 if bad."""
    try:
        return load_routing(path or default_routing_path())
    except ConfigError as exc:
        err_console.print(problems_table(exc.problems))
        raise typer.Exit(1) from exc


def try_routing(path: Path | None) -> LoadedRouting | None:
    """The routing config when it exists and is valid, else None (for optional display names)."""
    target = path or default_routing_path()
    if not target.is_file():
        return None
    try:
        return load_routing(target)
    except ConfigError:
        return None


def operator() -> str:
    """Who is acting, for events: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:operator"


def parse_at(text: str | None) -> dt.datetime:
    """An ISO instant (naive = Asia/Shanghai) or now; exit 2 when it does not parse."""
    if text is None:
        return dt.datetime.now(DEFAULT_TZ)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"时间格式无效：{text!r}，应如 2026-10-09T09:00", f"invalid time {text!r}", code=2)
    return value if value.tzinfo else value.replace(tzinfo=DEFAULT_TZ)
