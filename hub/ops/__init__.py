"""Operator queries and actions on the ledger: pure functions, no printing (the CLI renders them).

Modules:
    status      queue backlog (outbox) and per-department claim/delivery counts, by GROUP BY
    trace       one message (or delivery): its deliveries and every event, in chain order
    quarantine  list / show / replay / discard quarantined input; every change is an event
    audit       verify the hash chain and report the head for recording outside the hub
    tokens      list and revoke per-department API tokens (issuing is ``Hub.issue_token``)
    handoff     a bus for one-shot CLI hubs that hands the jobs they create to the running hub

Every function takes a SQLAlchemy ``Session`` (the caller owns the transaction) or, for replay,
a :class:`hub.core.hub.Hub`; times are aware instants; results are frozen dataclasses with
``to_json()``.
"""

from hub.ops.audit import AuditSummary, audit
from hub.ops.quarantine import Entry, ReplayResult, discard, get_entry, list_entries, replay
from hub.ops.status import DeptStatus, QueueStatus, StatusReport, Totals, status
from hub.ops.trace import Trace, trace

__all__ = [
    "AuditSummary",
    "DeptStatus",
    "Entry",
    "QueueStatus",
    "ReplayResult",
    "StatusReport",
    "Totals",
    "Trace",
    "audit",
    "discard",
    "get_entry",
    "list_entries",
    "replay",
    "status",
    "trace",
]
