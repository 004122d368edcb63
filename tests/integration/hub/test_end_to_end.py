"""Push → route → deliver to a real HTTP endpoint → claim; timeouts per policy; windows.

Every test runs on SQLite and on PostgreSQL, with the whole runtime in threads and the clock
injected: a push arriving 2026-09-30 16:00 has its 1-working-day deadline at the end of 10-08,
after the National Day holiday.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.hub.conftest import TZ, LiveHub

SAMPLE = Path(__file__).resolve().parents[3] / "hub" / "samples" / "guanxian"


def approval(source_id: str = "e2e-1", **changes: Any) -> bytes:
    data = json.loads(next(SAMPLE.glob("01*.json")).read_text(encoding="utf-8"))
    data["recipients"] = ["scjg"]
    data["source"]["source_id"] = source_id
    data.update(changes)
    return json.dumps(data, ensure_ascii=False).encode()


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=TZ)


def push(hub: LiveHub, body: bytes, dept: str = "xzsp") -> str:
    response = hub.post("/messages", dept, content=body)
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])


def pushed(hub: LiveHub, count: int = 1, department: str | None = None) -> list[dict[str, Any]]:
    """The push callbacks, once the hub has recorded each delivery.

    Deadlines start at the instant the hub sees the department's 2xx, just after the
    department got the callback: moving the clock before that instant moves the deadlines.
    """
    calls = hub.departments.wait_for("push", count=count, department=department)
    for call in calls:
        hub.wait_state(call["delivery_id"], call["department"], "transport_state", "delivered")
    return calls


def test_push_route_deliver_claim(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory()
    message_id = push(hub, approval())
    (callback,) = pushed(hub, department="scjg")
    assert callback["message"]["message_id"] == message_id
    assert callback["deadlines"]["claim_due"] == "2026-10-09T00:00:00+08:00"
    assert callback["deadlines_zh"]["认领期限"] == "2026-10-08 24:00"
    delivery_id = callback["delivery_id"]
    hub.advance_to(at(8, 10))
    claimed = hub.post(f"/deliveries/{delivery_id}/claim", "scjg", json={"actor": "李秀英"})
    assert claimed.status_code == 200 and claimed.json()["state"] == "claimed"
    view = hub.get(f"/deliveries/{delivery_id}", "scjg").json()
    assert (view["claim_state"], view["transport_state"], view["delivered_channel"]) == (
        "claimed",
        "delivered",
        "platform",
    )
    assert hub.get(f"/deliveries/{delivery_id}", "xzsp").status_code == 403
    hub.advance_to(at(12))  # nothing fires after a claim
    assert hub.departments.of("auto_claimed") == []


def test_timeout_auto_claims(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory()
    push(hub, approval())
    (callback,) = pushed(hub)
    hub.advance_to(at(8, 23, 59))
    hub.advance_to(at(9))
    (notice,) = hub.departments.wait_for("auto_claimed", department="scjg")
    assert notice["delivery_id"] == callback["delivery_id"]
    view = hub.wait_state(callback["delivery_id"], "scjg", "claim_state", "auto_claimed")
    assert view["claim_due"] == "2026-10-09T00:00:00+08:00"
    refused = hub.post(f"/deliveries/{callback['delivery_id']}/claim", "scjg")
    assert refused.status_code == 409 and "auto-claimed" in refused.json()["en"]


def test_timeout_escalates_along_the_chain(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory(
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            '    claim: {within: 1wd, on_timeout: escalate, reminders: ["-0.5wd"]}',
        )
    )
    push(hub, approval())
    (callback,) = pushed(hub)
    hub.advance_to(at(8, 13, 30))
    (reminder,) = hub.departments.wait_for("reminder", department="scjg")
    assert reminder["delivery_id"] == callback["delivery_id"]
    hub.advance_to(at(9))
    (escalation,) = hub.departments.wait_for("escalation", department="xzsp")
    assert escalation["about_department_id"] == "scjg"
    view = hub.wait_state(callback["delivery_id"], "scjg", "claim_state", "open")
    late = hub.post(f"/deliveries/{view['delivery_id']}/claim", "scjg")
    assert late.json()["state"] == "claimed_late" and late.json()["late"] is True


def test_objection_window(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory(
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}",
            "    claim: {within: 1wd, on_timeout: auto_claim}\n    objection: {within: 1wd}",
        )
    )
    push(hub, approval("e2e-a"))
    push(hub, approval("e2e-b"))
    first, second = pushed(hub, count=2)
    hub.advance_to(at(8, 9))
    raised = hub.post(
        f"/deliveries/{first['delivery_id']}/objection",
        "scjg",
        json={"reason": "许可范围与现场不符"},
    )
    assert raised.status_code == 200 and raised.json()["state"] == "raised"
    hub.advance_to(at(9))
    hub.wait_state(second["delivery_id"], "scjg", "objection_state", "deemed_accepted")
    late = hub.post(
        f"/deliveries/{second['delivery_id']}/objection", "scjg", json={"reason": "晚了"}
    )
    assert late.status_code == 409 and "deemed accepted" in late.json()["en"]


def test_reply_window_silence_means_agreed(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory(
        (
            "    claim: {within: 3wd, on_timeout: escalate}",
            "    claim: {within: 3wd, on_timeout: escalate}\n"
            "    reply: {within: 2wd, silence: agreed}",
        )
    )
    inquiry = json.loads(
        (SAMPLE.parent / "zhoucun" / "04-inquiry-construction-permit.json").read_text(
            encoding="utf-8"
        )
    )
    inquiry.update(direction="approval_to_supervision", recipients=["scjg", "zjj"])
    inquiry["sender"]["department_id"] = "xzsp"
    push(hub, json.dumps(inquiry, ensure_ascii=False).encode())
    calls = pushed(hub, count=2)
    by_dept = {c["department"]: c["delivery_id"] for c in calls}
    hub.advance_to(at(9, 10))
    replied = hub.post(
        f"/deliveries/{by_dept['zjj']}/reply", "zjj", json={"text": "按现行限额标准执行"}
    )
    assert replied.status_code == 200 and replied.json()["state"] == "replied"
    hub.advance_to(at(10))  # end of 10-09: the 2nd working day after 09-30
    hub.wait_state(by_dept["scjg"], "scjg", "reply_state", "deemed_agreed")
    assert hub.get(f"/deliveries/{by_dept['zjj']}", "zjj").json()["reply_state"] == "replied"


def test_endpoint_down_retries_then_delivers(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory()
    hub.departments.fail_status = 503
    push(hub, approval())
    hub.departments.fail_status = None
    # the first round failed (2 tries); the durable retry comes back ~1 s later by the relay
    hub.clock.set(hub.clock.now() + dt.timedelta(seconds=5))
    (callback,) = hub.departments.wait_for("push")
    view = hub.wait_state(callback["delivery_id"], "scjg", "transport_state", "delivered")
    assert view["delivered_channel"] == "platform"


def test_bad_input_gets_4xx_and_quarantine(live_hub_factory: Callable[..., LiveHub]) -> None:
    hub = live_hub_factory()
    bad = approval().replace(b"91371525MA3N2C8Q0W", b"91371525MA3N2C8Q0X")
    response = hub.post("/messages", "xzsp", content=bad)
    assert response.status_code == 422
    body = response.json()
    assert any(p["path"] == "body.party.uscc" for p in body["problems"])
    assert isinstance(body["quarantine_id"], int)
    unknown = hub.post("/messages", "xzsp", content=approval(recipients=["nosuch"]))
    assert unknown.status_code == 422 and "nosuch" in unknown.json()["en"]
    assert hub.post("/messages", "xzsp", content=b"{not json").status_code == 400
