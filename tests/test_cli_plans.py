"""The plan commands through Click's CliRunner: exact output, exit codes, and no tracebacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from icalendar import Calendar
from sqlalchemy import select

from campaign.cli import main
from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import Post
from tests.plan_fixtures import base_with, line_of, write_campaign

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


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
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
    """The text preview groups by day and shows time, account, key, count, language and the exact text."""
    plan = write_campaign(tmp_path, WEEK)
    code, output = run("preview", str(plan), "--platform", "x")
    assert code == 0
    launch_hash = next(d for d in render_plan(plan).drafts if d.key == "launch/lancs-x").content_hash
    assert output.splitlines()[2:] == [
        "",
        "━━ Monday 15 March 2027 " + "━" * 40,
        "",
        f"09:00 GMT (09:00 UTC) · X @LancsPolice · launch/lancs-x · 62/280 · en-GB (English, United Kingdom) · "
        f"content {launch_hash[:12]}",
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
    assert html.count('href="data:image/png;base64,') == 1
    assert 'aria-label="The cover of the pocket guide"' in html
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


BILINGUAL = """\
- id: croeso
  accounts: [lancs-mastodon, lancs-bluesky]
  text: Croeso i’r wythnos weithredu yn erbyn caethwasiaeth fodern.
  at: '2027-03-15 09:00'
- id: welcome
  accounts: [lancs-mastodon]
  text: Welcome to the modern slavery week of action.
  language: en-GB
  at: '2027-03-15 09:30'
"""


def stored_languages(db: Path) -> dict[str, tuple[str, str]]:
    """Each stored post's language and content hash, read back from the SQLite store."""
    store = Store.open(str(db))
    with store.session() as session:
        return {p.key: (p.language, p.content_hash) for p in session.execute(select(Post)).scalars()}


def test_campaign_and_post_languages_reach_the_json_preview_and_the_store(tmp_path: Path) -> None:
    """`language: cy` for the campaign and `language: en-GB` on one post: the JSON preview lists each post's
    language, and `schedule` stores it on each Post (read back from SQLite) beside the hash that includes it.
    Changing a post's language afterwards is a change of content: its approval is voided."""
    plan = write_campaign(tmp_path, BILINGUAL, base=base_with("language: cy\n"))
    code, output = run("preview", str(plan), "--format", "json")
    assert code == 0, output
    posts = json.loads(output)["posts"]
    assert [(p["key"], p["language"]) for p in posts] == [
        ("croeso/lancs-bluesky", "cy"), ("croeso/lancs-mastodon", "cy"), ("welcome/lancs-mastodon", "en-GB"),
    ]

    env = {"CAMPAIGN_DB": str(tmp_path / "store.db")}
    code, output = run("schedule", str(plan), env=env)
    assert code == 0, output
    assert stored_languages(tmp_path / "store.db") == {p["key"]: (p["language"], p["content_hash"]) for p in posts}

    assert run("approve", "--all", "--as", "bob", env=env)[0] == 0
    plan.write_text(plan.read_text().replace("language: en-GB", "language: en-US"))
    code, output = run("schedule", str(plan), env=env)
    assert code == 0, output
    assert output.splitlines()[0].startswith("test-week: 0 added, 1 changed (back to draft, approval voided)")
    assert stored_languages(tmp_path / "store.db")["welcome/lancs-mastodon"][0] == "en-US"


def test_validate_refuses_a_wrong_and_a_blank_language_with_file_and_line(tmp_path: Path) -> None:
    """A language that is not a tag and a blank one are each one FILE:LINE error, and validate exits 1."""
    plan = write_campaign(tmp_path, BILINGUAL.replace("language: en-GB", "language: english"),
                          base=base_with("language: ''\n"))
    code, output = run("validate", str(plan))
    assert code == 1
    blank = "language: ''"
    assert output.splitlines() == [
        f"{plan}:{line_of(plan, blank)}: campaign.language: the language is blank — write a language tag "
        "such as en-GB (English in the UK), cy (Welsh) or cy-GB, or remove the key to use en-GB",
        f"{plan}:{line_of(plan, 'language: english')}: posts[2] (welcome).language: 'english' is not a language "
        "tag — did you mean 'en' (English)?",
        f"{plan}: not ready: 2 errors, 0 warnings in 2 plan entries (3 posts to publish)",
    ]


