"""Provisional deadlines are recomputed when the calendar gains the year they fall in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from hub.ledger.schema import DeliveryRow, EventRow, TimerRow
from hub.routing import load_routing_text
from tests.unit.core.conftest import MINIMAL, TZ, make_rig, message

# package_until pins the package's last year: 2027 is past the data whatever release is installed
UNTIL_2026 = (
    "approval_bureau: xzsp\n",
    "approval_bureau: xzsp\ncalendar:\n  package_until: 2026\n",
)
YEAR_2027 = (
    "approval_bureau: xzsp\n",
    "approval_bureau: xzsp\ncalendar:\n  package_until: 2026\n  years:\n    2027:\n"
    '      holidays: ["2027-01-01..2027-01-04"]\n      workdays: []\n      complete: true\n',
)


def test_a_provisional_deadline_follows_the_schedule_once_configured(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, UNTIL_2026)
    rig.clock.set(dt.datetime(2026, 12, 31, 10, 0, tzinfo=TZ))
    rig.push(message("guanxian/01*.json", recipients=["scjg"]))
    with rig.db.transaction() as s:
        before = s.scalar(select(DeliveryRow))
        assert before is not None and before.provisional
        # statutory guess: 2027-01-01 (Fri) is 元旦, then the weekend: day 1 -> end of Mon 01-04
        assert before.claim_due == dt.datetime(2027, 1, 5, 0, 0, tzinfo=TZ)
    assert rig.hub.recompute_provisional() == 0  # same calendar: nothing to do
    # When the operator adds the complete 2027 schedule (here New Year 01-01..01-04 off)
    rig.hub.router = load_routing_text(MINIMAL.replace(*YEAR_2027)).router
    assert rig.hub.recompute_provisional() == 1
    with rig.db.transaction() as s:
        after = s.scalar(select(DeliveryRow))
        assert after is not None and not after.provisional
        assert after.claim_due == dt.datetime(2027, 1, 6, 0, 0, tzinfo=TZ)  # end of Tue 01-05
        assert after.calendar_version == rig.hub.router.calendar.version
        timer = s.scalar(select(TimerRow).where(TimerRow.action == "claim_timeout"))
        assert timer is not None and timer.due_at == after.claim_due
        event = s.scalar(select(EventRow).where(EventRow.type == "deadline.recomputed"))
        assert event is not None and event.data["provisional"] is False
        assert event.data["changes"]["claim_due"]["to"] == "2027-01-06T00:00:00+08:00"
    assert rig.hub.recompute_provisional() == 0
    # and the engine now fires on the new instant, not the guessed one
    rig.tick(dt.datetime(2027, 1, 5, 0, 0, tzinfo=TZ))
    with rig.db.transaction() as s:
        assert s.scalar(select(DeliveryRow.claim_state)) == "open"
    rig.tick(dt.datetime(2027, 1, 6, 0, 0, tzinfo=TZ))
    with rig.db.transaction() as s:
        assert s.scalar(select(DeliveryRow.claim_state)) == "auto_claimed"
    rig.hub.close()
