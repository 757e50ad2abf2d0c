"""What the desk's pages show, read over HTTP from the desk served for real: posts exactly as the HTML preview
draws them, their warnings and images, the week, the campaigns a person may choose, the status after a pause,
the engagement report, and where a person lands after signing in."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from markupsafe import escape

from campaign.preview_html import html_preview
from campaign.render import render_plan
from campaign.store import PostState, Selection
from tests import desk_fixtures
from tests.desk_fixtures import CAMPAIGN, PASSWORD, DeskRun
from tests.plan_fixtures import BASE_PLAN, write_campaign

sqlite_desk = desk_fixtures.sqlite_desk

REPLY = "launch-what-is/lancs-x"
WITH_IMAGE = "helpline-daily@2027-03-15/lancs-x"
WEEK = "2027-03-15"


def article(page: str, key: str) -> str:
    found = re.search(rf'<article class="post[^"]*" data-key="{re.escape(key)}".*?</article>', page, flags=re.DOTALL)
    assert found is not None, key
    return found.group(0)


def without_state(card: str) -> str:
    """A desk card less what only a stored post has: its state."""
    card = re.sub(r' data-state="[^"]*"', "", card)
    return re.sub(r'<span class="state state-[^"]*">.*?</span>', "", card, flags=re.DOTALL)


# -- posts -----------------------------------------------------------------------------------------


def test_a_post_on_the_desk_is_the_html_previews_card(sqlite_desk: DeskRun) -> None:
    """A post's card on the desk is the HTML preview's card for the same draft, character for character (the
    words, the reply's parent quoted, counts against the limit, language, hashtags, content hash, data-key and
    data-hash), plus the state the store knows; an image is the same figure with its alt text, drawn from a URL
    instead of an inlined symbol."""
    desk = sqlite_desk
    rendered = render_plan(desk.plan)
    drafts = {d.key: d for d in rendered.drafts}
    preview = html_preview(rendered, [drafts[REPLY], drafts[WITH_IMAGE]])
    ada = desk.signed_in("ada")

    page = ada.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text
    card = article(page, REPLY)
    assert 'data-state="draft"' in card and "Replying to <strong>@LancsPolice</strong>" in card
    assert without_state(card) == article(preview, REPLY)

    page = ada.get(f"/posts/{WITH_IMAGE}", params={"campaign": CAMPAIGN}).text
    desk_card, preview_card = without_state(article(page, WITH_IMAGE)), article(preview, WITH_IMAGE)
    figure = re.compile(r"<figure>.*?</figure>", flags=re.DOTALL)
    assert figure.sub("", desk_card) == figure.sub("", preview_card)
    alt = drafts[WITH_IMAGE].images[0].alt
    shown = str(escape(alt))
    assert f'alt="{shown}"' in desk_card and f'Alt text: <span lang="en-GB">{shown}</span>' in desk_card


def test_a_posts_image_is_served_only_from_inside_the_campaign_folder_and_only_as_scheduled(
        sqlite_desk: DeskRun, tmp_path: Path) -> None:
    """The card's image URL answers the image's bytes, whose SHA-256 is the stored one; once the file changes,
    or is replaced by a symlink leading outside the campaign folder (even to the same bytes), it answers 404.
    A person whose work does not cover the post's account gets 403."""
    desk = sqlite_desk
    ada = desk.signed_in("ada")
    page = ada.get(f"/posts/{WITH_IMAGE}", params={"campaign": CAMPAIGN}).text
    source = re.search(r'<img src="([^"]+)"', article(page, WITH_IMAGE))
    assert source is not None
    url = source.group(1).replace("&amp;", "&")
    answer = ada.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert hashlib.sha256(answer.content).hexdigest() == urlsplit(url).path.rsplit("/", 1)[1]

    assert desk.signed_in("xena").get(url.replace("lancs-x", "lancs-facebook")).status_code == 403
    image = desk.plan.parent / "images" / "helpline.png"
    outside = tmp_path / "outside.png"
    shutil.copyfile(image, outside)
    image.unlink()
    image.symlink_to(outside)
    assert ada.get(url).status_code == 404
    image.unlink()
    image.write_bytes(outside.read_bytes() + b"changed")
    assert ada.get(url).status_code == 404


def test_a_posts_warnings_come_from_the_plan_until_the_plan_changes(sqlite_desk: DeskRun) -> None:
    """The card shows the warnings the plan's draft of the same content has (a hashtag screen readers cannot
    read); once the plan file no longer makes that content, the card says the plan has changed since it was
    scheduled instead."""
    desk = sqlite_desk
    desk.reschedule("What is modern slavery?", "What is #modernslavery?")
    ada = desk.signed_in("ada")
    card = article(ada.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text, REPLY)
    assert re.search(r'<li class="warning">warning: [^<]*#modernslavery', card)
    assert "the plan has changed" not in card
    desk.plan.write_text(desk.plan.read_text(encoding="utf-8").replace("#modernslavery", "#ModernSlavery"),
                         encoding="utf-8")
    card = article(ada.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text, REPLY)
    assert "the plan has changed since this was scheduled" in card


