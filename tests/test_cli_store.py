"""The store commands through CliRunner on real SQLite files: life cycle, sign-off, pause, audit, bundles."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from campaign.cli import main
from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import Post
from tests.plan_fixtures import BASE_PLAN, write_campaign

POSTS = """\
- id: launch
  accounts: [lancs-x, lancs-facebook]
  text: The week of action starts today.
  at: '2027-03-15 09:00'
  images:
    - {file: images/guide.png, alt: The cover of the pocket guide}
- id: signs
  accounts: [lancs-x]
  text: Spot the signs in nail bars.
  at: '2027-03-16 10:00'
- id: helpline
  accounts: [lancs-facebook]
  text: Call the helpline on {{ phones.helpline }}.
  at: '2027-03-16 12:30'
"""


@pytest.fixture
def env(tmp_path: Path, login_as: Callable[[str], None]) -> dict[str, str]:
    """A store of its own, used by the login ``alice`` (a store with no users acts for whoever opens it)."""
    login_as("alice")
    return {"CAMPAIGN_DB": str(tmp_path / "store.db")}


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    result: Result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, result.output
    return result.output


def states(env: dict[str, str]) -> dict[str, str]:
    store = Store.open(env["CAMPAIGN_DB"])
    with store.session() as session:
        return {p.key: p.state for p in session.execute(select(Post)).scalars()}


def actions(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    output = cli(env, "audit", "--format", "json")
    return [(e["actor"], e["action"], e["post"]) for e in json.loads(output)]


def test_schedule_twice_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    """The first run adds every post as a draft; the second reports no change and writes no audit entry."""
    plan = write_campaign(tmp_path, POSTS)
    assert cli(env, "schedule", str(plan)).splitlines()[0] == (
        "test-week: 4 added, 0 changed (back to draft, approval voided), 0 rescheduled, 0 cancelled, 0 restored, "
        "0 unchanged"
    )
    before = actions(env)
    assert cli(env, "schedule", str(plan)).splitlines()[0].endswith("0 cancelled, 0 restored, 4 unchanged")
    assert actions(env) == before
    assert set(states(env).values()) == {"draft"}


def test_a_plan_with_errors_is_refused_and_nothing_is_stored(tmp_path: Path, env: dict[str, str]) -> None:
    """schedule prints the plan's errors and exits 1 without creating a single post."""
    plan = write_campaign(tmp_path, POSTS.replace("{{ phones.helpline }}", "0800 012 1700"))
    output = cli(env, "schedule", str(plan), code=1)
    assert "the number '0800 012 1700' is not written as verified" in output
    assert "fix them (see `campaign validate`) before scheduling — nothing was changed" in output
    assert states(env) == {}


def test_changed_content_voids_the_approval_and_removed_posts_are_cancelled(tmp_path: Path,
                                                                          env: dict[str, str]) -> None:
    """Edit one post and drop another: the edited one is a draft again (on the record), the dropped one cancelled."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    cli(env, "approve", "--all", "--as", "bob")
    assert set(states(env).values()) == {"approved"}
    edited = POSTS.replace("nail bars", "car washes").split("- id: helpline")[0]
    plan.write_text(BASE_PLAN + "posts:\n" + "\n".join("  " + line for line in edited.splitlines()) + "\n")
    output = cli(env, "schedule", str(plan))
    assert output.splitlines() == [
        "test-week: 0 added, 1 changed (back to draft, approval voided), 0 rescheduled, 1 cancelled, 0 restored, "
        "2 unchanged",
        "  changed: signs/lancs-x",
        "  cancelled: helpline/lancs-facebook",
    ]
    assert states(env) == {"launch/lancs-x": "approved", "launch/lancs-facebook": "approved",
                           "signs/lancs-x": "draft", "helpline/lancs-facebook": "cancelled"}
    trail = json.loads(cli(env, "audit", "--post", "signs/lancs-x", "--format", "json"))
    assert [e["action"] for e in trail] == ["added", "approved", "content_changed"]
    assert trail[-1]["details"]["approval_voided_of"] == "bob"


def test_published_posts_are_never_touched_by_a_reschedule(tmp_path: Path, env: dict[str, str]) -> None:
    """Once published, a post keeps its text and state even if the plan changes or drops it."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    cli(env, "approve", "launch", "--as", "bob")
    store = Store.open(env["CAMPAIGN_DB"])
    claimed = {p.key: p for p in store.claim_due("runner-1", now=datetime(2027, 3, 15, 9, 0, 5, tzinfo=UTC))}
    launch = claimed["launch/lancs-x"]
    assert launch.id is not None
    store.record_published(launch.id, "runner-1", "1789", "https://x.com/LancsPolice/status/1789")
    plan.write_text(plan.read_text().replace("starts today", "began today"))
    output = cli(env, "schedule", str(plan))
    assert "  left alone (published or in flight): launch/lancs-x" in output.splitlines()
    assert states(env)["launch/lancs-x"] == "published"
    assert store.post("launch/lancs-x").text.startswith("The week of action starts today.")


