"""The plan commands through Click's CliRunner: exact output, exit codes, and no tracebacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from icalendar import Calendar

from campaign.cli import main
from campaign.render import render_plan
from tests.plan_fixtures import line_of, write_campaign

WEEK = """\
- id: launch
  accounts: [lancs-x, lancs-facebook]
  text: The week of action starts today.
  at: '2027-03-15 09:00'
  images:
    - {file: images/guide.png, alt: The cover of the pocket guide}
- id: helpline
  platforms: [mastodon, bluesky]
  text: '{{ when | day }}: call the helpline on {{ phones.helpline }}.'
  daily: '12:30'
  from: 2027-03-16
  until: 2027-03-17
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_validate_a_good_plan(tmp_path: Path) -> None:
    """A plan without errors validates with exit 0 and one summary line."""
    plan = write_campaign(tmp_path, WEEK)
    assert run("validate", str(plan)) == (
        0, f"{plan}: ok: 0 errors, 0 warnings in 2 plan entries (6 posts to publish)\n"
    )


def test_validate_reports_every_problem_of_every_plan_and_exits_1(tmp_path: Path) -> None:
    """Each problem is one FILE:LINE line; a good plan beside a bad one is still reported as ok."""
    good = write_campaign(tmp_path / "good", WEEK)
    bad = write_campaign(tmp_path / "bad", """\
        - id: launch
          acounts: [lancs-x]
          text: Call 0800 012 1700
          at: '2027-03-15 25:00'
        """)
    code, output = run("validate", str(good), str(bad))
    assert code == 1
    assert output.splitlines() == [
        f"{good}: ok: 0 errors, 0 warnings in 2 plan entries (6 posts to publish)",
        f"{bad}:{line_of(bad, '- id: launch')}: posts[1] (launch): it does not say where to post — add "
        "`accounts: [account-id, …]`, `accounts: all` or `platforms: [x, …]`",
        f"{bad}:{line_of(bad, 'acounts')}: posts[1] (launch): unknown key 'acounts' — did you mean 'accounts'?",
        f"{bad}:{line_of(bad, '25:00')}: posts[1] (launch).at: '25:00' is not a time of day — hours run 00-23 "
        "and minutes 00-59, e.g. '18:00'",
        f"{bad}: not ready: 3 errors, 0 warnings in 0 plan entries (0 posts to publish)",
    ]


def test_validate_a_missing_file(tmp_path: Path) -> None:
    """A plan that does not exist is a one-line error, not a traceback."""
    missing = tmp_path / "nope.yaml"
    assert run("validate", str(missing)) == (
        1,
        f"{missing}:1: plan: there is no file '{missing}' — check the path, or run `campaign init DIR`\n"
        f"{missing}: not ready: 1 error, 0 warnings in 0 plan entries (0 posts to publish)\n",
    )


def test_preview_shows_posts_in_time_order_with_local_and_utc_times(tmp_path: Path) -> None:
    """The text preview groups by day and shows time, account, key, count and the exact text."""
    plan = write_campaign(tmp_path, WEEK)
    code, output = run("preview", str(plan), "--platform", "x")
    assert code == 0
    launch_hash = next(d for d in render_plan(plan).drafts if d.key == "launch/lancs-x").content_hash
    assert output.splitlines()[2:] == [
        "",
        "━━ Monday 15 March 2027 " + "━" * 40,
        "",
        f"09:00 GMT (09:00 UTC) · X @LancsPolice · launch/lancs-x · 62/280 · content {launch_hash[:12]}",
        "  │ The week of action starts today.",
        "  │ ",
        "  │ #SeeItShareIt #ModernSlavery",
        "  │ [image guide.png] alt: The cover of the pocket guide",
        "",
        "1 post on 1 account over 1 day · 0 errors · 0 warnings",
    ]


def test_preview_filters_by_day_and_account(tmp_path: Path) -> None:
    """--day takes a date or a weekday; --account an id or a handle."""
    plan = write_campaign(tmp_path, WEEK)
    _, by_weekday = run("preview", str(plan), "--day", "wed")
    _, by_date = run("preview", str(plan), "--day", "2027-03-17")
    assert by_weekday == by_date
    assert "2 posts on 2 accounts over 1 day" in by_date
    _, by_handle = run("preview", str(plan), "--account", "lancspolice.bsky.social")
    assert "2 posts on 1 account over 2 days" in by_handle


