"""Loading a plan: every problem at once, each with its file, line, place and fix; times resolved right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.plan import load_plan
from campaign.problems import Problem
from campaign.render import render_plan
from campaign.yamlfile import did_you_mean
from tests.plan_fixtures import BASE_PLAN, base_with, line_of, write_campaign


def campaign_dates(starts: str, ends: str) -> str:
    """The fixture plan with the campaign moved to other dates (around a clock change)."""
    return BASE_PLAN.replace("starts: 2027-03-15", f"starts: {starts}").replace("ends: 2027-03-21", f"ends: {ends}")


def problems_of(plan_path: Path) -> list[Problem]:
    _, problems = load_plan(plan_path)
    return problems


def only_error(plan_path: Path) -> Problem:
    problems = [p for p in problems_of(plan_path) if p.is_error]
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_a_valid_plan_resolves_every_timing_form(tmp_path: Path) -> None:
    """Absolute, event-relative (day before at 18:00, +1h, start) and daily times become the right UTC instants."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        - id: eve
          accounts: [lancs-x]
          text: Tomorrow
          event: preston-training
          at: '-1d 18:00'
        - id: during
          accounts: [lancs-x]
          text: Now
          event: preston-training
          at: '+1h'
        - id: opening
          accounts: [lancs-x]
          text: Starting
          event: preston-training
          at: start
        - id: helpline
          platforms: [facebook]
          text: Daily
          daily: '12:30'
          from: 2027-03-18
          until: 2027-03-19
        """)
    plan, problems = load_plan(plan_path)
    assert problems == []
    assert plan is not None
    times = {p.id: [o.when.utc for o in p.occurrences] for p in plan.posts}
    assert times == {
        "launch": [datetime(2027, 3, 15, 9, 0, tzinfo=UTC)],
        "eve": [datetime(2027, 3, 15, 18, 0, tzinfo=UTC)],
        "during": [datetime(2027, 3, 16, 11, 0, tzinfo=UTC)],
        "opening": [datetime(2027, 3, 16, 10, 0, tzinfo=UTC)],
        "helpline": [datetime(2027, 3, 18, 12, 30, tzinfo=UTC), datetime(2027, 3, 19, 12, 30, tzinfo=UTC)],
    }
    helpline = next(p for p in plan.posts if p.id == "helpline")
    assert helpline.accounts == ("lancs-facebook",)
    assert [o.suffix for o in helpline.occurrences] == ["@2027-03-18", "@2027-03-19"]


def test_daily_slot_keeps_local_time_across_the_clock_change(tmp_path: Path) -> None:
    """'09:00 every day' stays 09:00 in London when BST starts, so its UTC instant moves by an hour."""
    base = campaign_dates("2027-03-27", "2027-03-29")
    plan_path = write_campaign(tmp_path, """\
        - id: morning
          accounts: [lancs-x]
          text: Morning
          daily: '09:00'
        """, base=base)
    plan, problems = load_plan(plan_path)
    assert problems == [] and plan is not None
    occurrences = plan.posts[0].occurrences
    assert [o.when.local.hour for o in occurrences] == [9, 9, 9]
    assert [o.when.utc.hour for o in occurrences] == [9, 8, 8]
    assert [o.when.abbreviation for o in occurrences] == ["GMT", "BST", "BST"]


def test_unknown_key_is_reported_with_its_line_and_a_did_you_mean(tmp_path: Path) -> None:
    """A typo in a key names the file, the line of the key, where it is, and the key it probably meant."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          att: '2027-03-15 09:00'
        """)
    problems = problems_of(plan_path)
    line = line_of(plan_path, "att:")
    assert str(problems[0]) == f"{plan_path}:{line}: posts[1] (launch): unknown key 'att' — did you mean 'at'?"


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    """Several unrelated mistakes come back together, in file order, none hiding another."""
    plan_path = write_campaign(tmp_path, """\
        - id: one
          accounts: [lancs-z]
          text: One
          at: '2027-03-15 9am'
        - id: two
          accounts: [lancs-x]
          template: missing.j2
          event: preston-trainin
          at: '-1d 18:00'
        - id: three
          accounts: [lancs-x]
          text: Three
          at: '2027-03-14 09:00'
        """, templates={"launch.j2": "Hello"})
    messages = [(p.line, p.message) for p in problems_of(plan_path)]
    assert messages == [
        (line_of(plan_path, "lancs-z"), "there is no account 'lancs-z'"),
        (line_of(plan_path, "9am"), "'2027-03-15 9am' is not a date and time"),
        (line_of(plan_path, "missing.j2"), f"there is no template 'missing.j2' in '{tmp_path / 'posts'}'"),
        (line_of(plan_path, "event: preston-trainin"), "there is no event 'preston-trainin'"),
        (line_of(plan_path, "2027-03-14"),
         "it is at 2027-03-14 09:00 GMT, before the campaign starts on 2027-03-15"),
    ]
    fixes = [p.fix for p in problems_of(plan_path)]
    assert fixes[0] == "did you mean 'lancs-x'?"
    assert fixes[2] == "the templates are: launch.j2"
    assert fixes[3] == "did you mean 'preston-training'?"


def test_a_time_that_happens_twice_names_both_utc_instants(tmp_path: Path) -> None:
    """01:30 on the night the clocks go back is refused, with both instants and how to choose one."""
    base = campaign_dates("2026-10-24", "2026-10-26")
    plan_path = write_campaign(tmp_path, """\
        - id: late
          accounts: [lancs-x]
          text: Late
          at: '2026-10-25 01:30'
        """, base=base)
    problem = only_error(plan_path)
    assert problem.line == line_of(plan_path, "2026-10-25 01:30")
    assert problem.message == ("2026-10-25 01:30 happens twice in Europe/London as the clocks go back: "
                               "at 00:30 UTC (01:30 BST) and 01:30 UTC (01:30 GMT)")
    assert problem.fix == "choose one: write '2026-10-25 01:30 BST' or '2026-10-25 01:30 GMT'"


def test_choosing_the_second_occurrence_of_an_ambiguous_time(tmp_path: Path) -> None:
    """Writing the zone abbreviation after an ambiguous time picks that instant."""
    base = campaign_dates("2026-10-24", "2026-10-26")
    plan_path = write_campaign(tmp_path, """\
        - id: late
          accounts: [lancs-x]
          text: Late
          at: '2026-10-25 01:30 GMT'
        """, base=base)
    plan, problems = load_plan(plan_path, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert problems == [] and plan is not None
    assert plan.posts[0].occurrences[0].when.utc == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_a_time_that_never_happens_names_the_instants_either_side(tmp_path: Path) -> None:
    """01:30 on the night the clocks go forward is refused, with the last minute before and the first after."""
    base = campaign_dates("2027-03-27", "2027-03-29")
    plan_path = write_campaign(tmp_path, """\
        - id: early
          accounts: [lancs-x]
          text: Early
          at: '2027-03-28 01:30'
        """, base=base)
    problem = only_error(plan_path)
    assert problem.message == ("2027-03-28 01:30 never happens in Europe/London: the clocks go forward "
                               "from 01:00 GMT to 02:00 BST")
    assert problem.fix == "choose 00:59 GMT (00:59 UTC) or 02:00 BST (01:00 UTC), e.g. '2027-03-28 02:00'"


def test_a_daily_slot_in_the_missing_hour_names_the_day(tmp_path: Path) -> None:
    """A daily 01:30 slot is refused only for the night the clocks go forward, naming that day."""
    base = campaign_dates("2027-03-27", "2027-03-29")
    plan_path = write_campaign(tmp_path, """\
        - id: night
          accounts: [lancs-x]
          text: Night
          daily: '01:30'
        """, base=base)
    plan, problems = load_plan(plan_path)
    assert [p.fix.split(",")[0] for p in problems] == ["on 2027-03-28"]
    assert plan is not None and [o.suffix for o in plan.posts[0].occurrences] == ["@2027-03-27", "@2027-03-29"]


def test_images_must_exist_and_have_alt_text(tmp_path: Path) -> None:
    """A missing image file and an image without alt text are both errors on the image's line."""
    plan_path = write_campaign(tmp_path, """\
        - id: guide
          accounts: [lancs-x]
          text: Guide
          at: '2027-03-15 09:00'
          images:
            - file: images/guide.png
            - file: images/nope.png
              alt: A card
        """)
    assert [(p.line, p.message) for p in problems_of(plan_path)] == [
        (line_of(plan_path, "images/guide.png"), "the image 'images/guide.png' has no alt text"),
        (line_of(plan_path, "images/nope.png"),
         f"the image file '{tmp_path / 'schedules' / 'images' / 'nope.png'}' does not exist"),
    ]


