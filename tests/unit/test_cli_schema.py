"""``hub schema`` and ``hub validate``, on a small Typer app built with ``register_schema``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import hub
from hub.cli.schema_cmd import register_schema
from hub.message import MessageKind

SAMPLES = sorted((Path(hub.__file__).parent / "samples").glob("*/*.json"))
INVALID_DIR = Path(__file__).parents[1] / "data" / "messages" / "invalid"
runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register_schema(app)
    return app


def test_schema_prints_json_with_every_kind(app: typer.Typer) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    mapping = schema["properties"]["body"]["discriminator"]["mapping"]
    assert set(mapping) == {kind.value for kind in MessageKind}
    assert "统一社会信用代码" in result.stdout  # ensure_ascii=False keeps Chinese readable
    assert result.stdout.startswith('{\n  "$schema"')  # indent 2


def test_schema_for_one_kind(app: typer.Typer) -> None:
    result = runner.invoke(app, ["schema", "--kind", "joint_inspection_request"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["properties"]["kind"]["const"] == "joint_inspection_request"
    assert "JointInspectionRequestBody" in schema["$defs"]
    assert "ApprovalDecisionBody" not in schema["$defs"]


def test_schema_unknown_kind_is_a_usage_error(app: typer.Typer) -> None:
    result = runner.invoke(app, ["schema", "--kind", "licence"])
    assert result.exit_code == 2


def test_schema_to_file(app: typer.Typer, tmp_path: Path) -> None:
    target = tmp_path / "message.schema.json"
    result = runner.invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "CanonicalMessage"
    assert str(target) in result.stdout


def test_validate_samples_ok(app: typer.Typer) -> None:
    result = runner.invoke(app, ["validate", *map(str, SAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("OK") == len(SAMPLES)


def test_validate_reports_problems_in_both_languages(app: typer.Typer) -> None:
    bad = INVALID_DIR / "bad-uscc-check-char.json"
    result = runner.invoke(app, ["validate", str(SAMPLES[0]), str(bad)])
    assert result.exit_code == 1
    assert "OK" in result.stdout
    assert "body.party.uscc: 统一社会信用代码校验码错误" in result.stdout
    assert "check character should be" in result.stdout


def test_validate_json_output(app: typer.Typer) -> None:
    bad = INVALID_DIR / "direction-mismatch.json"
    result = runner.invoke(app, ["validate", "--json", str(SAMPLES[0]), str(bad)])
    assert result.exit_code == 1
    good_report, bad_report = json.loads(result.stdout)
    assert good_report["ok"] is True and good_report["message_id"].startswith("M")
    assert bad_report["ok"] is False
    assert [p["path"] for p in bad_report["problems"]] == ["direction"]
    assert {"zh", "en"} <= set(bad_report["problems"][0])


def test_validate_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--json", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    (report,) = json.loads(result.stdout)
    assert "无法读取文件" in report["problems"][0]["zh"]


def test_validate_attachment_limit_option(app: typer.Typer) -> None:
    with_attachment = SAMPLES[0].parents[1] / "liangshan" / "02-supervision_info-suspension.json"
    result = runner.invoke(
        app, ["validate", "--max-attachment-bytes", "1000", str(with_attachment)]
    )
    assert result.exit_code == 1
    assert "attachments.0.size" in result.stdout


def test_validate_needs_a_file(app: typer.Typer) -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2
