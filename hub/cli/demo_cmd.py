"""``hub demo``: route the shipped sample messages of each county through its profile."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.cli.output import console, emit_json
from hub.cli.render import problems_table, result_notes, result_table
from hub.errors import ConfigError, HubError
from hub.routing import load_routing
from hub.validation import parse_message

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"


def register_demo(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    profiles: Path = typer.Option(PROFILES_DIR, help="县区路由配置目录 (profiles folder)"),
    samples: Path = typer.Option(SAMPLES_DIR, help="样例消息目录 (samples folder)"),
    county: str | None = typer.Option(None, help="只看一个县区，如 guanxian"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """演示：用各县区配置路由样例消息，显示收件部门、渠道和期限 (route the samples)."""
    results: list[dict[str, object]] = []
    failures = 0
    for profile in sorted(profiles.glob("*.yaml")):
        if county is None or profile.stem == county:
            failures += _demo_county(profile, samples / profile.stem, results, as_json)
    if as_json:
        emit_json(results)
    if failures:
        raise typer.Exit(1)


def _demo_county(
    profile: Path, samples: Path, results: list[dict[str, object]], as_json: bool
) -> int:
    """Route one county's samples; returns how many failed."""
    try:
        loaded = load_routing(profile)
    except ConfigError as exc:
        console.print(problems_table(exc.problems))
        return 1
    if not as_json:
        console.rule(f"{loaded.config.jurisdiction.name}（{profile.name}）")
    failures = 0
    for sample in sorted(samples.glob("*.json")):
        try:
            message = parse_message(sample.read_bytes())
            result = loaded.router.resolve(message)
        except HubError as exc:
            failures += 1
            console.print(f"[red]{sample.name}: {exc}[/red]")
            continue
        results.append({"county": profile.stem, "sample": sample.name, **result.to_json()})
        if not as_json:
            console.print(result_table(message, result))
            for note in result_notes(result):
                console.print(f"  {note}")
    return failures
