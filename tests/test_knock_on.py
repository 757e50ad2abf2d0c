"""No knock-on errors from one mistake: one mistake in a plan is one error line, where the mistake is.

An account, event or post that is written in the plan but cannot be loaded is reported once, at its own line.
What names it is not reported again: a post skips such an account silently (and still goes to its other
accounts), a post timed by such an event is left out silently, and a reply to a post that was left out is left
out silently, however far down the thread. The first mistake already stops the plan, and fixing it brings back
everything that hung on it. Each test breaks one value of the bundled example (108 posts, no problems) and runs
`campaign validate` through Click's CliRunner, or writes a small plan and loads it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from campaign.cli import main
from campaign.example import EXAMPLE_PLAN, example_root
from campaign.plan import load_plan
from campaign.render import render_plan
from tests.plan_fixtures import BASE_PLAN, line_of, write_campaign

PROBLEM_LINE = re.compile(r"^(?P<file>/[^:]+):(?P<line>\d+): (?P<rest>.*)$")


def bundled_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled example campaign with the first *old* in its plan replaced by *new*."""
    root = example_root()
    for folder in ("schedules", "posts"):
        shutil.copytree(root / folder, tmp_path / folder)
    plan = tmp_path / "schedules" / EXAMPLE_PLAN
    text = plan.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in the bundled plan"
    plan.write_text(text.replace(old, new, 1), encoding="utf-8")
    return plan


def validate(plan: Path) -> tuple[int, list[str], str]:
    """`campaign validate PLAN`: its exit code, its problem lines (``FILE:LINE: …``) and its summary line."""
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.splitlines()
    return result.exit_code, [line for line in lines if PROBLEM_LINE.match(line)], lines[-1]


def test_the_bundled_example_is_the_baseline() -> None:
    """Unbroken, the bundled example validates with no problem at all, so every line below is the mistake's."""
    code, problems, summary = validate(example_root() / "schedules" / EXAMPLE_PLAN)
    assert (code, problems) == (0, [])
    assert summary.endswith(": ok: 0 errors, 0 warnings in 36 plan entries (108 posts to publish)")


def test_a_broken_post_time_is_one_error_not_one_more_per_reply(tmp_path: Path) -> None:
    """`week-launch` with an impossible `at:` is one error at that line: its reply `launch-what-is` and that
    reply's reply `launch-how-to-report` are left out silently — no "replies to 'week-launch', which is not a
    post … did you mean 'week-round-up'?" and no "which cannot be scheduled"."""
    plan = bundled_with(tmp_path, "at: '2027-03-15 09:00'\n    variants:", "at: '2027-03-15 29:00'\n    variants:")
    code, problems, summary = validate(plan)
    assert code == 1
    assert problems == [f"{plan}:{line_of(plan, '29:00')}: posts[1] (week-launch).at: '29:00' is not a time of day "
                        "— hours run 00-23 and minutes 00-59, e.g. '18:00'"]
    assert "not ready: 1 error, 0 warnings" in summary


def test_a_broken_account_is_one_error_and_its_posts_still_go_to_their_other_accounts(tmp_path: Path) -> None:
    """One wrong `platform:` on `lancs-x` is one error at that line, not ~30 "there is no account 'lancs-x'"
    (nor a did-you-mean 'lancs-bluesky'): every post naming lancs-x skips it silently and is still rendered
    and checked for its other accounts."""
    plan = bundled_with(tmp_path, "  lancs-x:\n    platform: x\n", "  lancs-x:\n    platform: twitter\n")
    code, problems, summary = validate(plan)
    assert code == 1
    assert problems == [f"{plan}:{line_of(plan, 'platform: twitter')}: accounts.lancs-x.platform: there is no "
                        "platform 'twitter' — the platforms are: bluesky, facebook, instagram, linkedin, mastodon, x"]
    assert "not ready: 1 error, 0 warnings in 36 plan entries" in summary  # every post still there
    rendered = render_plan(plan)
    assert rendered.drafts and not {d.account for d in rendered.drafts} & {"lancs-x"}
    assert {d.post_id for d in rendered.drafts} >= {"launch-what-is", "signs-nail-bars", "preston-eve"}


def test_a_broken_event_is_one_error_and_the_posts_it_times_are_left_out_silently(tmp_path: Path) -> None:
    """An impossible `start:` for `preston-training` is one error at that line: the three posts timed by it are
    left out without "there is no event 'preston-training' — did you mean 'burnley-training'?" each."""
    plan = bundled_with(tmp_path, "    start: '2027-03-16 10:00'\n", "    start: '2027-03-16 33:00'\n")
    code, problems, summary = validate(plan)
    assert code == 1
    assert problems == [f"{plan}:{line_of(plan, '33:00')}: events.preston-training.start: '33:00' is not a time of "
                        "day — hours run 00-23 and minutes 00-59, e.g. '18:00'"]
    assert "1 error, 0 warnings" in summary
    plan_object, _ = load_plan(plan)
    assert plan_object is not None
    assert not {"preston-eve", "preston-start", "squires-awareness"} & {p.id for p in plan_object.posts}


