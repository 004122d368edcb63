"""The ``hub`` command: operator CLI (Chinese for operators, ``--json`` for machines)."""

from __future__ import annotations

import typer

from hub.cli.calendar_cmd import calendar_app
from hub.cli.demo_cmd import register_demo
from hub.cli.routing_cmd import routing_app
from hub.cli.schema_cmd import register_schema
from hub.logging import configure_logging

app = typer.Typer(
    name="hub",
    help="审管互动 Hub 运维命令 (operator commands)",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _setup() -> None:
    """审管互动 Hub 运维命令 (operator commands)."""
    configure_logging()


app.add_typer(calendar_app, name="calendar")
app.add_typer(routing_app, name="routing")
register_schema(app)
register_demo(app)


def main() -> None:
    app()
