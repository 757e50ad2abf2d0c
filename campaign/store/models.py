"""The store's tables. The posts table is the truth about every post; everything else hangs off it.

Times are kept as aware UTC datetimes (SQLModel's UTC type refuses naive ones); a post's local wall time
and zone are kept beside its UTC instant, as the plan wrote them. Nothing here is ever deleted: a post
removed from the plan is cancelled, a hold is released, and the audit log only grows.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import Column, Index, Table, Text, UniqueConstraint
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlmodel import Field, SQLModel


def table_columns(model: type[SQLModel]) -> ReadOnlyColumnCollection[str, Column[Any]]:
    """The columns of *model*'s table, typed for building SQL expressions."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table.c


class PostState(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MISSED = "missed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


NEEDS_A_PERSON = (PostState.MISSED, PostState.FAILED, PostState.UNKNOWN, PostState.REJECTED)
"""States that wait for a person (so does a draft whose approval was voided by a change: see ``Store.status``)."""
RETRYABLE = (PostState.FAILED, PostState.MISSED, PostState.UNKNOWN)
"""States a person can put back in the queue with ``campaign retry`` (an unknown post only after a lookup)."""
IN_FLIGHT = (PostState.PUBLISHING, PostState.UNKNOWN)
FINAL = (PostState.PUBLISHED,)


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"

    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=300)
    zone: str = Field(max_length=64)
    plan_path: str = Field(sa_column=Column(Text, nullable=False))
    grace_seconds: int
    collect_after: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    """JSON list of seconds after publishing at which to collect engagement."""
    approver_must_differ: bool = False
    created_at: datetime
    updated_at: datetime


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=100)
    key: str = Field(max_length=100)
    """The account's id in the plan, e.g. ``lancs-x``."""
    platform: str = Field(max_length=20)
    handle: str = Field(max_length=200)
    credentials: str = Field(sa_column=Column(Text, nullable=False))
    """JSON: credential name -> environment variable NAME. Never a secret."""
    api_base: str | None = Field(default=None, max_length=500)
    media_host: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """JSON: the plan's ``media_host`` of the account (variable names, never a secret); see
    :class:`campaign.platforms.media_host.MediaHostSettings`."""


class Post(SQLModel, table=True):
    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key"),
        Index("ix_post_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=100)
    key: str = Field(max_length=300)
    """Stable per plan entry × account (× day): ``launch/lancs-x``, ``helpline@2027-03-16/lancs-x``."""
    entry: str = Field(max_length=200)
    account: str = Field(max_length=100)
    platform: str = Field(max_length=20)
    handle: str = Field(max_length=200)
    local_time: NaiveDatetime
    zone: str = Field(max_length=64)
    planned_at: datetime
    """When the plan says the post goes out (UTC). ``due_at`` is when it will: the same, unless a person gave it a
    new time (``campaign retry --at``), which a later ``schedule`` of the unchanged plan leaves alone."""
    due_at: datetime = Field(index=True)
    late_after: datetime
    """``due_at`` + the campaign's grace: after this instant the post is never sent without a person."""
    text: str = Field(sa_column=Column(Text, nullable=False))
    media: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    """JSON list of {path, alt, mime_type, sha256}."""
    content_hash: str = Field(max_length=64)
    reply_to: str | None = Field(default=None, max_length=300)
    """Key of the post this one replies to."""
    follows: str | None = Field(default=None, max_length=300)
    """Key of the post in the plan's first language this one is paired with: it is claimed only once that one is
    published, and the two are approved, rejected and retried together (campaign/plan/bilingual.py)."""
    without: str | None = Field(default=None, sa_column=Column(Text))
    """JSON {language: reason} of each language the post is not written in, as the plan says (`without:`): part of
    what is approved, and of the record."""
    event: str | None = Field(default=None, max_length=100)
    language: str = Field(default="en-GB", max_length=35)
    """The post's language (BCP 47), sent where the platform takes one (Bluesky ``langs``, Mastodon ``language``);
    for a post in several languages (a bilingual account's), their tags in order, comma-separated: ``cy,en``."""
    state: str = Field(default=PostState.DRAFT, max_length=20)
    author: str | None = Field(default=None, max_length=200)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = None
    approved_hash: str | None = Field(default=None, max_length=64)
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = None
    sending_at: datetime | None = None
    """Set just before a request that may create the post goes out (after the last check for pauses); kept while
    the post is ``unknown``: a lookup that finds nothing is trusted only once the platform's reads have caught up
    with this request."""
    first_sent_at: datetime | None = None
    """When the first request that may have created the post went out. A lookup adopts only a post created after
    it; Bluesky's record key is fixed from it, so a second create of the same post is refused."""
    not_before: datetime | None = None
    """A retry (approved) or a lookup (unknown) waits until then: the backoff, kept where every runner sees it."""
    lookups: int = 0
    """Lookups made since the post's fate became unknown (the backoff grows with them)."""
    alerted_at: datetime | None = None
    """When a person was alerted that the post's fate was still unknown at the end of its grace window."""
    lease_until: datetime | None = None
    attempts: int = 0
    """Claims to send the post, but for those whose runner died holding them: the platform did nothing wrong
    there. The sender's backoff before a retry doubles with each."""
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    remote_id: str | None = Field(default=None, max_length=200)
    remote_url: str | None = Field(default=None, max_length=500)
    published_at: datetime | None = None
    """When the platform accepted the post: its own creation time where it gives one (a post found by a lookup
    keeps the platform's time, not the time it was found)."""
    created_at: datetime
    updated_at: datetime


class PublishAttempt(SQLModel, table=True):
    __tablename__ = "publish_attempt"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    runner: str = Field(max_length=200)
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=20)
    """published, failed, retry, rate_limited, auth_expired, duplicate, unknown."""
    message: str | None = Field(default=None, sa_column=Column(Text))


