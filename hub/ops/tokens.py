"""Per-department API tokens: list and revoke. ``Hub.issue_token`` issues them.

The ledger keeps only each token's sha256; the first 8 hex digits (the *fingerprint*) tell
tokens of one department apart in listings and events without revealing anything usable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.ledger.events import append_event
from hub.ledger.schema import ApiTokenRow
from hub.ops.jsonable import jsonable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TokenInfo:
    department_id: str
    label: str
    fingerprint: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def list_tokens(session: Session, department_id: str | None = None) -> list[TokenInfo]:
    """Every token (revoked ones too), by department then creation time."""
    query = select(ApiTokenRow).order_by(
        ApiTokenRow.department_id, ApiTokenRow.created_at, ApiTokenRow.label
    )
    if department_id is not None:
        query = query.where(ApiTokenRow.department_id == department_id)
    return [
        TokenInfo(
            department_id=row.department_id,
            label=row.label,
            fingerprint=row.token_sha256[:8],
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
        for row in session.scalars(query)
    ]


def revoke(
    session: Session, department_id: str, label: str | None, *, now: dt.datetime, actor: str
) -> list[str]:
    """Revoke the department's live tokens (only those labelled ``label`` when given).

    Returns the fingerprints revoked (empty: nothing matched). One ``token.revoked`` event each.
    """
    query = select(ApiTokenRow).where(
        ApiTokenRow.department_id == department_id, ApiTokenRow.revoked_at.is_(None)
    )
    if label is not None:
        query = query.where(ApiTokenRow.label == label)
    revoked: list[str] = []
    for row in session.scalars(query.with_for_update()):
        row.revoked_at = now
        fingerprint = row.token_sha256[:8]
        append_event(
            session,
            "token.revoked",
            at=now,
            actor=actor,
            department_id=department_id,
            data={"label": row.label, "fingerprint": fingerprint},
        )
        revoked.append(fingerprint)
    log.info("token.revoked", department_id=department_id, count=len(revoked))
    return revoked
