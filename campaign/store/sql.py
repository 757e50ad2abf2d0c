"""SQL building blocks the store's modules share: typed column handles, holds, and audit entries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, insert, or_
from sqlmodel import Session

from campaign.store.models import (
    AccountRow,
    AuditEntry,
    CampaignRow,
    Hold,
    Post,
    PublishAttempt,
    table_columns,
)

# Typed handles on the tables' columns, for SQL expressions (SQLModel's class attributes type as plain values).
P = table_columns(Post)
H = table_columns(Hold)
A = table_columns(AuditEntry)
ACC = table_columns(AccountRow)
CAMP = table_columns(CampaignRow)
AUDIT_TABLE: Any = AuditEntry.__table__  # type: ignore[attr-defined]
ATTEMPT_TABLE: Any = PublishAttempt.__table__  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)


def active_hold(now: datetime) -> tuple[Any, ...]:
    return (H.released_at.is_(None), or_(H.until.is_(None), H.until > now))


def held(now: datetime) -> Any:
    """True for a post that an active hold covers."""
    return exists().where(
        *active_hold(now),
        or_(H.campaign_id.is_(None), H.campaign_id == P.campaign_id),
        or_(H.account.is_(None), H.account == P.account),
    )


def paused_in_its_window() -> Any:
    """True for a post that a pause covered at some time between its due time and the end of its grace window
    (lifted since, or not): what kept it from going out."""
    return exists().where(
        H.created_at <= P.late_after,
        or_(H.released_at.is_(None), H.released_at > P.due_at),
        or_(H.until.is_(None), H.until > P.due_at),
        or_(H.campaign_id.is_(None), H.campaign_id == P.campaign_id),
        or_(H.account.is_(None), H.account == P.account),
    )


def audit(session: Session, at: datetime, actor: str, action: str, campaign_id: str | None, post_key: str | None,
          details: Mapping[str, Any]) -> None:
    session.add(AuditEntry(at=at, actor=actor, action=action, campaign_id=campaign_id, post_key=post_key,
                           details=json.dumps(details, sort_keys=True, default=str)))


def audit_insert(at: datetime, actor: str, action: str, campaign_id: str | None, post_key: str,
                 details: Mapping[str, Any]) -> Any:
    # On the table, not the ORM class: the same INSERT, without the ORM's per-statement bookkeeping.
    return insert(AUDIT_TABLE).values(audit_row(at, actor, action, campaign_id, post_key, details))


def audit_row(at: datetime, actor: str, action: str, campaign_id: str | None, post_key: str,
              details: Mapping[str, Any]) -> dict[str, Any]:
    """One audit entry's values, for ``insert(AUDIT_TABLE)`` with many rows at once."""
    return {"at": at, "actor": actor, "action": action, "campaign_id": campaign_id, "post_key": post_key,
            "details": json.dumps(details, sort_keys=True, default=str)}