def test_validate_refuses_the_same_words_3_hours_apart_on_one_mastodon_account(tmp_path: Path) -> None:
    """Identical texts on one Mastodon account 3 hours apart fail validate, naming both posts; 2 days apart
    they pass."""
    posts = """\
- id: signs
  accounts: [lancs-mastodon]
  text: Spot the signs of modern slavery.
  at: '2027-03-15 09:00'
- id: signs-again
  accounts: [lancs-mastodon]
  text: Spot the signs of modern slavery.
  at: '2027-03-15 12:00'
"""
    plan = write_campaign(tmp_path / "close", posts)
    code, output = run("validate", str(plan))
    assert code == 1
    assert output.splitlines()[0] == (
        f"{plan}:{line_of(plan, 'id: signs-again') + 2}: post 'signs-again' for @lancspolice@police.social (mastodon): "
        "signs-again/lancs-mastodon at 2027-03-15 12:00 GMT has the same text as signs/lancs-mastodon at "
        "2027-03-15 09:00 GMT, only 3 hours apart on one account — change the words of one (e.g. add the day with "
        "{{ when | day }}) or move one so they are at least 12 hours apart: the runner finds a post on the "
        "platform by its text, and could take one for the other"
    )
    apart = write_campaign(tmp_path / "apart", posts.replace("2027-03-15 12:00", "2027-03-17 09:00"))
    code, output = run("validate", str(apart))
    assert code == 0, output
    assert output.splitlines()[-1] == f"{apart}: ok: 0 errors, 1 warning in 2 plan entries (2 posts to publish)"
    assert "warning: its text is exactly the same as signs/lancs-mastodon" in output


def test_previews_show_the_byte_count_where_the_platform_limits_bytes(tmp_path: Path) -> None:
    """Bluesky limits bytes as well as graphemes: its posts show `N/3000 bytes` in the terminal preview and
    `bytes`/`byte_limit` in JSON; platforms without a byte limit show no byte count (JSON: `byte_limit` null)."""
    plan = write_campaign(tmp_path, BILINGUAL)
    code, output = run("preview", str(plan), "--platform", "bluesky")
    assert code == 0
    heading = next(line for line in output.splitlines() if "croeso/lancs-bluesky" in line)
    assert " · 89/300 · 91/3000 bytes · en-GB (English, United Kingdom) · " in heading  # ’ is 3 bytes
    code, output = run("preview", str(plan), "--platform", "mastodon")
    assert " bytes" not in output
    code, output = run("preview", str(plan), "--format", "json")
    assert [(p["platform"], p["bytes"], p["byte_limit"]) for p in json.loads(output)["posts"]] == [
        ("bluesky", 91, 3000), ("mastodon", 91, None), ("mastodon", 75, None),
    ]


def test_the_html_preview_marks_each_text_with_its_language(tmp_path: Path) -> None:
    """Each card's text (and its images' alt text) carries `lang` with the post's language, so a screen reader
    previewing it reads Welsh as Welsh; the card's foot names the language."""
    plan = write_campaign(tmp_path, BILINGUAL.replace("  at: '2027-03-15 09:00'\n", "  at: '2027-03-15 09:00'\n"
                                                      "  language: cy\n", 1))
    page = tmp_path / "preview.html"
    assert run("preview", str(plan), "--html", str(page))[0] == 0
    html = page.read_text(encoding="utf-8")
    assert html.count('<div class="text" lang="cy">') == 2
    assert html.count('<div class="text" lang="en-GB">') == 1
    assert html.count('<span class="language">Welsh (cy)</span>') == 2


def test_the_html_preview_of_one_platform_lists_only_its_posts_problems(tmp_path: Path) -> None:
    """`preview --platform facebook --html` lists, above the cards, the problems of the posts it shows and of the
    plan itself, and counts only those: not a warning about the same post's X version, which it does not show."""
    plan = write_campaign(tmp_path, """\
        - id: signs
          accounts: [lancs-x, lancs-facebook]
          at: '2027-03-15 09:00'
          text: Spot the signs.
          variants:
            x: {text: 'Spot the signs #seeitshareit'}
        """)
    page = tmp_path / "facebook.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--platform", "facebook", "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "0 errors" in html and "0 warnings" in html and "#seeitshareit" not in html
    everything = tmp_path / "all.html"
    assert CliRunner().invoke(main, ["preview", str(plan), "--html", str(everything)]).exit_code == 0
    assert "1 warning " in everything.read_text(encoding="utf-8")
