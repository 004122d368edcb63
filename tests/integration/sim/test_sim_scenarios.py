"""``hub simulate`` scenarios (tests/data/scenarios/*/scenario.yaml): per push and department,
the states and instants the rehearsal must show. Each scenario runs once per module."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.routing.yamlsource import load_yaml_file
from hub.sim import DeliveryReport, Report, rehearse

SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"
CONFIG = SCENARIOS / "routing.yaml"
TZ = dt.timezone(dt.timedelta(hours=8))

# Scenarios that fail on the core of the day, with why; strict: they must fail until fixed.
XFAIL: dict[tuple[str, str], str] = {}


def _spec(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml_file(SCENARIOS / name / "scenario.yaml").data
    return data


@functools.cache
def run(name: str) -> Report:
    spec = _spec(name)
    start = dt.datetime.fromisoformat(spec["from"]).replace(tzinfo=TZ)
    folder = SCENARIOS / name
    return rehearse(
        CONFIG, folder / "messages", start, float(spec["days"]), folder / "behaviour.yaml"
    )


def _cases() -> list[Any]:
    cases = []
    for folder in sorted(p for p in SCENARIOS.iterdir() if (p / "scenario.yaml").is_file()):
        for file in _spec(folder.name)["expect"]:
            reason = XFAIL.get((folder.name, file))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(folder.name, file, id=f"{folder.name}/{file}", marks=marks))
    return cases


def shown(value: object) -> object:
    """Report values in the scenario files' form: instants as local ``YYYY-MM-DDTHH:MM``."""
    if isinstance(value, dt.datetime):
        return value.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, tuple | list):
        return [shown(v) for v in value]
    return value


def delivery_fields(d: DeliveryReport) -> dict[str, object]:
    fields = {name: shown(getattr(d, name)) for name in DeliveryReport.__dataclass_fields__}
    fields["escalations"] = [f"{e.level} {e.to} {shown(e.at)}" for e in d.escalations]
    return fields


def test_every_scenario_named_in_the_brief_is_here() -> None:
    names = {p.name for p in SCENARIOS.iterdir() if (p / "scenario.yaml").is_file()}
    assert {"a-normal", "b-down-3-days", "c-down-whole-run", "d-late-evening"} <= names
    assert "e-escalation" in names


@pytest.mark.parametrize(("scenario", "file"), _cases())
def test_push_outcome(scenario: str, file: str) -> None:
    expected = _spec(scenario)["expect"][file]
    push = run(scenario).push(file)
    got_push = {k: shown(getattr(push, k)) for k in expected.get("push", {})}
    assert got_push == expected.get("push", {})
    departments = {d.department_id: delivery_fields(d) for d in push.deliveries}
    assert set(departments) == set(expected) - {"push"}
    for department, want in expected.items():
        if department == "push":
            continue
        got = {k: departments[department][k] for k in want}
        assert got == want, f"{scenario}/{file} → {department}"


@pytest.mark.parametrize("scenario", ["e-escalation"])
def test_escalation_notes_reach_the_chain(scenario: str) -> None:
    received = run(scenario).received
    counts = {(r.department_id, r.purpose): r.notes for r in received}
    for department, purposes in _spec(scenario)["received"].items():
        for purpose, notes in purposes.items():
            assert counts.get((department, purpose)) == notes


def test_department_actions_go_through_the_api() -> None:
    actions = [(a.department_id, a.kind, a.status, shown(a.at)) for a in run("a-normal").actions]
    assert actions == [
        ("scjg", "claim", 200, "2026-10-12T12:00"),
        ("wsjk", "object", 200, "2026-10-12T13:00"),
        ("wsjk", "claim", 200, "2026-10-13T10:00"),
    ]


def test_a_rehearsal_is_deterministic() -> None:
    # Given the same scenario twice, When rehearsed, Then every instant and state is the same.
    folder = SCENARIOS / "b-down-3-days"
    again = rehearse(
        CONFIG,
        folder / "messages",
        dt.datetime(2026, 10, 12, 10, 0, tzinfo=TZ),
        6,
        folder / "behaviour.yaml",
    )
    assert again.to_json() == run("b-down-3-days").to_json()


def test_cli_prints_per_push_in_chinese_and_json() -> None:
    folder = SCENARIOS / "c-down-whole-run"
    args = [
        "simulate",
        "--config", str(CONFIG),
        "--messages", str(folder / "messages"),
        "--from", "2026-10-12T10:00",
        "--days", "3",
        "--departments", str(folder / "behaviour.yaml"),
    ]  # fmt: skip
    text = CliRunner().invoke(app, [*args, "--events"])
    assert text.exit_code == 0, text.output
    assert "投递失败 2026-10-12 23:00" in text.output
    assert "超时自动认领" not in text.output
    machine = CliRunner().invoke(app, [*args, "--json"])
    assert machine.exit_code == 0, machine.output
    data = json.loads(machine.stdout)
    (delivery,) = data["pushes"][0]["deliveries"]
    assert delivery["outcome"] == "delivery_failed"
    assert delivery["failed_at"] == "2026-10-12T23:00:00+08:00"


def test_cli_refuses_a_bad_behaviour_file(tmp_path: Path) -> None:
    bad = tmp_path / "behaviour.yaml"
    bad.write_text("departments:\n  scjg:\n    claim: {after: soon}\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "simulate", "-c", str(CONFIG), "-m", str(SCENARIOS / "a-normal" / "messages"),
            "--from", "2026-10-12T10:00", "--days", "1", "-d", str(bad),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "部门行为文件" in result.output and "departments.scjg.claim.after" in result.output
