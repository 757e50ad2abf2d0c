"""Issue #11 end to end, in a real browser: the sign-off desk served for real (uvicorn on a free port, over a
SQLite store) and driven by Playwright through Debian's chromium, the way the people of a team would use it.

The store is made the way the README makes one: ``campaign init`` copies the bundled week, ``campaign users add``
adds an admin, an author, the approver ``jo.reviewer`` and a publisher (these two with desk passwords), and the
author schedules the week from the command line as their own login (and the admin a second, one-post campaign,
so that the desk offers a choice of campaigns). Then, in the browser: the approver signs in
from the keyboard, rejects one post with a reason and approves a whole day; an approval is refused when the post
changed behind the page; the publisher pauses and resumes; what a role does not allow is neither offered nor
accepted; the pages fit a laptop and a phone; and each page names its fields, has one main landmark, a language,
and a visible focus. After every action the store and its audit trail are read back.

One desk and one browser serve the whole module. Each test works on posts (and a day) of its own, so the tests
do not depend on one another's order.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import select

from campaign.cli import main
from campaign.store import PostState, Selection, Store
from campaign.store.models import AuditEntry, Hold, Post
from campaign.store.sql import A
from tests import store_fixtures
from tests.conftest import PLAN_CHECKS_AS_OF
from tests.desk_fixtures import serving
from tests.plan_fixtures import write_campaign

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("desk-browser"),  # one pytest-xdist worker: the module's browser and desk start once
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]

CAMPAIGN = "modern-slavery-week"
OTHER_CAMPAIGN = "test-week"
"""A second campaign of one post, scheduled by the admin after the week."""
PASSWORD = "correct horse battery staple"
ADMIN, AUTHOR, APPROVER, PUBLISHER = "sam", "abe", "jo.reviewer", "pat"
LAPTOP: ViewportSize = {"width": 1366, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

# Each test's own posts and days (the bundled week, Monday 15 to Sunday 21 March 2027).
EDITED = "signs-nail-bars"
"""The plan entry the author rewords (Monday, X and Facebook)."""
EDITED_FROM = "never speak for themselves, or are dropped off and collected at odd hours."
EDITED_TO = "never speak for themselves, or are driven in and out at odd hours."
REJECTED = "week-launch/lancs-x"
"""The post the approver rejects (Monday 09:00)."""
DAY = "2027-03-16"
"""The day the approver approves in full (Tuesday)."""
HELD = "pocket-guide/lancs-x"
"""A post of :data:`DAY` rejected before the day is approved."""
RACED = "signs-massage-parlours/lancs-x"
"""The post changed behind the approver's page (Wednesday)."""
RACED_FROM = "seem to live where they work, are never allowed out alone,"
RACED_TO = "seem to live where they work, are never let out alone,"
UNTOUCHED = "business-start/lancs-x"
"""A draft of Thursday that no test changes (for the pages that are only read)."""


@dataclass
class Desk:
    url: str
    """The desk's base URL."""
    db: str
    """The store's URL, for ``--db``."""
    store: Store
    """The same store, read back by the tests."""
    plan: Path
    """The plan ``campaign init`` copied, which the author edits and schedules."""

    def post(self, key: str) -> Post:
        return self.store.post(key, CAMPAIGN)

    def audit(self, action: str, post: str | None = None) -> list[AuditEntry]:
        """The campaign's trail (and the store's own entries, such as logins), oldest first."""
        with self.store.read_session() as session:
            query = select(AuditEntry).where(A.action == action)
            if post is not None:
                query = query.where(A.post_key == post)
            return list(session.scalars(query.order_by(A.id)))

    def reword(self, old: str, new: str) -> None:
        """Change the plan's words *old* to *new* on disk (as the author would in an editor)."""
        text = self.plan.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        self.plan.write_text(text.replace(old, new), encoding="utf-8")


