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


def what_to_do(page: str) -> str:
    """The post page's "What to do", as read."""
    found = re.search(r'<dd id="way-forward">(.*?)</dd>', page, flags=re.DOTALL)
    assert found is not None, "the page says nothing of what to do"
    return html.unescape(found.group(1))


def needs_a_person(page: str) -> dict[str, str]:
    """The status page's "Needs a person": post key -> what to do, as read."""
    items = re.findall(r'<li data-key="([^"]+)">.*?</a>: (.*?)</li>', page, flags=re.DOTALL)
    return {key: html.unescape(advice) for key, advice in items}


def test_what_to_do_about_a_post_is_said_as_the_desk_does_it(sqlite_desk: DeskRun) -> None:
    """On the desk, a rejected post's "What to do" says to approve it again with the button below (to an
    approver; to a publisher, that an approver can on this page), never the `campaign approve` command; a missed
    post's keeps `campaign retry`, the desk having no retry, said as what a publisher can do. The status page's
    "Needs a person" says the same, sending to each post's page."""
    desk = sqlite_desk
    missed = "launch-how-to-report/lancs-x"
    desk.store.reject(REPLY, desk.store.person("ada"), "Wait for the press office", CAMPAIGN)
    desk.store.approve(Selection(campaign=CAMPAIGN, posts=(missed,)), desk.store.person("jo"))
    assert desk.store.mark_missed(now=datetime(2028, 1, 1, tzinfo=UTC)) == [missed]
    jo, pat = desk.signed_in("jo"), desk.signed_in("pat")

    advice = what_to_do(jo.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text)
    assert advice == ("if the rejection no longer stands, approve it again below: the record will say it reverses "
                      "the rejection")
    assert "campaign approve" not in jo.last_page and 'id="approve-form"' in jo.last_page
    advice = what_to_do(pat.get(f"/posts/{REPLY}", params={"campaign": CAMPAIGN}).text)
    assert advice.startswith("if the rejection no longer stands, an approver can approve it again on this page")
    advice = what_to_do(pat.get(f"/posts/{missed}", params={"campaign": CAMPAIGN}).text)
    assert advice == ("its time has passed, and the desk cannot give it a new one: a publisher can, with "
                      f"`campaign retry {missed} --at 'YYYY-MM-DD HH:MM'` (or by moving it in the plan and "
                      "scheduling again)")

    needs = needs_a_person(jo.get("/status", params={"campaign": CAMPAIGN}).text)
    assert needs[REPLY] == ("if the rejection no longer stands, approve it again on its page: the record will say "
                            "it reverses the rejection")
    assert needs[missed].startswith("its time has passed, and the desk cannot give it a new one: a publisher can")
    assert "campaign approve" not in jo.last_page


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


def without_account(plan: str, account: str) -> str:
    """*plan* (YAML) less one account of its ``accounts:``."""
    found = re.search(rf"^  {re.escape(account)}:\n(?:    .*\n)+", plan, flags=re.MULTILINE)
    assert found is not None, account
    return plan.replace(found.group(0), "")