def test_a_secret_in_the_plan_is_refused_without_repeating_it(tmp_path: Path) -> None:
    """A credential that is not an environment variable's name is an error whose message never quotes it."""
    secret = "xoxb-9d8f7a6s5d4f3g2h1j"
    base = BASE_PLAN.replace("MASTODON_TOKEN", secret)
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        """, base=base)
    problem = only_error(plan_path)
    assert problem.where == "accounts.lancs-mastodon.credentials.access_token"
    assert secret not in str(problem)
    assert "never put a secret in a plan" in problem.message


def test_missing_credentials_and_unknown_platform(tmp_path: Path) -> None:
    """An account must name every credential its platform needs, and a platform that exists."""
    base = BASE_PLAN.replace("credentials: {page_id: FB_PAGE_ID, page_access_token: FB_PAGE_TOKEN}",
                             "credentials: {page_id: FB_PAGE_ID}").replace("platform: bluesky", "platform: blusky")
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        """, base=base)
    assert [(p.where, p.message, p.fix) for p in problems_of(plan_path)] == [
        ("accounts.lancs-facebook.credentials", "'page_access_token' is missing", "add `page_access_token:` here"),
        ("accounts.lancs-bluesky.platform", "there is no platform 'blusky'", "did you mean 'bluesky'?"),
    ]


