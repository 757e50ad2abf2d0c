"""A Welsh/English pair as people see it: side by side in the HTML preview (drawn by chromium) and on the sign-off
desk (served for real), where one approval signs off both, bound to what the page showed of each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.store import PostState
from tests.browser_fixtures import CHROMIUM
from tests.desk_fixtures import DeskRun, as_form, desk_over, forms_of
from tests.store_fixtures import sqlite_url
from tests.test_bilingual_plans import HELPLINE, bilingual

CAMPAIGN = "test-week"
WELSH, ENGLISH = "helpline/heddlu-x", "helpline/police-x"


@pytest.fixture
def pair_desk(tmp_path: Path) -> Iterator[DeskRun]:
    """The desk over a store holding a Welsh/English plan (all drafts) and one user per role."""
    with desk_over(bilingual(tmp_path / "campaign", HELPLINE), sqlite_url(tmp_path)) as run:
        yield run


def test_the_desk_shows_a_pair_side_by_side_welsh_first_and_approves_both_with_one_button(
        pair_desk: DeskRun) -> None:
    """The English post's page shows its Welsh partner beside it, Welsh first, and says they go together (so does
    the day's page, the two grouped as one); its approve form carries what the page showed of the partner, and one press approves both, each on the record as
    approved by the person who pressed it."""
    approver = pair_desk.signed_in("jo")
    page = approver.get(f"/posts/{ENGLISH}", params={"campaign": CAMPAIGN}).text
    assert 'id="pair"' in page and "Published as a pair" in page
    keys = re.findall(r'<article class="post[^"]*" data-key="([^"]+)"', page)
    assert keys == [WELSH, ENGLISH]
    form = forms_of(page)["approve-form"]
    assert ("seen", f"draft:{pair_desk.store.post(WELSH, CAMPAIGN).content_hash}:{WELSH}") in form["fields"]
    day = approver.get("/days/2027-03-15", params={"campaign": CAMPAIGN}).text
    opening = re.search(r'<div class="pair" role="group" aria-label="([^"]+)">', day)
    assert opening is not None and opening.group(1) == "Published as a pair: Welsh and English, together"
    assert re.findall(r'<article[^>]* data-key="([^"]+)"', day[opening.end():])[:2] == [WELSH, ENGLISH]
    answer = approver.http.post("/approve", data=as_form(form["fields"]))
    assert answer.status_code == 303, answer.text
    for key in (WELSH, ENGLISH):
        post = pair_desk.store.post(key, CAMPAIGN)
        assert (post.state, post.approved_by) == (PostState.APPROVED, "jo"), key


def test_an_approval_that_did_not_see_the_partner_as_it_is_now_approves_nothing(pair_desk: DeskRun) -> None:
    """A form that does not carry the Welsh partner (a page from before the pair, or a hand-made request), or
    carries it as it was before its words changed, is refused with what changed, and neither post is approved."""
    approver = pair_desk.signed_in("jo")
    page = approver.get(f"/posts/{ENGLISH}", params={"campaign": CAMPAIGN}).text
    fields = forms_of(page)["approve-form"]["fields"]
    without_partner = [(name, value) for name, value in fields if name != "seen"]
    answer = approver.http.post("/approve", data=as_form(without_partner))
    assert answer.status_code == 409 and f"paired with {WELSH}, which the page did not show" in answer.text
    pair_desk.reschedule("ddydd a nos.", "ddydd a nos, bob dydd.")
    answer = approver.http.post("/approve", data=as_form(fields))
    assert answer.status_code == 409 and f"{WELSH}: its content changed" in answer.text
    assert {pair_desk.store.post(k, CAMPAIGN).state for k in (WELSH, ENGLISH)} == {PostState.DRAFT}


@pytest.mark.browser
def test_the_preview_draws_a_pair_side_by_side_welsh_on_the_left(tmp_path: Path) -> None:
    """In chromium, at a desktop's width, the Welsh and English posts of a pair sit on one row, Welsh on the left,
    in one group named for both languages; each card's words carry their own language for screen readers, and the
    bilingual post's its first (Welsh)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    plan = bilingual(tmp_path, HELPLINE)
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--html", str(page)])
    assert result.exit_code == 0, result.output
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.goto(page.as_uri())
            group = tab.locator(".pair")
            assert group.count() == 1
            assert group.get_attribute("aria-label") == "Published as a pair: Welsh and English, together"
            welsh = group.locator(f'article[data-key="{WELSH}"]').bounding_box()
            english = group.locator(f'article[data-key="{ENGLISH}"]').bounding_box()
            assert welsh is not None and english is not None
            assert abs(welsh["y"] - english["y"]) < 1 and welsh["x"] + welsh["width"] <= english["x"]
            assert group.locator(f'article[data-key="{WELSH}"] .text').get_attribute("lang") == "cy"
            assert group.locator(f'article[data-key="{ENGLISH}"] .text').get_attribute("lang") == "en"
            both = tab.locator('article[data-key="helpline/police-facebook"] .text')
            assert both.get_attribute("lang") == "cy"
        finally:
            browser.close()


def test_a_pair_rejected_on_the_desk_is_approved_again_from_its_page_with_one_button(pair_desk: DeskRun) -> None:
    """Rejecting the Welsh post rejects its pair; the English post's page then offers "Approve the pair again",
    and pressing it approves both, each on the record as reversing its rejection."""
    approver = pair_desk.signed_in("jo")
    page = approver.get(f"/posts/{WELSH}", params={"campaign": CAMPAIGN}).text
    fields = forms_of(page)["reject-form"]["fields"] + [("reason", "the Welsh needs the translator's check")]
    assert approver.http.post("/reject", data=as_form(fields)).status_code == 303
    assert {pair_desk.store.post(k, CAMPAIGN).state for k in (WELSH, ENGLISH)} == {PostState.REJECTED}
    page = approver.get(f"/posts/{ENGLISH}", params={"campaign": CAMPAIGN}).text
    assert "Approve the pair again (reverses the rejection)" in page
    answer = approver.http.post("/approve", data=as_form(forms_of(page)["approve-form"]["fields"]))
    assert answer.status_code == 303, answer.text
    for key in (WELSH, ENGLISH):
        assert pair_desk.store.post(key, CAMPAIGN).state == PostState.APPROVED, key
        [entry] = [e for e in pair_desk.store.audit(CAMPAIGN, post=key) if e.action == "approved"]
        assert "reverses_rejection" in entry.details
