"""The behaviour file of ``hub simulate``: what each loopback department does, and when.

Strict (unknown keys rejected); durations are ``30s``, ``15m``, ``2h``, ``1d`` (wall time) or
``1wd`` (department delays only: the same time of day, N working days later)::

    retry:                    # the hub's delivery retry policy for this run (RetryPolicy)
      tries_per_round: 1
      rounds: 20
      round_wait_initial: 1h
      round_wait_max: 6h
    schedule:                 # when each message file is pushed (default: all at --from)
      - {file: 01-approval.json, at: "2026-10-12T23:00", routed_after: 2h}
    default: {}               # departments not listed: receive, never act (silent)
    departments:
      scjg:
        claim: {after: 2h}
        object: {after: 3h, reason: 许可条件有误}
        reply: {after: 1wd, text: 已核实}
        down:                 # callbacks fail: answered 503, or the connection is refused
          - {from: "2026-10-12T00:00", until: "2026-10-15T00:00", answer: 503}
        bounce: {after: 5m, reason: "550 5.1.1 user unknown"}   # pushes by email bounce

``routed_after`` holds the push in the hub's queue (a hub with a backlog) before it is sent.
Naive instants are in the routing calendar's time zone. Errors carry zh and en
(:class:`BehaviourError`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from hub.clock.calendar import WorkCalendar
from hub.errors import ConfigError, HubError
from hub.routing.yamlsource import load_yaml_file

_DURATION = r"^(\d+(?:\.\d+)?)(s|m|h|d|wd)$"
Duration = Annotated[str, StringConstraints(pattern=_DURATION)]
WallDuration = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?(s|m|h|d)$")]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BehaviourError(HubError, ValueError):
    """A behaviour file that cannot be used; ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} ({en})")
        self.zh, self.en = zh, en


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Act(_Strict):
    after: Duration


class Objection(Act):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = "演练：提出异议"


class Reply(Act):
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = "演练：已答复"


class Bounce(Act):
    reason: str = "550 5.1.1 mailbox unavailable (演练退信)"


class Down(_Strict):
    """A period the department's endpoint fails; open-ended on either side when omitted."""

    from_: dt.datetime | None = Field(default=None, alias="from")
    until: dt.datetime | None = None
    answer: Literal["503", "refused"] = "503"

    @field_validator("answer", mode="before")
    @classmethod
    def _status_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DepartmentBehaviour(_Strict):
    claim: Act | None = None
    object: Objection | None = None
    reply: Reply | None = None
    silent: bool = False
    down: tuple[Down, ...] = ()
    bounce: Bounce | None = None


class RetrySettings(_Strict):
    tries_per_round: int = Field(default=1, ge=1, le=5)
    rounds: int | None = Field(default=None, ge=1, le=100)
    round_wait_initial: WallDuration | None = None
    round_wait_max: WallDuration | None = None


class ScheduledPush(_Strict):
    file: str
    at: dt.datetime | None = None
    routed_after: WallDuration | None = None


class Behaviour(_Strict):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    schedule: tuple[ScheduledPush, ...] = ()
    default: DepartmentBehaviour = Field(default_factory=DepartmentBehaviour)
    departments: dict[str, DepartmentBehaviour] = Field(default_factory=dict)

    def of(self, department_id: str) -> DepartmentBehaviour:
        return self.departments.get(department_id, self.default)


def load_behaviour(path: Path) -> Behaviour:
    """Read and check a behaviour file; BehaviourError lists every problem with its line."""
    try:
        doc = load_yaml_file(path)
    except ConfigError as exc:
        text = "；".join(f"第 {p.line} 行 {p.zh}" for p in exc.problems)
        raise BehaviourError(f"无法读取部门行为文件 {path}：{text}", f"cannot read {path}") from exc
    try:
        behaviour = Behaviour.model_validate(doc.data or {})
    except ValidationError as exc:
        found = [
            (doc.line_of(e["loc"]), ".".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors()
        ]
        zh = "；".join(f"第 {line} 行 {loc}: {msg}" for line, loc, msg in found)
        en = "; ".join(f"line {line} {loc}: {msg}" for line, loc, msg in found)
        raise BehaviourError(f"部门行为文件 {path} 有误：{zh}", f"invalid {path}: {en}") from exc
    for name, dept in behaviour.departments.items():
        if dept.silent and (dept.claim or dept.object or dept.reply):
            raise BehaviourError(
                f"部门 {name} 既为 silent 又有认领/异议/答复", f"{name}: silent but also acts"
            )
    return behaviour


def seconds(text: str) -> float:
    """``2h`` → 7200.0 (wall durations only)."""
    number, unit = _split(text)
    if unit == "wd":
        raise BehaviourError(f"此处不能用工作日：{text}", f"working days not allowed here: {text}")
    return number * _UNITS[unit]


def later(calendar: WorkCalendar, start: dt.datetime, text: str) -> dt.datetime:
    """``start`` plus ``text``; ``Nwd`` is the same time of day N working days later."""
    number, unit = _split(text)
    if unit != "wd":
        return start + dt.timedelta(seconds=number * _UNITS[unit])
    local = start.astimezone(calendar.tz)
    day = local.date()
    for _ in range(int(number)):
        day = calendar.next_workday(day)
    return local.replace(year=day.year, month=day.month, day=day.day)


def localize(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Naive instants are in ``tz``."""
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _split(text: str) -> tuple[float, str]:
    match = re.match(_DURATION, text)
    if match is None:
        raise BehaviourError(f"时长格式无效：{text}", f"invalid duration {text!r}")
    return float(match.group(1)), match.group(2)
