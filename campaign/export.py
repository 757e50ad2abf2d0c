"""Engagement exports for analysts: CSV, JSON Lines or JSON, streamed as they are read.

One row per published post with its newest snapshot (``latest``), or one row per snapshot. A published
post with no snapshot yet still gets a row, with empty measures: an export never drops a post silently.
CSV follows RFC 4180 (header row, quoting, CRLF), times are ISO 8601, text is UTF-8 — with the byte-order
mark Excel wants on request. Memory stays flat however many snapshots there are: rows are written as the
database cursor yields them (only each post's own columns, worked out once, are kept).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, DateTime, and_, func, select, type_coerce

from campaign import twitter_text
from campaign.platforms.base import MEASURES
from campaign.store import PostState, Store
from campaign.store.models import EngagementSnapshot, Post, table_columns
from campaign.times import as_utc, iso_utc

P = table_columns(Post)
S = table_columns(EngagementSnapshot)
FORMATS = ("csv", "jsonl", "json")
COLUMNS = (
    "post", "campaign", "day", "platform", "account", "handle", "language",
    "scheduled_local", "scheduled_utc", "published_local", "published_utc",
    "text", "hashtags", "url", "collected_at", *MEASURES, "engagements", "engagement_rate", "api_version",
)
INTERACTIONS = ("likes", "reposts", "replies", "quotes")
"""What counts as an engagement in ``engagement_rate`` (engagements ÷ views)."""
POST_FIELDS = ("id", "key", "campaign_id", "local_time", "platform", "account", "handle", "language", "zone",
               "due_at", "published_at", "text", "remote_url")
"""The post columns an export reads."""
SNAPSHOT_FIELDS = ("collected_at", *MEASURES, "api_version")
"""The snapshot columns an export reads, in the order :func:`_records` unpacks them."""
_SNAPSHOT_PART = COLUMNS[COLUMNS.index("collected_at"):]
"""The columns that come from the snapshot (the rest come from the post alone)."""
_UNSEEN: Any = object()
assert SNAPSHOT_FIELDS == ("collected_at", "views", "reach", "likes", "reposts", "replies", "quotes", "link_clicks",
                           "profile_clicks", "video_views", "api_version"), "_records() unpacks them in this order"


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
    """Export rows in post time order, streamed from the database.

    The posts' own columns (times in their zone, hashtags…) are worked out once per post, not once per
    snapshot: the matching posts are read first (memory grows with the posts, never with the snapshots),
    then the snapshots are streamed in order, each joined to its post's columns.
    """
    return _Rows(_records(store, wanted))


class _Rows(Iterator[dict[str, Any]]):
    """The rows :func:`rows` yields, as dicts; :func:`write` reads the records beneath them instead, so that
    a CSV export neither builds a dict per row nor quotes a post's columns again for each of its snapshots."""

    def __init__(self, records: Generator[tuple[dict[str, Any], tuple[Any, ...]], None, None]) -> None:
        self.records = records

    def __next__(self) -> dict[str, Any]:
        head, tail = next(self.records)
        row = head.copy()
        row.update(zip(_SNAPSHOT_PART, tail))
        return row

    def close(self) -> None:
        self.records.close()


