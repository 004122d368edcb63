"""``hub.ops.tokens``: a revoked token no longer authenticates; listings never show tokens."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from hub.core.tokens import TokenCache
from hub.ledger.schema import EventRow
from hub.ops.tokens import list_tokens, revoke
from tests.unit.core.conftest import Rig


def test_issue_authenticate_revoke(sqlite_rig: Rig) -> None:
    hub, now = sqlite_rig.hub, sqlite_rig.clock.now()
    hub.tokens = TokenCache(0)  # the ledger side; the cache's own delay: test_token_cache.py
    platform = hub.issue_token("scjg", "平台对接")
    mail = hub.issue_token("scjg", "邮件网关")
    other = hub.issue_token("zjj")
    assert hub.authenticate(platform) == "scjg"
    with sqlite_rig.db.transaction() as s:  # When only the platform token is revoked
        revoked = revoke(s, "scjg", "平台对接", now=now, actor="cli:ops")
    assert revoked == [hashlib.sha256(platform.encode()).hexdigest()[:8]]
    assert hub.authenticate(platform) is None
    assert (hub.authenticate(mail), hub.authenticate(other)) == ("scjg", "zjj")
    with sqlite_rig.db.transaction() as s:  # Then every live scjg token
        assert len(revoke(s, "scjg", None, now=now, actor="cli:ops")) == 1
        assert revoke(s, "scjg", None, now=now, actor="cli:ops") == []
        listed = list_tokens(s)
        events = list(s.scalars(select(EventRow.type).order_by(EventRow.seq)))
    assert hub.authenticate(mail) is None
    assert [(t.department_id, t.label, t.revoked_at) for t in listed] == [
        ("scjg", "平台对接", now),
        ("scjg", "邮件网关", now),
        ("zjj", "", None),
    ]
    shown = str([t.to_json() for t in listed])
    assert platform not in shown and mail not in shown and other not in shown
    assert events == ["token.issued"] * 3 + ["token.revoked"] * 2