def test_preview_rejects_a_bad_day_and_an_unknown_account(tmp_path: Path) -> None:
    """Bad options are usage errors (exit 2) that say what to write."""
    plan = write_campaign(tmp_path, WEEK)
    code, output = run("preview", str(plan), "--day", "someday")
    assert code == 2 and "'someday' is not a day: write a date such as 2027-03-15" in output
    code, output = run("preview", str(plan), "--account", "lancs-tiktok")
    assert code == 2 and "the plan has no account 'lancs-tiktok'; its accounts are: lancs-x" in output


def test_preview_json_is_the_drafts_as_data(tmp_path: Path) -> None:
    """--format json prints one JSON document with every post's times, text, counts and hash."""
    plan = write_campaign(tmp_path, WEEK)
    code, output = run("preview", str(plan), "--format", "json", "--platform", "mastodon")
    assert code == 0
    document = json.loads(output)
    assert document["campaign"]["hashtags"] == ["#SeeItShareIt", "#ModernSlavery"]
    assert [(p["key"], p["local_time"], p["utc_time"], p["length"], p["limit"]) for p in document["posts"]] == [
        ("helpline@2027-03-16/lancs-mastodon", "2027-03-16T12:30", "2027-03-16T12:30Z", 83, 500),
        ("helpline@2027-03-17/lancs-mastodon", "2027-03-17T12:30", "2027-03-17T12:30Z", 85, 500),
    ]
    assert document["posts"][0]["text"] == (
        "Tuesday 16 March: call the helpline on 08000 121 700.\n\n#SeeItShareIt #ModernSlavery"
    )
    assert len(document["posts"][0]["content_hash"]) == 64


def test_preview_html_writes_one_card_per_post(tmp_path: Path) -> None:
    """--html writes a self-contained page: one card per post, images inlined, no external assets."""
    plan = write_campaign(tmp_path, WEEK)
    page = tmp_path / "preview.html"
    code, output = run("preview", str(plan), "--html", str(page))
    assert code == 0
    assert output.splitlines()[-1] == f"Wrote the HTML preview of 6 posts to {page}"
    html = page.read_text(encoding="utf-8")
    assert html.count('<article class="post') == 6
    assert html.count('src="data:image/png;base64,') == 2
    assert 'alt="The cover of the pocket guide"' in html
    assert "http://" not in html and "src=\"https://" not in html and "<link" not in html


def test_calendar_is_valid_icalendar_with_one_event_per_post(tmp_path: Path) -> None:
    """The .ics parses back with icalendar: one VEVENT per post, unique UIDs, UTC start times."""
    plan = write_campaign(tmp_path, WEEK)
    ics = tmp_path / "week.ics"
    assert run("calendar", str(plan), "-o", str(ics)) == (0, f"Wrote 6 posts to {ics}\n")
    calendar = Calendar.from_ical(ics.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 6
    assert len({str(e["UID"]) for e in events}) == 6
    starts = sorted(e.decoded("DTSTART") for e in events)
    assert starts[0] == datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
    assert str(calendar["X-WR-CALNAME"]) == "Test week"
    launch = next(e for e in events if str(e["UID"]) == "launch/lancs-x@test-week.campaign")
    assert str(launch["SUMMARY"]) == "X @LancsPolice: The week of action starts today."


def test_init_copies_the_bundled_example_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    """`init` creates a working campaign folder; a second run into the same folder changes nothing."""
    target = tmp_path / "my-campaign"
    code, output = run("init", str(target))
    plan = target / "schedules" / "modern-slavery-week.yaml"
    assert code == 0 and output.splitlines()[0] == f"Created {plan} and its templates in {target / 'posts'}."
    assert run("validate", str(plan))[0] == 0
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    code, output = run("init", str(target))
    assert code == 1
    assert output == f"Error: {target} already has files in it; choose a new or empty folder\n"
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_validate_with_no_plan_checks_the_bundled_week() -> None:
    """With no argument, the built-in example is validated, and it has no errors."""
    code, output = run("validate")
    assert code == 0, output
    assert ": ok: 0 errors" in output.splitlines()[-1]
