"""``hub routing check|test|show`` and ``hub demo`` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "data" / "routing" / "minimal.yaml"
BAD = ROOT / "tests" / "data" / "routing" / "bad"
SAMPLE = next((ROOT / "hub" / "samples" / "guanxian").glob("01*.json"))
runner = CliRunner()


def test_check_accepts_a_valid_file() -> None:
    result = runner.invoke(app, ["routing", "check", str(MINIMAL)])
    assert result.exit_code == 0, result.output
    assert "配置有效" in result.output and "3 个部门" in result.output


def test_check_lists_every_error_and_exits_1() -> None:
    result = runner.invoke(
        app, ["routing", "check", str(BAD / "undefined_department.yaml"), "--json"]
    )
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    (problem,) = payload["problems"]
    assert problem["line"] == 39 and problem["path"] == "route.routes[0].to[1]"
    assert "wsjk" in problem["zh"] and "undefined department 'wsjk'" in problem["en"]


def test_check_prints_a_table_for_people() -> None:
    result = runner.invoke(app, ["routing", "check", str(BAD / "bad_regex.yaml")])
    assert result.exit_code == 1
    assert "配置错误 1 处" in result.output and "正则表达式无效" in result.output


def test_check_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["routing", "check", str(tmp_path / "nope.yaml"), "--json"])
    assert result.exit_code == 1
    assert "无法读取文件" in json.loads(result.stdout)["problems"][0]["zh"]


def test_test_prints_each_recipient_with_deadlines_as_json() -> None:
    result = runner.invoke(
        app,
        [
            "routing",
            "test",
            "-c",
            str(MINIMAL),
            "-m",
            str(SAMPLE),
            "--at",
            "2026-09-30T16:00",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (recipient,) = payload["recipients"]
    assert recipient["department"] == "scjg" and recipient["route"] == "approval"
    assert recipient["channels"] == ["platform", "email", "paper"]
    assert recipient["claim_due"]["display"] == "2026-10-08 24:00"
    assert recipient["claim_due"]["provisional"] is False
    assert recipient["on_timeout"] == "auto_claim"


def test_test_for_people_shows_chinese_labels() -> None:
    result = runner.invoke(
        app, ["routing", "test", "-c", str(MINIMAL), "-m", str(SAMPLE), "--at", "2026-09-30T16:00"]
    )
    assert result.exit_code == 0, result.output
    assert "超时自动认领" in result.output and "2026-10-08 24:00" in result.output


def test_test_of_an_invalid_message_exits_1_naming_the_field(tmp_path: Path) -> None:
    bad = json.loads(SAMPLE.read_text(encoding="utf-8"))
    bad["body"]["party"]["uscc"] = "91371525MA3N2C8Q0X"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["routing", "test", "-c", str(MINIMAL), "-m", str(path), "--json"])
    assert result.exit_code == 1
    assert "body.party.uscc" in json.loads(result.stdout)["error"]


def test_test_needs_exactly_one_of_message_and_batch() -> None:
    result = runner.invoke(app, ["routing", "test", "-c", str(MINIMAL)])
    assert result.exit_code == 2


def test_show_prints_the_tree() -> None:
    result = runner.invoke(app, ["routing", "show", str(MINIMAL)])
    assert result.exit_code == 0
    for route_id in ("root", "approval", "to-bureau", "addressed"):
        assert route_id in result.output
