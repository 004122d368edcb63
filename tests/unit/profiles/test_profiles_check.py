"""``hub routing check`` passes on every county profile and on the shipped routing.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app

REPO = Path(__file__).resolve().parents[3]
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))
DIVISIONS = {
    "liangshan": ("梁山县", "370832"),
    "zhoucun": ("周村区", "370306"),
    "guanxian": ("冠县", "371525"),
    "danzhou": ("儋州市", "460400"),
    "baokang": ("保康县", "420626"),
}


def test_the_five_profiles_are_there() -> None:
    assert {p.stem for p in PROFILES} == set(DIVISIONS)


@pytest.mark.parametrize("path", [*PROFILES, REPO / "routing.yaml"], ids=lambda p: p.name)
def test_routing_check_passes(path: Path) -> None:
    result = CliRunner().invoke(app, ["routing", "check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["ok"] is True
    if path.parent.name == "profiles":
        assert (summary["jurisdiction"], path.stem) in {(n, c) for c, (n, _) in DIVISIONS.items()}


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_division_code(path: Path) -> None:
    from hub.routing import load_routing

    jurisdiction = load_routing(path).config.jurisdiction
    assert (jurisdiction.name, jurisdiction.code) == DIVISIONS[path.stem]


def test_shipped_routing_yaml_is_the_guanxian_profile() -> None:
    shipped = (REPO / "routing.yaml").read_bytes()
    assert shipped == (REPO / "profiles" / "guanxian.yaml").read_bytes()


def test_demo_routes_every_sample() -> None:
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