def test_a_rejected_post_offers_to_approve_it_again_and_the_record_says_it_reverses_the_rejection(
        sqlite_desk: DeskRun) -> None:
    """A rejected post's page shows what to do and a button "Approve again (reverses the rejection)"; pressing
    it approves the post, and the audit says which rejection it reversed."""
    desk = sqlite_desk
    desk.store.reject(REPLY, desk.store.person("ada"), "Wait for the press office", CAMPAIGN)
    jo = desk.signed_in("jo")
    page = jo.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text
    assert "Approve again (reverses the rejection)" in page and 'id="way-forward"' in page
    assert jo.submit("approve-form").status_code == 303
    assert desk.post(REPLY).state == PostState.APPROVED
    assert "Wait for the press office" in desk.audit("approved")[-1].details
    assert "the rejection is reversed" in jo.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text


# -- the week and the campaigns --------------------------------------------------------------------


def tiles(page: str) -> list[tuple[str, str, str]]:
    """(key, state, platform) of every post tile of the week."""
    return re.findall(r'<li class="tile [^"]*" data-key="([^"]+)" data-state="([^"]+)" data-platform="([^"]+)"', page)


def test_the_week_shows_a_tile_per_post_by_day_and_filters_by_platform_account_and_state(
        sqlite_desk: DeskRun) -> None:
    """The week page has a column per day, Monday to Sunday, and a tile per post (its key in data-key, its
    state and platform), each linking to the post; the filters narrow it to a platform, an account or a state."""
    desk = sqlite_desk
    desk.store.approve(Selection(campaign=CAMPAIGN, posts=(REPLY,)), desk.store.person("jo"))
    ada = desk.signed_in("ada")
    page = ada.get("/", params={"campaign": CAMPAIGN, "week": WEEK}).text
    days = re.findall(r'<h2 id="day-(\d{4}-\d\d-\d\d)">', page)
    assert days == [f"2027-03-{day}" for day in range(15, 22)]
    everything = tiles(page)
    assert len(everything) == len(desk.store.select_posts(Selection(campaign=CAMPAIGN))) == 108
    assert f'href="/posts/{REPLY}?campaign={CAMPAIGN}"' in page
    x_only = tiles(ada.get("/", params={"campaign": CAMPAIGN, "week": WEEK, "platform": "x"}).text)
    assert x_only and {p for _, _, p in x_only} == {"x"}
    facebook = tiles(ada.get("/", params={"campaign": CAMPAIGN, "week": WEEK, "account": "lancs-facebook"}).text)
    assert facebook and all(key.endswith("/lancs-facebook") for key, _, _ in facebook)
    approved = tiles(ada.get("/", params={"campaign": CAMPAIGN, "week": WEEK, "state": "approved"}).text)
    assert approved == [(REPLY, "approved", "x")]
    following = ada.get("/", params={"campaign": CAMPAIGN, "week": "2027-03-22"}).text
    assert not tiles(following) and "Week of Monday 22 March 2027" in following


def test_a_person_limited_to_one_account_sees_only_its_posts(sqlite_desk: DeskRun) -> None:
    """The week, a day and the status show a person limited to lancs-x only lancs-x's posts; its other posts'
    pages answer 403, and so does the engagement report, which covers every account."""
    xena = sqlite_desk.signed_in("xena")
    week = tiles(xena.get("/", params={"campaign": CAMPAIGN, "week": WEEK}).text)
    assert week and all(key.endswith("/lancs-x") for key, _, _ in week)
    day = xena.get(f"/days/{WEEK}", params={"campaign": CAMPAIGN}).text
    assert set(re.findall(r'data-key="([^"]+)"', day)) <= {k for k, _, _ in week}
    assert xena.get("/posts/week-launch/lancs-facebook", params={"campaign": CAMPAIGN}).status_code == 403
    status = xena.get("/status", params={"campaign": CAMPAIGN}).text
    counts = re.search(r'<ul class="desk-counts" id="counts">(.*?)</ul>', status, flags=re.DOTALL)
    assert counts is not None and re.sub(r"<[^>]+>", "", counts.group(1)).split() == ["draft", str(len(week))]
    assert xena.get("/report", params={"campaign": CAMPAIGN}).status_code == 403


