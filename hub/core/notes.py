"""The outbound note for a deliver job: what the channel adapter renders and sends.

``build_note`` returns None for a job that has nothing left to do (the delivery is gone, the push
was already delivered or given up, the reminder's claim was made meanwhile), so a stale copy of
a job sends nothing.
"""

from __future__ import annotations

import datetime as dt

from hub.channels import OutboundNote, Purpose
from hub.clock.deadline import display_instant
from hub.clock.spec import DeadlineSpec
from hub.core.deadline_plan import plan_deadlines
from hub.core.jobs import DeliverJob
from hub.core.states import ClaimState, TransportState
from hub.ledger.schema import DeliveryRow
from hub.message import CanonicalMessage
from hub.routing.router import Router


def build_note(
    router: Router,
    job: DeliverJob,
    delivery: DeliveryRow | None,
    message: CanonicalMessage | None,
    *,
    now: dt.datetime,
) -> OutboundNote | None:
    """The note for ``job`` about ``delivery`` and its ``message``. A push states the
    deadlines as they will run if it arrives now; the ledger counts them from the instant the
    channel confirms (never earlier, so the department is never held to less than it was
    told)."""
    dept = router.departments.get(job.target)
    if delivery is None or message is None or dept is None or _stale(job, delivery):
        return None
    about = (
        None
        if job.target == delivery.department_id
        else router.departments.get(delivery.department_id)
    )
    tz = router.calendar.tz
    dues = _dues(router, delivery, job, now)
    return OutboundNote(
        delivery_id=delivery.delivery_id,
        purpose=job.purpose,
        message=message,
        department_id=dept.id,
        department_name=dept.name,
        address=getattr(dept.channels, job.channel.value),
        attempt=job.round + 1,
        claim_due=_local(dues[0], tz),
        objection_due=_local(dues[1], tz),
        reply_due=_local(dues[2], tz),
        deadlines_zh=deadlines_zh(delivery, dues),
        summary_zh=job.summary_zh,
        about_department_id=None if about is None else about.id,
        about_department_name=None if about is None else about.name,
    )


_Dues = tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]


def _dues(router: Router, delivery: DeliveryRow, job: DeliverJob, now: dt.datetime) -> _Dues:
    if job.purpose is Purpose.PUSH and delivery.transport_state == TransportState.PENDING:
        return plan_deadlines(router.calendar, delivery.rules, now).dues
    return delivery.claim_due, delivery.objection_due, delivery.reply_due


def _stale(job: DeliverJob, delivery: DeliveryRow) -> bool:
    if job.purpose is Purpose.PUSH:
        return delivery.transport_state != TransportState.PENDING
    if job.purpose is Purpose.REMINDER and job.target == delivery.department_id:
        return delivery.claim_state != ClaimState.OPEN
    return False


def _local(instant: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    """Ledger instants are UTC; departments read the calendar's time zone."""
    return instant.astimezone(tz) if instant else None


def deadlines_zh(delivery: DeliveryRow, dues: _Dues | None = None) -> dict[str, str]:
    """ "认领期限": "2026-10-08 24:00" (with 暂定 when provisional), "认领时限": "1个工作日" …
    ``dues`` are the instants to state (a push not delivered yet: as if it arrived now)."""
    out: dict[str, str] = {}
    mark = "（暂定）" if delivery.provisional else ""
    claim, objection, reply = dues or (
        delivery.claim_due,
        delivery.objection_due,
        delivery.reply_due,
    )
    for name, value, rule in (
        ("认领", claim, "claim"),
        ("异议", objection, "objection"),
        ("回复", reply, "reply"),
    ):
        if value is not None:
            out[f"{name}期限"] = display_instant(value) + mark
        spec = delivery.rules.get(rule)
        if spec:
            out[f"{name}时限"] = DeadlineSpec.parse(spec).label + "（自送达起算）"
    return out