def test_approve_binds_to_the_previewed_hash(tmp_path: Path, env: dict[str, str]) -> None:
    """--hash from preview approves the post; after an edit the same hash is refused and nothing changes."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    seen = next(d for d in render_plan(plan).drafts if d.key == "signs/lancs-x").content_hash[:12]
    plan.write_text(plan.read_text().replace("nail bars", "car washes"))
    cli(env, "schedule", str(plan))
    output = cli(env, "approve", "signs/lancs-x", "--hash", seen, code=1)
    assert "signs/lancs-x has changed since it was previewed" in output
    assert "nothing was approved" in output
    assert states(env)["signs/lancs-x"] == "draft"
    current = next(d for d in render_plan(plan).drafts if d.key == "signs/lancs-x").content_hash
    output = cli(env, "approve", "signs/lancs-x", "--hash", current[:12])
    assert output.splitlines()[-1] == "1 post approved by alice"


def test_bulk_approval_from_a_json_preview(tmp_path: Path, env: dict[str, str]) -> None:
    """Approving a day from the JSON preview the approver reviewed; a post that changed since refuses all."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    preview = tmp_path / "reviewed.json"
    preview.write_text(cli(env, "preview", str(plan), "--format", "json"))
    output = cli(env, "approve", "--day", "tue", "--preview", str(preview), "--as", "bob")
    assert output.splitlines()[-1] == "2 posts approved by bob"
    plan.write_text(plan.read_text().replace("starts today", "began today"))
    cli(env, "schedule", str(plan))
    output = cli(env, "approve", "--day", "mon", "--preview", str(preview), code=1)
    assert "launch/lancs-facebook has changed since it was previewed" in output
    assert {k: v for k, v in states(env).items() if k.startswith("launch")} == {
        "launch/lancs-x": "draft", "launch/lancs-facebook": "draft"}


def test_bulk_approval_from_the_html_preview(tmp_path: Path, env: dict[str, str]) -> None:
    """The HTML page `preview --html` wrote is a preview `approve --preview` takes, as it takes the JSON one: the
    bundled week's Tuesday is approved from it; a Monday post changed since the page was written refuses all of
    Monday, and nothing is approved."""
    cli(env, "init", str(tmp_path / "week"))
    plan = tmp_path / "week" / "schedules" / "modern-slavery-week.yaml"
    cli(env, "schedule", str(plan))
    page = tmp_path / "reviewed.html"
    cli(env, "preview", str(plan), "--html", str(page))
    tuesday = [d.key for d in render_plan(plan).drafts if d.when.local.date().isoformat() == "2027-03-16"]
    output = cli(env, "approve", "--day", "tue", "--preview", str(page), "--as", "bob")
    assert output.splitlines()[-1] == f"{len(tuesday)} posts approved by bob"
    assert {states(env)[key] for key in tuesday} == {"approved"}
    assert plan.read_text(encoding="utf-8").count("place: nail bars") == 1
    plan.write_text(plan.read_text(encoding="utf-8").replace("place: nail bars", "place: car washes"),
                    encoding="utf-8")
    cli(env, "schedule", str(plan))
    output = cli(env, "approve", "--day", "mon", "--preview", str(page), code=1)
    assert re.search(r"signs-nail-bars/lancs-(x|facebook) has changed since it was previewed \(previewed "
                     r"[0-9a-f]{12}, now [0-9a-f]{12}\)", output), output
    assert {state for key, state in states(env).items() if key.startswith(("week-launch", "signs-nail-bars"))} == {
        "draft"}


