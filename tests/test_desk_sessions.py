"""The desk's sessions and forms hold against the usual attacks, on the desk served for real (uvicorn, httpx):
forged forms (CSRF), stolen or replayed cookies, guessed passwords, and errors that would leak details."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from campaign.store import PostState, Store
from campaign.store.people import FAILURES_PER_LOGIN
from campaign.web.app import create_app
from campaign.web.sessions import COOKIE
from campaign.web.settings import DeskSettings
from tests import desk_fixtures
from tests.desk_fixtures import CAMPAIGN, PASSWORD, SECRET, SERVICE, DeskRun, serving

sqlite_desk = desk_fixtures.sqlite_desk

POST = "launch-what-is/lancs-x"


def approve_fields(desk: DeskRun, token: str | None) -> dict[str, str]:
    post = desk.post(POST)
    fields = {"campaign": CAMPAIGN, "key": POST, "hash": post.content_hash, "state": post.state}
    return fields if token is None else {**fields, "csrf_token": token}


def set_cookie(answer: httpx.Response) -> str:
    cookies = [value for name, value in answer.headers.multi_items() if name.lower() == "set-cookie"]
    assert len(cookies) == 1, cookies
    return cookies[0]


# -- CSRF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "not-the-token", "someone-elses"])
def test_a_form_without_this_sessions_token_is_refused_and_changes_nothing(sqlite_desk: DeskRun,
                                                                            token: str | None) -> None:
    """An approval posted without a CSRF token, with a wrong one, or with another person's (valid for their own
    session) is refused with 403 and a sentence; the post stays a draft and nothing is added to the audit."""
    desk = sqlite_desk
    jo = desk.signed_in("jo")
    if token == "someone-elses":
        ada = desk.signed_in("ada")
        ada.get("/")
        token = ada.token()
    before = len(desk.audit())
    answer = jo.post("/approve", approve_fields(desk, token))
    assert answer.status_code == 403
    assert "did not come from your session on this desk" in answer.text and "nothing was changed" in answer.text
    assert desk.post(POST).state == PostState.DRAFT
    assert len(desk.audit()) == before


def test_every_form_the_desk_accepts_needs_the_token(sqlite_desk: DeskRun) -> None:
    """Every POST route of the application — found in its OpenAPI description, so a new form cannot be
    forgotten — refuses a signed-in person's request that lacks the session's CSRF token, before doing
    anything."""
    app = create_app(DeskSettings(db=sqlite_desk.store_url, secret=SECRET))
    try:
        posts = sorted(path for path, methods in app.openapi()["paths"].items() if "post" in methods)
    finally:
        app.state.desk.store.close()
    assert {"/login", "/logout", "/approve", "/reject", "/approve-day", "/pause", "/resume"} <= set(posts)
    ada = sqlite_desk.signed_in("ada")
    before = len(sqlite_desk.audit())
    for path in posts:
        answer = ada.post(path, {"campaign": CAMPAIGN, "key": POST, "reason": "x", "account": ""})
        assert answer.status_code == 403, path
    assert len(sqlite_desk.audit()) == before
    assert ada.get("/").status_code == 200  # still signed in: the refused logout did not sign anyone out


# -- cookies and sessions --------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_samesite_and_not_secure_over_plain_http(sqlite_desk: DeskRun) -> None:
    """Over plain http (development, 127.0.0.1) the cookie is HttpOnly and SameSite=Lax, lasts 12 hours, and is
    not marked Secure (a browser would not send it back)."""
    answer = sqlite_desk.browser().sign_in("jo")
    cookie = set_cookie(answer)
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie


def test_behind_a_trusted_tls_proxy_the_cookie_is_secure_and_the_client_address_is_the_proxys_report(
        sqlite_desk: DeskRun) -> None:
    """With X-Forwarded-Proto: https from an allowed proxy (127.0.0.1, the default of --forwarded-allow-ips),
    the cookie is marked Secure, and the login is audited with the client's address from X-Forwarded-For."""
    answer = sqlite_desk.browser().sign_in("jo", **{"X-Forwarded-Proto": "https",
                                                    "X-Forwarded-For": "203.0.113.9"})
    assert answer.status_code == 303
    assert "Secure" in set_cookie(answer)
    login = sqlite_desk.audit("login")[-1]
    assert login.actor == "jo" and '"source": "203.0.113.9"' in login.details


