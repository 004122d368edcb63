"""``hub calendar deadline`` and ``hub calendar show`` through Typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from hub.cli.calendar_cmd import calendar_app

runner = CliRunner()

# package_until pins the package's last year: 2027 is past the data whatever release is installed
UNTIL_2026_YAML = """\
routes: []
calendar:
  package_until: 2026
"""
YEAR_2027_YAML = """\
routes: []
calendar:
  package_until: 2026
  years:
    2027:
      holidays: ["2027-01-01..2027-01-03"]
      workdays: []
      complete: true
"""
PARTIAL_2027_YAML = YEAR_2027_YAML.replace("      complete: true\n", "")


def run(*args: str) -> tuple[int, str, str]:
    with capture_logs():  # provisional warnings would otherwise land on stdout
        result = runner.invoke(calendar_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_2027(tmp_path: Path) -> Path:
    return _write(tmp_path, YEAR_2027_YAML)


@pytest.fixture
def until_2026(tmp_path: Path) -> Path:
    return _write(tmp_path, UNTIL_2026_YAML)


def test_deadline_prints_chinese_labels_due_and_status() -> None:
    code, out, _ = run("deadline", "--start", "2026-09-30T16:00", "--within", "1wd")
    assert code == 0
    assert "开始 (start): 2026-09-30 16:00 星期三" in out
    assert "期限 (within): 1个工作日 (1wd)" in out
    assert "截止 (due): 2026-10-08 24:00 星期四" in out
    assert "ISO: 2026-10-09T00:00:00+08:00" in out
    assert "状态 (status): 确定" in out
    assert re.search(r"日历版本 \(calendar\): chinesecalendar-[0-9.]+\+cfg:[0-9a-f]{8}", out)


def test_deadline_json() -> None:
    code, out, _ = run(
        "deadline", "--start", "2026-09-30T16:00", "--within", "0.5个工作日", "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["start"] == "2026-09-30T16:00:00+08:00"
    assert payload["due"] == "2026-10-08T12:00:00+08:00"
    assert payload["display"] == "2026-10-08 12:00"
    assert (payload["spec"], payload["label"]) == ("0.5wd", "0.5个工作日")
    assert (payload["provisional"], payload["provisional_years"]) == (False, [])


def test_deadline_into_2027_is_marked_provisional(until_2026: Path) -> None:
    code, out, _ = run(
        "deadline", "--start", "2026-12-30T10:00", "--within", "3wd", "--config", str(until_2026)
    )
    assert code == 0
    # 2027-01-01 (Fri) is 元旦 by statute: 12-31, 01-04, 01-05
    assert "截止 (due): 2027-01-05 24:00 星期二" in out
    assert "暂定 (provisional)" in out
    assert "2027 年无官方安排，按法定节假日（不含调休）及周一至周五计算" in out


def test_deadline_with_config_follows_the_2027_schedule(config_2027: Path) -> None:
    code, out, _ = run(
        "deadline",
        "--start",
        "2026-12-30T10:00",
        "--within",
        "3wd",
        "--config",
        str(config_2027),
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["due"] == "2027-01-06T00:00:00+08:00"
    assert payload["provisional"] is False


def test_deadline_with_an_incomplete_2027_schedule_stays_provisional(tmp_path: Path) -> None:
    path = _write(tmp_path, PARTIAL_2027_YAML)
    code, out, _ = run(
        "deadline",
        "--start",
        "2026-12-30T10:00",
        "--within",
        "3wd",
        "--config",
        str(path),
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["due"] == "2027-01-06T00:00:00+08:00"
    assert (payload["provisional"], payload["provisional_years"]) == (True, [2027])


def test_deadline_without_start_uses_now() -> None:
    code, out, _ = run("deadline", "--within", "same_day", "--json")
    assert code == 0
    assert json.loads(out)["due"].endswith("T00:00:00+08:00")


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (
            ("deadline", "--start", "2026-09-30T16:00", "--within", "1.3wd"),
            "无法识别的期限",
            "'1.3wd'",
        ),
        (("deadline", "--start", "yesterday", "--within", "1wd"), "无效开始时间", "'yesterday'"),
        (
            ("deadline", "--within", "1wd", "--config", "/nonexistent/routing.yaml"),
            "无法读取配置文件",
            "/nonexistent/routing.yaml",
        ),
        (("show", "2026-13"), "无效月份", "'2026-13'"),
        (("show", "October"), "无效月份", "'October'"),
    ],
    ids=["bad-spec", "bad-start", "missing-config", "month-13", "month-as-word"],
)
def test_bad_input_exits_2_with_a_bilingual_error(args: tuple[str, ...], zh: str, en: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert zh in err and en in err
    assert out == ""
    assert "Traceback" not in err


def test_bad_calendar_section_names_the_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("calendar:\n  extra_holidays: ['2026-02-30']\n", encoding="utf-8")
    code, _, err = run("show", "2026-10", "--config", str(path))
    assert code == 2
    assert "calendar.extra_holidays" in err
    assert "'2026-02-30'" in err


def _row(out: str, needle: str) -> str:
    (line,) = [line for line in out.splitlines() if needle in line]
    return line


def test_show_october_2026_grid_marks_holidays_and_tiaoxiu() -> None:
    code, out, _ = run("show", "2026-10")
    assert code == 0
    assert re.search(r"一\W+二\W+三\W+四\W+五\W+六\W+日", out)
    first = _row(out, "1休")
    assert re.search(r"1休\W+2休\W+3休\W+4休", first)
    second = _row(out, "10班")
    assert re.search(r"5休\W+6休\W+7休\W+8\W+9\W+10班\W+11\W", second)
    assert "国庆节：10-01..10-07 休；10-10 调休上班" in out
    assert "图例 (legend)" in out


def test_show_september_2026_lists_mid_autumn_and_the_sunday_tiaoxiu() -> None:
    code, out, _ = run("show", "2026-09")
    assert code == 0
    assert re.search(r"14\W+15\W+16\W+17\W+18\W+19\W+20班", out)
    assert re.search(r"21\W+22\W+23\W+24\W+25休\W+26休\W+27休", out)
    assert "中秋：09-25..09-27 休" in out
    assert "国庆节：09-20 调休上班" in out


def test_show_unknown_month_marks_statutory_holidays_and_question_marks(until_2026: Path) -> None:
    code, out, _ = run("show", "2027-01", "--config", str(until_2026))
    assert code == 0
    assert re.search(r"1休\?\W+2\?\W+3\?\W*\n", out)
    assert "31?" in out
    assert "元旦（法定，暂定 statutory, provisional）：01-01 休" in out
    assert "已知数据至 (known until): 2026-12-31" in out


def test_show_unknown_spring_festival(until_2026: Path) -> None:
    code, out, _ = run("show", "2027-02", "--config", str(until_2026))
    assert code == 0
    assert re.search(r"5休\?\W+6休\?\W+7休\?", out)
    assert re.search(r"8休\?\W+9\?", out)
    assert "春节（法定，暂定 statutory, provisional）：02-05..02-08 休" in out


def test_show_with_an_incomplete_2027_schedule(tmp_path: Path) -> None:
    code, out, _ = run("show", "2027-01", "--config", str(_write(tmp_path, PARTIAL_2027_YAML)))
    assert code == 0
    assert re.search(r"1休\W+2休\W+3休\W+", out)
    assert re.search(r"4\?\W+5\?", out)
    assert "已知数据至 (known until): 2026-12-31" in out


def test_show_with_a_2027_schedule(config_2027: Path) -> None:
    code, out, _ = run("show", "2027-01", "--config", str(config_2027))
    assert code == 0
    assert "?" not in out.split("图例")[0]
    assert re.search(r"1休\W+2休\W+3休", out)
    assert "节假日：01-01..01-03 休" in out
    assert "已知数据至 (known until): 2027-12-31" in out


def test_show_json_lists_every_day() -> None:
    code, out, _ = run("show", "2026-10", "--json")
    assert code == 0
    days = json.loads(out)
    assert len(days) == 31
    assert days[9] == {
        "date": "2026-10-10",
        "weekday": 6,
        "is_workday": True,
        "known": True,
        "source": "package",
        "holiday_name": "国庆节",
    }
    assert [d["date"][-2:] for d in days if not d["is_workday"]] == [
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "07",
        "11",
        "17",
        "18",
        "24",
        "25",
        "31",
    ]


def test_calendar_is_wired_into_the_hub_app() -> None:
    from hub.cli import app

    with capture_logs():
        result = runner.invoke(
            app,
            ["calendar", "deadline", "--start", "2026-09-30T16:00", "--within", "1wd", "--json"],
        )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["display"] == "2026-10-08 24:00"