def test_a_preview_file_that_is_neither_json_nor_html_preview_is_one_line_naming_it(tmp_path: Path,
                                                                                     env: dict[str, str]) -> None:
    """Minutes saved as .html, a JSON file of something else, and an HTML preview whose cards carry no content
    hash: each is refused in one line that names the file and both ways of writing a preview."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    ways = "is not a preview written by `campaign preview --format json > FILE` or `campaign preview --html FILE`"
    minutes = tmp_path / "minutes.html"
    minutes.write_text("<p>Minutes of the sign-off meeting</p>", encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text('{"rows": []}', encoding="utf-8")
    older = tmp_path / "older.html"
    older.write_text('<article class="post platform-x" data-key="signs/lancs-x">', encoding="utf-8")
    older_reason = ": the card of 'signs/lancs-x' has no content hash (a preview written before they were shown?)"
    for path, reason in ((minutes, ": it has no post cards"), (other, ""), (older, older_reason)):
        output = cli(env, "approve", "signs/lancs-x", "--preview", str(path), code=2)
        assert output.splitlines()[-1] == f"Error: Invalid value for --preview: {path} {ways}{reason}"
    assert set(states(env).values()) == {"draft"}


def test_the_approver_may_have_to_differ_from_the_author(tmp_path: Path, env: dict[str, str]) -> None:
    """With approval.approver_must_differ, the author cannot approve their own posts; a colleague can."""
    base = BASE_PLAN.replace("  hashtags:", "  author: alice\n  approval: {approver_must_differ: true}\n  hashtags:")
    plan = write_campaign(tmp_path, POSTS, base=base)
    cli(env, "schedule", str(plan))
    output = cli(env, "approve", "--all", "--as", "Alice", code=1)
    assert "Alice wrote launch/lancs-facebook and others, and this campaign requires the approver not to be " \
           "the author" in output
    assert cli(env, "approve", "--all", "--as", "bob").splitlines()[-1] == "4 posts approved by bob"


def test_reject_records_the_reason_and_stops_the_post(tmp_path: Path, env: dict[str, str]) -> None:
    """A rejected post cannot be claimed; the reason is on the record."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    cli(env, "approve", "--all", "--as", "bob")
    assert cli(env, "reject", "signs/lancs-x", "--reason", "wrong tone", "--as", "carol") == (
        "rejected signs/lancs-x: wrong tone\n"
    )
    store = Store.open(env["CAMPAIGN_DB"])
    claimed = store.claim_due("r", now=datetime(2027, 3, 16, 10, 0, 1, tzinfo=UTC))
    assert [p.key for p in claimed] == []
    assert store.post("signs/lancs-x").last_error == "rejected by carol: wrong tone"


def test_pause_stops_claims_and_resume_turns_late_posts_into_missed(tmp_path: Path, env: dict[str, str]) -> None:
    """While paused nothing is claimed; posts whose grace passed during the pause are missed, not sent."""
    plan = write_campaign(tmp_path, POSTS)
    cli(env, "schedule", str(plan))
    cli(env, "approve", "--all", "--as", "bob")
    assert cli(env, "pause", "--reason", "critical incident", "--as", "carol") == (
        "Paused every account of test-week until `campaign resume`. Nothing more will be published by this campaign "
        "until then.\n"
    )
    store = Store.open(env["CAMPAIGN_DB"])
    assert store.claim_due("r", now=datetime(2027, 3, 16, 12, 30, 1, tzinfo=UTC)) == []
    assert "PAUSED: every account since" in cli(env, "status")
    # Resume at 12:45 on Tuesday: Monday's and Tuesday's posts are all beyond their 10-minute grace.
    holds, missed = store.resume("carol", now=datetime(2027, 3, 16, 12, 45, tzinfo=UTC))
    assert [h.reason for h in holds] == ["critical incident"]
    assert missed == ["helpline/lancs-facebook", "launch/lancs-facebook", "launch/lancs-x", "signs/lancs-x"]
    assert set(states(env).values()) == {"missed"}
    assert store.claim_due("r", now=datetime(2027, 3, 16, 12, 46, tzinfo=UTC)) == []
    assert "Needs a person (4):" in cli(env, "status")


def test_resume_with_no_pause_is_an_error_that_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    """Resuming when nothing is paused says so and exits 1."""
    cli(env, "schedule", str(write_campaign(tmp_path, POSTS)))
    before = actions(env)
    assert cli(env, "resume", code=1) == (
        "Error: there is no active pause on campaign 'test-week'; nothing was changed\n"
    )
    assert actions(env) == before


def test_unknown_post_and_unknown_account_are_clear_errors(tmp_path: Path, env: dict[str, str]) -> None:
    """Bad ids name what was asked for and where to find the right ones."""
    cli(env, "schedule", str(write_campaign(tmp_path, POSTS)))
    assert cli(env, "approve", "lanch", code=1) == (
        "Error: there is no post 'lanch' in campaign 'test-week'; `campaign preview PLAN` shows every post's key, "
        "such as 'launch/lancs-x'\n"
    )
    assert cli(env, "pause", "--account", "lancs-tiktok", "--reason", "x", code=1) == (
        "Error: campaign 'test-week' has no account 'lancs-tiktok'; its accounts are: lancs-bluesky, "
        "lancs-facebook, lancs-mastodon, lancs-x\n"
    )