def test_phone_numbers_must_be_quoted_so_zeros_survive(tmp_path: Path) -> None:
    """A phone number written as a bare YAML number is refused: its leading zero or spacing would be lost."""
    base = BASE_PLAN.replace("number: '101'", "number: 101")
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        """, base=base)
    problem = only_error(plan_path)
    assert (problem.where, problem.message) == ("facts.phones.police.number", "expected text, found 101")
    assert problem.fix.startswith("write it as text; put it in quotes")


def test_thread_replies_must_follow_their_parent_on_the_same_accounts(tmp_path: Path) -> None:
    """A reply scheduled before its parent, or to an account the parent does not use, is refused."""
    plan_path = write_campaign(tmp_path, """\
        - id: first
          accounts: [lancs-x]
          text: First
          at: '2027-03-15 09:00'
        - id: early-reply
          accounts: [lancs-x]
          text: Too early
          reply_to: first
          at: '2027-03-15 08:00'
        - id: elsewhere
          accounts: [lancs-facebook]
          text: Wrong account
          reply_to: first
          at: '2027-03-15 10:00'
        """)
    assert [(p.where, p.message) for p in problems_of(plan_path)] == [
        ("post 'early-reply'", "it replies to 'first' but is not scheduled after it"),
        ("post 'elsewhere'", "it replies to 'first', which does not go to lancs-facebook"),
    ]


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    """Broken YAML is one clear problem on the line where reading failed, not a traceback."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x
          text: Launch
        """)
    plan, problems = load_plan(plan_path)
    assert plan is None
    assert len(problems) == 1 and problems[0].message.startswith("YAML syntax:")
    assert problems[0].line >= line_of(plan_path, "accounts: [lancs-x")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("'+1h 18:00'", "'+1h 18:00' mixes hours with a time of day"),
        ("'tomorrow'", "'tomorrow' is not a time relative to the event"),
    ],
)
def test_bad_relative_times(tmp_path: Path, value: str, message: str) -> None:
    """Relative times that cannot be read are refused with the forms that work."""
    plan_path = write_campaign(tmp_path, f"""\
        - id: eve
          accounts: [lancs-x]
          text: Eve
          event: preston-training
          at: {value}
        """)
    assert only_error(plan_path).message == message


def test_duplicate_keys_are_reported_and_yaml_1_1_surprises_do_not_happen(tmp_path: Path) -> None:
    """A key given twice is an error on its second line; `no` and `09:00` stay text (YAML 1.2 rules)."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: no
          at: '2027-03-15 09:00'
          at: '2027-03-15 10:00'
        - id: daily
          accounts: [lancs-facebook]
          text: Daily
          daily: 09:00
          from: 2027-03-15
          until: 2027-03-15
        """)
    plan, problems = load_plan(plan_path)
    assert [(p.line, p.message) for p in problems] == [
        (line_of(plan_path, "'2027-03-15 10:00'"),
         f"the key 'at' appears twice in the same mapping (first on line {line_of(plan_path, '09:00')})"),
    ]
    assert plan is not None
    launch, daily = plan.posts
    assert launch.content.text == "no"
    assert daily.occurrences[0].when.local.hour == 9


LANGUAGE_POSTS = """\
- id: welsh
  accounts: [lancs-x, lancs-mastodon]
  text: Gweld yr arwyddion.
  at: '2027-03-15 09:00'
