"""``hub routing check|test|show`` and ``hub demo`` through the real Typer app."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.cli.run_cmd import banner_lines
from hub.message import Channel
from hub.routing import load_routing

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "data" / "routing" / "minimal.yaml"
BAD = ROOT / "tests" / "data" / "routing" / "bad"
SAMPLE = next((ROOT / "hub" / "samples" / "guanxian").glob("01*.json"))
runner = CliRunner()


def test_check_accepts_a_valid_file() -> None:
    result = runner.invoke(app, ["routing", "check", str(MINIMAL)])
    assert result.exit_code == 0, result.output
    assert "配置有效" in result.output and "4 个部门" in result.output


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


# --- channels of the deployment, warnings, and what `hub run` says first -----------------------

SHIPPED = ROOT / "routing.yaml"
WARN = ROOT / "tests" / "data" / "routing" / "warn"


def test_check_of_the_shipped_file_warns_about_selfbuilt_instead_of_a_silent_ok() -> None:
    result = runner.invoke(app, ["routing", "check", str(SHIPPED), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["channels"] == ["platform", "email", "paper"]
    selfbuilt = [n for n in payload["notices"] if "'selfbuilt'" in n["en"]]
    assert {(n["line"], n["path"]) for n in selfbuilt} == {
        (183, "route.routes[2].channels"),  # approval-construction: zjj falls back to platform
        (208, "route.routes[7].channels"),  # supervision-credit-copy: xyxx falls back to paper
    }
    assert any("zjj fall back to platform" in n["en"] for n in selfbuilt)
    assert any("xyxx fall back to paper" in n["en"] for n in selfbuilt)


def test_check_for_people_counts_and_prints_the_warnings() -> None:
    result = runner.invoke(app, ["routing", "check", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert "条警告" in result.output and "selfbuilt" in result.output
    assert "改用 platform" in result.output


def test_check_for_a_deployment_without_email_warns_where_the_channels_are_written() -> None:
    result = runner.invoke(
        app, ["routing", "check", str(SHIPPED), "--channels", "platform,paper", "--json"]
    )
    assert result.exit_code == 0, result.output
    (email,) = [n for n in json.loads(result.stdout)["notices"] if "'email'" in n["en"]]
    assert (email["line"], email["path"]) == (165, "route.channels")
    assert "fall back to paper" in email["en"] and "改用 paper" in email["zh"]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ("platform", "no paper adapter is enabled"),
        ("platform,email", "route 'supervision-credit-copy' leaves xyxx"),
    ],
)
def test_check_rejects_what_this_deployment_cannot_deliver(channels: str, expected: str) -> None:
    result = runner.invoke(
        app, ["routing", "check", str(SHIPPED), "--channels", channels, "--json"]
    )
    assert result.exit_code == 1
    assert any(expected in p["en"] for p in json.loads(result.stdout)["problems"])


def test_check_refuses_an_unknown_channel_name() -> None:
    result = runner.invoke(app, ["routing", "check", str(SHIPPED), "--channels", "paper,fax"])
    assert result.exit_code == 2
    assert "未知渠道 'fax'" in result.output


def test_the_run_banner_names_file_county_channels_and_every_warning() -> None:
    loaded = load_routing(SHIPPED, channels={Channel.PLATFORM, Channel.PAPER})
    lines = banner_lines(loaded)
    assert lines[0] == f"路由配置 (routing): {SHIPPED}"
    assert lines[1].startswith("县区 (jurisdiction): 冠县（371525）")
    assert lines[2] == "启用渠道 (channels): platform, paper"
    assert any("email" in line and "HUB_SMTP_URL" in line for line in lines)
    warnings = [line for line in lines if line.startswith("⚠ ")]
    assert len(warnings) == len(loaded.warnings) == 4
    assert sum("'selfbuilt'" in w for w in warnings) == 2


def test_the_run_banner_shows_expired_measures() -> None:
    loaded = load_routing(ROOT / "profiles" / "liangshan.yaml", today=dt.date(2026, 12, 2))
    assert any("已过期" in line and "expired" in line for line in banner_lines(loaded))


def test_hub_run_refuses_a_route_its_channels_cannot_deliver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a route that delivers over email only, and a deployment without HUB_SMTP_URL
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "      to: [scjg]\n", "      to: [scjg]\n      channels: [email]\n", 1
    )
    config = tmp_path / "email-only.yaml"
    config.write_text(text, encoding="utf-8")
    assert runner.invoke(app, ["routing", "check", str(config)]).exit_code == 0  # email built
    monkeypatch.delenv("HUB_SMTP_URL", raising=False)
    monkeypatch.setenv("HUB_ROUTING", str(config))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path}/hub.db")
    # When the hub starts, Then it refuses, naming the route and the channel, without a traceback
    result = runner.invoke(app, ["run", "--for", "0"])
    assert result.exit_code == 1, result.output
    assert "无法启动" in result.output
    assert "route 'approval' leaves scjg with no working channel" in result.output
    assert "Traceback" not in result.output


def test_routing_test_reports_a_routing_error_with_zh_and_en(tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["sender"]["department_id"] = "nosuch"
    path = tmp_path / "unknown-sender.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["routing", "test", "-c", str(MINIMAL), "-m", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["zh"].startswith("未知的发送部门") and "unknown sender" in payload["en"]
    assert payload["error"] == f"{payload['zh']} ({payload['en']})"
