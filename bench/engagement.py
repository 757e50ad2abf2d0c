"""Benchmark: exporting and recording engagement snapshots, against the bare SQLite tools (issue 6).

Prints, measured side by side in one run on this machine:
- export: `campaign export --format csv -o FILE` of every snapshot (1,000,000 rows over 2,000 published
  posts by default: the join with the posts, local and UTC times, hashtags, engagement rate) against the
  `sqlite3` command-line shell's own CSV export (`sqlite3 -csv -header DB "SELECT …" > FILE`) of the same
  join, filter and order with the raw columns. Rows/s of each, their ratio (ours ÷ theirs, goal ≥ 0.5; the
  same ratio by CPU time is printed beside it, as it is less disturbed by other work on the machine), the
  peak memory of our process (goal ≤ 150 MB), and whether both files hold the same number of data rows
  (an export must never drop one) with the same post and snapshot time in every row;
- recording: `Collector.store_snapshots` storing 100,000 snapshot rows made by `snapshot_row`, in 100 calls
  of 1,000 rows (one transaction per call, as the collector stores one account's readings), against a raw
  `sqlite3` `executemany` of the same rows with the same batches, transactions and connection settings,
  each into a fresh copy of the same store; their ratio (goal ≤ 2×), and whether both stored exactly the
  same rows.

Each export and each recording runs in a fresh process, ours and theirs alternately, and the best of
--repeat / --record-repeat runs is kept. Wall time, CPU time and peak memory (maximum resident set size)
of an export are read with /usr/bin/time around that one process. Setup is not measured: a store made by
`Store.open` (the real migrations) holding a campaign, 40 accounts (10 forces × 4 platforms) and the
published posts, copied, and the snapshots bulk-inserted with sqlite3 in the order the collector stores
them (a round of every post, then the next), so that one post's snapshots are spread over the table.

Run: .venv/bin/python bench/engagement.py [--rows 1000000] [--posts 2000] [--record 100000]
     [--batch 1000] [--repeat 3] [--record-repeat 3] [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SQLITE3 = "/usr/bin/sqlite3"
TIME = "/usr/bin/time"
CAMPAIGN_ID = "national-week"
ZONE = "Europe/London"
FORCES = ["lancs", "cumbria", "merseyside", "gmp", "cheshire", "wyp", "nyp", "humberside", "durham", "cleveland"]
PLATFORMS = ("x", "facebook", "mastodon", "bluesky")
TEXTS = [
    "Modern slavery can be hidden in nail bars in {town}. Look closer #SeeItShareIt #ModernSlavery",
    ("Worried someone is being exploited? The helpline is open 24/7 on 08000 121 700. "
     "More: https://www.gov.uk/government/collections/modern-slavery #ModernSlavery"),
    ("Tomorrow at 10:00: modern slavery training at Town Hall {n}, for frontline staff in {town}.\n"
     "Book: https://example.police.uk/events/{n}#book #SeeItShareIt"),
    ("\"Something didn't seem right\" — if you see workers who look scared in {town}, call 101, "
     "or 999 in an emergency. #SeeItShareIt, #ModernSlavery #Week{n}"),
]
STORED_TIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores a DateTime in SQLite (UTC for the UTCDateTime columns)."""
INSERT_COLUMNS = ("post_id", "collected_at", "views", "reach", "likes", "reposts", "replies", "quotes",
                  "link_clicks", "profile_clicks", "video_views", "source_metrics", "api_version", "raw")
RAW_INSERT = (f"INSERT INTO engagement_snapshot ({', '.join(INSERT_COLUMNS)}) "
              f"VALUES ({', '.join(':' + c for c in INSERT_COLUMNS)})")
SQLITE_EXPORT = (
    "SELECT p.key, p.campaign_id, p.platform, p.account, p.handle, p.local_time, p.zone, p.due_at, "
    "p.published_at, p.text, p.remote_url, s.collected_at, s.views, s.reach, s.likes, s.reposts, s.replies, "
    "s.quotes, s.link_clicks, s.profile_clicks, s.video_views, s.api_version "
    "FROM post AS p LEFT OUTER JOIN engagement_snapshot AS s ON s.post_id = p.id "
    "WHERE p.state = 'published' ORDER BY p.due_at, p.key, s.collected_at"
)
"""The same join, filter and order as `campaign export` (every snapshot), with the raw columns."""