- id: english
  accounts: [lancs-x]
  text: Spot the signs.
  language: en-uk
  at: '2027-03-15 10:00'
"""


def test_a_plan_without_language_is_en_gb(tmp_path: Path) -> None:
    """With no `language:` anywhere, the campaign, every post and every draft are en-GB."""
    plan_path = write_campaign(tmp_path, LANGUAGE_POSTS.replace("  language: en-uk\n", ""))
    plan, problems = load_plan(plan_path)
    assert problems == [] and plan is not None
    assert plan.campaign.language == "en-GB"
    assert {post.language for post in plan.posts} == {"en-GB"}
    assert {draft.language for draft in render_plan(plan_path).drafts} == {"en-GB"}


def test_campaign_and_post_languages_reach_every_draft_in_standard_form(tmp_path: Path) -> None:
    """The campaign's `language:` is every post's unless the post has its own; both are kept in their standard
    BCP 47 form (`CY` → `cy`, `en-uk` → `en-GB`), and each draft carries its post's language."""
    plan_path = write_campaign(tmp_path, LANGUAGE_POSTS, base=base_with("language: CY\n"))
    plan, problems = load_plan(plan_path)
    assert problems == [] and plan is not None
    assert plan.campaign.language == "cy"
    assert [(post.id, post.language) for post in plan.posts] == [("welsh", "cy"), ("english", "en-GB")]
    assert [(d.key, d.language) for d in render_plan(plan_path).drafts] == [
        ("welsh/lancs-mastodon", "cy"), ("welsh/lancs-x", "cy"), ("english/lancs-x", "en-GB"),
    ]


def test_an_invalid_language_is_an_error_at_its_line_with_a_did_you_mean(tmp_path: Path) -> None:
    """A language that is not a BCP 47 tag is an error naming the file and the line of the value, with the tag
    langcodes suggests where it can (a language's name, a tag written with a space, a wrong region) and the
    form of a tag where it cannot."""
    posts = LANGUAGE_POSTS.replace("language: en-uk", "language: en GB") + """\
- id: wrong-region
  accounts: [lancs-x]
  text: Spot the signs today.
  language: en-EN
  at: '2027-03-15 11:00'
- id: not-a-language
  accounts: [lancs-x]
  text: Spot the signs this week.
  language: jp
  at: '2027-03-15 12:00'
"""
    plan_path = write_campaign(tmp_path, posts, base=base_with("language: Welsh\n"))
    assert [str(p) for p in problems_of(plan_path)] == [
        f"{plan_path}:{line_of(plan_path, 'language: Welsh')}: campaign.language: 'Welsh' is not a language tag "
        "— did you mean 'cy' (Welsh)?",
        f"{plan_path}:{line_of(plan_path, 'language: en GB')}: posts[2] (english).language: 'en GB' is not a "
        "language tag — did you mean 'en-GB' (English, United Kingdom)?",
        f"{plan_path}:{line_of(plan_path, 'language: en-EN')}: posts[3] (wrong-region).language: 'en-EN' is not a "
        "language tag — did you mean 'en' (English)?",
        f"{plan_path}:{line_of(plan_path, 'language: jp')}: posts[4] (not-a-language).language: 'jp' is not a "
        "language tag — write a BCP 47 language tag such as en-GB (English in the UK), cy (Welsh) or cy-GB",
    ]


def test_a_blank_language_is_an_error_not_the_default(tmp_path: Path) -> None:
    """`language:` with nothing after it (or only spaces) is an error at its line, never taken as en-GB; a
    language that is not text is reported as the wrong kind of value."""
    posts = LANGUAGE_POSTS.replace("language: en-uk", "language: '  '") + """\
- id: numbered
  accounts: [lancs-x]
  text: Spot the signs today.
  language: 44
  at: '2027-03-15 11:00'
"""
    plan_path = write_campaign(tmp_path, posts, base=base_with("language:\n"))
    blank_post = "language: '  '"
    blank_fix = ("write a language tag such as en-GB (English in the UK), cy (Welsh) or cy-GB, or remove the key "
                 "to use en-GB")
    assert [str(p) for p in problems_of(plan_path)] == [
        f"{plan_path}:{line_of(plan_path, 'language:')}: campaign.language: the language is blank — {blank_fix}",
        f"{plan_path}:{line_of(plan_path, blank_post)}: posts[2] (english).language: the language is blank "
        f"— {blank_fix}",
        f"{plan_path}:{line_of(plan_path, 'language: 44')}: posts[3] (numbered).language: expected text, found 44 "
        "— write it as text; put it in quotes if it looks like a number, date or true/false",
    ]