def test_audit_exports_csv_that_reads_back(tmp_path: Path, env: dict[str, str]) -> None:
    """The CSV audit has a header and one row per change, with JSON details, readable by the csv module."""
    cli(env, "schedule", str(write_campaign(tmp_path, POSTS)))
    cli(env, "approve", "signs", "--as", "bob")
    rows = list(csv.DictReader(io.StringIO(cli(env, "audit", "--format", "csv"))))
    assert [(r["actor"], r["action"], r["post"]) for r in rows] == [
        ("alice", "added", "launch/lancs-facebook"), ("alice", "added", "launch/lancs-x"),
        ("alice", "added", "signs/lancs-x"), ("alice", "added", "helpline/lancs-facebook"),
        ("alice", "schedule", ""), ("bob", "approved", "signs/lancs-x"),
    ]
    assert json.loads(rows[-1]["details"])["state"] == "approved"


def test_bundle_has_the_exact_text_media_alt_text_and_approvals(tmp_path: Path, env: dict[str, str]) -> None:
    """The FOI bundle holds the text as scheduled, a copy of each image with its alt text and checksum, the
    approval, and a manifest; a second bundle into the same folder is refused."""
    cli(env, "schedule", str(write_campaign(tmp_path, POSTS)))
    cli(env, "approve", "launch/lancs-x", "--as", "bob")
    out = tmp_path / "foi"
    assert cli(env, "bundle", "launch/lancs-x", "-o", str(out)) == (
        f"Wrote the records bundle for launch/lancs-x to {out} (manifest: manifest.json)\n"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "text.txt").read_text() == "The week of action starts today.\n\n#SeeItShareIt #ModernSlavery"
    assert manifest["approved_by"] == "bob"
    assert manifest["approved_content_hash"] == manifest["content_hash"]
    assert manifest["media"][0]["alt"] == "The cover of the pocket guide"
    assert manifest["media"][0]["unchanged_since_scheduled"] is True
    assert (out / manifest["media"][0]["file"]).read_bytes()[:4] == b"\x89PNG"
    assert [e["action"] for e in manifest["audit_trail"]] == ["added", "approved"]
    assert "already has files in it" in cli(env, "bundle", "launch/lancs-x", "-o", str(out), code=1)


def test_db_upgrade_creates_then_reports_up_to_date(tmp_path: Path) -> None:
    """`campaign db upgrade` creates an empty store, and a second run says it is up to date."""
    db = tmp_path / "fresh.db"
    first = cli({}, "db", "upgrade", "--db", str(db))
    assert first == f"sqlite:///{db}: schema empty → 0005.\n"
    assert cli({}, "db", "upgrade", "--db", str(db)) == f"sqlite:///{db} is up to date (schema 0005).\n"


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    """A database whose schema revision this version does not know is refused, untouched."""
    cli(env, "schedule", str(write_campaign(tmp_path, POSTS)))
    store = Store.open(env["CAMPAIGN_DB"])
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    output = cli(env, "status", code=1)
    assert "was written by a newer version of campaign (schema revision '9999'" in output
    assert "upgrade campaign before using it" in output


def test_schedule_says_which_posts_are_already_past_their_time(tmp_path: Path, env: dict[str, str]) -> None:
    """A plan whose posts' times (and grace windows) have already passed is scheduled, but `schedule` says so,
    naming them: approved, they would become missed, never sent late."""
    plan = write_campaign(tmp_path, POSTS)
    output = cli(env, "schedule", str(plan))
    assert "4 added" in output  # the fixture's week is in 2027: nothing is past yet
    assert "already past" not in output
    past = write_campaign(tmp_path / "past", POSTS.replace("2027-03-16 12:30", "2026-06-02 12:30"),
                          base=BASE_PLAN.replace("starts: 2027-03-15", "starts: 2026-06-01"))
    output = cli({**env, "CAMPAIGN_DB": str(tmp_path / "past.db")}, "schedule", str(past))
    assert "1 of them is already past its time and grace window" in output
    assert "  past: helpline/lancs-facebook" in output
    # Approving it anyway says, again, that it will not go out.
    output = cli({**env, "CAMPAIGN_DB": str(tmp_path / "past.db")}, "approve", "helpline/lancs-facebook")
    assert "past: helpline/lancs-facebook was due Tue 02 Jun 12:30 and its grace window has ended: it will be " \
           "missed, not sent" in output
