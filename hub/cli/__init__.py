"""The ``hub`` command: operator CLI (Chinese for operators, ``--json`` for machines)."""

from __future__ import annotations

import typer

from hub.cli.audit_cmd import audit_app
from hub.cli.calendar_cmd import calendar_app
from hub.cli.db_cmd import db_app
from hub.cli.demo_cmd import register_demo
from hub.cli.quarantine_cmd import quarantine_app
from hub.cli.routing_cmd import routing_app
from hub.cli.run_cmd import register_run
from hub.cli.schema_cmd import register_schema
from hub.cli.simulate_cmd import register_simulate
from hub.cli.status_cmd import register_status
from hub.cli.token_cmd import token_app
from hub.cli.trace_cmd import register_trace
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
register_run(app)
app.add_typer(db_app, name="db")
register_status(app)
register_trace(app)
register_simulate(app)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")


def main() -> None:
    app()