def campaign_command(*args: str, stdin: str | None = None) -> str:
    """``campaign ARGS`` in-process, as whichever login is stood in for; its output (it must succeed)."""
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, f"campaign {' '.join(args)} → {result.exit_code}: {result.output}"
    return result.output


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The bundled week copied by ``campaign init``, its people added with ``campaign users add`` and the week
    scheduled by its author, each command run as its own login; then the desk served over that store."""
    root = tmp_path_factory.mktemp("desk")
    db = store_fixtures.sqlite_url(root)
    # A module's fixture cannot use the function-scoped ``login_as`` and plan-clock fixtures; this does the same.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("campaign.plan.loader.plan_clock", lambda: PLAN_CHECKS_AS_OF)

        def as_login(login: str, *args: str, stdin: str | None = None) -> str:
            patch.setattr("campaign.people.login_name", lambda: login)
            return campaign_command(*args, stdin=stdin)

        as_login(ADMIN, "init", str(root / "campaign"))
        as_login(ADMIN, "users", "add", ADMIN, "--name", "Sam Comms", "--role", "admin", "--db", db)
        as_login(ADMIN, "users", "add", AUTHOR, "--name", "Abe Author", "--role", "author", "--db", db)
        assert as_login(ADMIN, "users", "add", APPROVER, "--name", "Insp. Jo Reviewer", "--role", "approver",
                        "--email", "jo.reviewer@police.example", "--password-stdin", "--db", db,
                        stdin=PASSWORD + "\n").endswith("desk password set\n")
        as_login(ADMIN, "users", "add", PUBLISHER, "--name", "Pat Publisher", "--role", "publisher",
                 "--password-stdin", "--db", db, stdin=PASSWORD + "\n")
        plan = root / "campaign" / "schedules" / f"{CAMPAIGN}.yaml"
        assert as_login(AUTHOR, "schedule", str(plan), "--db", db).startswith(f"{CAMPAIGN}: 108 added, ")
        # A second campaign, so that the banner has its campaign chooser (it comes after the week by id, so the
        # week stays the campaign each page opens on).
        other = write_campaign(root / "other", """\
            - id: only-post
              accounts: [lancs-x]
              at: '2027-03-16 09:00'
              text: 'Training in Preston today: call {{ phones.police }} with concerns.'
            """)
        assert as_login(ADMIN, "schedule", str(other), "--db", db).startswith(f"{OTHER_CAMPAIGN}: 1 added, ")
    store = Store.open(db)
    try:
        with serving(db) as url:
            yield Desk(url, db, store, plan)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (whose own browsers are never downloaded)."""
    assert CHROMIUM is not None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def laptop(browser: Browser) -> Iterator[BrowserContext]:
    """A browser of its own (cookies and all) at a laptop's size; close it to sign the person out of it."""
    context = browser.new_context(viewport=LAPTOP)
    yield context
    context.close()


