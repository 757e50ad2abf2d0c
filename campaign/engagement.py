"""Engagement: collected after each post is published, kept as a history of snapshots.

Each published post is collected at the offsets its campaign sets (default +1 h, +6 h, +24 h, +72 h,
+7 days). A collection is due when the post's newest snapshot is older than the next offset; a failed
collection — any error, a rate limit included — is recorded in the audit log (``collection_failed``),
reported in :class:`CollectionReport` with the account and the platform's reason, and simply stays due,
so the next pass retries it. Nothing is dropped silently: posts a platform leaves out of its answer
(deleted there) are counted in :attr:`CollectionReport.missing`. Requests
are batched by account (the adapters split them into the platform's batch size: X 100, Bluesky 25), an
account that is rate-limited is left alone until its reset, and nothing here shares a thread or an
adapter with publishing.

A measure the platform did not report is stored as empty (NULL), never 0.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from campaign.exceptions import CampaignError
from campaign.platforms.base import MEASURES, Adapter, MetricsReading
from campaign.platforms.credentials import redact
from campaign.platforms.errors import PlatformError, RateLimited
from campaign.store import PostState, Store
from campaign.store.models import AccountRow, AuditEntry, CampaignRow, EngagementSnapshot, Post, table_columns
from campaign.times import as_utc

log = logging.getLogger(__name__)
P = table_columns(Post)
S = table_columns(EngagementSnapshot)
C = table_columns(CampaignRow)


@dataclass
class CollectionReport:
    snapshots: int = 0
    posts: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """Account -> why its collection failed (it will be retried)."""
    skipped: dict[str, datetime] = field(default_factory=dict)
    """Account -> until when it is rate-limited (not collected: it will be retried after that)."""
    missing: dict[str, int] = field(default_factory=dict)
    """Account -> how many of its posts the platform's answer left out (deleted on the platform?)."""

    @property
    def complete(self) -> bool:
        """Every account asked was collected (nothing failed, nothing was rate-limited)."""
        return not self.failures and not self.skipped


