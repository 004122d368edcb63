"""``hub calendar``: compute a deadline, or show a month of the working-day calendar.

    hub calendar deadline --start 2026-09-30T16:00 --within 1wd [--config routing.yaml] [--json]
    hub calendar show 2026-10 [--config routing.yaml] [--json]

``--config`` reads the ``calendar:`` section of a YAML file (defaults when it has none). Bad input
exits with code 2 and a Chinese + English message on stderr. Days past the known data are shown
as the statutory holidays (休?) and Mon–Fri (?), both provisional (暂定).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from hub.cli.output import console, emit_json, err_console
from hub.clock.calendar import CalendarConfig, DayInfo, WorkCalendar, load_calendar_config
from hub.clock.deadline import Deadline, deadline_from
from hub.clock.now import SystemClock
from hub.errors import HubError

__all__ = ["calendar_app"]

calendar_app = typer.Typer(
    help="工作日日历与期限计算 (working-day calendar and deadlines)",
    no_args_is_help=True,
)

_WEEKDAYS = "一二三四五六日"
_MONTH = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})$")
_LEGEND = (
    "休 = 休息日（节假日，或放假的周一至周五） day off (holiday)；"
    "班 = 调休上班的周末 weekend working day (调休)；"
    "休? = 无官方安排，按法定节假日推算的休息日（暂定） statutory holiday, no official data "
    "(provisional)；"
    "? = 无官方安排，按周一至周五推算（暂定，不含调休） no official data, Mon–Fri assumed；"
    "无标记的周六日为正常周末 unmarked weekends are ordinary"
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="含 calendar: 段的 YAML 文件 (YAML file with a calendar: section)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="输出 JSON (print JSON)")]


def _fail(message: str) -> NoReturn:
    """Print a bilingual error on stderr and exit with code 2."""
    err_console.print(Text(f"错误 (error): {message}", style="red"))
    raise typer.Exit(code=2)


def _calendar(config: Path | None) -> WorkCalendar:
    """Build the calendar from ``--config`` (or defaults); exit 2 on a bad file."""
    try:
        cfg = load_calendar_config(config) if config is not None else CalendarConfig()
        return WorkCalendar(cfg)
    except HubError as exc:
        _fail(str(exc))


def _parse_start(text: str | None) -> datetime:
    """``--start`` as ISO 8601 (naive = calendar time zone); now when omitted."""
    if text is None:
        return SystemClock().now()
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(
            f"无效开始时间 {text!r}，应为 ISO 8601，如 2026-09-30T16:00 "
            f"(invalid --start {text!r}, expected ISO 8601 like 2026-09-30T16:00)"
        )


def _shown_day(instant: datetime) -> date:
    """The date a human reads: 00:00 is 24:00 of the day before."""
    if instant.hour == 0 and instant.minute == 0 and instant.second == 0:
        return instant.date() - timedelta(days=1)
    return instant.date()


def _status(deadline: Deadline) -> str:
    if not deadline.provisional:
        return "确定 (final)"
    years = "、".join(str(y) for y in deadline.provisional_years)
    return (
        f"暂定 (provisional)：{years} 年无官方安排，按法定节假日（不含调休）及周一至周五计算 "
        "(no official schedule: statutory holidays without 调休, otherwise Mon–Fri)"
    )


@calendar_app.command("deadline")
def deadline_cmd(
    within: Annotated[str, typer.Option("--within", help="期限，如 1wd、0.5wd、当日、-1wd")],
    start: Annotated[
        str | None, typer.Option("--start", help="开始时间 ISO 8601，默认现在 (default: now)")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """计算期限 (compute when a deadline falls due)."""
    calendar = _calendar(config)
    begin = _parse_start(start)
    try:
        deadline = deadline_from(calendar, begin, within)
    except HubError as exc:
        _fail(str(exc))
    if as_json:
        extra = {"start": deadline.start.isoformat(), "label": deadline.spec.label}
        emit_json({**extra, **deadline.to_json()})
        return
    _print_deadline(deadline)


def _print_deadline(deadline: Deadline) -> None:
    """The human form: one labelled line per fact."""
    start_day, due_day = deadline.start.date(), _shown_day(deadline.due)
    rows = [
        ("开始 (start)", f"{deadline.start:%Y-%m-%d %H:%M} 星期{_WEEKDAYS[start_day.weekday()]}"),
        ("期限 (within)", f"{deadline.spec.label} ({deadline.spec})"),
        ("截止 (due)", f"{deadline.display(note=False)} 星期{_WEEKDAYS[due_day.weekday()]}"),
        ("ISO", deadline.due.isoformat()),
        ("状态 (status)", _status(deadline)),
        ("日历版本 (calendar)", deadline.calendar_version),
    ]
    for label, value in rows:
        console.print(Text(f"{label}: {value}"))


def _parse_month(text: str) -> tuple[int, int]:
    match = _MONTH.match(text.strip())
    if match is None or not 1 <= int(match["m"]) <= 12:
        _fail(f"无效月份 {text!r}，应为 YYYY-MM (invalid month {text!r}, expected YYYY-MM)")
    return int(match["y"]), int(match["m"])


def _month_days(calendar: WorkCalendar, year: int, month: int) -> list[DayInfo]:
    first = date(year, month, 1)
    days = []
    current = first
    while current.month == month:
        days.append(calendar.day(current))
        current += timedelta(days=1)
    return days


def _mark(info: DayInfo) -> str:
    """休 / 班 / 休? / ? / '' for one day (see the legend)."""
    if not info.known:
        return "休?" if info.holiday_name and not info.is_workday else "?"
    weekend = info.day.weekday() >= 5
    if info.is_workday:
        return "班" if weekend else ""
    return "休" if info.holiday_name or not weekend else ""


_PROVISIONAL_HOLIDAY = "（法定，暂定 statutory, provisional）"
_STYLES = {"休": "red", "班": "blue", "休?": "red", "?": "yellow", "": ""}


def _grid(days: list[DayInfo], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for name in _WEEKDAYS:
        table.add_column(name, justify="right")
    cells: list[Text] = [Text("") for _ in range(days[0].day.weekday())]
    for info in days:
        mark = _mark(info)
        cells.append(Text(f"{info.day.day}{mark or '  '}", style=_STYLES[mark]))
    cells += [Text("") for _ in range(-len(cells) % 7)]
    for i in range(0, len(cells), 7):
        table.add_row(*cells[i : i + 7])
    return table


def _spans(days: list[date]) -> str:
    """'10-01..10-07、10-10' for a sorted list of dates."""
    parts: list[str] = []
    run: list[date] = []
    for d in days + [date.max]:
        if run and (d == date.max or d - run[-1] != timedelta(days=1)):
            a, b = run[0], run[-1]
            parts.append(f"{a:%m-%d}" if a == b else f"{a:%m-%d}..{b:%m-%d}")
            run = []
        run.append(d)
    return "、".join(parts)


def _holiday_lines(days: list[DayInfo]) -> list[str]:
    """One line per holiday name: its days off and its 调休 working days in this month."""
    names: dict[str, tuple[list[date], list[date]]] = {}
    for info in days:
        if info.holiday_name:
            name = info.holiday_name + ("" if info.known else _PROVISIONAL_HOLIDAY)
            off, on = names.setdefault(name, ([], []))
            (on if info.is_workday else off).append(info.day)
    lines = []
    for name, (off, on) in names.items():
        parts = [f"{_spans(off)} 休"] if off else []
        parts += [f"{_spans(on)} 调休上班"] if on else []
        lines.append(f"{name}：" + "；".join(parts))
    return lines


def _day_json(info: DayInfo) -> dict[str, object]:
    return {
        "date": info.day.isoformat(),
        "weekday": info.day.isoweekday(),
        "is_workday": info.is_workday,
        "known": info.known,
        "source": info.source,
        "holiday_name": info.holiday_name,
    }


@calendar_app.command("show")
def show_cmd(
    month: Annotated[str, typer.Argument(help="月份 YYYY-MM (month)")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """显示一个月的工作日日历 (show a month of the working-day calendar)."""
    year, number = _parse_month(month)
    calendar = _calendar(config)
    days = _month_days(calendar, year, number)
    if as_json:
        emit_json([_day_json(info) for info in days])
        return
    console.print(_grid(days, f"{year}年{number}月"))
    console.print(Text(f"图例 (legend): {_LEGEND}"))
    lines = _holiday_lines(days) or ["（本月无节假日 no holidays this month）"]
    console.print(Text("节假日 (holidays):\n  " + "\n  ".join(lines)))
    known = f"已知数据至 (known until): {calendar.known_until().isoformat()}"
    console.print(Text(f"日历版本 (calendar): {calendar.version}；{known}"))
