"""Who may do what on the desk: every role, and people limited to one account or to another campaign, against
every page and every action, on the desk served for real (uvicorn, httpx) over SQLite and PostgreSQL.

What is expected comes from :data:`campaign.people.ROLE_ACTIONS` and each user's scope, not from the desk: a
refused action is 403 with a sentence saying why, and the store is checked after each action — a refusal
changes nothing, an allowed action changes exactly what it says.
"""

from __future__ import annotations

import pytest

from campaign.people import Action
from campaign.store import PostState, Selection
from tests import desk_fixtures, store_fixtures
from tests.desk_fixtures import CAMPAIGN, USERS, DeskRun, User

store_url = store_fixtures.store_url
desk = desk_fixtures.desk
sqlite_desk = desk_fixtures.sqlite_desk

X_POST = "launch-what-is/lancs-x"
FACEBOOK_POST = "vaughton-history-books/lancs-facebook"
REJECTED = "preston-eve/lancs-x"
DAY = "2027-03-17"
PAGES = ["/", f"/days/{DAY}", "/status", "/audit", "/report", f"/posts/{X_POST}", f"/posts/{FACEBOOK_POST}"]


def in_scope(user: User, account: str | None) -> bool:
    """Whether *user*'s work covers *account* of the campaign (None: the whole campaign)."""
    if user.campaigns is not None and CAMPAIGN not in user.campaigns:
        return False
    if user.accounts is None:
        return True
    return account is not None and account in user.accounts


def account_of(key: str) -> str:
    return key.rsplit("/", 1)[1]


def expected_status(allowed: bool, success: int = 303) -> int:
    return success if allowed else 403


