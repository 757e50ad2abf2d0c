"""An approval on the desk is of what was on the screen: a post (or a day) that changed between loading the page
and pressing the button is not approved, and the page says what changed. Played on the desk served for real
over SQLite and PostgreSQL: the person loads the page in their browser (httpx), the plan is changed and
scheduled again (or a colleague acts) through the store, then the person submits the form they loaded."""

from __future__ import annotations

from campaign.store import PostState, Selection
from tests import desk_fixtures, store_fixtures
from tests.desk_fixtures import CAMPAIGN, DeskRun

store_url = store_fixtures.store_url
desk = desk_fixtures.desk

POST = "launch-what-is/lancs-x"
DAY = "2027-03-15"
OLD_WORDS = "What is modern slavery? People recruited"
NEW_WORDS = "What is modern slavery? Adults and children recruited"


def test_approving_a_post_that_changed_since_the_page_loaded_is_refused_and_says_what_changed(desk: DeskRun) -> None:
    """The plan is changed and scheduled again while the approver looks at the post: their Approve is refused
    (409), the page names the content hash they saw and the one it has now, nothing is approved or audited as
    approved; the page they get shows the new words, and approving from it succeeds, bound to the new hash."""
    jo = desk.signed_in("jo")
    page = jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    seen = desk.post(POST).content_hash
    assert seen in page and OLD_WORDS in page
    desk.reschedule(OLD_WORDS, NEW_WORDS)
    now = desk.post(POST).content_hash
    assert now != seen

    answer = jo.submit("approve-form", page)
    assert answer.status_code == 409
    assert "Not approved: the post changed since you loaded the page" in answer.text
    assert f"you saw content {seen[:12]}, it is now {now[:12]}" in answer.text
    assert desk.post(POST).state == PostState.DRAFT
    assert not [e for e in desk.audit("approved") if e.post_key == POST]
    assert NEW_WORDS in answer.text

    assert jo.submit("approve-form").status_code == 303
    approved = desk.post(POST)
    assert approved.state == PostState.APPROVED and approved.approved_hash == now and approved.approved_by == "jo"


def test_approving_a_post_a_colleague_acted_on_since_the_page_loaded_is_refused(desk: DeskRun) -> None:
    """A colleague approves the post while the approver looks at it: the approver's Approve is refused and the
    page says the state changed and by whom; the colleague's approval stands."""
    jo = desk.signed_in("jo")
    page = jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    ada = desk.signed_in("ada")
    ada.get(f"/posts/{POST}", params={"campaign": CAMPAIGN})
    assert ada.submit("approve-form").status_code == 303

    answer = jo.submit("approve-form", page)
    assert answer.status_code == 409
    assert "its state changed — it was draft when you loaded the page, it is now approved by ada" in answer.text
    assert desk.post(POST).approved_by == "ada"


def test_rejecting_a_post_that_changed_since_the_page_loaded_is_refused(desk: DeskRun) -> None:
    """A rejection is bound to the content shown, like an approval: after the plan changed it is refused and
    the post stays a draft."""
    jo = desk.signed_in("jo")
    page = jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    desk.reschedule(OLD_WORDS, NEW_WORDS)
    answer = jo.submit("reject-form", page, reason="Not the agreed words")
    assert answer.status_code == 409 and "Not rejected: the post changed" in answer.text
    assert desk.post(POST).state == PostState.DRAFT


def test_approving_a_day_that_changed_since_the_page_loaded_approves_nothing(desk: DeskRun) -> None:
    """"Approve all N drafts of this day" is bound to every post shown: after one of them changed it approves
    none of them, and says which changed and how; from the page it then gets, the whole day is approved, each
    post bound to the content shown."""
    jo = desk.signed_in("jo")
    page = jo.get(f"/days/{DAY}", params={"campaign": CAMPAIGN}).text
    keys = [p.key for p in desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY))]
    assert f"Approve all {len(keys)} drafts of this day" in page
    seen = desk.post(POST).content_hash
    desk.reschedule(OLD_WORDS, NEW_WORDS)

    answer = jo.submit("approve-day-form", page)
    assert answer.status_code == 409
    assert "Nothing was approved: the day changed since you loaded the page" in answer.text
    assert f"{POST}: its content changed — you saw content {seen[:12]}, it is now " in answer.text
    assert all(desk.post(key).state == PostState.DRAFT for key in keys)
    assert not desk.audit("approved")

    assert jo.submit("approve-day-form").status_code == 303
    for key in keys:
        post = desk.post(key)
        assert post.state == PostState.APPROVED and post.approved_hash == post.content_hash, key


def test_a_post_rejected_while_the_day_was_on_screen_is_not_swept_up_by_the_days_approval(desk: DeskRun) -> None:
    """A colleague rejects one post of the day while the approver reads the day: the day's approval is refused
    (its state changed), and the rejected post stays rejected — bulk approval never reverses a rejection."""
    jo = desk.signed_in("jo")
    page = jo.get(f"/days/{DAY}", params={"campaign": CAMPAIGN}).text
    desk.store.reject(POST, desk.store.person("ada"), "Check the figures first", CAMPAIGN)
    answer = jo.submit("approve-day-form", page)
    assert answer.status_code == 409
    assert f"{POST}: its state changed — it was draft when you loaded the page, it is now rejected" in answer.text
    assert desk.post(POST).state == PostState.REJECTED
    assert not desk.audit("approved")

    assert jo.submit("approve-day-form").status_code == 303  # the page now shows it rejected: the rest only
    assert desk.post(POST).state == PostState.REJECTED
    assert all(p.state == PostState.APPROVED for p in desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY))
               if p.key != POST)


def test_a_nul_in_an_address_or_a_reason_is_refused_in_one_sentence_on_every_database(desk: DeskRun) -> None:
    """PostgreSQL cannot even look up a string holding NUL: an address or filter holding one is refused (400)
    before anything reads it, and a rejection reason holding one (or an escape) is refused by the store as one
    sentence (409) — never a 500 — with nothing changed."""
    jo = desk.signed_in("jo")
    for path, params in ((f"/posts/{POST}%00", {}), ("/audit", {"post": "x\x00y"}), ("/", {"platform": "\x00"})):
        answer = jo.get(path, params={"campaign": CAMPAIGN, **params})
        assert answer.status_code == 400 and "holds a NUL character" in answer.text, path
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    page = jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    for reason in ("wrong\x00number", "wrong\x1b[8mnumber"):
        answer = jo.submit("reject-form", page, reason=reason)
        assert answer.status_code == 409 and "the reason holds a control character" in answer.text, repr(reason)
    assert desk.post(POST).state == PostState.DRAFT


def test_approving_a_post_whose_window_has_passed_says_it_will_not_go_out(desk: DeskRun) -> None:
    """Approved after its time and grace window, a post will be missed, not sent late: the desk says so."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from campaign.store.models import Post
    from campaign.store.sql import P

    jo = desk.signed_in("jo")
    page = jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    with desk.store.session() as session, session.begin():
        session.execute(update(Post).where(P.key == POST).values(late_after=datetime.now(UTC) - timedelta(minutes=1)))
    assert jo.submit("approve-form", page).status_code == 303
    assert "it will be missed, not sent" in jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN}).text
    assert desk.post(POST).state == PostState.APPROVED
