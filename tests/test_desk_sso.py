"""Single sign-on to the desk, end to end: the real desk under uvicorn over a SQLite store, the test OpenID
Connect provider (:mod:`tests.oidc_provider`) on its own port, and httpx as the browser (following redirects,
keeping cookies). Users reach the store through the Store API, as an admin adds them."""

from __future__ import annotations

import html
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

pytest.importorskip("campaign.web.app", reason="the sign-off desk (campaign.web.app) has not landed yet")

from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import AuditEntry
from campaign.web import sso
from campaign.web.app import create_app
from campaign.web.settings import DeskSettings
from tests.oidc_provider import Identity, Misbehaviour, Provider, serve
from tests.plan_fixtures import write_campaign
from tests.store_fixtures import audit_entries, sqlite_url

# On one pytest-xdist worker: the module's identity provider is started once.
pytestmark = pytest.mark.xdist_group("desk-sso")

PLAN_POSTS = """\
- id: launch
  accounts: [lancs-x]
  text: The week of action starts today.
  at: '2027-03-15 09:00'
"""
SUBJECT = "0f3c7a9e-subject-of-jo"
JO = Identity(sub=SUBJECT, preferred_username="Jo.Reviewer@Force.Example", name="Jo Reviewer")
SIGNED_IN_AS_JO = "Signed in as <strong>Insp. Jo Reviewer</strong>"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider().serving() as serving:
        yield serving


@dataclass
class RunningDesk:
    url: str
    db: str
    store: Store
    provider: Provider

    browsers: list[httpx.Client] = field(default_factory=list)

    def browser(self, url: str | None = None) -> httpx.Client:
        """A new browser (of this desk, or of the desk at *url*): its own cookies, following redirects; closed
        when the test ends."""
        browser = httpx.Client(base_url=url or self.url, follow_redirects=True, timeout=20)
        self.browsers.append(browser)
        return browser

    def sign_in(self, browser: httpx.Client | None = None, path: str = sso.LOGIN_PATH) -> httpx.Response:
        return (browser or self.browser()).get(path)

    def refusals(self) -> list[dict[str, Any]]:
        return [details(entry) for entry in audit_entries(self.store, "login_failed")]


def text(page: httpx.Response) -> str:
    """The page's text with HTML's character references read (a quote is &#39; in the page)."""
    return html.unescape(page.text)


def details(entry: AuditEntry) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(entry.details)
    return found


def desk_app(db: str) -> FastAPI:
    """The desk over the store at *db*, single sign-on as ``CAMPAIGN_OIDC_*`` say now."""
    return create_app(DeskSettings(db=db, secret="a test secret that is long enough to sign sessions"))


@pytest.fixture
def desk(tmp_path: Path, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDesk]:
    """The desk over a store with one campaign and these users: ada.admin; jo.reviewer (approver, email
    jo.reviewer@force.example); sam.author (login only); dee.disabled (disabled); runner-1 (a service account)."""
    url = sqlite_url(tmp_path)
    store = Store.open(url)
    store.add_user("tests", "ada.admin", "Ada Admin", ["admin"], password="correct horse battery staple")
    store.add_user("tests", "jo.reviewer", "Insp. Jo Reviewer", ["approver"], email="jo.reviewer@force.example")
    store.add_user("tests", "sam.author", "Sam Author", ["author"])
    store.add_user("tests", "dee.disabled", "Dee Disabled", ["approver"], email="dee@force.example")
    store.set_enabled("tests", "dee.disabled", False)
    store.add_user("tests", "runner-1", "Runner One", ["publisher"], service=True)
    rendered = render_plan(write_campaign(tmp_path / "plan", PLAN_POSTS))
    assert rendered.ok, rendered.problems
    store.schedule(rendered, "tests")
    monkeypatch.setenv(sso.ISSUER_VARIABLE, provider.issuer)
    monkeypatch.setenv(sso.CLIENT_ID_VARIABLE, provider.client_id)
    monkeypatch.setenv(sso.CLIENT_SECRET_VARIABLE, provider.client_secret)
    provider.reset(JO)
    with serve(desk_app(url)) as desk_url:
        provider.redirect_uris = {desk_url + sso.CALLBACK_PATH}
        running = RunningDesk(desk_url, url, store, provider)
        try:
            yield running
        finally:
            for browser in running.browsers:
                browser.close()
            provider.redirect_uris = None
            store.close()


