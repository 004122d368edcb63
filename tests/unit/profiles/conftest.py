"""Fixtures for the county profile tests: build a message from a sample, route it, check a decision.

A test case is plain data (so it can live in a ``pytest.param`` table):

* ``sample``: ``"<county folder>/<file stem>"`` under ``hub/samples``;
* ``edits``: ``{"dotted.path": value}`` applied to the sample's JSON before parsing (``None``
  deletes the key);
* ``at``: arrival instant ``"2026-09-30T16:00"`` (China time) or ``None`` for the sample's own
  ``source.received_at``;
* ``department``: the recipient whose decision is checked;
* ``expect``: the values worked out by hand (keys listed in :data:`EXPECT_KEYS`). Deadlines are
  written in display form, ``"2026-10-08 24:00"`` meaning the exclusive instant
  2026-10-09T00:00+08:00; both the display and the instant are compared.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import hub
from hub.clock.deadline import Deadline
from hub.routing import LoadedRouting, RecipientDecision, RoutingResult, load_routing
from hub.validation import parse_message

REPO = Path(__file__).resolve().parents[3]
PROFILES_DIR = REPO / "profiles"
SAMPLES_DIR = Path(hub.__file__).parent / "samples"
CHINA = dt.timezone(dt.timedelta(hours=8))

#: Keys an ``expect`` mapping may use.
EXPECT_KEYS = frozenset(
    {
        "route",
        "policy",
        "channels",
        "claim_due",
        "on_timeout",
        "reminders",
        "objection_due",
        "reply_due",
        "reply_silence",
        "push_due",
        "push_late",
        "advance_latest",
        "advance_late",
        "report_period",
        "escalation",
        "basis",
        "note",
        "recipients",
        "warnings",
    }
)

Edits = dict[str, Any]
RouteFn = Callable[..., RoutingResult]
CheckFn = Callable[..., RecipientDecision]


def instant(text: str) -> dt.datetime:
    """``"2026-09-30T16:00"`` as an aware instant in China time (an offset in the text wins)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def display_instant(text: str) -> dt.datetime:
    """The exclusive instant a display deadline names: ``"2026-10-08 24:00"`` → Oct 9 00:00."""
    day, clock = text.split(" ")
    if clock == "24:00":
        midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=CHINA)
        return midnight + dt.timedelta(days=1)
    return instant(f"{day}T{clock}")


@cache
def _profile(county: str) -> LoadedRouting:
    return load_routing(PROFILES_DIR / f"{county}.yaml", today=dt.date(2026, 9, 30))


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for step in parents:
        node = node.setdefault(step, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def build_message(sample: str, edits: Edits | None = None) -> bytes:
    """The sample's JSON with ``edits`` applied, as bytes for ``parse_message``."""
    data: dict[str, Any] = json.loads((SAMPLES_DIR / f"{sample}.json").read_text("utf-8"))
    for path, value in (edits or {}).items():
        _set(data, path, value)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="session")
def profile() -> Callable[[str], LoadedRouting]:
    """Load ``profiles/<county>.yaml`` once per session."""
    return _profile


@pytest.fixture
def route(profile: Callable[[str], LoadedRouting]) -> RouteFn:
    """``route(county, sample, at=None, edits=None)`` → the routing result."""

    def _route(
        county: str, sample: str, at: str | None = None, edits: Edits | None = None
    ) -> RoutingResult:
        message = parse_message(build_message(sample, edits))
        return profile(county).router.resolve(message, instant(at) if at else None)

    return _route


def _deadline(name: str, got: Deadline | None, want: str | None) -> None:
    if want is None:
        assert got is None, f"{name}: expected none, got {got.display() if got else None}"
        return
    assert got is not None, f"{name}: expected {want}, got none"
    assert got.display(note=False) == want, f"{name}: expected {want}, got {got.display()}"
    assert got.due == display_instant(want), f"{name}: instant {got.due.isoformat()}"
    assert not got.provisional, f"{name}: 2026 is in the calendar data, must not be provisional"


def _check_decision(decision: RecipientDecision, result: RoutingResult, expect: Edits) -> None:
    plain = {
        "route": decision.route_id,
        "policy": decision.policy_id,
        "channels": [c.value for c in decision.channels],
        "on_timeout": decision.on_timeout,
        "reply_silence": decision.reply_silence,
        "report_period": decision.report_period,
        "escalation": list(decision.escalation),
        "recipients": {d.department_id for d in result.recipients},
    }
    for key, want in expect.items():
        assert key in EXPECT_KEYS, f"unknown expectation {key!r}"
        if key in plain:
            assert plain[key] == want, f"{key}: expected {want!r}, got {plain[key]!r}"
        elif key in ("claim_due", "objection_due", "reply_due"):
            _deadline(key, getattr(decision, key), want)
        elif key == "reminders":
            assert [r.display(note=False) for r in decision.reminders] == want
            assert [r.due for r in decision.reminders] == [display_instant(w) for w in want]
        elif key in ("push_due", "advance_latest"):
            check = decision.push_check if key == "push_due" else decision.advance_check
            _deadline(key, check.deadline if check else None, want)
        elif key in ("push_late", "advance_late"):
            check = decision.push_check if key == "push_late" else decision.advance_check
            assert check is not None, f"{key}: no deadline check was made"
            assert check.late is want, f"{key}: expected {want}, got {check.late}"
        elif key == "basis":
            assert want in decision.basis, f"basis {want!r} not in {decision.basis}"
        elif key == "note":
            assert any(want in n for n in decision.notes), f"{want!r} not in {decision.notes}"
        elif key == "warnings":
            text = " ".join(result.warnings)
            assert all(w in text for w in want) and bool(want) == bool(result.warnings), text


@pytest.fixture
def check(route: RouteFn) -> CheckFn:
    """``check(county, sample, at, edits, department, expect)``: route, compare hand values."""

    def _check(
        county: str,
        sample: str,
        at: str | None,
        edits: Edits | None,
        department: str,
        expect: Edits,
    ) -> RecipientDecision:
        result = route(county, sample, at, edits)
        by_id = {d.department_id: d for d in result.recipients}
        assert department in by_id, f"{department} not among recipients {sorted(by_id)}"
        _check_decision(by_id[department], result, expect)
        return by_id[department]

    return _check