# -- readings: what a platform would report ------------------------------------------------------------


def measures_of(platform: str, post: int, k: int) -> dict[str, int | None]:
    """Plausible, growing numbers; None where the platform does not report a measure (never 0)."""
    base = 50 + (post * 37) % 400
    views = base * (k + 1) * 3
    likes, reposts, replies, quotes = (k + 1) * (1 + post % 7), k // 2 + post % 3, k // 3, k // 5
    none: dict[str, int | None] = dict.fromkeys(("views", "reach", "likes", "reposts", "replies", "quotes",
                                                 "link_clicks", "profile_clicks", "video_views"))
    if platform == "x":
        old = k > 400  # non-public metrics stop after 30 days
        return {**none, "views": views, "likes": likes, "reposts": reposts, "replies": replies, "quotes": quotes,
                "link_clicks": None if old else k // 4, "profile_clicks": None if old else k // 6}
    if platform == "facebook":
        return {**none, "views": views, "reach": views * 2 // 3, "likes": likes, "reposts": reposts,
                "replies": replies, "link_clicks": k // 4}
    return {**none, "likes": likes, "reposts": reposts, "replies": replies, "quotes": quotes}


API_VERSIONS = {"x": "2", "facebook": "v21.0", "mastodon": "v1", "bluesky": "app.bsky"}


def make_reading(post_id: int, remote_id: str, platform: str, published: datetime, k: int) -> Any:
    from campaign.platforms.base import MetricsReading

    known = {name: value for name, value in measures_of(platform, post_id, k).items() if value is not None}
    return MetricsReading(remote_id=remote_id, collected_at=published + timedelta(minutes=10 * (k + 1)),
                          measures=measures_of(platform, post_id, k), source_metrics=known,
                          api_version=API_VERSIONS[platform],
                          raw={"id": remote_id, "metrics": known, "fetched": k})


# -- setup (not measured) ------------------------------------------------------------------------------


def build_base(path: Path, posts: int) -> None:
    """A store made by the real migrations, holding a campaign, 40 accounts and *posts* published posts."""
    from sqlalchemy import insert

    from campaign.store import Store
    from campaign.store.models import AccountRow, CampaignRow, Post

    store = Store.open(str(path))
    now = datetime(2027, 3, 1, tzinfo=UTC)
    zone = ZoneInfo(ZONE)
    accounts = [(f"{force}-{platform}", platform, force) for force in FORCES for platform in PLATFORMS]
    post_rows = []
    for n in range(posts):
        key, platform, force = accounts[n % len(accounts)]
        entry = n // len(accounts)
        # Local times across the clocks going forward (28 March 2027), so both offsets are exported.
        local = datetime(2027, 3, 15, 8, 0) + timedelta(days=entry % 28, minutes=(entry // 28) * 7 + n % 40)
        due = local.replace(tzinfo=zone).astimezone(UTC)
        published = due + timedelta(seconds=2 + n % 5)
        post_rows.append({
            "campaign_id": CAMPAIGN_ID, "key": f"e{entry}/{key}", "entry": f"e{entry}", "account": key,
            "platform": platform, "handle": f"@{force}police", "local_time": local, "zone": ZONE, "due_at": due,
            "late_after": due + timedelta(minutes=15),
            "text": TEXTS[n % len(TEXTS)].format(town=force.title(), n=n), "media": "[]",
            "content_hash": hashlib.sha256(str(n).encode()).hexdigest(), "state": "published",
            "author": "comms", "approved_by": "inspector", "approved_at": now, "approved_hash": "h",
            "attempts": 1, "remote_id": str(10**15 + n), "remote_url": f"https://{platform}.example/{10**15 + n}",
            "published_at": published, "created_at": now, "updated_at": now,
        })
    with store.engine.begin() as connection:
        connection.execute(insert(CampaignRow), [{
            "id": CAMPAIGN_ID, "name": "National week of action", "zone": ZONE, "plan_path": "plan.yaml",
            "grace_seconds": 900, "collect_after": "[3600, 21600, 86400, 259200, 604800]",
            "approver_must_differ": True, "created_at": now, "updated_at": now}])
        connection.execute(insert(AccountRow), [{
            "campaign_id": CAMPAIGN_ID, "key": key, "platform": platform, "handle": f"@{force}police",
            "credentials": "{}"} for key, platform, force in accounts])
        connection.execute(insert(Post), post_rows)
    store.close()


def add_snapshots(path: Path, rows: int) -> None:
    """*rows* snapshots spread evenly over the published posts, bulk-inserted with sqlite3."""
    connection = sqlite3.connect(path)
    posts = connection.execute("SELECT id, platform, remote_id, published_at FROM post ORDER BY id").fetchall()
    per_post, extra = divmod(rows, len(posts))

    def generate() -> Any:
        # In the order the collector stores them: a round of every post, then the next round.
        published = [datetime.strptime(post[3], STORED_TIME) for post in posts]
        for k in range(per_post + (extra > 0)):
            for index, (post_id, platform, remote_id, _) in enumerate(posts):
                if k == per_post and index >= extra:
                    break
                values = measures_of(platform, post_id, k)
                known = {name: value for name, value in values.items() if value is not None}
                source = json.dumps(known, sort_keys=True)
                yield (post_id, (published[index] + timedelta(minutes=10 * (k + 1))).strftime(STORED_TIME),
                       *values.values(), source, API_VERSIONS[platform],
                       json.dumps({"fetched": k, "id": remote_id, "metrics": known}, sort_keys=True))

    with connection:
        connection.executemany(f"INSERT INTO engagement_snapshot ({', '.join(INSERT_COLUMNS)}) "
                               f"VALUES ({', '.join('?' * len(INSERT_COLUMNS))})", generate())
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# -- measured children ---------------------------------------------------------------------------------


def run_child(command: list[str], stdout: Path | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS in KB of that one process, and its standard error.

    The process runs under /usr/bin/time, whose own small process starts it: its peak memory is its own
    (a child forked from this process could be charged with this process's memory).
    """
    with tempfile.TemporaryDirectory() as tmp:
        usage, errors = Path(tmp) / "usage", Path(tmp) / "stderr"
        with open(stdout or os.devnull, "wb") as out, errors.open("wb") as err:
            start = time.perf_counter()
            returncode = subprocess.run([TIME, "-f", "%U %S %M", "-o", str(usage), *command],
                                        check=False, stdout=out, stderr=err).returncode
            elapsed = time.perf_counter() - start
        message = errors.read_text(errors="replace")
        if returncode != 0:
            raise SystemExit(f"{' '.join(command[:3])} … failed ({returncode}):\n{message}")
        user, system, peak_kb = usage.read_text().split()[-3:]
    return elapsed, float(user) + float(system), int(peak_kb), message


def record_child(mode: str, db: str, count: int, batch: int) -> None:
    """Build *count* rows with `snapshot_row` (not timed), then store them in calls of *batch*, timed."""
    from campaign.engagement import Collector, snapshot_row
    from campaign.store import PostState, Store

    store = Store.open(db)
    posts = store.posts_in([PostState.PUBLISHED])
    rows = []
    for i in range(count):
        post = posts[i % len(posts)]
        assert post.id is not None and post.remote_id is not None and post.published_at is not None
        reading = make_reading(post.id, post.remote_id, post.platform, post.published_at, 1000 + i // len(posts))
        rows.append(snapshot_row(post, reading))
    batches = [rows[i:i + batch] for i in range(0, len(rows), batch)]
    if mode == "ours":
        collector = Collector(store)
        start = time.perf_counter()
        for chunk in batches:
            collector.store_snapshots(chunk)
        elapsed = time.perf_counter() - start
    else:
        store.close()
        # What a raw implementation must also do: store aware datetimes as UTC text, as SQLAlchemy does.
        sqlite3.register_adapter(datetime, lambda value: value.astimezone(UTC).strftime(STORED_TIME))
        connection = sqlite3.connect(db, isolation_level=None, timeout=5)
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        for chunk in batches:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(RAW_INSERT, chunk)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - start
        connection.close()
    print(json.dumps({"seconds": elapsed, "rows": len(rows), "calls": len(batches)}))


def stored_digest(db: Path) -> tuple[int, str]:
    connection = sqlite3.connect(db)
    digest = hashlib.sha256()
    count = 0
    for row in connection.execute(f"SELECT {', '.join(INSERT_COLUMNS)} FROM engagement_snapshot ORDER BY id"):
        digest.update(repr(row).encode())
        count += 1
    connection.close()
    return count, digest.hexdigest()


def compare_exports(ours: Path, theirs: Path) -> tuple[int, int, int | None]:
    """Data rows in each CSV file, and the first row whose post or snapshot time differ (None: none do).

    Read side by side as CSV records (post texts hold newlines, so lines are not records)."""
    with ours.open(encoding="utf-8-sig", newline="") as a, theirs.open(encoding="utf-8", newline="") as b:
        mine, other = csv.reader(a), csv.reader(b)
        collected, collected_at = next(mine).index("collected_at"), next(other).index("collected_at")
        counts, mismatch = [0, 0], None
        for index, pair in enumerate(itertools.zip_longest(mine, other)):
            if pair[0] is not None:
                counts[0] += 1
            if pair[1] is not None:
                counts[1] += 1
            if mismatch is None and (pair[0] is None or pair[1] is None or pair[0][0] != pair[1][0]
                                     or pair[0][collected] != _iso(pair[1][collected_at])):
                mismatch = index
    return counts[0], counts[1], mismatch


def _iso(stored: str) -> str:
    """A time as the store keeps it ('2027-03-15 08:10:02.000000', UTC) as an export writes it."""
    return datetime.fromisoformat(stored).isoformat() + "Z" if stored else ""


# -- main ----------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--record-child":
        record_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="snapshots to export")
    parser.add_argument("--posts", type=int, default=2000, help="published posts")
    parser.add_argument("--record", type=int, default=100_000, help="snapshots to record")
    parser.add_argument("--batch", type=int, default=1000, help="rows per store_snapshots call")
    parser.add_argument("--repeat", type=int, default=3, help="export runs of each (best kept)")
    parser.add_argument("--record-repeat", type=int, default=3, help="recording runs of each (best kept)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100,000 rows, 10,000 recorded")
    parser.add_argument("--keep", type=Path, help="build the store in this folder and leave it there")
    options = parser.parse_args()
    if options.quick:
        options.rows, options.record = 100_000, 10_000
    campaign = str(Path(sys.executable).parent / "campaign")

    with tempfile.TemporaryDirectory() as tmp:
        folder = options.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        base, db = folder / "base.db", folder / "export.db"
        for stale in folder.glob("*.db*"):
            stale.unlink()
        start = time.perf_counter()
        build_base(base, options.posts)
        shutil.copyfile(base, db)
        add_snapshots(db, options.rows)
        print(f"setup: {options.posts:,} published posts, {options.rows:,} snapshots, "
              f"{db.stat().st_size / 2**20:.0f} MB store ({time.perf_counter() - start:.1f} s, not measured)")

        # Export: ours and the sqlite3 shell, alternating, best of --repeat.
        ours_csv, theirs_csv = folder / "ours.csv", folder / "sqlite3.csv"
        ours_runs, theirs_runs = [], []
        for _ in range(options.repeat):
            ours_runs.append(run_child([campaign, "export", "--format", "csv", "-o", str(ours_csv),
                                        "--db", str(db)]))
            theirs_runs.append(run_child([SQLITE3, "-csv", "-header", str(db), SQLITE_EXPORT], theirs_csv))
        ours_s, ours_cpu = min(r[0] for r in ours_runs), min(r[1] for r in ours_runs)
        theirs_s, theirs_cpu = min(r[0] for r in theirs_runs), min(r[1] for r in theirs_runs)
        peak_kb, theirs_kb = max(r[2] for r in ours_runs), max(r[2] for r in theirs_runs)
        startup = run_child([campaign, "export", "--format", "csv", "-o", os.devnull, "--db", str(base)])
        ours_count, theirs_count, mismatch = compare_exports(ours_csv, theirs_csv)
        expected = max(options.rows, options.posts)  # a post without snapshots still gets its row
        ours_mb, theirs_mb = ours_csv.stat().st_size / 2**20, theirs_csv.stat().st_size / 2**20
        ours_csv.unlink()
        theirs_csv.unlink()
        print(f"export of every snapshot to CSV (best of {options.repeat}; CPU = user + system of the process):")
        print(f"  campaign export --format csv : {ours_s:6.2f} s  {ours_count / ours_s:>9,.0f} rows/s  "
              f"CPU {ours_cpu:6.2f} s  peak {peak_kb / 1024:4.0f} MB  {ours_mb:.0f} MB written")
        print(f"  sqlite3 -csv -header (join)  : {theirs_s:6.2f} s  {theirs_count / theirs_s:>9,.0f} rows/s  "
              f"CPU {theirs_cpu:6.2f} s  peak {theirs_kb / 1024:4.0f} MB  {theirs_mb:.0f} MB written")
        speed = (ours_count / ours_s) / (theirs_count / theirs_s)
        print(f"  speed ratio (ours ÷ sqlite3) : {speed:.2f}   (goal ≥ 0.5) {'met' if speed >= 0.5 else 'MISSED'}"
              f"   [by CPU time: {theirs_cpu / ours_cpu:.2f}]")
        if options.rows < 1_000_000:
            print("    (the goal is for 1,000,000 rows: with fewer, our fixed start-up below weighs more)")
        print(f"  our fixed start-up           : {startup[0]:6.2f} s  CPU {startup[1]:6.2f} s  "
              "(the posts alone, no snapshots: imports, schema check…)")
        print(f"  our peak memory              : {peak_kb / 1024:.0f} MB   (goal ≤ 150 MB) "
              f"{'met' if peak_kb <= 150 * 1024 else 'MISSED'}   [with no snapshots: "
              f"{startup[2] / 1024:.0f} MB]")
        same = ours_count == theirs_count == expected
        print(f"  data rows                    : ours {ours_count:,}, sqlite3 {theirs_count:,}, expected "
              f"{expected:,}   {'the same: none dropped' if same else 'DIFFERENT'}")
        print("  rows in the same order       : "
              + ("yes (the same post and snapshot time in every row)" if mismatch is None
                 else f"NO: they differ from data row {mismatch + 1:,}"))

        # Recording: store_snapshots against a raw executemany, each into a fresh copy of the store.
        runs: dict[str, list[float]] = {"ours": [], "raw": []}
        digests: dict[str, tuple[int, str]] = {}
        calls = 0
        for _ in range(options.record_repeat):
            for mode in ("ours", "raw"):
                target = folder / f"record-{mode}.db"
                for stale in folder.glob(f"record-{mode}.db*"):
                    stale.unlink()
                shutil.copyfile(base, target)
                output = subprocess.run([sys.executable, __file__, "--record-child", mode, str(target),
                                         str(options.record), str(options.batch)],
                                        capture_output=True, text=True, check=True)
                result = json.loads(output.stdout)
                runs[mode].append(result["seconds"])
                calls = result["calls"]
                digests[mode] = stored_digest(target)
        ours_r, raw_r = min(runs["ours"]), min(runs["raw"])
        print(f"recording {options.record:,} snapshots in {calls:,} calls of {options.batch:,} "
              f"(best of {options.record_repeat}):")
        print(f"  Collector.store_snapshots    : {ours_r:6.2f} s  {options.record / ours_r:>9,.0f} rows/s")
        print(f"  sqlite3 executemany          : {raw_r:6.2f} s  {options.record / raw_r:>9,.0f} rows/s")
        ratio = ours_r / raw_r
        print(f"  ratio (ours ÷ raw)           : {ratio:.2f}×   (goal ≤ 2×) {'met' if ratio <= 2 else 'MISSED'}")
        identical = digests["ours"] == digests["raw"] and digests["ours"][0] == options.record
        print(f"  stored rows                  : {digests['ours'][0]:,} and {digests['raw'][0]:,}, "
              f"{'identical' if identical else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
