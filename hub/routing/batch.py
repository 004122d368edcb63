"""Batch routing tests: a folder of messages, each with the outcome it must have.

For every ``NAME.json`` message in the folder, ``NAME.expect.yaml`` says what routing must decide::

    at: 2026-09-30T16:00:00+08:00      # optional: arrival instant (default: source.received_at)
    recipients:                        # the exact set of recipient departments
      - department: scjg
        route: approval-food           # any key below is optional; only given keys are compared
        channels: [platform, email, paper]
        claim_due: 2026-10-08 24:00    # display form or ISO instant
        on_timeout: auto_claim
        provisional: false
        objection_due: ...
        reply_due: ...
    error: 未知的收件部门                # instead of recipients: routing must fail with this text
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.clock.deadline import Deadline
from hub.errors import ConfigError, HubError
from hub.routing.decision import RecipientDecision
from hub.routing.router import Router
from hub.routing.yamlsource import load_yaml_file
from hub.validation import parse_message

_DEADLINE_KEYS = ("claim_due", "objection_due", "reply_due")


@dataclass
class CaseResult:
    name: str
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def run_batch(router: Router, folder: Path) -> list[CaseResult]:
    """Run every message in ``folder`` against its expectation file."""
    return [run_case(router, path) for path in sorted(folder.glob("*.json"))]


def run_case(router: Router, message_path: Path) -> CaseResult:
    result = CaseResult(message_path.name)
    expect_path = message_path.with_name(message_path.name[: -len(".json")] + ".expect.yaml")
    if not expect_path.exists():
        result.mismatches.append(f"缺少期望文件 {expect_path.name} (no expectation file)")
        return result
    try:
        expect = load_yaml_file(expect_path).data or {}
        message = parse_message(message_path.read_bytes())
        at = _instant(expect.get("at"))
        decisions = router.resolve(message, at).recipients
    except ConfigError as exc:
        result.mismatches.append(f"期望文件无效 (bad expectation file): {exc}")
        return result
    except HubError as exc:
        _compare_error(result, expect, str(exc))
        return result
    if "error" in expect:
        result.mismatches.append(f"期望失败“{expect['error']}”，但路由成功 (expected an error)")
        return result
    _compare_recipients(result, expect.get("recipients") or [], decisions)
    return result


def _compare_error(result: CaseResult, expect: dict[str, Any], error: str) -> None:
    wanted = expect.get("error")
    if wanted is None:
        result.mismatches.append(f"路由失败 (routing failed): {error}")
    elif str(wanted) not in error:
        result.mismatches.append(f"错误应包含“{wanted}”，实际为 (error differs): {error}")


def _compare_recipients(
    result: CaseResult, wanted: list[dict[str, Any]], decisions: tuple[RecipientDecision, ...]
) -> None:
    actual = {d.department_id: d for d in decisions}
    wanted_ids = [str(w.get("department")) for w in wanted]
    for missing in sorted(set(wanted_ids) - set(actual)):
        result.mismatches.append(f"缺少收件部门 {missing} (recipient missing)")
    for extra in sorted(set(actual) - set(wanted_ids)):
        result.mismatches.append(f"多出收件部门 {extra} (unexpected recipient)")
    for item in wanted:
        decision = actual.get(str(item.get("department")))
        if decision is not None:
            result.mismatches.extend(_compare_one(item, decision))


def _compare_one(item: dict[str, Any], decision: RecipientDecision) -> list[str]:
    actual = {
        "route": decision.route_id,
        "channels": [c.value for c in decision.channels],
        "on_timeout": decision.on_timeout,
        "provisional": decision.provisional,
        "policy": decision.policy_id,
        "reply_silence": decision.reply_silence,
    }
    out: list[str] = []
    got: object
    for key, want in item.items():
        if key == "department":
            continue
        if key in _DEADLINE_KEYS:
            ok, got = _deadline_matches(want, getattr(decision, key))
        elif key in actual:
            got = actual[key]
            ok = got == want
        else:
            out.append(f"{decision.department_id}: 未知的期望字段 {key} (unknown key)")
            continue
        if not ok:
            out.append(
                f"{decision.department_id}.{key}: 期望 {want}，实际 {got} "
                f"(expected {want}, got {got})"
            )
    return out


def _deadline_matches(want: Any, got: Deadline | None) -> tuple[bool, str | None]:
    if got is None:
        return want is None, None
    if isinstance(want, dt.datetime):
        return got.due == want, got.due.isoformat()
    text = str(want)
    shown = got.display().split(" (")[0]
    if "T" in text:
        return got.due == dt.datetime.fromisoformat(text), got.due.isoformat()
    return shown == text, shown


def _instant(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