class EngagementSnapshot(SQLModel, table=True):
    __tablename__ = "engagement_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    collected_at: datetime
    views: int | None = None
    reach: int | None = None
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    link_clicks: int | None = None
    profile_clicks: int | None = None
    video_views: int | None = None
    source_metrics: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    api_version: str = Field(default="", max_length=50)
    raw: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class Hold(SQLModel, table=True):
    """A pause. While active it stops every claim it covers: a campaign's posts, or one account's."""

    __tablename__ = "hold"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str | None = Field(default=None, foreign_key="campaign.id", max_length=100)
    """None: every campaign in the store."""
    account: str | None = Field(default=None, max_length=100)
    """None: every account of the campaign."""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime
    until: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = Field(default=None, max_length=200)


class AuditEntry(SQLModel, table=True):
    """The trail: one row per change to anything, never updated or deleted (triggers refuse it)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50)
    campaign_id: str | None = Field(default=None, max_length=100, index=True)
    post_key: str | None = Field(default=None, max_length=300, index=True)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class UserRow(SQLModel, table=True):
    """A person who may use the store (see :mod:`campaign.people`). Never deleted: disabled."""

    __tablename__ = "person"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=100, unique=True)
    """Their operating-system login on the command line, and their login name on the desk."""
    name: str = Field(max_length=200)
    """As the record should name them: ``Insp. Jo Reviewer``."""
    email: str | None = Field(default=None, max_length=320)
    roles: str = Field(max_length=200)
    """Comma-separated role names (:class:`campaign.people.Role`)."""
    campaigns: str | None = Field(default=None, sa_column=Column(Text))
    """JSON list of campaign ids they are limited to; None: every campaign."""
    accounts: str | None = Field(default=None, sa_column=Column(Text))
    """JSON list of account ids they are limited to; None: every account."""
    service: bool = False
    """A service account (a runner's): command line only, no password, never logs in to the desk."""
    password_hash: str | None = Field(default=None, sa_column=Column(Text))
    """Argon2id (argon2-cffi); None: no desk login by password (the command line, or single sign-on)."""
    oidc_subject: str | None = Field(default=None, max_length=300, unique=True)
    """The identity provider's ``iss`` + ``sub`` once they signed in by single sign-on."""
    session_version: int = 0
    """Raised when their password changes or they are disabled: every desk session signed before ends."""
    disabled_at: datetime | None = None
    created_at: datetime
    created_by: str = Field(max_length=200)


class LoginAttempt(SQLModel, table=True):
    """Desk logins, kept to rate-limit guessing across every worker that shares the store."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_login_at", "login", "at"), Index("ix_login_attempt_source_at",
                                                                            "source", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    login: str = Field(max_length=200)
    source: str = Field(max_length=100)
    """The client's address (as the reverse proxy reports it)."""
    succeeded: bool
