"""``hub routing test --batch``: each county's batch folder passes; a wrong expectation fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app

REPO = Path(__file__).resolve().parents[3]
BATCH_DIR = REPO / "tests" / "data" / "routing" / "batch"
COUNTIES = ["liangshan", "zhoucun", "guanxian", "danzhou", "baokang"]


def _batch(profile: Path, folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["routing", "test", "--config", str(profile), "--batch", str(folder)]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("county", COUNTIES)
def test_county_batch_passes(county: str) -> None:
    folder = BATCH_DIR / county
    assert 3 <= len(list(folder.glob("*.json"))) <= 6
    code, output = _batch(REPO / "profiles" / f"{county}.yaml", folder)
    assert code == 0, output
    assert "0 failed" in output


def test_every_batch_message_has_an_expectation() -> None:
    for message in BATCH_DIR.glob("*/*.json"):
        assert message.with_name(message.stem + ".expect.yaml").exists(), message


def test_wrong_expectation_fails_naming_department_and_field() -> None:
    code, output = _batch(
        REPO / "profiles" / "guanxian.yaml", REPO / "tests" / "data" / "routing" / "batch_wrong"
    )
    assert code == 1, output
    assert "yjgl.claim_due" in output
    assert "2026-10-08 24:00" in output  # the wrong expectation
    assert "2026-10-09 24:00" in output  # what 冠县 第十七条(一) really gives