def signed_in(context: BrowserContext, desk: Desk, login: str) -> Page:
    """A page of *context* signed in as *login* through the login page, left on the week."""
    page = context.new_page()
    page.goto(desk.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Login", exact=True).fill(login)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".desk-person")).to_contain_text(f"({login}: ")
    return page


def token_of(page: Page) -> str:
    """The session's CSRF token, as the page's forms carry it."""
    value = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert value
    return value


def refusal(page: str) -> str:
    """The sentence of a refusal page, up to its "— ask an admin", with its first letter as the store wrote it
    (the desk as first committed capitalised it, even when the sentence starts with a login)."""
    found = re.search(r'<p class="desk-problem" role="alert" id="message">(.*?) — ', page)
    assert found is not None, page
    sentence = html.unescape(found.group(1))
    return sentence[:1].lower() + sentence[1:]


def details(entry: AuditEntry) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(entry.details)
    return found


# -- 1. the author ---------------------------------------------------------------------------------


def test_the_author_rewords_a_post_and_schedules_it_as_themselves(desk: Desk, login_as: Callable[[str], None],
                                                                  laptop: BrowserContext) -> None:
    """The week copied by ``campaign init`` was scheduled by the author's login: every post's addition is theirs
    on the record. Rewording one plan entry and scheduling again (from the command line, as the author's login)
    changes exactly that entry's two posts — new words, new content hash, back to draft — and the trail records
    it under the author's login; the approver's desk then shows the new words and hash."""
    posts = desk.store.select_posts(Selection(campaign=CAMPAIGN))
    assert len(posts) == 108
    assert sorted(str(e.post_key) for e in desk.audit("added") if e.actor == AUTHOR) == sorted(p.key for p in posts)
    assert desk.audit("schedule")[0].actor == AUTHOR
    keys = [f"{EDITED}/lancs-facebook", f"{EDITED}/lancs-x"]
    before = {key: desk.post(key).content_hash for key in keys}

    desk.reword(EDITED_FROM, EDITED_TO)
    login_as(AUTHOR)
    output = campaign_command("schedule", str(desk.plan), "--db", desk.db)

    assert output.splitlines()[0].startswith(f"{CAMPAIGN}: 0 added, 2 changed (back to draft, approval voided), ")
    assert [line.strip() for line in output.splitlines()[1:]] == [f"changed: {key}" for key in keys]
    for key in keys:
        post = desk.post(key)
        assert "driven in and out at odd hours" in post.text, post.text
        assert post.content_hash != before[key] and post.state == PostState.DRAFT
        [changed] = desk.audit("content_changed", key)
        assert changed.actor == AUTHOR and details(changed)["content_hash"] == post.content_hash
    assert desk.audit("schedule")[-1].actor == AUTHOR

    page = signed_in(laptop, desk, APPROVER)
    page.goto(f"{desk.url}/posts/{EDITED}/lancs-x")
    expect(page.locator("#post-hash")).to_have_text(desk.post(f"{EDITED}/lancs-x").content_hash)
    expect(page.locator("article.post")).to_contain_text("driven in and out at odd hours")


# -- 2 and 3. the approver -------------------------------------------------------------------------


def test_the_approver_signs_in_from_the_keyboard_and_rejects_a_post_with_a_reason(desk: Desk,
                                                                                   laptop: BrowserContext) -> None:
    """From the top of the login page the first Tab reaches the skip link or the first field; the approver signs
    in by keyboard alone (Tab between the labelled fields, Enter on the button), lands on the week, opens a post
    from it and rejects it with a reason. The page, the store and the trail all say it is rejected, why, and by
    ``jo.reviewer``; the page then offers to approve it again, reversing the rejection."""
    page = laptop.new_page()
    page.goto(desk.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.keyboard.press("Tab")
    first = page.evaluate("[document.activeElement.className, document.activeElement.id]")
    assert first in (["skip-link", ""], ["", "login"]), first
    for _ in range(5):
        if page.evaluate("document.activeElement.id") == "login":
            break
        page.keyboard.press("Tab")
    expect(page.get_by_label("Login", exact=True)).to_be_focused()
    page.keyboard.type(APPROVER)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(desk.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of Monday 15 March 2027")
    expect(page.locator(".desk-person")).to_contain_text("Signed in as Insp. Jo Reviewer (jo.reviewer: approver)")
    expect(page.locator("li.tile")).to_have_count(108)
    logins = [e for e in desk.audit("login") if e.actor == APPROVER]
    assert logins and details(logins[-1])["source"] == "127.0.0.1"

    page.locator(f'li.tile[data-key="{REJECTED}"] a').click()
    expect(page.get_by_role("heading", level=1)).to_have_text(REJECTED)
    expect(page.locator("#post-state")).to_have_text("draft")
    reason = "The NCA's name is spelt out in full on Facebook but not here: match them."
    page.get_by_label("Why reject it?").fill(reason)
    page.get_by_role("button", name="Reject", exact=True).click()

    expect(page.locator("#flash")).to_have_text(f"Rejected {REJECTED}: {reason}")
    expect(page.locator("#post-state")).to_have_text("rejected")
    expect(page.get_by_role("button", name="Approve again (reverses the rejection)")).to_be_visible()
    expect(page.locator('tr[data-action="rejected"][data-actor="jo.reviewer"]')).to_contain_text(reason)
    post = desk.post(REJECTED)
    assert post.state == PostState.REJECTED and post.last_error == f"rejected by {APPROVER}: {reason}"
    [rejection] = desk.audit("rejected", REJECTED)
    assert rejection.actor == APPROVER and details(rejection)["reason"] == reason


def test_the_approver_approves_every_draft_of_a_day_and_a_rejected_post_stays_rejected(
        desk: Desk, laptop: BrowserContext) -> None:
    """A day opened from the week offers "Approve all N drafts of this day", N counting drafts only. Pressing it
    approves exactly those drafts, each under ``jo.reviewer`` and bound to its content hash, while the day's
    rejected post stays rejected with its reason (no approval of it on the record); afterwards the day offers no
    approval."""
    reason = "The pocket guide's link is not live yet."
    desk.store.reject(HELD, desk.store.person(APPROVER), reason, CAMPAIGN)
    posts = desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY))
    drafts = sorted(p.key for p in posts if p.state == PostState.DRAFT)
    assert len(drafts) == len(posts) - 1 == 17

    page = signed_in(laptop, desk, APPROVER)
    page.get_by_role("link", name="Tue 16 Mar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tuesday 16 March 2027")
    expect(page.locator("#day-summary")).to_have_text("18 posts on this day, 17 of them drafts.")
    page.get_by_role("button", name="Approve all 17 drafts of this day").click()

    expect(page.locator("#flash")).to_have_text("Approved 17 drafts of Tuesday 16 March 2027.")
    expect(page.locator("#approve-day-form")).to_have_count(0)
    for post in desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY)):
        if post.key == HELD:
            assert post.state == PostState.REJECTED and post.last_error == f"rejected by {APPROVER}: {reason}"
            assert post.approved_by is None
        else:
            assert post.state == PostState.APPROVED, post.key
            assert (post.approved_by, post.approved_hash) == (APPROVER, post.content_hash), post.key
    approvals = [e for e in desk.audit("approved") if e.post_key in {p.key for p in posts}]
    assert sorted(str(e.post_key) for e in approvals) == drafts
    assert {e.actor for e in approvals} == {APPROVER}