def _records(store: Store, wanted: ExportFilter) -> Generator[tuple[dict[str, Any], tuple[Any, ...]], None, None]:
    """(the post's columns, one dict per post; the snapshot's columns) for each row, in order."""
    if wanted.latest:
        newest = (select(func.max(S.id)).where(S.post_id == P.id).correlate(Post).scalar_subquery())
        join_on = S.id == newest
    else:
        join_on = S.post_id == P.id
    conditions = [P.state == PostState.PUBLISHED]
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
    # collected_at as the plain DateTime it is stored as (naive UTC in SQLite): UTCDateTime's own conversion,
    # the slowest part of reading a snapshot, is done below with the formatting.
    query = (select(P.id, type_coerce(S.collected_at, DateTime()), *[S[name] for name in SNAPSHOT_FIELDS[1:]])
             .select_from(P.id.table.outerjoin(S.id.table, join_on))
             .where(and_(*conditions))
             .order_by(P.due_at, P.key, S.collected_at))
    tag = wanted.hashtag.lstrip("#").casefold() if wanted.hashtag else None
    with store.reader.connect() as connection:
        posts = _post_columns(connection, conditions, tag)
        result = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
        for (post_id, collected, views, reach, likes, reposts, replies, quotes, link_clicks, profile_clicks,
             video_views, api_version) in result:
            head = posts.get(post_id, _UNSEEN)
            if head is _UNSEEN:  # published after the posts were read (a database without snapshot reads)
                head = _post_columns(connection, [P.id == post_id], tag).get(post_id)
                posts[post_id] = head
            if head is None:  # without the hashtag asked for
                continue
            if likes is None and reposts is None and replies is None and quotes is None:
                engagements = rate = None
            else:  # the sum of the INTERACTIONS known
                engagements = (likes or 0) + (reposts or 0) + (replies or 0) + (quotes or 0)
                rate = round(engagements / views, 6) if views else None
            if collected is None:  # a post with no snapshot yet
                collected_at = None
            elif collected.tzinfo is None:
                collected_at = collected.isoformat() + "Z"
            else:
                collected_at = iso_utc(collected)
            yield head, (collected_at, views, reach, likes, reposts, replies, quotes, link_clicks, profile_clicks,
                         video_views, engagements, rate, api_version)


def _post_columns(connection: Connection, conditions: list[Any],
                  tag: str | None) -> dict[int, dict[str, Any] | None]:
    """Post id -> the export's columns for that post (in :data:`COLUMNS` order); None if *tag* is missing."""
    query = select(*[P[name] for name in POST_FIELDS]).where(and_(*conditions))
    posts: dict[int, dict[str, Any] | None] = {}
    for record in connection.execute(query).mappings():
        hashtags = twitter_text.extract_hashtags(record["text"])
        if tag is not None and tag not in (h.casefold() for h in hashtags):
            posts[record["id"]] = None
            continue
        zone = ZoneInfo(record["zone"])
        scheduled_utc = as_utc(record["due_at"])
        published = as_utc(record["published_at"]) if record["published_at"] else None
        posts[record["id"]] = {
            "post": record["key"],
            "campaign": record["campaign_id"],
            "day": record["local_time"].date().isoformat(),
            "platform": record["platform"],
            "account": record["account"],
            "handle": record["handle"],
            "language": record["language"],
            "scheduled_local": record["local_time"].replace(tzinfo=zone).isoformat(),
            "scheduled_utc": iso_utc(scheduled_utc),
            "published_local": published.astimezone(zone).isoformat() if published else None,
            "published_utc": iso_utc(published) if published else None,
            "text": record["text"],
            "hashtags": " ".join(f"#{h}" for h in hashtags),
            "url": record["remote_url"],
        }
    return posts


def write(rows_: Iterator[dict[str, Any]], out: IO[str], output_format: str, bom: bool = False) -> int:
    """Write *rows_* to *out* as they come; return how many were written."""
    count = 0
    if output_format == "csv":
        if bom:
            out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        if isinstance(rows_, _Rows):
            # A post's columns are the same in each of its snapshots' rows: quoted once, written as they are.
            last: dict[str, Any] | None = None
            written = ""
            for head, tail in rows_.records:
                if head is not last:
                    last, written = head, _csv_fields(head.values())
                out.write(written)
                writer.writerow(tail)  # None is written as an empty field
                count += 1
        else:
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


def _csv_fields(values: Iterable[Any]) -> str:
    """*values* as the start of a CSV record: quoted as csv.writer quotes them, and a trailing comma."""
    buffer = io.StringIO()
    # The same line terminator as the record's: the writer quotes fields holding any of its characters.
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()[:-2] + ","