def test_several_campaigns_one_store_a_chooser_limited_to_the_persons_campaigns(sqlite_desk: DeskRun,
                                                                                  tmp_path: Path) -> None:
    """With two campaigns in the store, a person whose work covers both gets a chooser and can open either; a
    person limited to one gets no chooser and 403 on the other."""
    desk = sqlite_desk
    other = write_campaign(tmp_path / "other", """\
        - id: only-post
          accounts: [lancs-x]
          at: '2027-03-16 09:00'
          text: 'Training in Preston today: call {{ phones.police }} with concerns.'
        """, base=BASE_PLAN)
    desk.store.schedule(render_plan(other), "test-setup")
    desk.store.add_user("test-setup", "mo", "Mo, modern slavery week only", ["approver"], password=PASSWORD,
                        campaigns=[CAMPAIGN])
    ada = desk.signed_in("ada")
    page = ada.get("/", params={"campaign": "test-week", "week": WEEK}).text
    assert 'id="campaign-chooser"' in page
    assert re.findall(r'<option value="([^"]+)"', page.split('id="campaign-chooser"', 1)[1].split("</select>")[0]) \
        == [CAMPAIGN, "test-week"]
    assert [key for key, _, _ in tiles(page)] == ["only-post/lancs-x"]
    mo = desk.signed_in("mo")
    own = mo.get("/", params={"week": WEEK}).text
    assert 'id="campaign-chooser"' not in own and len(tiles(own)) == 108
    refused = mo.get("/", params={"campaign": "test-week"})
    assert refused.status_code == 403 and "mo may not view campaign 'test-week'" in html.unescape(refused.text)


# -- status, report, signing in --------------------------------------------------------------------


def test_resuming_lists_the_posts_missed_during_the_pause_and_what_to_do(sqlite_desk: DeskRun,
                                                                         tmp_path: Path) -> None:
    """A publisher who resumes a pause sees the pauses released and the posts whose time and grace window
    passed during it, each linked, with what to do (a new time with `campaign retry --at`)."""
    desk = sqlite_desk
    yesterday = datetime.now(UTC) - timedelta(days=1)
    base = BASE_PLAN.replace("starts: 2027-03-15", f"starts: {yesterday - timedelta(days=1):%Y-%m-%d}") \
                    .replace("ends: 2027-03-21", f"ends: {yesterday + timedelta(days=3):%Y-%m-%d}")
    plan = write_campaign(tmp_path / "recent", f"""\
        - id: yesterday
          accounts: [lancs-x]
          at: '{yesterday:%Y-%m-%d} 12:00'
          text: 'Training in Preston today: call {{{{ phones.police }}}} with concerns.'
        """, base=base)
    desk.store.schedule(render_plan(plan), "test-setup")
    desk.store.approve(Selection(campaign="test-week", posts=("yesterday/lancs-x",)), "test-setup")
    desk.store.pause("Critical incident", "test-setup", "test-week", now=yesterday - timedelta(days=1))

    pat = desk.signed_in("pat")
    pat.get("/status", params={"campaign": "test-week"})
    answer = pat.submit("resume-form-campaign")
    assert answer.status_code == 200
    assert "Released 1 pause" in answer.text
    assert "1 post was missed during the pause" in answer.text and "campaign retry POST --at" in answer.text
    assert 'data-key="yesterday/lancs-x"' in answer.text
    assert desk.store.post("yesterday/lancs-x", "test-week").state == PostState.MISSED
    assert not desk.store.active_holds("test-week")


def test_the_engagement_report_is_shown_inside_the_desk_with_its_styles_allowed_by_hash(
        sqlite_desk: DeskRun) -> None:
    """/report is `campaign report`'s page with the desk's banner; its inline styles are allowed by their
    SHA-256 in that page's Content-Security-Policy (never 'unsafe-inline'), its charts as data: images."""
    ann = sqlite_desk.signed_in("ann")
    answer = ann.get("/report", params={"campaign": CAMPAIGN})
    assert answer.status_code == 200
    assert 'class="desk-bar"' in answer.text and 'id="main"' in answer.text and "Engagement report" in answer.text
    policy = answer.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "script-src" not in policy and "img-src 'self' data:" in policy
    for style in re.findall(r"<style>(.*?)</style>", answer.text, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
        assert f"'sha256-{digest}'" in policy


def test_signing_in_returns_to_the_page_asked_for_and_never_to_another_site(sqlite_desk: DeskRun) -> None:
    """A signed-out person asking for a page is sent to the login page and, once signed in, back to that page;
    a "next" naming another site is ignored."""
    browser = sqlite_desk.browser()
    answer = browser.get("/status", params={"campaign": CAMPAIGN})
    assert answer.status_code == 303
    login = answer.headers["location"]
    wanted = parse_qs(urlsplit(login).query)["next"][0]
    assert wanted == f"/status?campaign={CAMPAIGN}"
    browser.get(login)
    answer = browser.http.post("/login", data={"csrf_token": browser.token(), "login": "ann", "password": PASSWORD,
                                               "next": wanted})
    assert answer.status_code == 303 and answer.headers["location"] == wanted
    other = sqlite_desk.browser()
    other.get("/login")
    answer = other.http.post("/login", data={"csrf_token": other.token(), "login": "ann", "password": PASSWORD,
                                             "next": "//evil.example/steal"})
    assert answer.headers["location"] == "/"
