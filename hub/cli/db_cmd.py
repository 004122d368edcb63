"""``hub db upgrade|url``: bring the ledger's schema to the newest revision; show where it is."""

from __future__ import annotations

import typer

from hub.cli.context import current_revision, ledger, masked_url
from hub.cli.output import console, emit_json
from hub.ledger.db import database_url

db_app = typer.Typer(help="账本数据库：迁移、查看地址 (ledger database)", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd(
    as_json: bool = typer.Option(False, "--json", help="输出 JSON (machine-readable)"),
) -> None:
    """应用数据库迁移到最新版本 (apply migrations; idempotent)."""
    with ledger(migrate=True) as db:
        revision = current_revision(db)
    url = masked_url(database_url())
    if as_json:
        emit_json({"ok": True, "url": url, "revision": revision})
        return
    console.print(f"[green]数据库已是最新版本[/green] {url}：revision {revision} (up to date)")


@db_app.command("url")
def url_cmd() -> None:
    """显示账本数据库地址（隐去密码）(print HUB_DATABASE_URL, password masked)."""
    console.print(masked_url(database_url()), markup=False)
