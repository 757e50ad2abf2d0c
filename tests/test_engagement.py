"""Engagement end to end: collection on schedule against the sandbox, exports analysts can open,
the report in a real browser (and on a phone's width), the demo, and a scan proving no secret leaks anywhere."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaign.cli import main
from campaign.engagement import Collector
from campaign.export import COLUMNS, ExportFilter, rows, write
from campaign.publishing.rehearsal import Rehearsal, rehearsal
from campaign.store import PostState
from campaign.store.models import AuditEntry, EngagementSnapshot
from tests.browser_fixtures import on_a_phone
from tests.conftest import DemoRun
from tests.plan_fixtures import write_campaign

POSTS = """\
- id: launch
  accounts: all
  text: 'Launch day, with "quotes", commas, and a link https://www.lancashire.police.uk/advice'
  at: '2027-03-15 09:00'
- id: signs
  accounts: [lancs-x, lancs-mastodon]
  text: |
    Spot the signs #SeeItShareIt
    Call {{ phones.helpline }}.
  at: '2027-03-16 10:00'
- id: evening
  accounts: [lancs-facebook, lancs-bluesky]
  text: An evening post
  hashtags: false
  at: '2027-03-17 18:00'
"""


@pytest.fixture
def rehearsed(tmp_path: Path) -> Iterator[Rehearsal]:
    """A small plan rehearsed against the sandbox (8 posts published), ready for collection."""
    plan = write_campaign(tmp_path, POSTS)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        summary = run.run(timeout=60)
        assert summary.totals == {"published": 8}
        yield run


def collector_at(run: Rehearsal, moment: datetime) -> Collector:
    return Collector(run.store, run.environ, clock=lambda: moment)


def test_collections_fall_due_at_the_campaign_offsets_and_only_then(rehearsed: Rehearsal) -> None:
    """A post is due for collection 1 h after publishing, not before; once collected, not again until +6 h."""
    with rehearsed.store.engine.begin() as connection:
        connection.execute(EngagementSnapshot.__table__.delete())  # type: ignore[attr-defined]
    published = max(p.published_at for p in rehearsed.store.posts_in([PostState.PUBLISHED]))
    assert published is not None
    assert collector_at(rehearsed, published + timedelta(minutes=59)).due() == []
    at_one_hour = collector_at(rehearsed, published + timedelta(hours=1, minutes=1))
    assert len(at_one_hour.due()) == 8
    report = at_one_hour.collect_due()
    assert (report.snapshots, report.failures) == (8, {})
    with rehearsed.store.session() as session:  # the adapters stamp snapshots with the real time: move them
        for snapshot in session.scalars(select(EngagementSnapshot)):
            snapshot.collected_at = published + timedelta(hours=1, minutes=1)
            session.add(snapshot)
        session.commit()
    assert collector_at(rehearsed, published + timedelta(hours=5)).due() == []
    assert len(collector_at(rehearsed, published + timedelta(hours=6, minutes=1)).due()) == 8


def test_unreported_measures_stay_empty_and_the_source_names_are_kept(rehearsed: Rehearsal) -> None:
    """Mastodon reports no views: stored as NULL, not 0; every snapshot keeps the platform's own metric names."""
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    with rehearsed.store.session() as session:
        snapshots = list(session.scalars(select(EngagementSnapshot)))
    by_api = {s.api_version: s for s in snapshots}
    assert set(by_api) == {"x-api-v2", "graph-v25.0", "mastodon-v1", "bsky-app-v1"}
    assert by_api["mastodon-v1"].views is None and by_api["mastodon-v1"].likes is not None
    assert by_api["x-api-v2"].views is not None
    assert "public_metrics.like_count" in json.loads(by_api["x-api-v2"].source_metrics)
    assert json.loads(by_api["x-api-v2"].raw)


def test_a_failed_collection_is_recorded_and_retried(rehearsed: Rehearsal) -> None:
    """A platform error during collection is on the record, leaves the posts due, and the next pass gets them."""
    rehearsed.sandbox.add_fault("mastodon:GET /api/v1/statuses/*:error500")
    published = max(p.published_at for p in rehearsed.store.posts_in([PostState.PUBLISHED]))
    assert published is not None
    collector = collector_at(rehearsed, published + timedelta(hours=2))
    first = collector.collect_due()
    assert list(first.failures) == ["test-week/lancs-mastodon"]
    assert first.snapshots == 6
    with rehearsed.store.session() as session:
        failures = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "collection_failed")))
    assert [json.loads(f.details)["account"] for f in failures] == ["lancs-mastodon"]
    rehearsed.sandbox.clear_faults()
    assert collector.collect_due().snapshots >= 2


