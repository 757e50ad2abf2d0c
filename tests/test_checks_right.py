"""Checks that are right: verified numbers read whole, one message per problem, limits named.

A verified phone number is matched as a whole before its parts are (Crimestoppers' 0800 555 111 is not the
short number 111), exactly as written in `facts:` — spaces or hyphens — and a number written differently
from its verified form is still an error. One problem found in several posts (a post to four accounts, a
daily post) is one message naming every account it affects.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from click.testing import CliRunner

from campaign.cli import main
from campaign.grouping import grouped, merged_place
from campaign.plan import Phone, load_plan
from campaign.problems import Problem
from campaign.render import Renderer, render_plan
from tests.plan_fixtures import BASE_PLAN, line_of, write_campaign

EMERGENCY = "    emergency: {label: Emergency, number: '999'}\n"
WITH_CRIMESTOPPERS = BASE_PLAN.replace(
    EMERGENCY, EMERGENCY + "    crimestoppers: {label: Crimestoppers, number: '0800 555 111'}\n")


def errors_for(tmp_path: Path, text: str, base: str = WITH_CRIMESTOPPERS) -> list[str]:
    """The error messages of one post to one X account saying *text*."""
    plan = write_campaign(tmp_path, f"- id: post\n  accounts: [lancs-x]\n  at: '2027-03-15 09:00'\n  text: {text!r}\n",
                          base=base)
    rendered = render_plan(plan)
    assert rendered.plan is not None, [str(p) for p in rendered.problems]
    return [p.message for p in rendered.errors]


def test_a_verified_number_ending_in_a_short_number_is_accepted(tmp_path: Path) -> None:
    """Crimestoppers' 0800 555 111, verified in facts:, is accepted written out or from {{ phones.… }}: its last
    group is not read as the short number 111."""
    assert errors_for(tmp_path, "Call Crimestoppers anonymously on 0800 555 111.") == []
    assert errors_for(tmp_path, "Or {{ phones.crimestoppers }} (free), or 101, or 999 in an emergency.") == []
    assert errors_for(tmp_path, "0800 555 111/999") == []


def test_short_numbers_standing_alone_are_still_checked(tmp_path: Path) -> None:
    """111 written on its own is a short number: not verified in this plan, so an error; 101 and 999 are."""
    assert errors_for(tmp_path, "Call 101, or 999, or NHS 111.") == [
        "the number '111' is not one of the plan's verified numbers"]


def test_an_unverified_long_number_is_one_error_not_two(tmp_path: Path) -> None:
    """0800 555 112 is reported once, as a whole: not once more for the 112 it ends with."""
    assert errors_for(tmp_path, "Call 0800 555 112 today.") == [
        "the number '0800 555 112' is not one of the plan's verified numbers"]


def test_a_verified_number_inside_a_longer_one_is_not_accepted(tmp_path: Path) -> None:
    """A verified number followed by more digits is a different number: refused as a whole."""
    assert errors_for(tmp_path, "Call 0800 555 111 222.") == [
        "the number '0800 555 111 222' is not one of the plan's verified numbers"]


def test_a_verified_number_written_differently_is_still_an_error(tmp_path: Path) -> None:
    """The point of the check: the helpline's digits grouped wrongly, or Crimestoppers' run together, are not
    written as verified."""
    assert errors_for(tmp_path, "Call 0800 012 1700 or 0800555111.") == [
        "the number '0800 012 1700' is not written as verified: the Modern Slavery & Exploitation Helpline is "
        "'08000 121 700'",
        "the number '0800555111' is not written as verified: the Crimestoppers is '0800 555 111'",
    ]


def test_a_non_breaking_space_counts_as_the_space_it_stands_for(tmp_path: Path) -> None:
    """08000\u00a0121\u00a0700 (non-breaking spaces keep a number on one line) is the verified 08000 121 700."""
    assert errors_for(tmp_path, "Call 08000\u00a0121\u00a0700.") == []


def test_a_hyphenated_verified_number_is_accepted_as_written_and_only_so(tmp_path: Path) -> None:
    """A number verified with hyphens (0800-555-111) is accepted written with those hyphens; written with spaces
    it is not as verified. (Rendered from a plan whose facts hold the hyphenated form.)"""
    path = write_campaign(tmp_path, """\
        - id: hyphens
          accounts: [lancs-x]
          at: '2027-03-15 09:00'
          text: Call 0800-555-111.
        - id: spaces
          accounts: [lancs-x]
          at: '2027-03-15 12:00'
          text: Call 0800 555 111.
        """)
    plan, problems = load_plan(path)
    assert plan is not None, problems
    hyphenated = {**plan.phones, "crimestoppers": Phone("crimestoppers", "Crimestoppers", "0800-555-111")}
    drafts = {d.post_id: d for d in Renderer(dataclasses.replace(plan, phones=hyphenated)).drafts()}
    assert [p.message for p in drafts["hyphens"].problems] == []
    assert [p.message for p in drafts["spaces"].problems] == [
        "the number '0800 555 111' is not written as verified: the Crimestoppers is '0800-555-111'"]


def test_one_problem_in_a_post_to_four_accounts_is_one_line_naming_them(tmp_path: Path) -> None:
    """A wrong number in a post to every account is one line at the post's line, naming the four accounts
    (handle and platform), and counted as one error."""
    plan = write_campaign(tmp_path, """\
        - id: launch
          accounts: all
          text: Call 0800 012 1700 now.
          at: '2027-03-15 09:00'
        """)
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines == [
        f"{plan}:{line_of(plan, 'text: Call')}: post 'launch' for lancspolice.bsky.social (bluesky), Lancashire "
        "Police (facebook), @lancspolice@police.social (mastodon), @LancsPolice (x): the number '0800 012 1700' "
        "is not written as verified: the Modern Slavery & Exploitation Helpline is '08000 121 700' — write "
        "{{ phones.helpline }} so it is always printed exactly as verified",
        f"{plan}: not ready: 1 error, 0 warnings in 1 plan entry (4 posts to publish)",
    ]


def test_one_problem_in_a_daily_post_is_one_line(tmp_path: Path) -> None:
    """A daily post to two accounts with a wrong number (14 drafts) is one error line naming both accounts."""
    plan = write_campaign(tmp_path, """\
        - id: daily
          accounts: [lancs-x, lancs-facebook]
          text: 'Day {{ when | day }}: call 0300 323 0085.'
          daily: '12:30'
        """)
    result = CliRunner().invoke(main, ["validate", str(plan)])
    errors = [line for line in result.output.splitlines() if "0300 323 0085" in line]
    assert len(errors) == 1, result.output
    assert "post 'daily' for Lancashire Police (facebook), @LancsPolice (x): the number '0300 323 0085'" in errors[0]
    assert "1 error," in result.output.splitlines()[-1]


def test_grouping_merges_only_what_is_the_same_problem() -> None:
    """Problems are merged only when file, line, message, fix and severity are all the same; places of
    different posts are joined with '; ', and the first-found order is kept."""
    def problem(where: str, message: str = "wrong", line: int = 3, severity: str = "error") -> Problem:
        return Problem("plan.yaml", line, where, message, "fix it", severity)  # type: ignore[arg-type]

    found = grouped([
        problem("post 'a' for @X (x)"), problem("post 'a' for Page (facebook)"), problem("post 'a' for @X (x)"),
        problem("post 'a' for @X (x)", "other"), problem("post 'a' for @X (x)", line=4),
        problem("post 'a' for @X (x)", severity="warning"),
    ])
    assert [(p.where, p.message, p.line, p.severity) for p in found] == [
        ("post 'a' for @X (x), Page (facebook)", "wrong", 3, "error"),
        ("post 'a' for @X (x)", "other", 3, "error"),
        ("post 'a' for @X (x)", "wrong", 4, "error"),
        ("post 'a' for @X (x)", "wrong", 3, "warning"),
    ]
    assert merged_place(["post 'a' for @X (x)", "post 'b' for @X (x)"]) == "post 'a' for @X (x); post 'b' for @X (x)"
    assert merged_place(["events.preston", "events.lancaster"]) == "events.preston; events.lancaster"


def test_an_over_long_alt_text_names_the_limit_and_by_how_much(tmp_path: Path) -> None:
    """Alt text over a platform's limit says the limit (X: at most 1,000 characters) and how much to cut."""
    plan = write_campaign(tmp_path, f"""\
        - id: card
          accounts: [lancs-x]
          text: The pocket guide.
          at: '2027-03-15 09:00'
          images:
            - {{file: images/guide.png, alt: '{"a" * 1004}'}}
        """)
    (draft,) = render_plan(plan).drafts
    (problem,) = [p for p in draft.problems if "alt text" in p.message]
    assert problem.message == "the alt text of 'guide.png' is 1,004 characters; X takes at most 1,000"
    assert problem.fix == "shorten it by 4"