@pytest.mark.parametrize("role", sorted(USERS))
def test_each_role_sees_and_does_exactly_what_its_roles_and_scope_allow(desk: DeskRun, role: str) -> None:
    """Each page answers 200 to a person who may view it (in their scope) and 403 with a sentence otherwise;
    approve, reject, approve-a-day, pause and resume succeed exactly when ROLE_ACTIONS and the person's scope
    allow them, and the store shows it (a refusal changed nothing)."""
    user = USERS[role]
    browser = desk.signed_in(user.login)

    # Pages.
    for path in PAGES:
        key = path.removeprefix("/posts/") if path.startswith("/posts/") else None
        # The report covers every account of the campaign: only for those whose work covers it all.
        account = account_of(key) if key else None if path == "/report" else "lancs-x"
        allowed = user.allows(Action.VIEW) and in_scope(user, account)
        answer = browser.get(path, params={"campaign": CAMPAIGN})
        assert answer.status_code == (200 if allowed else 403), (path, answer.text[:500])
        if not allowed:
            assert 'id="message"' in answer.text and "may not" in answer.text, path
    if role == "other-campaign":  # without ?campaign=, the desk opens the person's first campaign: none here
        answer = browser.get("/")
        assert answer.status_code == 403 and "which this store does not hold" in answer.text
    token = browser.token()  # every page, a refusal too, carries the session's token in its sign-out form

    def act(path: str, **fields: str) -> int:
        return browser.post(path, {"csrf_token": token, "campaign": CAMPAIGN, **fields}).status_code

    # Approve one post (a draft), bound to its hash and state.
    post = desk.post(X_POST)
    allowed = user.allows(Action.APPROVE) and in_scope(user, "lancs-x")
    assert act("/approve", key=X_POST, hash=post.content_hash, state=post.state) == expected_status(allowed)
    after = desk.post(X_POST)
    assert after.state == (PostState.APPROVED if allowed else PostState.DRAFT)
    assert after.approved_by == (user.login if allowed else None)

    # Reject another account's post.
    post = desk.post(FACEBOOK_POST)
    allowed = user.allows(Action.REJECT) and in_scope(user, "lancs-facebook")
    assert act("/reject", key=FACEBOOK_POST, hash=post.content_hash, state=post.state,
               reason="Wrong photo credit") == expected_status(allowed)
    assert desk.post(FACEBOOK_POST).state == (PostState.REJECTED if allowed else PostState.DRAFT)

    # Approve a rejected post again, by its own key (the reversal is on the record).
    desk.store.reject(REJECTED, "test-setup", "Held back for a check", CAMPAIGN)
    post = desk.post(REJECTED)
    allowed = user.allows(Action.APPROVE) and in_scope(user, "lancs-x")
    assert act("/approve", key=REJECTED, hash=post.content_hash, state=post.state) == expected_status(allowed)
    assert desk.post(REJECTED).state == (PostState.APPROVED if allowed else PostState.REJECTED)

    # Approve every draft of a day that the person was shown: those in their scope only.
    shown = [p for p in desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY)) if in_scope(user, p.account)]
    allowed = user.allows(Action.APPROVE) and in_scope(user, "lancs-x")
    seen = [("seen", f"{p.state}:{p.content_hash}:{p.key}") for p in shown]
    answer = browser.post("/approve-day", [("csrf_token", token), ("campaign", CAMPAIGN), ("day", DAY), *seen])
    assert answer.status_code == expected_status(allowed), answer.text[:500]
    for post in desk.store.select_posts(Selection(campaign=CAMPAIGN, day=DAY)):
        approved = allowed and in_scope(user, post.account)
        assert post.state == (PostState.APPROVED if approved else PostState.DRAFT), post.key

    # Pause the whole campaign, then one account.
    allowed = user.allows(Action.PAUSE) and in_scope(user, None)
    assert act("/pause", account="", reason="Critical incident: hold everything") == expected_status(allowed)
    assert bool(desk.store.active_holds(CAMPAIGN)) == allowed
    allowed_x = user.allows(Action.PAUSE) and in_scope(user, "lancs-x")
    assert act("/pause", account="lancs-x", reason="Hold X for now") == expected_status(allowed_x)
    assert any(h.account == "lancs-x" for h in desk.store.active_holds(CAMPAIGN)) == allowed_x

    # Resume: a pause of lancs-x, made by the duty desk, is released by whoever may resume that account.
    if not allowed_x:
        desk.store.pause("Drill", "test-setup", CAMPAIGN, "lancs-x")
    allowed = user.allows(Action.RESUME) and in_scope(user, "lancs-x")
    assert act("/resume", account="lancs-x") == expected_status(allowed, success=200)
    assert any(h.account == "lancs-x" for h in desk.store.active_holds(CAMPAIGN)) != allowed


@pytest.mark.parametrize("role", sorted(USERS))
def test_buttons_are_offered_only_to_those_allowed_to_press_them(sqlite_desk: DeskRun, role: str) -> None:
    """A post's page offers Approve and Reject, a day's page "Approve all N drafts", and the status page Pause,
    only to a person whose role and scope allow them (the desk refuses the action anyway; this is so nobody is
    offered a button that will refuse them)."""
    user = USERS[role]
    if not user.allows(Action.VIEW) or not in_scope(user, "lancs-x"):
        pytest.skip("sees no page of this campaign (the matrix test proves the 403)")
    browser = sqlite_desk.signed_in(user.login)
    post_page = browser.get(f"/posts/{X_POST}", params={"campaign": CAMPAIGN}).text
    assert ('id="approve"' in post_page) == user.allows(Action.APPROVE)
    assert ('id="reject"' in post_page) == user.allows(Action.REJECT)
    day_page = browser.get(f"/days/{DAY}", params={"campaign": CAMPAIGN}).text
    assert ('id="approve-day"' in day_page) == user.allows(Action.APPROVE)
    status_page = browser.get("/status", params={"campaign": CAMPAIGN}).text
    assert ('id="pause"' in status_page) == user.allows(Action.PAUSE)
    whole = 'value="">Every account of the campaign</option>' in status_page
    assert whole == (user.allows(Action.PAUSE) and user.accounts is None)
