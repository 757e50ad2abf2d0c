"""The bundled Welsh/English week (schedules/modern-slavery-week-cymraeg.yaml) stays a plan a force in Wales could
follow: it validates, Welsh comes first wherever both languages are posted, the English posts on the paired X
accounts follow their Welsh ones, both languages give the same numbers, and a rehearsal publishes all of it."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.example import example_root
from campaign.plan.loader import BEFORE_EVERY_PLAN
from campaign.publishing.rehearsal import rehearsal
from campaign.render import Draft, RenderedPlan, render_plan
from campaign.store import PostState

PLAN = example_root() / "schedules" / "modern-slavery-week-cymraeg.yaml"
WELSH_X, ENGLISH_X = "heddlu-x", "example-x"
BILINGUAL = ("heddlu-facebook", "heddlu-mastodon")
WELSH_TAG, ENGLISH_TAG = "#CaethwasiaethFodern", "#ModernSlavery"
HELPLINE = "08000 121 700"


def rendered() -> RenderedPlan:
    """The plan rendered as if its week were still to come (so no post's time has passed, whenever this runs)."""
    result = render_plan(PLAN, now=BEFORE_EVERY_PLAN)
    assert result.plan is not None and result.ok, [str(p) for p in result.problems]
    return result


def by_post(drafts: tuple[Draft, ...]) -> dict[str, dict[str, Draft]]:
    """Each post's drafts, by account."""
    posts: dict[str, dict[str, Draft]] = defaultdict(dict)
    for draft in drafts:
        posts[draft.post_id][draft.account] = draft
    return posts


def numbers_in(text: str, numbers: list[str]) -> set[str]:
    return {n for n in numbers if re.search(rf"(?<!\d){re.escape(n)}(?!\d)", text)}


def test_the_welsh_english_week_validates_with_no_errors() -> None:
    """`campaign validate` passes the plan: 0 errors in its 12 entries, 36 posts, exit 0; and with its week still
    to come it has no warnings either (a warning here would only be a post whose time has passed)."""
    result = CliRunner().invoke(main, ["validate", str(PLAN)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert re.fullmatch(rf"{re.escape(str(PLAN))}: ok: 0 errors, \d+ warnings? in 12 plan entries "
                        r"\(36 posts to publish\)\n", result.output), result.output
    assert rendered().warnings == []


def test_every_post_is_in_welsh_or_says_why_not() -> None:
    """Every entry of the plan has Welsh words or a `without: {cy: …}` reason that says something; the one entry
    without Welsh (questions-en) goes only to the English X account, and the plan has an entry of each kind
    (one without English, too)."""
    plan = rendered().plan
    assert plan is not None and plan.campaign.languages == ("cy", "en")
    without_welsh = []
    for post in plan.posts:
        if "cy" not in post.words:
            assert len(post.without.get("cy", "").split()) >= 5, post.id
            without_welsh.append(post.id)
    assert without_welsh == ["questions-en"]
    assert [post.id for post in plan.posts if "en" not in post.words] == ["holi-ac-ateb"]
    drafts = by_post(rendered().drafts)
    assert list(drafts["questions-en"]) == [ENGLISH_X]
    assert list(drafts["holi-ac-ateb"]) == [WELSH_X]


def test_on_the_bilingual_accounts_the_welsh_comes_before_the_english() -> None:
    """Each Facebook and Mastodon draft is in Welsh then English: its language names Welsh first, it opens with
    the Welsh words (the opening the Welsh X post has) and the English opening comes after them; where hashtags
    are added, the Welsh block ends with the Welsh hashtag and the whole post with the English one."""
    checked = 0
    for post_id, drafts in by_post(rendered().drafts).items():
        for account in BILINGUAL:
            if account not in drafts:
                continue
            text = drafts[account].text
            welsh_opening = drafts[WELSH_X].text.split("\n\n")[0]
            english_opening = drafts[ENGLISH_X].text.split("\n\n")[0]
            assert drafts[account].language.split(",")[0] == "cy", (post_id, account)
            assert text.startswith(welsh_opening + "\n\n"), (post_id, account)
            assert text.index(english_opening) > len(welsh_opening), (post_id, account)
            if WELSH_TAG in text:
                assert text.index(WELSH_TAG) < text.index(english_opening) and text.endswith(ENGLISH_TAG)
            checked += 1
    assert checked == 14


def test_each_english_post_on_the_paired_x_accounts_follows_its_welsh_one() -> None:
    """Every English draft on @ExamplePolice of a post written in Welsh follows (`follows`) that post's draft on
    @HeddluEsiampl, which is in Welsh and follows nothing itself; the English-only post follows nothing."""
    pairs = 0
    for post_id, drafts in by_post(rendered().drafts).items():
        if WELSH_X in drafts:
            assert drafts[WELSH_X].language == "cy" and drafts[WELSH_X].follows is None
        if ENGLISH_X not in drafts:
            continue
        english = drafts[ENGLISH_X]
        assert english.language == "en"
        if WELSH_X in drafts:
            assert english.follows == drafts[WELSH_X].key == f"{post_id}/{WELSH_X}"
            pairs += 1
        else:
            assert english.follows is None, post_id
    assert pairs == 10


def test_both_languages_give_the_same_helpline_and_numbers() -> None:
    """Wherever the Welsh gives the Modern Slavery & Exploitation Helpline, or any verified number, the English
    gives the same, exactly as written in `facts.phones` (08000 121 700): on the paired X accounts, and in the
    Welsh and English halves of each bilingual post."""
    plan = rendered().plan
    assert plan is not None and plan.phones["helpline"].number == HELPLINE
    numbers = [phone.number for phone in plan.phones.values()]
    with_helpline = 0
    for post_id, drafts in by_post(rendered().drafts).items():
        if WELSH_X in drafts and ENGLISH_X in drafts:
            welsh, english = drafts[WELSH_X].text, drafts[ENGLISH_X].text
            assert numbers_in(welsh, numbers) == numbers_in(english, numbers), post_id
            with_helpline += HELPLINE in welsh
        for account in BILINGUAL:
            if account in drafts and ENGLISH_X in drafts:
                text = drafts[account].text
                middle = text.index(drafts[ENGLISH_X].text.split("\n\n")[0])
                assert numbers_in(text[:middle], numbers) == numbers_in(text[middle:], numbers), (post_id, account)
                assert text[:middle].count(HELPLINE) == text[middle:].count(HELPLINE), (post_id, account)
                with_helpline += HELPLINE in text[:middle]
    assert with_helpline >= 5  # the helpline is given in many posts, not only in one


@pytest.mark.slow
def test_a_rehearsal_publishes_every_post() -> None:
    """`campaign rehearse` plays the whole week against the sandbox (at 200,000x, a few seconds): all 36 posts
    are published, none failed or missed, and the command exits 0."""
    result = CliRunner().invoke(main, ["rehearse", str(PLAN), "--speed", "200000"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.split()}
    assert rows["total"] == ["36", "0", "0"]
    assert rows["x"] == ["22", "0", "0"] and rows["facebook"] == ["8", "0", "0"]
    assert rows["mastodon"] == ["6", "0", "0"]


@pytest.mark.slow
def test_in_a_rehearsal_each_english_post_goes_out_after_its_welsh_one(tmp_path: Path) -> None:
    """Played through the runner and the store, every post is published, and each English post of the X pair
    reaches X after its Welsh partner was published, never before it."""
    with rehearsal(PLAN, speed=200_000, workdir=tmp_path) as run:
        assert run.run(timeout=120).totals == {"published": 36}
        posts = {post.key: post for post in run.store.posts_in(list(PostState), run.campaign)}
    followers = [post for post in posts.values() if post.follows is not None]
    assert len(followers) == 10
    for post in followers:
        assert post.follows is not None
        lead = posts[post.follows]
        assert lead.account == WELSH_X and post.account == ENGLISH_X
        assert lead.published_at is not None and post.published_at is not None
        assert _utc(post.published_at) > _utc(lead.published_at), post.key


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