def test_an_approval_is_refused_when_the_post_changed_behind_the_page(desk: Desk, login_as: Callable[[str], None],
                                                                       laptop: BrowserContext) -> None:
    """The approver opens a post; before they press Approve, the author rewords it and schedules the plan again.
    The desk refuses (409): nothing is approved, and the page says the content changed, with the hash they saw
    and the hash now, and shows the new words; the store holds the post as an unapproved draft."""
    page = signed_in(laptop, desk, APPROVER)
    page.goto(f"{desk.url}/posts/{RACED}")
    seen = desk.post(RACED).content_hash
    expect(page.locator("#post-hash")).to_have_text(seen)

    desk.reword(RACED_FROM, RACED_TO)
    login_as(AUTHOR)
    assert "  changed: " + RACED in campaign_command("schedule", str(desk.plan), "--db", desk.db)
    now = desk.post(RACED).content_hash
    assert now != seen

    with page.expect_response(lambda answer: answer.url == desk.url + "/approve") as answered:
        page.get_by_role("button", name="Approve", exact=True).click()
    assert answered.value.status == 409
    expect(page.locator("#problem")).to_contain_text("Not approved: the post changed since you loaded the page.")
    expect(page.locator("#changes li")).to_have_text(
        [f"{RACED}: its content changed — you saw content {seen[:12]}, it is now {now[:12]}"])
    expect(page.locator("#post-hash")).to_have_text(now)
    expect(page.locator("article.post")).to_contain_text("never let out alone")
    post = desk.post(RACED)
    assert (post.state, post.approved_by, post.approved_hash) == (PostState.DRAFT, None, None)
    assert desk.audit("approved", RACED) == []


# -- 5. the publisher ------------------------------------------------------------------------------