def assert_not_signed_in(desk: RunningDesk, browser: httpx.Client) -> None:
    page = browser.get("/status")
    assert page.url.path == "/login" and SIGNED_IN_AS_JO not in page.text


# -- signing in --------------------------------------------------------------------------------------------


def test_a_known_user_signs_in_and_their_identity_is_linked(desk: RunningDesk) -> None:
    """The login page offers single sign-on; following it, the provider's user (preferred_username matching
    jo.reviewer's email, whatever the case) comes back with a session: the page they asked for (next=/status)
    answers 200 under their name. The request used PKCE S256, a state and a nonce; the code was exchanged with
    the verifier and the secret (in the form). The login is audited with the method and source, and the
    identity (issuer + subject) is linked to the user."""
    browser = desk.browser()
    assert 'id="sso-login"' in browser.get("/login?next=/status").text
    page = desk.sign_in(browser, f"{sso.LOGIN_PATH}?next=/status")
    assert page.status_code == 200 and page.url.path == "/status"
    assert SIGNED_IN_AS_JO in page.text
    asked = desk.provider.authorizations[-1]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["state"] and asked["nonce"] and set(asked["scope"].split()) >= {"openid", "profile", "email"}
    assert asked["redirect_uri"] == desk.url + sso.CALLBACK_PATH
    exchanged = desk.provider.token_requests[-1]
    assert exchanged["code_verifier"] and exchanged["authorization"] == "form"
    assert desk.store.user("jo.reviewer").oidc_subject == f"{desk.provider.issuer} {SUBJECT}"
    [login] = audit_entries(desk.store, "login")
    assert login.actor == "jo.reviewer"
    assert details(login) == {"source": "127.0.0.1", "method": "single sign-on",
                              "linked": f"{desk.provider.issuer} {SUBJECT}"}
    assert desk.refusals() == []


def test_the_login_claim_matches_a_users_login_without_regard_to_case(desk: RunningDesk) -> None:
    """A preferred_username of SAM.AUTHOR is the user sam.author (who has no email in the store)."""
    desk.provider.reset(Identity(sub="subject-of-sam", preferred_username="SAM.AUTHOR"))
    page = desk.sign_in()
    assert page.status_code == 200 and "Signed in as <strong>Sam Author</strong>" in page.text


def test_a_linked_user_is_found_by_their_subject_after_their_username_changes(desk: RunningDesk) -> None:
    """Once linked, the user is found by issuer + subject: a renamed UPN that matches nobody still signs Jo in,
    and the second login links nothing new."""
    assert SIGNED_IN_AS_JO in desk.sign_in().text
    desk.provider.reset(Identity(sub=SUBJECT, preferred_username="jo.married-name@force.example"))
    page = desk.sign_in()
    assert page.status_code == 200 and SIGNED_IN_AS_JO in page.text
    assert [details(e).get("linked") for e in audit_entries(desk.store, "login")] == [
        f"{desk.provider.issuer} {SUBJECT}", None]


def test_the_email_claim_is_used_when_there_is_no_preferred_username_unless_it_is_unverified(
        desk: RunningDesk) -> None:
    """Without preferred_username the email claim names the person; an email the provider says it has not
    verified (email_verified false) links nobody."""
    desk.provider.reset(Identity(sub="subject-2", email="jo.reviewer@force.example",
                                 extra={"email_verified": False}))
    refused = desk.sign_in()
    assert refused.status_code == 403 and "has not verified your email" in refused.text
    assert desk.store.user("jo.reviewer").oidc_subject is None
    desk.provider.reset(Identity(sub="subject-2", email="jo.reviewer@force.example"))
    assert SIGNED_IN_AS_JO in desk.sign_in().text


# -- tokens that cannot be trusted ----------------------------------------------------------------------------

UNTRUSTED = {
    Misbehaviour.WRONG_AUDIENCE: "was issued to another application than this desk",
    Misbehaviour.WRONG_ISSUER: "comes from another issuer than",
    Misbehaviour.EXPIRED: "has expired",
    Misbehaviour.BAD_SIGNATURE: "is not signed by any of the provider's published keys",
    Misbehaviour.WRONG_NONCE: "answers another sign-in than this one",
}