def test_forwarded_headers_from_an_untrusted_address_are_ignored(tmp_path: Path) -> None:
    """When the desk trusts only another proxy's address, X-Forwarded-Proto and X-Forwarded-For sent by the
    client itself change nothing: no Secure cookie, and the address recorded is the client's own."""
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    store = Store.open(url)
    try:
        desk_fixtures.add_users(store)
        with serving(url, forwarded_allow_ips="192.0.2.1") as base:
            browser = desk_fixtures.Browser(httpx.Client(base_url=base, follow_redirects=False))
            answer = browser.sign_in("jo", **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert answer.status_code == 303 and "Secure" not in set_cookie(answer)
        login = [e for e in store.audit() if e.action == "login"][-1]
        assert '"source": "127.0.0.1"' in login.details
    finally:
        store.close()


def test_secure_cookies_can_be_required_whatever_the_request_says(tmp_path: Path) -> None:
    """CAMPAIGN_DESK_SECURE_COOKIES (settings.secure_cookies) marks the cookie Secure even over plain http."""
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    store = Store.open(url)
    try:
        desk_fixtures.add_users(store)
        with serving(url, secure_cookies=True) as base:
            answer = desk_fixtures.Browser(httpx.Client(base_url=base)).sign_in("jo")
        assert "Secure" in set_cookie(answer)
    finally:
        store.close()


def test_signing_in_rotates_the_session_and_signing_out_ends_it_for_good(sqlite_desk: DeskRun) -> None:
    """Signing in replaces the visitor's session (a new CSRF token, a new cookie); after signing out, the old
    cookie replayed no longer authenticates — nor after the same person signs in again, whose new cookie does."""
    desk = sqlite_desk
    browser = desk.browser()
    browser.get("/login")
    visitor_token = browser.token()
    answer = browser.sign_in("jo")
    first = browser.http.cookies[COOKIE]
    browser.get("/")
    assert browser.token() != visitor_token
    assert browser.post("/logout", {"csrf_token": browser.token()}).status_code == 303
    assert browser.get("/").status_code == 303  # signed out

    replay = desk.browser()
    replay.http.cookies.set(COOKIE, first)
    answer = replay.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert "you signed out" in replay.get("/login").text

    browser.sign_in("jo")
    second = browser.http.cookies[COOKIE]
    assert second != first and browser.get("/").status_code == 200
    again = desk.browser()
    again.http.cookies.set(COOKIE, first)
    assert again.get("/").status_code == 303


@pytest.mark.parametrize("change", ["disabled", "password changed"])
def test_a_disabled_user_or_a_changed_password_ends_the_session_at_once(sqlite_desk: DeskRun, change: str) -> None:
    """The next request after an admin disables a user, or after their password changes, is sent to the login
    page with the reason; the old password no longer signs in after a change."""
    desk = sqlite_desk
    jo = desk.signed_in("jo")
    assert jo.get("/").status_code == 200
    if change == "disabled":
        desk.store.set_enabled("test-setup", "jo", False)
    else:
        desk.store.set_password("test-setup", "jo", "a brand new pass phrase")
    answer = jo.get("/status")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert "your session has ended" in jo.get("/login").text
    assert desk.browser().sign_in("jo").status_code == 401


def test_a_session_lasts_twelve_hours_from_sign_in_at_most(sqlite_desk: DeskRun) -> None:
    """A session signed 13 hours after it started (a cookie kept fresh by use) ends: the lifetime counts from
    sign-in. A cookie whose signature does not match is no session at all."""
    desk = sqlite_desk
    user = desk.store.user("jo")
    serializer = URLSafeTimedSerializer(SECRET, salt="campaign desk session")
    old = serializer.dumps({"login": "jo", "version": user.session_version, "sid": "s", "csrf": "t",
                            "started": time.time() - 13 * 3600})
    browser = desk.browser()
    browser.http.cookies.set(COOKIE, old)
    assert browser.get("/").status_code == 303
    assert "sessions last 12 hours" in browser.get("/login").text
    forged = URLSafeTimedSerializer("another secret entirely, long enough", salt="campaign desk session").dumps(
        {"login": "ada", "version": 0, "sid": "s", "csrf": "t", "started": time.time()})
    browser = desk.browser()
    browser.http.cookies.set(COOKIE, forged)
    assert browser.get("/").status_code == 303


def test_a_service_account_cannot_sign_in(sqlite_desk: DeskRun) -> None:
    """A runner's service account has no desk password and is refused like any wrong login."""
    answer = sqlite_desk.browser().sign_in(SERVICE, PASSWORD)
    assert answer.status_code == 401 and "the login or the password is wrong" in answer.text.lower()


# -- guessing --------------------------------------------------------------------------------------


def test_the_sixth_failed_login_is_refused_even_with_the_right_password_and_audited(sqlite_desk: DeskRun) -> None:
    """After five wrong passwords for one login, the next attempt is refused although its password is right,
    with the store's sentence on the page (HTTP 401); the failures and the throttled attempt are audited. Another
    person from the same address still signs in."""
    desk = sqlite_desk
    browser = desk.browser()
    for _ in range(FAILURES_PER_LOGIN):
        answer = browser.sign_in("jo", "a wrong guess at it")
        assert answer.status_code == 401 and "the login or the password is wrong" in answer.text.lower()
    answer = browser.sign_in("jo", PASSWORD)
    assert answer.status_code == 401 and "too many failed logins" in answer.text.lower()
    assert COOKIE not in browser.http.cookies or browser.get("/").status_code == 303
    assert [e.actor for e in desk.audit("login_failed")] == ["jo"] * FAILURES_PER_LOGIN
    assert [e.actor for e in desk.audit("login_throttled")] == ["jo"]
    assert desk.browser().sign_in("ada").status_code == 303


# -- what the browser is told ----------------------------------------------------------------------


def assert_security_headers(answer: httpx.Response) -> None:
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "server" not in answer.headers


def test_every_answer_carries_the_security_headers(sqlite_desk: DeskRun) -> None:
    """The login page, a signed-in page, a refusal, a page that does not exist, a stylesheet and an image all
    come with a Content-Security-Policy that allows no script and no framing, nosniff and a same-origin referrer
    policy, and no server banner; pages are not cached."""
    desk = sqlite_desk
    browser = desk.browser()
    assert_security_headers(browser.get("/login"))
    browser.sign_in("abe")
    for path, status in [("/", 200), ("/nowhere", 404), ("/static/desk.css", 200), ("/static/cards.css", 200)]:
        answer = browser.get(path, params={"campaign": CAMPAIGN})
        assert answer.status_code == status, path
        assert_security_headers(answer)
    browser.get("/", params={"campaign": CAMPAIGN})
    refused = browser.post("/pause", {"csrf_token": browser.token(), "campaign": CAMPAIGN, "reason": "no"})
    assert refused.status_code == 403
    assert_security_headers(refused)
    assert browser.get("/").headers["cache-control"] == "no-store"


def test_an_unexpected_failure_is_one_sentence_with_a_reference_and_its_traceback_is_logged(
        sqlite_desk: DeskRun, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A page that fails unexpectedly answers 500 with one sentence naming a reference — no traceback, no detail
    of the error — and the security headers; the log has the traceback under that reference."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 in /srv/secret/path")

    browser = sqlite_desk.signed_in("ada")
    monkeypatch.setattr(Store, "status", broken)
    with caplog.at_level(logging.ERROR, logger="campaign.web"):
        answer = browser.get("/status", params={"campaign": CAMPAIGN})
    assert answer.status_code == 500
    assert "Traceback" not in answer.text and "hunter2" not in answer.text and "RuntimeError" not in answer.text
    reference = re.search(r"reference ([0-9a-f]{8})", answer.text)
    assert reference is not None
    assert_security_headers(answer)
    logged = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None