class Collector:
    """Collects engagement for published posts; one instance per process, reused across passes."""

    def __init__(self, store: Store, environ: Mapping[str, str] | None = None,
                 adapter_factory: Callable[[AccountRow], Adapter] | None = None,
                 clock: Callable[[], datetime] | None = None, scale: float = 1.0, timeout: float = 10.0) -> None:
        self.store = store
        self.environ = environ if environ is not None else os.environ
        self.clock = clock or (lambda: datetime.now(UTC))
        self.scale = scale
        """Divide the campaign's collection offsets by this (a rehearsal's speed)."""
        self.timeout = timeout
        self._adapter_factory = adapter_factory or self._default_adapter
        self._adapters: dict[tuple[str, str], Adapter] = {}
        self._blocked: dict[tuple[str, str], datetime] = {}

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()

    def due(self, campaign: str | None = None, now: datetime | None = None) -> list[Post]:
        """Published posts with a collection due: their next offset has passed since their newest snapshot."""
        now = now or self.clock()
        newest = (select(S.post_id, func.max(S.collected_at).label("newest")).group_by(S.post_id).subquery())
        query = (select(Post, newest.c.newest, C.collect_after)
                 .join(newest, newest.c.post_id == P.id, isouter=True).join(CampaignRow, C.id == P.campaign_id)
                 .where(P.state == PostState.PUBLISHED, P.remote_id.is_not(None)))
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        offsets_of: dict[str, list[timedelta]] = {}
        due: list[Post] = []
        with self.store.read_session() as session:
            for post, newest_at, collect_after in session.execute(query):
                offsets = offsets_of.setdefault(collect_after, [timedelta(seconds=s / self.scale)
                                                                for s in json.loads(collect_after)])
                published = as_utc(post.published_at)
                last = as_utc(newest_at) if newest_at is not None else None
                pending = [published + o for o in offsets if last is None or published + o > last]
                if pending and pending[0] <= now:
                    due.append(post)
        return due

    def collect_due(self, campaign: str | None = None) -> CollectionReport:
        return self.collect(self.due(campaign))

    def collect_all(self, campaign: str | None = None) -> CollectionReport:
        """Collect every published post now, whatever its schedule (``campaign engagement collect``)."""
        return self.collect(self.store.posts_in([PostState.PUBLISHED], campaign))

    def collect(self, posts: Sequence[Post]) -> CollectionReport:
        report = CollectionReport()
        by_account: dict[tuple[str, str], list[Post]] = defaultdict(list)
        for post in posts:
            if post.remote_id:
                by_account[(post.campaign_id, post.account)].append(post)
        now = self.clock()
        for account, account_posts in by_account.items():
            label = f"{account[0]}/{account[1]}"
            blocked = self._blocked.get(account)
            if blocked is not None and blocked > now:
                report.skipped[label] = blocked
                continue
            try:
                readings = self._adapter(account).metrics([p.remote_id for p in account_posts if p.remote_id])
            except RateLimited as exc:
                self._blocked[account] = exc.retry_at or now + timedelta(minutes=15)
                report.skipped[label] = self._blocked[account]
                self._record_failure(account, str(exc), now, exc.kind)
                continue
            except (PlatformError, CampaignError) as exc:
                report.failures[label] = str(exc)
                self._record_failure(account, str(exc), now, getattr(exc, "kind", "error"))
                continue
            except Exception as exc:  # noqa: BLE001 - one account's failure must not hide the others'
                log.exception("collecting engagement for %s failed unexpectedly", label)
                reason = f"unexpected {type(exc).__name__}: {redact(str(exc))[:300]}"
                report.failures[label] = reason
                self._record_failure(account, reason, now, "unexpected")
                continue
            by_remote = {p.remote_id: p for p in account_posts}
            rows = [snapshot_row(by_remote[r.remote_id], r) for r in readings if r.remote_id in by_remote]
            self.store_snapshots(rows)
            report.snapshots += len(rows)
            report.posts += len(by_remote)
            answered = {r.remote_id for r in readings}
            if len(answered & set(by_remote)) < len(by_remote):
                report.missing[label] = len(set(by_remote) - answered)
        return report

    def store_snapshots(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.store.engine.begin() as connection:
                connection.execute(insert(EngagementSnapshot), rows)

    def _record_failure(self, account: tuple[str, str], reason: str, now: datetime, kind: str) -> None:
        details = {"account": account[1], "kind": kind, "reason": reason, "retried": "at the next pass"}
        with self.store.engine.begin() as connection:
            connection.execute(insert(AuditEntry).values(
                at=now, actor="collector", action="collection_failed", campaign_id=account[0], post_key=None,
                details=json.dumps(details)))

    def _adapter(self, account: tuple[str, str]) -> Adapter:
        if account not in self._adapters:
            rows = [a for a in self.store.accounts(account[0]) if a.key == account[1]]
            if not rows:
                raise CampaignError(f"the store has no account {account[1]!r} in {account[0]!r}")
            self._adapters[account] = self._adapter_factory(rows[0])
        return self._adapters[account]

    def _default_adapter(self, row: AccountRow) -> Adapter:
        from campaign.publishing.accounts import account_adapter

        return account_adapter(row, self.environ, self.timeout)


def snapshot_row(post: Post, reading: MetricsReading) -> dict[str, Any]:
    """One engagement_snapshot row: the common measures (None when not reported), the platform's own
    metric names and values, the API version they came from, and the raw response."""
    row: dict[str, Any] = {name: reading.measures.get(name) for name in MEASURES}
    row.update(post_id=post.id, collected_at=reading.collected_at,
               source_metrics=json.dumps(dict(reading.source_metrics), sort_keys=True),
               api_version=reading.api_version, raw=json.dumps(reading.raw, sort_keys=True, default=str))
    return row