def test_the_collector_asks_each_account_once_not_once_per_post(rehearsed: Rehearsal) -> None:
    """150 X posts to collect (the same two posts, asked for again and again) cost one metrics request: the
    collector groups posts by account and the adapter asks for each id once. (Batching by the platform's
    size is proved for every adapter in tests/test_platform_contract.py.)"""
    x_posts = [p for p in rehearsed.store.posts_in([PostState.PUBLISHED]) if p.platform == "x"]
    assert len({p.remote_id for p in x_posts}) == 2
    rehearsed.sandbox.clear_requests()
    report = Collector(rehearsed.store, rehearsed.environ).collect([x_posts[i % 2] for i in range(150)])
    assert len(rehearsed.sandbox.requests("x", "GET", "/2/tweets")) == 1
    assert (report.posts, report.snapshots) == (2, 2)  # each post collected once, however often it was asked for


def export_csv(run: Rehearsal, wanted: ExportFilter, bom: bool = False) -> list[dict[str, str]]:
    buffer = io.StringIO(newline="")
    write(rows(run.store, wanted), buffer, "csv", bom)
    text = buffer.getvalue()
    if bom:
        assert text.startswith("\ufeff")
        text = text[1:]
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_export_has_every_post_and_snapshot_and_reads_back(rehearsed: Rehearsal) -> None:
    """Every snapshot is a row, posts never collected still appear, quoting survives commas, quotes and
    newlines, times are ISO 8601, unknown measures and rates are empty."""
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    with rehearsed.store.session() as session:
        snapshots = len(list(session.scalars(select(EngagementSnapshot))))
    exported = export_csv(rehearsed, ExportFilter(), bom=True)
    assert len(exported) == snapshots
    assert list(exported[0]) == list(COLUMNS)
    launch = next(r for r in exported if r["post"] == "launch/lancs-x")
    assert launch["text"].startswith('Launch day, with "quotes", commas, and a link')
    assert launch["hashtags"] == "#SeeItShareIt #ModernSlavery"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", launch["published_utc"])
    signs = next(r for r in exported if r["post"] == "signs/lancs-mastodon")
    assert "\n" in signs["text"] and signs["views"] == "" and signs["engagement_rate"] == ""
    x_row = next(r for r in exported if r["platform"] == "x")
    rate = int(x_row["likes"]) + int(x_row["reposts"]) + int(x_row["replies"]) + int(x_row["quotes"])
    assert float(x_row["engagement_rate"]) == round(rate / int(x_row["views"]), 6)


def test_latest_and_filters(rehearsed: Rehearsal) -> None:
    """--latest gives one row per published post (collected or not); platform, hashtag and day filters narrow it."""
    assert len(export_csv(rehearsed, ExportFilter(latest=True))) == 8
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    latest = export_csv(rehearsed, ExportFilter(latest=True))
    assert sorted(r["post"] for r in latest) == sorted({r["post"] for r in export_csv(rehearsed, ExportFilter())})
    assert len(latest) == 8
    assert {r["post"] for r in export_csv(rehearsed, ExportFilter(latest=True, platform="x"))} == {
        "launch/lancs-x", "signs/lancs-x"}
    assert {r["post"] for r in export_csv(rehearsed, ExportFilter(latest=True, hashtag="seeitshareit"))} == {
        "launch/lancs-x", "launch/lancs-facebook", "launch/lancs-mastodon", "launch/lancs-bluesky",
        "signs/lancs-x", "signs/lancs-mastodon"}
    from datetime import date

    assert {r["day"] for r in export_csv(rehearsed, ExportFilter(latest=True, since=date(2027, 3, 16),
                                                                 until=date(2027, 3, 16)))} == {"2027-03-16"}


def test_jsonl_and_json_exports_parse(rehearsed: Rehearsal) -> None:
    """JSON Lines is one object per line; JSON is one array; unknown measures are null."""
    lines = io.StringIO()
    count = write(rows(rehearsed.store, ExportFilter(latest=True)), lines, "jsonl")
    parsed = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert len(parsed) == count == 8
    document = io.StringIO()
    write(rows(rehearsed.store, ExportFilter(latest=True)), document, "json")
    assert json.loads(document.getvalue()) == parsed
    assert [row["views"] for row in parsed if row["platform"] == "mastodon"] == [None, None]


def test_export_and_report_commands(rehearsed: Rehearsal, tmp_path: Path) -> None:
    """`campaign export` and `campaign report` on the rehearsal's store; the report opens in Chromium with
    its totals, breakdowns and three charts."""
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    db = str(tmp_path / "rehearsal.db")
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--db", db, "--latest", "--format", "csv", "-o", str(tmp_path / "e.csv")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"8 rows exported to {tmp_path / 'e.csv'}"
    page = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--db", db, "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("test-week: 8 posts published, ")
    html = page.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 3
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    for section in ("totals", "by-day", "by-platform", "by-account", "by-hashtag", "top-posts"):
        assert f'id="{section}"' in dom
    assert "8</strong>posts published" in dom


