"""Engagement exports for analysts: CSV, JSON Lines or JSON, streamed as they are read.

One row per published post with its newest snapshot (``latest``), or one row per snapshot. A published
post with no snapshot yet still gets a row, with empty measures: an export never drops a post silently.
CSV follows RFC 4180 (header row, quoting, CRLF), times are ISO 8601, text is UTF-8 — with the byte-order
mark Excel wants on request. Memory stays flat however many rows there are: rows are written as the
database cursor yields them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select

from campaign import twitter_text
from campaign.platforms.base import MEASURES
from campaign.store import PostState, Store
from campaign.store.models import EngagementSnapshot, Post, table_columns

P = table_columns(Post)
S = table_columns(EngagementSnapshot)
FORMATS = ("csv", "jsonl", "json")
COLUMNS = (
    "post", "campaign", "day", "platform", "account", "handle",
    "scheduled_local", "scheduled_utc", "published_local", "published_utc",
    "text", "hashtags", "url", "collected_at", *MEASURES, "engagements", "engagement_rate", "api_version",
)
INTERACTIONS = ("likes", "reposts", "replies", "quotes")
"""What counts as an engagement in ``engagement_rate`` (engagements ÷ views)."""


@dataclass(frozen=True)
class ExportFilter:
    campaign: str | None = None
    platform: str | None = None
    account: str | None = None
    hashtag: str | None = None
    since: date | None = None
    """First local day (inclusive) of the posts' scheduled time."""
    until: date | None = None
    """Last local day (inclusive)."""
    latest: bool = False


def rows(store: Store, wanted: ExportFilter) -> Iterator[dict[str, Any]]:
    """Export rows in post time order, streamed from the database."""
    if wanted.latest:
        newest = (select(func.max(S.id)).where(S.post_id == P.id).correlate(Post).scalar_subquery())
        join_on = S.id == newest
    else:
        join_on = S.post_id == P.id
    query = (select(*P, *[S[name] for name in (*MEASURES, "collected_at", "api_version")])
             .select_from(P.id.table.outerjoin(S.id.table, join_on))
             .where(P.state == PostState.PUBLISHED))
    conditions = []
    if wanted.campaign:
        conditions.append(P.campaign_id == wanted.campaign)
    if wanted.platform:
        conditions.append(P.platform == wanted.platform)
    if wanted.account:
        conditions.append((P.account == wanted.account) | (P.handle == wanted.account))
    if wanted.since:
        conditions.append(P.local_time >= datetime.combine(wanted.since, datetime.min.time()))
    if wanted.until:
        conditions.append(P.local_time < datetime.combine(wanted.until, datetime.max.time()))
    if conditions:
        query = query.where(and_(*conditions))
    query = query.order_by(P.due_at, P.key, S.collected_at)
    tag = wanted.hashtag.lstrip("#").casefold() if wanted.hashtag else None
    with store.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
        for record in result.mappings():
            hashtags = twitter_text.extract_hashtags(record["text"])
            if tag is not None and tag not in (h.casefold() for h in hashtags):
                continue
            yield _row(record, hashtags)


def _row(record: Any, hashtags: list[str]) -> dict[str, Any]:
    zone = ZoneInfo(record["zone"])
    scheduled_utc = _aware(record["due_at"])
    published = _aware(record["published_at"]) if record["published_at"] else None
    measures = {name: record[name] for name in MEASURES}
    known = [measures[name] for name in INTERACTIONS if measures[name] is not None]
    engagements = sum(known) if known else None
    views = measures["views"]
    rate = round(engagements / views, 6) if engagements is not None and views else None
    collected = record["collected_at"]
    return {
        "post": record["key"],
        "campaign": record["campaign_id"],
        "day": record["local_time"].date().isoformat(),
        "platform": record["platform"],
        "account": record["account"],
        "handle": record["handle"],
        "scheduled_local": record["local_time"].replace(tzinfo=zone).isoformat(),
        "scheduled_utc": _iso(scheduled_utc),
        "published_local": published.astimezone(zone).isoformat() if published else None,
        "published_utc": _iso(published) if published else None,
        "text": record["text"],
        "hashtags": " ".join(f"#{h}" for h in hashtags),
        "url": record["remote_url"],
        "collected_at": _iso(_aware(collected)) if collected else None,
        **measures,
        "engagements": engagements,
        "engagement_rate": rate,
        "api_version": record["api_version"],
    }


def write(rows_: Iterator[dict[str, Any]], out: IO[str], output_format: str, bom: bool = False) -> int:
    """Write *rows_* to *out* as they come; return how many were written."""
    count = 0
    if output_format == "csv":
        if bom:
            out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows_:
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
            count += 1
    elif output_format == "jsonl":
        for row in rows_:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    elif output_format == "json":
        out.write("[")
        for row in rows_:
            out.write((",\n" if count else "\n") + json.dumps(row, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
    else:
        raise ValueError(f"unknown format {output_format!r}; choose one of {', '.join(FORMATS)}")
    return count


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