def test_a_person_limited_to_accounts_sees_only_the_campaigns_that_have_one_of_them(sqlite_desk: DeskRun,
                                                                                    tmp_path: Path) -> None:
    """A person limited to the account lancs-x (and to no campaign) is neither offered nor shown a campaign that
    has no lancs-x account: the chooser lists only the week, and that campaign's week, status, audit trail and
    the forms naming it answer 403 with one sentence. Once another campaign has a lancs-x account, it is
    offered and opens."""
    desk = sqlite_desk
    other = write_campaign(tmp_path / "other", """\
        - id: only-post
          accounts: [lancs-facebook]
          at: '2027-03-16 09:00'
          text: 'Training in Preston today: call {{ phones.police }} with concerns.'
        """, base=without_account(BASE_PLAN, "lancs-x"))
    desk.store.schedule(render_plan(other), "test-setup")
    desk.store.pause("Critical incident in Preston", "test-setup", "test-week")
    assert "lancs-x" not in {a.key for a in desk.store.accounts("test-week")}
    assert 'id="campaign-chooser"' in desk.signed_in("ada").get("/", params={"week": WEEK}).text

    xena = desk.signed_in("xena")
    own = xena.get("/", params={"week": WEEK}).text
    assert 'id="campaign-chooser"' not in own and "test-week" not in own
    sentence = ("xena may not view campaign 'test-week': their work is limited to the accounts lancs-x, and it "
                "has none of them.")
    for path in ("/", "/status", "/audit", f"/days/{WEEK}", "/posts/only-post/lancs-facebook"):
        refused = xena.get(path, params={"campaign": "test-week", "week": WEEK})
        assert refused.status_code == 403, path
        assert re.search(r'id="message">(.*?)</p>', html.unescape(refused.text)).group(1) == sentence, path
        assert "Critical incident" not in refused.text and "Test week" not in refused.text
    xena.get("/status", params={"campaign": CAMPAIGN})
    assert xena.post("/resume", {"csrf_token": xena.token(), "campaign": "test-week"}).status_code == 403
    assert desk.store.active_holds("test-week")

    desk.store.schedule(render_plan(write_campaign(tmp_path / "other", """\
        - id: only-post
          accounts: [lancs-x]
          at: '2027-03-16 09:00'
          text: 'Training in Preston today: call {{ phones.police }} with concerns.'
        """)), "test-setup")
    page = xena.get("/", params={"campaign": "test-week", "week": WEEK}).text
    assert 'id="campaign-chooser"' in page and [key for key, _, _ in tiles(page)] == ["only-post/lancs-x"]


def message(page: str) -> str:
    found = re.search(r'<p class="desk-problem" role="alert" id="message">(.*?)</p>', page, flags=re.DOTALL)
    assert found is not None, page
    return html.unescape(found.group(1))


def test_dates_and_numbers_at_the_ends_of_the_calendar_are_refused_in_one_sentence(sqlite_desk: DeskRun) -> None:
    """The first and last days a date can hold (their day's page would link to a day that cannot be) answer the
    same one-sentence 404 as 2027-02-30, on the day's page and in the form approving a day, never a 500; a week
    of either opens the campaign's own week, as any week that is not a date does; the audit trail's page number,
    however large, negative or odd, answers a page."""
    desk = sqlite_desk
    ada = desk.signed_in("ada")
    for day in ("2027-02-30", "9999-12-31", "0001-01-01"):
        answer = ada.get(f"/days/{day}", params={"campaign": CAMPAIGN})
        assert answer.status_code == 404, day
        assert message(answer.text) == f"'{day}' is not a day: the address takes a date such as 2027-03-15.", day
        ada.get(f"/days/{WEEK}", params={"campaign": CAMPAIGN})
        answer = ada.post("/approve-day", {"csrf_token": ada.token(), "campaign": CAMPAIGN, "day": day})
        assert answer.status_code == 404 and message(answer.text).startswith(f"'{day}' is not a day"), day
    for edge in ("0001-01-02", "9999-12-30"):
        assert ada.get(f"/days/{edge}", params={"campaign": CAMPAIGN}).status_code == 200, edge
    own = ada.get("/", params={"campaign": CAMPAIGN}).text
    for week in ("9999-12-31", "0001-01-01", "not-a-week"):
        answer = ada.get("/", params={"campaign": CAMPAIGN, "week": week})
        assert answer.status_code == 200 and tiles(answer.text) == tiles(own) != [], week
    assert ada.get("/", params={"campaign": CAMPAIGN, "week": "0001-01-08"}).status_code == 200
    for number in ("9" * 5000, "-3", "0", "1e3", "١", "", "2.5", "99999999999999999999"):
        assert ada.get("/audit", params={"campaign": CAMPAIGN, "page": number}).status_code == 200, number


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