def test_the_publisher_pauses_with_a_reason_and_resumes(desk: Desk, browser: Browser) -> None:
    """The publisher, in a browser of their own, pauses every account from the status page with a reason: the
    page shows the pause, the store holds it (by ``pat``, with the reason) and the trail records it. Resuming
    releases it: the page says which pause was released and that no post was missed, the store has no active
    pause and the hold names who released it, and the trail records the resumption."""
    context = browser.new_context(viewport=LAPTOP)
    try:
        page = signed_in(context, desk, PUBLISHER)
        page.get_by_role("navigation", name="Desk").get_by_role("link", name="Status").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Status of Modern slavery week of action")
        expect(page.locator("#no-pauses")).to_be_visible()
        expect(page.get_by_label("What to pause")).to_have_value("")  # every account of the campaign
        reason = "Critical incident in Preston: hold all scheduled posts"
        page.get_by_label("Why?").fill(reason)
        page.get_by_role("button", name="Pause", exact=True).click()

        expect(page.locator("#flash")).to_contain_text(f"Paused every account of {CAMPAIGN}: nothing more will be "
                                                       "published by this campaign until it is resumed.")
        expect(page.locator("#holds li.hold")).to_contain_text(f"by {PUBLISHER}: {reason}")
        [hold] = desk.store.active_holds(CAMPAIGN)
        assert (hold.campaign_id, hold.account, hold.reason, hold.created_by) == (CAMPAIGN, None, reason, PUBLISHER)
        [paused] = desk.audit("paused")
        assert paused.actor == PUBLISHER and details(paused)["reason"] == reason

        page.get_by_role("button", name="Resume every account").click()
        expect(page.locator("#resumed")).to_contain_text("Released 1 pause:")
        expect(page.locator("#resumed li")).to_have_text([f"every account — paused by {PUBLISHER}: {reason}"])
        expect(page.locator("#missed-during-pause")).to_have_text("No post was missed during the pause.")
        expect(page.locator("#no-pauses")).to_be_visible()
        assert desk.store.active_holds(CAMPAIGN) == []
        with desk.store.read_session() as session:
            released = session.get(Hold, hold.id)
            assert released is not None and released.released_by == PUBLISHER
        [resumed] = desk.audit("resumed")
        assert resumed.actor == PUBLISHER and details(resumed)["hold"] == hold.id
    finally:
        context.close()


# -- 6. what a role does not allow -----------------------------------------------------------------


def test_what_a_role_does_not_allow_is_neither_offered_nor_accepted(desk: Desk, browser: Browser) -> None:
    """The approver's status page has no Pause (or Resume), and a pause posted from their session anyway, with
    its valid security token, is refused with 403 and a sentence naming the role it needs; the publisher's post
    page offers no Approve or Reject, their day page no "Approve all", and an approval posted from their session
    anyway is refused the same way. The store and the trail show nothing happened."""
    approver = browser.new_context(viewport=LAPTOP)
    publisher = browser.new_context(viewport=LAPTOP)
    try:
        page = signed_in(approver, desk, APPROVER)
        page.goto(f"{desk.url}/status")
        expect(page.get_by_role("heading", name="Pauses")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^(Pause|Resume)"))).to_have_count(0)
        expect(page.locator("form[action='/pause'], form[action='/resume']")).to_have_count(0)
        answer = page.request.post(f"{desk.url}/pause", form={"csrf_token": token_of(page), "campaign": CAMPAIGN,
                                                               "account": "", "reason": "Just checking"})
        assert answer.status == 403
        needs = "that needs the role admin or publisher"
        assert refusal(answer.text()) == f"{APPROVER} (approver) may not pause: {needs}"
        assert desk.store.active_holds(CAMPAIGN) == []
        assert [e for e in desk.audit("paused") if e.actor == APPROVER] == []

        page = signed_in(publisher, desk, PUBLISHER)
        page.goto(f"{desk.url}/posts/{UNTOUCHED}")
        expect(page.get_by_role("heading", level=1)).to_have_text(UNTOUCHED)
        expect(page.get_by_role("heading", name="Sign off")).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile(r"^(Approve|Reject)"))).to_have_count(0)
        page.goto(f"{desk.url}/days/2027-03-18")
        expect(page.get_by_role("button", name=re.compile(r"^Approve all"))).to_have_count(0)
        post = desk.post(UNTOUCHED)
        answer = page.request.post(f"{desk.url}/approve", form={
            "csrf_token": token_of(page), "campaign": CAMPAIGN, "key": UNTOUCHED, "hash": post.content_hash,
            "state": str(post.state)})
        assert answer.status == 403
        needs = "that needs the role admin or approver"
        assert refusal(answer.text()) == f"{PUBLISHER} (publisher) may not approve: {needs}"
        after = desk.post(UNTOUCHED)
        assert (after.state, after.approved_by) == (PostState.DRAFT, None)
        assert desk.audit("approved", UNTOUCHED) == []
    finally:
        approver.close()
        publisher.close()