@pytest.mark.parametrize("written", ["und", "x-klingon"])
def test_a_tag_that_names_no_language_is_refused(tmp_path: Path, written: str) -> None:
    """`und` (undetermined) and private-use tags are valid BCP 47 but tell a screen reader nothing."""
    plan_path = write_campaign(tmp_path, LANGUAGE_POSTS.replace("language: en-uk", f"language: {written}"))
    problem = only_error(plan_path)
    assert (problem.line, problem.message) == (
        line_of(plan_path, f"language: {written}"), f"{written!r} does not name a language a screen reader can speak"
    )


# -- blank, bounds and time (issue 10) ---------------------------------------------------------------------

CLOCKS_BACK = campaign_dates("2026-10-24", "2026-10-27") + """\
  night-shift:
    title: Night shift briefing
    start: '2026-10-26 10:00'
"""
BEFORE_THE_NIGHT = datetime(2026, 10, 1, tzinfo=UTC)


def event_post(at: str) -> str:
    return f"""\
        - id: late
          accounts: [lancs-x]
          text: Late
          event: night-shift
          at: '{at}'
        """


def test_an_event_relative_time_on_the_night_the_clocks_go_back_suggests_a_form_that_works(tmp_path: Path) -> None:
    """`-1d 01:30` before an event on the day after the clocks go back is refused, and the fix it suggests is
    written relative to the event (`'-1d 01:30 BST'`), not as a date that an event-relative `at:` refuses."""
    plan_path = write_campaign(tmp_path, event_post("-1d 01:30"), base=CLOCKS_BACK)
    _, problems = load_plan(plan_path, now=BEFORE_THE_NIGHT)
    (problem,) = problems
    assert (problem.line, problem.where) == (line_of(plan_path, "-1d 01:30"), "posts[1] (late).at")
    assert problem.message == ("2026-10-25 01:30 happens twice in Europe/London as the clocks go back: "
                               "at 00:30 UTC (01:30 BST) and 01:30 UTC (01:30 GMT)")
    assert problem.fix == "choose one: write '-1d 01:30 BST' or '-1d 01:30 GMT'"