def test_a_post_whose_only_account_failed_is_left_out_with_its_thread(tmp_path: Path) -> None:
    """An account whose id is not usable is one error; a post naming only it is left out silently, and so are
    the replies hanging from that post — even a reply written above the post it replies to."""
    base = BASE_PLAN.replace("  lancs-mastodon:\n", "  Lancs_Mastodon:\n")
    plan = write_campaign(tmp_path, """\
        - id: reply-two
          accounts: [Lancs_Mastodon]
          text: The second reply
          reply_to: reply-one
          at: '2027-03-15 09:10'
        - id: first
          accounts: [Lancs_Mastodon]
          text: The first post
          at: '2027-03-15 09:00'
        - id: reply-one
          accounts: [Lancs_Mastodon]
          text: The first reply
          reply_to: first
          at: '2027-03-15 09:05'
        - id: elsewhere
          accounts: [lancs-x, Lancs_Mastodon]
          text: Posted on X
          at: '2027-03-15 10:00'
        """, base=base)
    rendered = render_plan(plan)
    assert [(p.line, p.where, p.message) for p in rendered.errors] == [
        (line_of(plan, "Lancs_Mastodon:"), "accounts.Lancs_Mastodon", "'Lancs_Mastodon' is not a usable id")]
    assert [(d.post_id, d.account) for d in rendered.drafts] == [("elsewhere", "lancs-x")]


def test_a_refused_reply_takes_its_own_replies_with_it_silently(tmp_path: Path) -> None:
    """A reply scheduled before the post it replies to is one error; the reply to that reply is left out
    without a second line saying it cannot be scheduled."""
    plan = write_campaign(tmp_path, """\
        - id: first
          accounts: [lancs-x]
          text: First
          at: '2027-03-15 09:00'
        - id: second
          accounts: [lancs-x]
          text: Second
          reply_to: first
          at: '2027-03-15 08:00'
        - id: third
          accounts: [lancs-x]
          text: Third
          reply_to: second
          at: '2027-03-15 10:00'
        """)
    rendered = render_plan(plan)
    assert [(p.where, p.message) for p in rendered.errors] == [
        ("post 'second'", "it replies to 'first' but is not scheduled after it")]
    assert [d.post_id for d in rendered.drafts] == ["first"]


def test_platforms_and_variants_of_a_failed_account_are_not_reported_again(tmp_path: Path) -> None:
    """With the only X account broken, `platforms: [x]` does not also say "the plan has no x account", and an
    `x` variant of a post to `accounts: all` is not a warning that the post goes to no X account."""
    base = BASE_PLAN.replace("    platform: x\n", "    platform: xx\n")
    plan = write_campaign(tmp_path, """\
        - id: on-x
          platforms: [x]
          text: On X
          at: '2027-03-15 09:00'
        - id: everywhere
          accounts: all
          text: Everywhere
          variants: {x: {text: Short for X}}
          at: '2027-03-15 10:00'
        """, base=base)
    _, problems = load_plan(plan)
    assert [(p.severity, p.where, p.message) for p in problems] == [
        ("error", "accounts.lancs-x.platform", "there is no platform 'xx'")]


def test_names_that_were_never_written_are_still_reported(tmp_path: Path) -> None:
    """Only what was written and failed is passed over: an account, event or post that the plan does not have
    at all is still an error, each at its line."""
    plan = write_campaign(tmp_path, """\
        - id: first
          accounts: [lancs-y]
          text: First
          at: '2027-03-15 09:00'
        - id: second
          accounts: [lancs-x]
          text: Second
          event: no-such-event
          at: '+1h'
        - id: third
          accounts: [lancs-x]
          text: Third
          reply_to: no-such-post
          at: '2027-03-15 10:00'
        """)
    _, problems = load_plan(plan)
    assert [(p.line, p.message) for p in problems] == [
        (line_of(plan, "lancs-y"), "there is no account 'lancs-y'"),
        (line_of(plan, "no-such-event"), "there is no event 'no-such-event'"),
        (line_of(plan, "id: third"), "it replies to 'no-such-post', which is not a post in this plan"),
    ]


def test_an_id_used_twice_is_reported_even_when_its_first_post_failed(tmp_path: Path) -> None:
    """Two posts with one id are an error whether or not the first could be loaded; a reply to that id is not
    reported again."""
    plan = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x]
          text: Launch
          at: '2027-03-15 25:00'
        - id: launch
          accounts: [lancs-x]
          text: Launch again
          at: '2027-03-15 09:00'
        - id: reply
          accounts: [lancs-x]
          text: A reply
          reply_to: launch
          at: '2027-03-15 10:00'
        """)
    _, problems = load_plan(plan)
    assert [(p.line, p.message) for p in problems] == [
        (line_of(plan, "25:00"), "'25:00' is not a time of day"),
        (line_of(plan, "Launch again") - 2, "the id 'launch' is used twice (first on line "
         f"{line_of(plan, '25:00') - 3})"),
    ]