# -- 7. a laptop and a phone -----------------------------------------------------------------------


BROKEN_WORDS = """() => {
    const limit = window.innerWidth - 32, found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || !parent.getClientRects().length) continue;
        let hidden = false;
        for (let up = parent; up; up = up.parentElement) hidden ||= up.getBoundingClientRect().width <= 1;
        if (hidden) continue;  // for screen readers only (the trail's column headings on a phone)
        for (const word of node.data.matchAll(/[^\\s\\-\\/@·,:;()]+/g)) {
            const range = document.createRange();
            range.setStart(node, word.index);
            range.setEnd(node, word.index + word[0].length);
            const rects = [...range.getClientRects()].filter(rect => rect.width > 0);
            const width = rects.reduce((sum, rect) => sum + rect.width, 0);
            if (new Set(rects.map(rect => Math.round(rect.top))).size > 1 && word[0].length < 20 && width <= limit)
                found.push(`${parent.tagName.toLowerCase()} ${JSON.stringify(word[0])}`);
        }
    }
    return found;
}"""
"""The words of the page broken across lines although they would fit on a line of the screen (less 32 pixels): a
word is what lies between spaces, hyphens, slashes, @ and punctuation, and is shorter than 20 characters, so a
post's key, a content hash or a URL may still break where its box needs it to."""


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["1366x900", "390x844"])
def test_every_page_fits_a_laptop_and_a_phone_without_breaking_a_word(desk: Desk, browser: Browser,
                                                                      tmp_path: Path, size: ViewportSize) -> None:
    """At 1366×900 and at 390×844 the week, a post with its image, the audit trail, the engagement report (the
    approver's) and the status page (the publisher's, with its pause form), each under the banner with its
    campaign chooser, are no wider than the screen, and break no word that would fit on a line (the chooser's
    "Campaign" and "Open" once wrapped letter by letter on a phone, and the report's banner ran 29 pixels off
    it); a screenshot of each is taken (under the test's tmp_path). The week is a column per day on the laptop,
    all seven side by side, and one column on the phone."""
    width, height = size["width"], size["height"]
    pages = {"approver": ["/", f"/posts/{HELD}", "/audit", "/report"], "publisher": ["/status"]}
    logins = {"approver": APPROVER, "publisher": PUBLISHER}
    for who, paths in pages.items():
        context = browser.new_context(viewport=size)
        try:
            page = signed_in(context, desk, logins[who])
            for path in paths:
                page.goto(desk.url + path)
                name = {"/": "week", "/status": "status", "/audit": "audit", "/report": "report"}.get(path, "post")
                expect(page.locator("#campaign-chooser"), f"{path}: the campaign chooser").to_be_visible()
                shot = tmp_path / f"{name}-{width}x{height}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
                scroll_width, inner_width = page.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]")
                assert inner_width == width
                assert scroll_width <= inner_width, f"{path} at {width}px scrolls sideways: {scroll_width}px wide"
                assert page.evaluate(BROKEN_WORDS) == [], f"{path} at {width}px breaks words"
                if name == "week":
                    lefts = page.locator("section.week-day").evaluate_all(
                        "days => days.map(day => Math.round(day.getBoundingClientRect().left))")
                    assert len(lefts) == 7
                    assert len(set(lefts)) == (7 if width == LAPTOP["width"] else 1), lefts
                if name == "post":
                    image = page.locator("article.post").get_by_role("img").first
                    expect(image).to_be_visible()
                    assert image.evaluate("image => image.complete && image.naturalWidth > 0"), "no image drawn"
        finally:
            context.close()