@pytest.mark.parametrize("misbehaviour", list(UNTRUSTED), ids=lambda m: str(m).replace(" ", "-"))
def test_an_id_token_that_fails_a_check_is_refused_and_audited(desk: RunningDesk, misbehaviour: Misbehaviour) -> None:
    """Each way an ID token can be wrong (another audience — even with azp naming the desk —, another issuer,
    expired an hour ago, signed by another key under the published key's id, another nonce) is refused with
    403 and one sentence naming what was wrong; nobody is signed in or linked, and the refusal is audited as
    login_failed with the source and the method."""
    desk.provider.misbehaviour = misbehaviour
    browser = desk.browser()
    page = desk.sign_in(browser)
    assert page.status_code == 403
    assert "could not be trusted: its ID token " + UNTRUSTED[misbehaviour] in text(page)
    assert_not_signed_in(desk, browser)
    assert desk.store.user("jo.reviewer").oidc_subject is None
    [refusal] = desk.refusals()
    assert refusal["source"] == "127.0.0.1" and refusal["method"] == "single sign-on"
    assert UNTRUSTED[misbehaviour] in refusal["reason"]
    assert audit_entries(desk.store, "login") == []


# -- people who may not sign in -------------------------------------------------------------------------------

REFUSED_PEOPLE = {
    "unknown": (Identity(sub="subject-x", preferred_username="nobody@force.example"),
                "nobody@force.example", "you signed in as 'nobody@force.example', who is not a user"),
    "disabled": (Identity(sub="subject-d", preferred_username="dee@force.example"),
                 "dee.disabled", "dee.disabled is disabled on this desk"),
    "service account": (Identity(sub="subject-r", preferred_username="runner-1"),
                        "runner-1", "runner-1 is a service account"),
}


@pytest.mark.parametrize("who", list(REFUSED_PEOPLE))
def test_an_unknown_person_a_disabled_user_and_a_service_account_are_refused(desk: RunningDesk, who: str) -> None:
    """A verified identity that is no user of the store, a disabled user (found by email) or a service account
    (found by login) gets 403 with one sentence and no session; nobody is linked, and the refusal is audited as
    login_failed under the login it named, with the source, the method and the identity (for an admin to act
    on)."""
    identity, actor, sentence = REFUSED_PEOPLE[who]
    desk.provider.reset(identity)
    browser = desk.browser()
    page = desk.sign_in(browser)
    assert page.status_code == 403 and sentence[:1].upper() + sentence[1:] in text(page)
    assert_not_signed_in(desk, browser)
    assert all(user.oidc_subject is None for user in desk.store.users())
    [entry] = audit_entries(desk.store, "login_failed")
    assert entry.actor == actor
    assert details(entry)["source"] == "127.0.0.1" and details(entry)["method"] == "single sign-on"
    assert details(entry)["subject"] == f"{desk.provider.issuer} {identity.sub}"


def test_a_user_linked_to_another_identity_is_refused(desk: RunningDesk) -> None:
    """Jo, linked to one subject, is not taken over by another identity whose username matches Jo's email."""
    assert SIGNED_IN_AS_JO in desk.sign_in().text
    desk.provider.reset(Identity(sub="an-impostor", preferred_username="jo.reviewer@force.example"))
    page = desk.sign_in()
    assert page.status_code == 403 and "linked to another single sign-on identity" in page.text
    assert desk.store.user("jo.reviewer").oidc_subject == f"{desk.provider.issuer} {SUBJECT}"


# -- the flow itself ------------------------------------------------------------------------------------------


def test_a_callback_is_used_once_and_only_in_the_browser_that_started_it(desk: RunningDesk) -> None:
    """The callback URL the provider sent back (code and state) signs nobody in a second time, and not in
    another browser: 400, one sentence, audited."""
    first = desk.browser()
    page = desk.sign_in(first)
    callback = next(r.url for r in page.history if r.url.path == sso.CALLBACK_PATH)
    other = desk.browser()
    for browser in (first, other):
        again = browser.get(str(callback))
        assert again.status_code == 400 and "was not started in this browser, or has already been used" in again.text
    assert_not_signed_in(desk, other)
    assert len(desk.refusals()) == 2