def test_the_report_names_the_campaign_says_not_reported_and_fits_a_phone(rehearsed: Rehearsal,
                                                                          tmp_path: Path) -> None:
    """The report's title and heading give the campaign's name (its id in small print); where Mastodon and Bluesky
    report no views, the views and the rate say "not reported" rather than a blank or a zero; and at 390 px wide
    (a phone) nothing is wider than the screen."""
    Collector(rehearsed.store, rehearsed.environ).collect_all()
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "rehearsal.db"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "<title>Engagement report · Test week</title>" in html
    assert "<h1>Test week</h1>" in html and "<small>campaign <code>test-week</code></small>" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    by_platform = html.split('id="by-platform"', 1)[1].split("</section>", 1)[0]
    rows = {row.split("<td>", 1)[1].split("</td>", 1)[0]: row for row in by_platform.split("<tr>")[2:]}
    assert set(rows) == {"bluesky", "facebook", "mastodon", "x"}
    for platform in ("bluesky", "mastodon"):
        assert rows[platform].count('not-reported">not reported</td>') == 2, rows[platform]
    for platform in ("facebook", "x"):
        assert "not reported" not in rows[platform] and re.search(r"\d+\.\d\d%</td>", rows[platform])
    scroll_width, viewport_width = on_a_phone(page, tmp_path / "phone.png")
    assert (scroll_width, viewport_width) == (390, 390)


@pytest.mark.slow
@pytest.mark.xdist_group("demo-run")  # one pytest-xdist worker runs the shared demo, once
def test_demo_runs_the_whole_toolkit(demo_run: DemoRun) -> None:
    """`campaign demo` validates, schedules, approves, rehearses, collects and reports, and says where it wrote:
    a new temporary folder holding its store, the HTML report and a CSV export of every post on every day."""
    assert demo_run.result.returncode == 0, demo_run.result.stdout + demo_run.result.stderr
    lines, folder = demo_run.lines, demo_run.folder
    assert lines[0] == "1. Validated modern-slavery-week.yaml: 108 posts, 0 errors, 0 warnings."
    assert folder.parent == demo_run.tmpdir and folder.name.startswith("campaign-demo-")
    assert lines[1] == f"2. Scheduled and approved every post (as \"demo\") in {folder / 'rehearsal.db'}."
    assert any(line.strip().startswith("total") and line.split()[1:] == ["108", "0", "0"] for line in lines)
    assert lines[-2] == f"HTML report: {folder / 'report.html'}"
    assert lines[-1].startswith("CSV export (") and lines[-1].endswith(f"{folder / 'engagement.csv'}")
    exported = list(csv.DictReader((folder / "engagement.csv").open(encoding="utf-8", newline="")))
    assert len({r["post"] for r in exported}) == 108
    assert {r["day"] for r in exported} == {f"2027-03-{d}" for d in range(15, 22)}


def test_no_secret_appears_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A full publish-and-collect cycle with known secrets, plus a refused token: the secrets appear in no
    database byte, log line, export, preview, report or error message."""
    caplog.set_level(logging.DEBUG)
    plan = write_campaign(tmp_path, POSTS)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        secrets = [value for name, value in run.environ.items() if not name.endswith("PAGE_ID")]
        run.run(timeout=60)
        collector = Collector(run.store, run.environ)
        collector.collect_all()
        collector.close()
        broken = dict(run.environ)
        broken["X_ACCESS_TOKEN"] = "refused-token-" + secrets[0]
        errors = Collector(run.store, broken).collect_all().failures
        assert "test-week/lancs-x" in errors
        outputs = [json.dumps(errors)]
        for output_format in ("csv", "jsonl", "json"):
            buffer = io.StringIO()
            write(rows(run.store, ExportFilter()), buffer, output_format)
            outputs.append(buffer.getvalue())
        cli = CliRunner()
        for args in (["preview", str(plan), "--format", "json"], ["audit", "--db", str(tmp_path / "rehearsal.db")],
                     ["report", "--db", str(tmp_path / "rehearsal.db"), "-o", str(tmp_path / "r.html")]):
            outputs.append(cli.invoke(main, args).output)
        outputs.append((tmp_path / "r.html").read_text(encoding="utf-8"))
        run.store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("rehearsal.db*"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert len(secrets) == 7  # X 4, Facebook 1 (the Page id is public), Mastodon 1, Bluesky 1
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in logged
        for output in outputs:
            assert secret not in output