@pytest.mark.parametrize(
    ("at", "utc"),
    [("-1d 01:30 BST", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
     ("-1d 01:30 GMT", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
     ("-1d 01:30 +01:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
     ("-1d 18:00", datetime(2026, 10, 25, 18, 0, tzinfo=UTC))],
)
def test_the_suggested_fix_pins_an_event_relative_time(tmp_path: Path, at: str, utc: datetime) -> None:
    """Writing the zone (or UTC offset) after an event-relative time picks that reading of it; a time that is not
    ambiguous needs none."""
    plan_path = write_campaign(tmp_path, event_post(at), base=CLOCKS_BACK)
    plan, problems = load_plan(plan_path, now=BEFORE_THE_NIGHT)
    assert problems == [] and plan is not None
    assert plan.posts[0].occurrences[0].when.utc == utc


def test_a_zone_that_does_not_fit_an_event_relative_time_is_refused(tmp_path: Path) -> None:
    """`-1d 18:00 BST` on a day when London is on GMT is refused, with the form to write instead."""
    plan_path = write_campaign(tmp_path, event_post("-1d 18:00 BST"), base=CLOCKS_BACK)
    _, problems = load_plan(plan_path, now=BEFORE_THE_NIGHT)
    assert [(p.message, p.fix) for p in problems] == [
        ("2026-10-25 18:00 in Europe/London is GMT, not 'BST'", "write '-1d 18:00 GMT' or leave the zone off"),
    ]


def test_a_post_whose_time_has_passed_is_a_warning_naming_it(tmp_path: Path) -> None:
    """At `validate`, a post whose time is before now is a warning on its `at:` (or `daily:`) line naming the post;
    a daily post says how many of its days have passed."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        - id: helpline
          accounts: [lancs-facebook]
          text: Helpline
          daily: '12:30'
        - id: later
          accounts: [lancs-x]
          text: Later
          at: '2027-03-20 09:00'
        """)
    _, problems = load_plan(plan_path, now=datetime(2027, 3, 17, 9, 0, tzinfo=UTC))
    assert [(p.severity, p.line, p.where, p.message) for p in problems] == [
        ("warning", line_of(plan_path, "'2027-03-15 09:00'"), "posts[1] (launch).at",
         "its time, 2027-03-15 09:00 GMT, has passed"),
        ("warning", line_of(plan_path, "'12:30'"), "posts[2] (helpline).daily",
         "2 of its 7 times have passed (2027-03-15 12:30 GMT to 2027-03-16 12:30 GMT)"),
    ]
    assert problems[0].fix.startswith("move it to a time still to come, or remove it")


def test_validate_warns_about_a_past_post_and_still_passes(tmp_path: Path) -> None:
    """Through the command line, with the real clock: a week in 2020 validates (exit 0) with a warning per post."""
    from click.testing import CliRunner

    from campaign.cli import main

    base = campaign_dates("2020-03-15", "2020-03-21")
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2020-03-15 09:00'
        """, base=base)
    result = CliRunner().invoke(main, ["validate", str(plan_path)])
    assert result.exit_code == 0, result.output
    assert (f"{plan_path}:{line_of(plan_path, '2020-03-15 09:00')}: posts[1] (launch).at: warning: its time, "
            "2020-03-15 09:00 GMT, has passed") in result.output


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        ("  author:", "posts[1] (launch).author", "'author' is blank"),
        ("  hashtags:", "posts[1] (launch).hashtags", "'hashtags' is blank"),
        ("  event:", "posts[1] (launch).event", "'event' is blank"),
        ("  images:", "posts[1] (launch).images", "'images' is blank"),
        ("  vars: {place: }", "posts[1] (launch).vars.place", "the template variable 'place' is blank"),
        ("  vars: {places: [a, ~]}", "posts[1] (launch).vars.places", "the template variable 'places' has a blank item"),
        ("  images: [{file: images/guide.png, alt: ''}]", "posts[1] (launch).images[1].alt", "'alt' is blank"),
        ("  images: [{file: '', alt: A card}]", "posts[1] (launch).images[1].file", "'file' is blank"),
    ],
)
def test_an_optional_key_written_blank_is_an_error_not_its_default(tmp_path: Path, line: str, where: str,
                                                                   message: str) -> None:
    """Blank is never read as "not there": an optional key with nothing after it is an error at its line naming
    it (and the plan cannot be scheduled)."""
    plan_path = write_campaign(tmp_path, f"""\
        - id: launch
          accounts: [lancs-x]
          text: 'Launch at {{{{ place | default("home") }}}}'
          at: '2027-03-15 09:00'
        {line}
        """)
    problem = only_error(plan_path)
    assert (problem.line, problem.where, problem.message) == (line_of(plan_path, "'2027-03-15 09:00'") + 1, where,
                                                              message)
    assert not render_plan(plan_path).ok


@pytest.mark.parametrize(
    ("key", "value"),
    [("location", ""), ("location", "''"), ("details", "'  '"), ("end", "")],
)
def test_a_blank_event_field_is_an_error_so_no_post_prints_none(tmp_path: Path, key: str, value: str) -> None:
    """An event's `location:` (or `details:`, `end:`) written blank is an error at its line: a template printing
    `{{ event.location }}` would otherwise publish the word "None" or nothing."""
    base = BASE_PLAN.replace("    location: Preston Town Hall\n", f"    location: Preston Town Hall\n    {key}: {value}\n"
                             if key != "location" else f"    location: {value}\n")
    plan_path = write_campaign(tmp_path, """\
        - id: eve
          accounts: [lancs-x]
          text: 'See you at {{ event.location }}'
          event: preston-training
          at: '-1d 18:00'
        """, base=base)
    problem = only_error(plan_path)
    assert (problem.where, problem.message) == (f"events.preston-training.{key}", f"{key!r} is blank")
    assert problem.line == line_of(plan_path, f"    {key}:")


def test_a_post_of_only_hashtags_has_no_words_of_its_own(tmp_path: Path) -> None:
    """The words are checked before the campaign's hashtags are added: a text of hashtags and punctuation only
    is an error, where it used to become a post of hashtags."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: '#SeeItShareIt …'
          at: '2027-03-15 09:00'
        """)
    problem = only_error(plan_path)
    assert (problem.where, problem.message) == ("posts[1] (launch).text",
                                                "the post has no words of its own, only hashtags or punctuation")


def test_a_key_blank_in_campaign_is_refused_and_not_replaced_by_a_default(tmp_path: Path) -> None:
    """`starts:` blank no longer lets a post of 2001 through, and `grace:` blank is not 10 minutes."""
    base = BASE_PLAN.replace("starts: 2027-03-15", "starts:")
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 09:00'
        """, base=base_with("grace: ''\n", base=base))
    assert [(p.line, p.where, p.message) for p in problems_of(plan_path)] == [
        (line_of(plan_path, "starts:"), "campaign.starts", "'starts' is blank"),
        (line_of(plan_path, "grace:"), "campaign.grace", "'grace' is blank"),
    ]


# -- did-you-mean only when close --------------------------------------------------------------------------

WITHOUT_LANCS_X = BASE_PLAN[:BASE_PLAN.index("  lancs-x:\n")] + BASE_PLAN[BASE_PLAN.index("  lancs-facebook:\n"):]
"""The fixture plan without its X account: `lancs-bluesky` is the account most like 'lancs-x' (0.60)."""
BURNLEY = "  burnley-training:\n    title: Modern slavery training, Burnley\n    start: '2027-03-19 10:00'\n"


def test_a_name_that_only_shares_a_prefix_is_not_suggested(tmp_path: Path) -> None:
    """Names that merely look alike are not offered as what was meant: lancs-x is not lancs-bluesky (0.60),
    week-launch not week-wrap (0.60), preston-training not burnley-training (0.69). The message lists the
    names there are instead."""
    base = WITHOUT_LANCS_X.replace("  preston-training:\n", "  unused:\n").replace(
        "    location: Preston Town Hall\n", "") + BURNLEY
    plan_path = write_campaign(tmp_path, """\
        - id: week-wrap
          accounts: [lancs-x]
          text: The week is over
          at: '2027-03-21 17:00'
        - id: eve
          accounts: [lancs-mastodon]
          text: Tomorrow
          event: preston-training
          at: '-1d 18:00'
        - id: thanks
          accounts: [lancs-mastodon]
          text: Thank you
          reply_to: week-launch
          at: '2027-03-21 18:00'
        """, base=base)
    assert [(p.line, p.message, p.fix) for p in problems_of(plan_path)] == [
        (line_of(plan_path, "[lancs-x]"), "there is no account 'lancs-x'",
         "the accounts are: lancs-bluesky, lancs-facebook, lancs-mastodon"),
        (line_of(plan_path, "event: preston-training"), "there is no event 'preston-training'",
         "the events are: burnley-training, unused"),
        (line_of(plan_path, "id: thanks"), "it replies to 'week-launch', which is not a post in this plan",
         "the posts are: eve, week-wrap"),
    ]


def test_a_real_typo_is_still_suggested(tmp_path: Path) -> None:
    """A typo — a letter wrong, missing or swapped (0.80-0.97) — still gets its did-you-mean: lancs-z →
    lancs-x, preston-trainin → preston-training, week-lanch → week-launch, blusky → bluesky, and the unknown
    keys att → at and acounts → accounts."""
    base = BASE_PLAN.replace("    platform: bluesky\n", "    platform: blusky\n")
    plan_path = write_campaign(tmp_path, """\
        - id: week-launch
          acounts: [lancs-x]
          text: The week starts
          at: '2027-03-15 09:00'
        - id: eve
          accounts: [lancs-z]
          text: Tomorrow
          event: preston-trainin
          att: '-1d 18:00'
        - id: thanks
          accounts: [lancs-x]
          text: Thank you
          reply_to: week-lanch
          at: '2027-03-15 10:00'
        """, base=base)
    fixes = {p.message: p.fix for p in problems_of(plan_path)}
    assert {message: fixes.get(message) for message in [
        "there is no platform 'blusky'", "unknown key 'acounts'", "there is no account 'lancs-z'", "unknown key 'att'",
        "it replies to 'week-lanch', which is not a post in this plan",
    ]} == {
        "there is no platform 'blusky'": "did you mean 'bluesky'?",
        "unknown key 'acounts'": "did you mean 'accounts'?",
        "there is no account 'lancs-z'": "did you mean 'lancs-x'?",
        "unknown key 'att'": "did you mean 'at'?",
        "it replies to 'week-lanch', which is not a post in this plan": "did you mean 'week-launch'?",
    }


@pytest.mark.parametrize(("written", "choices", "fix"), [
    ("lancs-x", ["lancs-bluesky", "lancs-facebook"], "the names are: lancs-bluesky, lancs-facebook"),
    ("week-launch", ["week-wrap", "week-round-up"], "the names are: week-round-up, week-wrap"),
    ("preston-training", ["burnley-training"], "the names are: burnley-training"),
    ("lancs-z", ["lancs-x", "lancs-bluesky"], "did you mean 'lancs-x'?"),
    ("preston-trainin", ["preston-training", "burnley-training"], "did you mean 'preston-training'?"),
    ("launch", ["launch.j2", "helpline.j2"], "did you mean 'launch.j2'?"),
])
def test_did_you_mean_cutoff_between_false_friends_and_typos(written: str, choices: list[str], fix: str) -> None:
    """The cutoff (0.8) lies between the false suggestions measured (0.58-0.73) and real typos (0.80-0.97): a
    template named without its `.j2` (0.80) is still suggested."""
    assert did_you_mean(written, choices, "the names are") == fix


# -- phone numbers in facts, as they are printed ---------------------------------------------------------------

EMERGENCY_FACT = "    emergency: {label: Emergency, number: '999'}\n"


def with_crimestoppers(number: str) -> str:
    """The fixture plan with Crimestoppers verified in `facts.phones` as *number*."""
    fact = f"    crimestoppers: {{label: Crimestoppers, number: '{number}'}}\n"
    return BASE_PLAN.replace(EMERGENCY_FACT, EMERGENCY_FACT + fact)


@pytest.mark.parametrize("number", ["0800-555-111", "0800 555 111", "0800\u00a0555\u00a0111", "+44 800-555-111"])
def test_a_verified_number_with_hyphens_is_accepted_in_facts_and_in_a_post_written_the_same_way(
        tmp_path: Path, number: str) -> None:
    """Crimestoppers verified in `facts:` as 0800-555-111 (or with spaces, non-breaking spaces, or +44) loads,
    and a post that writes it exactly so — in its text or from {{ phones.crimestoppers }} — renders with no
    problem, through the loader and `render_plan`."""
    base = with_crimestoppers(number)
    plan_path = write_campaign(tmp_path, f"""\
        - id: written
          accounts: [lancs-x]
          text: 'Call Crimestoppers on {number}, anonymously.'
          at: '2027-03-15 09:00'
        - id: quoted
          accounts: [lancs-x]
          text: 'Or call {{{{ phones.crimestoppers }}}} ({{{{ phones.crimestoppers.label }}}}).'
          at: '2027-03-15 10:00'
        """, base=base)
    plan, problems = load_plan(plan_path)
    assert problems == []
    assert plan is not None and plan.phones["crimestoppers"].number == number
    rendered = render_plan(plan_path)
    assert rendered.problems == ()
    assert [d.text.split("\n")[0] for d in rendered.drafts] == [
        f"Call Crimestoppers on {number}, anonymously.", f"Or call {number} (Crimestoppers)."]


@pytest.mark.parametrize("number", ["0800--555-111", "0800 - 555", "0800-", "-0800", "0800  555 111", "0800 555 111 ",
                                    "08OO 555 111", "phone 101", "+", "1"])
def test_what_is_not_a_phone_number_is_still_refused_in_facts(tmp_path: Path, number: str) -> None:
    """Digits with single spaces, non-breaking spaces or hyphens between them, at least two: doubled or
    trailing separators, letters (O for 0) and a lone digit are not a number as it should be printed."""
    base = with_crimestoppers(number)
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          text: Call us
          at: '2027-03-15 09:00'
        """, base=base)
    problem = only_error(plan_path)
    assert (problem.line, problem.where) == (line_of(plan_path, "crimestoppers"), "facts.phones.crimestoppers")
    assert problem.message.endswith("is not a phone number")
    assert problem.fix == ("write digits, with single spaces or hyphens between groups, as it should be printed, "
                           "e.g. '08000 121 700' or '0800-555-111'")