def test_a_wrong_client_secret_is_refused_with_what_the_provider_said(
        desk: RunningDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider refuses the code exchange (invalid_client): 403, the provider's error named, audited."""
    monkeypatch.setenv(sso.CLIENT_SECRET_VARIABLE, "not-the-secret")
    app = desk_app(desk.db)
    with serve(app) as url:
        desk.provider.redirect_uris = {url + sso.CALLBACK_PATH}
        page = desk.browser(url).get(sso.LOGIN_PATH)
    assert page.status_code == 403 and "identity provider refused the sign-in (invalid_client)" in page.text
    assert len(desk.refusals()) == 1


def test_a_discovery_document_naming_another_issuer_is_refused_with_the_value_to_set(
        desk: RunningDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configured with the issuer plus a trailing slash, the desk fetches discovery but refuses to start a
    sign-in (502), saying which issuer the provider names, so an administrator can set it."""
    monkeypatch.setenv(sso.ISSUER_VARIABLE, desk.provider.issuer + "/")
    app = desk_app(desk.db)
    with serve(app) as url:
        page = desk.browser(url).get(sso.LOGIN_PATH)
    assert page.status_code == 502
    assert f"set $CAMPAIGN_OIDC_ISSUER to '{desk.provider.issuer}'" in text(page)
    assert desk.provider.authorizations == []


def test_a_provider_that_does_not_answer_is_named_and_nobody_is_sent_there(
        desk: RunningDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the issuer on a port where nothing listens, starting a sign-in answers 502 naming the discovery URL
    it could not read (and says the password still works); the refusal is audited."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        issuer = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setenv(sso.ISSUER_VARIABLE, issuer)
        app = desk_app(desk.db)
        with serve(app) as url:
            page = desk.browser(url).get(sso.LOGIN_PATH)
    assert page.status_code == 502
    assert f"did not answer at {issuer}/.well-known/openid-configuration" in text(page)
    assert "log in with your password" in text(page)
    assert len(desk.refusals()) == 1


# -- configuration ---------------------------------------------------------------------------------------------

COMPLETE = {sso.ISSUER_VARIABLE: "https://login.microsoftonline.com/0000-tenant/v2.0",
            sso.CLIENT_ID_VARIABLE: "client", sso.CLIENT_SECRET_VARIABLE: "secret value"}


def test_configuration_is_all_three_variables_or_none() -> None:
    """No variable: no single sign-on. All three: a configuration whose repr never shows the secret. One
    missing: refused, naming it."""
    assert sso.SingleSignOn.from_environment({}) is None
    config = sso.SingleSignOn.from_environment(COMPLETE)
    assert config is not None and "secret value" not in repr(config)
    assert config.discovery_url == ("https://login.microsoftonline.com/0000-tenant/v2.0/"
                                    ".well-known/openid-configuration")
    with pytest.raises(sso.SingleSignOnError, match=r"needs \$CAMPAIGN_OIDC_CLIENT_SECRET as well"):
        sso.SingleSignOn.from_environment({**COMPLETE, sso.CLIENT_SECRET_VARIABLE: " "})


@pytest.mark.parametrize(("variable", "value", "message"), [
    (sso.ISSUER_VARIABLE, "http://idp.force.example", "is plain http: give its https URL"),
    (sso.ISSUER_VARIABLE, "login.microsoftonline.com/tenant/v2.0", "is not a URL"),
    (sso.REDIRECT_URL_VARIABLE, "https://desk.force.example/callback", "must end|ending in /login/sso/callback"),
    (sso.LOGIN_CLAIM_VARIABLE, "preferred username", "is not a claim name"),
])
def test_unusable_settings_are_refused_in_one_sentence(variable: str, value: str, message: str) -> None:
    """An issuer over plain http to another machine, an issuer that is no URL, a redirect URL that is not the
    desk's callback and a claim name with a space are each refused, naming the variable."""
    with pytest.raises(sso.SingleSignOnError, match=message) as refused:
        sso.SingleSignOn.from_environment({**COMPLETE, variable: value})
    assert f"${variable}" in str(refused.value)
