"""The behaviour file of ``hub simulate``: strict loading, durations, down periods, plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub.clock.calendar import WorkCalendar
from hub.clock.now import ManualClock
from hub.message import Channel
from hub.sim.behaviour import BehaviourError, later, load_behaviour, seconds
from hub.sim.departments import Desk

TZ = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize(
    ("start", "after", "expected"),
    [
        ("2026-10-12T10:00", "2h", "2026-10-12T12:00"),
        ("2026-10-12T23:30", "45m", "2026-10-13T00:15"),
        ("2026-10-12T10:00", "1d", "2026-10-13T10:00"),
        ("2026-10-12T10:00", "1wd", "2026-10-13T10:00"),  # Mon → Tue
        ("2026-10-16T10:00", "1wd", "2026-10-19T10:00"),  # Fri → Mon
        ("2026-10-09T10:00", "1wd", "2026-10-10T10:00"),  # Fri → Sat 10-10, a 调休 working day
        ("2026-09-30T16:00", "1wd", "2026-10-08T16:00"),  # over National Day (10-01..07)
        ("2026-10-12T10:00", "3wd", "2026-10-15T10:00"),
    ],
)
def test_department_delays(start: str, after: str, expected: str) -> None:
    assert later(WorkCalendar(), at(start), after) == at(expected)


@pytest.mark.parametrize(
    ("text", "expected"), [("30s", 30.0), ("15m", 900.0), ("2h", 7200.0), ("1.5d", 129600.0)]
)
def test_wall_durations(text: str, expected: float) -> None:
    assert seconds(text) == expected


def test_working_days_are_not_a_wall_duration() -> None:
    with pytest.raises(BehaviourError) as caught:
        seconds("1wd")
    assert "工作日" in caught.value.zh and "working days" in caught.value.en


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("departments:\n  scjg:\n    claim: {after: soon}\n", "departments.scjg.claim.after"),
        ("departments:\n  scjg:\n    clam: {after: 2h}\n", "departments.scjg.clam"),
        ("retry:\n  round_wait_initial: 1wd\n", "retry.round_wait_initial"),
        ("departments:\n  scjg:\n    down: [{answer: 500}]\n", "departments.scjg.down.0.answer"),
        ("schedule:\n  - {at: '2026-10-12T23:00'}\n", "schedule.0.file"),
        ("departments:\n  scjg:\n    silent: true\n    claim: {after: 1h}\n", "silent"),
        ("departments: [scjg]\n", "departments"),
    ],
)
def test_bad_behaviour_files_name_the_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "behaviour.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BehaviourError) as caught:
        load_behaviour(path)
    assert where in caught.value.zh and where in caught.value.en


def desk(tmp_path: Path, text: str, now: str) -> Desk:
    path = tmp_path / "behaviour.yaml"
    path.write_text(text, encoding="utf-8")
    return Desk(load_behaviour(path), WorkCalendar(), ManualClock(at(now)))


DOWN = """departments:
  scjg:
    down:
      - {from: "2026-10-12T00:00", until: "2026-10-15T00:00", answer: "503"}
      - {from: "2026-10-20T09:00", answer: refused}
"""


@pytest.mark.parametrize(
    ("instant", "answer"),
    [
        ("2026-10-11T23:59", None),
        ("2026-10-12T00:00", "503"),
        ("2026-10-14T23:59", "503"),
        ("2026-10-15T00:00", None),  # until is exclusive: up again
        ("2026-10-20T08:59", None),
        ("2026-10-20T09:00", "refused"),
        ("2027-01-01T00:00", "refused"),  # no until: down for the rest of the run
    ],
)
def test_down_periods(tmp_path: Path, instant: str, answer: str | None) -> None:
    found = desk(tmp_path, DOWN, instant).down("scjg", at(instant))
    assert (found.answer if found else None) == answer
    assert desk(tmp_path, DOWN, instant).down("wsjk", at(instant)) is None


def test_a_push_is_planned_for_once_per_receiver(tmp_path: Path) -> None:
    # Given a department that claims after 2h and objects after 1wd
    d = desk(
        tmp_path,
        "departments:\n  scjg:\n    claim: {after: 2h}\n    object: {after: 1wd}\n",
        "2026-10-12T10:00",
    )
    push = {"purpose": "push", "delivery_id": "D1"}
    # When the same push arrives twice (a retry) and a reminder follows
    d.receive("scjg", Channel.PLATFORM, push, "D1:push:")
    d.receive("scjg", Channel.PLATFORM, push, "D1:push:")
    d.receive("scjg", Channel.PLATFORM, {"purpose": "reminder", "delivery_id": "D1"}, "D1:rem:")
    # Then it acts once per action, at the planned instants, and the repeat is counted
    assert [(a.kind, a.at) for a in d.due(at("2026-10-20T00:00"))] == [
        ("claim", at("2026-10-12T12:00")),
        ("object", at("2026-10-13T10:00")),
    ]
    assert [r.repeat for r in d.received] == [False, True, False]


def test_a_bouncing_mailbox_never_gets_the_push(tmp_path: Path) -> None:
    d = desk(
        tmp_path,
        "departments:\n  yjgl:\n    claim: {after: 2h}\n    bounce: {after: 10m}\n",
        "2026-10-12T10:00",
    )
    d.receive("yjgl", Channel.EMAIL, {"purpose": "push", "delivery_id": "D2"}, "D2:push:")
    assert [(a.kind, a.at) for a in d.due(at("2026-10-13T00:00"))] == [
        ("bounce", at("2026-10-12T10:10"))
    ]
    assert d.received == []


def test_the_clock_stops_when_a_default_outage_starts_and_ends(tmp_path: Path) -> None:
    text = 'default:\n  down:\n    - {from: "2026-10-13T08:00", until: "2026-10-13T18:00"}\n'
    the_desk = desk(tmp_path, text, "2026-10-12T00:00")
    assert the_desk.down("wsjk", at("2026-10-13T09:00")) is not None  # unlisted: the default
    assert sorted(the_desk.transitions()) == [at("2026-10-13T08:00"), at("2026-10-13T18:00")]