# -- 8. accessibility ------------------------------------------------------------------------------


FIELDS = "input:not([type=hidden]), select, textarea, button"
LAST_STOP = 60
"""Tab stops followed from the top of a page, at most (the week has a link per post after its filters)."""
FOCUS = """selector => {
    const element = document.activeElement, style = getComputedStyle(element);
    const fields = [...document.querySelectorAll(`main :is(${selector})`)];
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    return {tag: element.tagName, name: (element.id || element.textContent || "").trim().slice(0, 40),
            field: fields.indexOf(element), fields: fields.length, visible: outline || style.boxShadow !== "none"};
}"""
"""Where the focus is (which of the main content's fields, if one) and whether it shows."""


def check_page(page: Page, where: str) -> None:
    """One page's basic accessibility, *page* being just loaded: a language, one main landmark and one h1, an
    accessible name on every field and button, every field and button of the main content reached by Tab from
    the top, and a visible focus (an outline or a shadow) on every tab stop on the way."""
    assert re.fullmatch(r"[a-z]{2,3}(-[A-Z]{2})?", page.locator("html").get_attribute("lang") or ""), where
    assert page.title().strip(), where
    expect(page.get_by_role("main"), where).to_have_count(1)
    expect(page.locator("main"), where).to_have_count(1)
    expect(page.locator("h1"), where).to_have_count(1)
    fields = page.locator(FIELDS)
    assert fields.count() > 0, where
    for index in range(fields.count()):
        expect(fields.nth(index), f"{where}: field {index}").to_have_accessible_name(re.compile(r"\w"))
    reached: set[int] = set()
    for stop in range(LAST_STOP):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS, FIELDS)
        if stop == 0:
            assert focus["name"] == "Skip to the main content", f"{where}: the first tab stop is {focus}"
        if focus["tag"] == "BODY":  # past the last tab stop
            break
        assert focus["visible"], f"{where}: tab stop {stop} ({focus['tag']} {focus['name']!r}) shows no focus"
        if focus["field"] >= 0:
            reached.add(focus["field"])
        if len(reached) == focus["fields"]:
            break
    fields_in_main = focus["fields"]
    assert reached == set(range(fields_in_main)), f"{where}: Tab reached {sorted(reached)} of {fields_in_main} fields"


def test_every_page_names_its_fields_has_one_main_a_language_and_a_visible_focus(desk: Desk,
                                                                                  browser: Browser) -> None:
    """The login page, and as the approver the week, a draft's page (approve and reject forms), a day (its
    approval form), the audit trail (its filters), and as the publisher the status page (its pause form): each
    has ``lang`` on ``<html>``, exactly one ``<main>`` and one ``<h1>``, an accessible name on every input,
    select, textarea and button, the first tab stop the skip link, every field and button of the main content
    reached by Tab, and a visible focus ring on every tab stop on the way there."""
    contexts = {who: browser.new_context(viewport=LAPTOP) for who in ("nobody", APPROVER, PUBLISHER)}
    try:
        page = contexts["nobody"].new_page()
        page.goto(desk.url + "/login")
        check_page(page, "/login")
        for who, paths in ((APPROVER, ["/", f"/posts/{UNTOUCHED}", "/days/2027-03-18", "/audit"]),
                           (PUBLISHER, ["/status"])):
            page = signed_in(contexts[who], desk, who)
            for path in paths:
                page.goto(desk.url + path)
                check_page(page, f"{path} as {who}")
    finally:
        for context in contexts.values():
            context.close()
