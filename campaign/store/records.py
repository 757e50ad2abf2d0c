"""Records for people outside the team: the audit trail as CSV or JSON, and FOI/records bundles.

Both stream from the store; neither changes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from campaign.files import atomic_folder
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.problems import one_line
from campaign.store.models import AccountRow, AuditEntry, CampaignRow, Post, PublishAttempt, table_columns
from campaign.store.store import Store
from campaign.times import iso_utc

AUDIT_COLUMNS = ("id", "at", "actor", "action", "campaign", "post", "details")


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso_utc(entry.at, "seconds"),
        "actor": entry.actor,
        "action": entry.action,
        "campaign": entry.campaign_id,
        "post": entry.post_key,
        "details": json.loads(entry.details),
    }


def write_audit_csv(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=AUDIT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for entry in entries:
        row = audit_row(entry)
        row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow(row)
        count += 1
    return count


def write_audit_json(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """A JSON array, written one entry at a time."""
    count = 0
    out.write("[")
    for entry in entries:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(audit_row(entry), ensure_ascii=False, sort_keys=True))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_audit_text(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    count = 0
    for entry in entries:
        row = audit_row(entry)
        details = ", ".join(f"{k}={v}" for k, v in row["details"].items() if v not in (None, ""))
        # One entry, one line, whatever a reason or an attempted login holds (no forged lines, no colours).
        out.write(f"{row['at']}  {one_line(row['actor']):<24} {row['action']:<16} "
                  f"{one_line(row['post'] or row['campaign'] or '')}{'  ' + one_line(details) if details else ''}\n")
        count += 1
    return count


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(store: Store, key: str, directory: Path, campaign: str | None = None) -> Path:
    """Write an FOI/records bundle for one post into *directory*; return the manifest's path.

    The bundle holds the exact text as scheduled (and as published), every image with its alt text and
    checksum, who wrote and who approved it and when, the platform id and link, every publishing
    attempt, and the post's whole audit trail — with a JSON manifest tying them together. The folder is
    complete or absent: it is built under a temporary name beside *directory* and renamed when done.
    """
    post = store.post(key, campaign)
    with atomic_folder(directory) as building:
        manifest = _write_bundle(store, post, building)
    return directory / manifest.name


def _write_bundle(store: Store, post: Post, directory: Path) -> Path:
    (directory / "text.txt").write_text(post.text, encoding="utf-8")
    media = []
    root = _campaign_folder(store, post.campaign_id)
    for index, item in enumerate(json.loads(post.media), start=1):
        written = Path(item["path"])
        entry = {"alt": item["alt"], "mime_type": item["mime_type"], "sha256_when_scheduled": item["sha256"]}
        source = _confined(written, root, entry)
        if source is not None:
            target = directory / "media" / f"{index:02d}-{written.name}"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            entry["file"] = target.relative_to(directory).as_posix()
            entry["sha256"] = _sha256(target)
            entry["unchanged_since_scheduled"] = entry["sha256"] == item["sha256"]
        else:
            entry["file"] = None
        media.append(entry)
    with store.read_session() as session:
        campaign_row = session.get(CampaignRow, post.campaign_id)
        account = session.scalars(select(AccountRow).where(table_columns(AccountRow).campaign_id == post.campaign_id,
                                                        table_columns(AccountRow).key == post.account)).one()
        attempts = list(session.scalars(select(PublishAttempt).where(table_columns(PublishAttempt).post_id == post.id)
                                     .order_by(table_columns(PublishAttempt).id)))
    trail = [audit_row(e) for e in store.audit(campaign=post.campaign_id, post=post.key) if e.post_key == post.key]
    approvals = [e for e in trail if e["action"] in ("approved", "rejected", "content_changed")]
    manifest = {
        "post": post.key,
        "campaign": {"id": post.campaign_id, "name": campaign_row.name if campaign_row else None},
        "account": {"id": post.account, "platform": post.platform, "handle": account.handle},
        "state": post.state,
        "text": post.text,
        "text_file": "text.txt",
        "text_sha256": hashlib.sha256(post.text.encode("utf-8")).hexdigest(),
        "content_hash": post.content_hash,
        "language": post.language,
        "paired_with": post.follows,
        "not_in": json.loads(post.without) if post.without else {},
        "media": media,
        "scheduled": {"local_time": post.local_time.isoformat(timespec="minutes"), "zone": post.zone,
                      "utc": _iso(post.due_at)},
        "author": post.author,
        "approved_by": post.approved_by,
        "approved_at": _iso(post.approved_at),
        "approved_content_hash": post.approved_hash,
        "approvals": approvals,
        "published_at": _iso(post.published_at),
        "platform_id": post.remote_id,
        "platform_url": post.remote_url,
        "attempts": [{"runner": a.runner, "started_at": _iso(a.started_at), "finished_at": _iso(a.finished_at),
                      "outcome": a.outcome, "message": a.message} for a in attempts],
        "audit_trail": trail,
    }
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _campaign_folder(store: Store, campaign_id: str) -> Path | None:
    with store.read_session() as session:
        row = session.get(CampaignRow, campaign_id)
    return campaign_folder(row.plan_path) if row is not None and row.plan_path else None


def _confined(path: Path, root: Path | None, entry: dict[str, Any]) -> Path | None:
    """The file to copy for the image the store names at *path*: only from inside the campaign folder
    (:mod:`campaign.plan.paths`), symlinks followed once, here. Else None, with why in *entry*."""
    if root is None:
        entry["refused"] = f"{path} is not copied: the campaign's plan is not known, so neither is its folder"
        return None
    try:
        source = inside(path, root)
    except FileNotFoundError:
        entry["missing"] = f"{path} no longer exists"
        return None
    except (OutsideCampaign, UnusablePath) as problem:
        entry["refused"] = f"{problem.message}: not copied"
        return None
    if not source.is_file():
        entry["missing"] = f"{path} no longer exists"
        return None
    return source


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value, "seconds")

