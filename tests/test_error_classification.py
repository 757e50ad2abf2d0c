"""Errors are classified from the HTTP status and the body together, per platform.

Each test plays a platform's real error body — the sandbox's fault kinds where it has one, a tiny stand-in
server for bodies no fault kind plays (a Takahe-style plain-text 400, 5xx bodies a client library chokes on)
— through the real client library (tweepy, pyfacebook, Mastodon.py) over real HTTP, and checks the exact
error kind, that the message keeps the server's own words, and for publishing whether the post's fate is
unknown. The runner decides retries from the kind, so a wrong kind is a real failure:

- :class:`Transient` retries (and reconciles first when ``outcome_unknown``),
- :class:`AccountProblem` pauses that one account and alerts a person (:class:`AuthExpired` is one),
- :class:`Permanent` fails that one post.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from campaign.accounts import check_account
from campaign.cli import main
from campaign.engagement import Collector
from campaign.plan import load_plan
from campaign.platforms import adapter_class
from campaign.platforms.base import AccountConfig, Adapter, Outgoing
from campaign.platforms.errors import AccountProblem, AuthExpired, PlatformError, Transient
from campaign.publishing.rehearsal import Rehearsal, rehearsal
from campaign.sandbox import Sandbox
from campaign.store import PostState
from campaign.store.models import AuditEntry, EngagementSnapshot
from tests.plan_fixtures import write_campaign
from tests.test_accounts_check import demo_environment, sandbox_plan

CREATE = {"x": "POST /2/tweets", "facebook": "POST /v*/*/feed", "mastodon": "POST /api/v1/statuses"}
METRICS = {"x": "GET /2/tweets", "facebook": "GET /v25.0", "mastodon": "GET /api/v1/statuses/*"}
TEXT = "Know the signs of modern slavery. Call 08000 121 700 #SeeItShareIt"


def make(sandbox: Sandbox, platform: str, **credentials: str) -> Adapter:
    config = sandbox.account_config(platform)
    if credentials:
        config = AccountConfig(platform, config.handle, {**config.credentials, **credentials},
                               config.api_base, config.timeout)
    return adapter_class(platform)(config)


def publish_error(adapter: Adapter) -> PlatformError:
    with adapter, pytest.raises(PlatformError) as caught:
        adapter.publish(Outgoing(TEXT))
    return caught.value


# -- a stand-in server, for bodies the sandbox's fault kinds do not play -----------------------------------


@contextmanager
def stub_server(status: int, body: bytes, content_type: str | None = None,
                routes: dict[str, tuple[int, str, bytes]] | None = None) -> Iterator[str]:
    """A server answering every request with *status* and *body* (or, for a path in *routes*, that answer)."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            code, kind, payload = (routes or {}).get(self.path.split("?")[0], (status, content_type, body))
            self.send_response(code)
            if kind:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def stub_adapter(sandbox: Sandbox, platform: str, base: str) -> Adapter:
    config = sandbox.account_config(platform)
    return adapter_class(platform)(AccountConfig(platform, config.handle, config.credentials, base, 5.0))


# -- Facebook -------------------------------------------------------------------------------------------


def test_facebook_503_with_graph_json_on_publish_is_transient_and_the_post_may_be_out(sandbox: Sandbox) -> None:
    """Graph's 503 body ({"error": {"message": "Service temporarily unavailable", "type": "OAuthException",
    "is_transient": true, "code": 2}}) on the request that creates the post is Transient — not a token problem
    because of its "OAuthException" type, not "something unexpected" — with outcome_unknown set (the post may
    be out), and the message keeps Graph's words."""
    sandbox.set_faults(f"facebook:{CREATE['facebook']}:error503")
    error = publish_error(make(sandbox, "facebook"))
    assert type(error) is Transient
    assert error.outcome_unknown is True
    assert (error.status, error.code) == (503, "2")
    assert "Service temporarily unavailable" in error.message


def test_facebook_5xx_html_error_page_is_transient_with_the_pages_words(sandbox: Sandbox) -> None:
    """A 500 whose body is Facebook's HTML "Sorry, something went wrong." page instead of Graph's JSON is
    Transient with outcome_unknown on publish, and its message carries the page's words."""
    sandbox.set_faults(f"facebook:{CREATE['facebook']}:error500")
    response = requests.post(f"{sandbox.base_url}/v25.0/1/feed", timeout=5)
    assert (response.status_code, response.headers["Content-Type"].split(";")[0]) == (500, "text/html")
    error = publish_error(make(sandbox, "facebook"))
    assert type(error) is Transient
    assert error.outcome_unknown is True
    assert error.status == 500
    assert "Sorry, something went wrong." in error.message


@pytest.mark.parametrize("kind", ["error503", "error500"])
def test_facebook_5xx_during_metrics_raises_instead_of_returning_nothing(sandbox: Sandbox, kind: str) -> None:
    """A 5xx (Graph's JSON or the HTML page) on the metrics lookup raises Transient (nothing was being
    published, so outcome_unknown is false); it never comes back as "no readings", which is how a 503 was
    dropped silently."""
    with make(sandbox, "facebook") as adapter:
        remote_id = adapter.publish(Outgoing(TEXT)).remote_id
        sandbox.set_faults(f"facebook:{METRICS['facebook']}:{kind}")
        with pytest.raises(PlatformError) as caught:
            adapter.metrics([remote_id])
    assert type(caught.value) is Transient
    assert caught.value.outcome_unknown is False
    assert caught.value.status == int(kind[-3:])


def test_facebook_5xx_of_another_json_shape_during_metrics_is_not_taken_for_an_answer(sandbox: Sandbox) -> None:
    """A 503 whose JSON body lacks Graph's "error" object: pyfacebook returns such a body as if it were the
    answer, and the metrics lookup found none of the posts in it — the silent drop. It raises Transient now,
    with the body's words."""
    page = sandbox.account("facebook").credentials["page_id"]
    with stub_server(503, b'{"message": "upstream overloaded, try later"}', "application/json") as base:
        with stub_adapter(sandbox, "facebook", base) as adapter, pytest.raises(PlatformError) as caught:
            adapter.metrics([f"{page}_122100000000000001"])
    assert type(caught.value) is Transient
    assert (caught.value.status, caught.value.outcome_unknown) == (503, False)
    assert "upstream overloaded, try later" in caught.value.message


def test_facebook_wrong_app_secret_is_an_account_problem(sandbox: Sandbox) -> None:
    """An app secret that is not the app's makes a wrong appsecret_proof; the sandbox answers exactly as Graph
    does (HTTP 400, code 100, GraphMethodException, "Invalid appsecret_proof provided in the API argument"),
    and the adapter reports an AccountProblem (not a per-post Permanent, not an expired token, not Transient)
    with Graph's words. The bad_appsecret fault plays the same answer. Nothing is posted."""
    adapter = make(sandbox, "facebook", app_secret="not-the-app-secret")
    error = publish_error(adapter)
    assert type(error) is AccountProblem
    assert (error.status, error.code) == (400, "100")
    assert "Invalid appsecret_proof provided in the API argument" in error.message
    assert sandbox.posts("facebook") == []

    token = sandbox.account("facebook").credentials["page_access_token"]
    answer = requests.get(f"{sandbox.base_url}/v25.0/me",
                          params={"access_token": token, "appsecret_proof": "0" * 64}, timeout=5)
    graph = answer.json()["error"]
    assert answer.status_code == 400
    assert (graph["message"], graph["type"], graph["code"]) == (
        "Invalid appsecret_proof provided in the API argument", "GraphMethodException", 100)
    assert graph["fbtrace_id"]

    sandbox.set_faults(f"facebook:{CREATE['facebook']}:bad_appsecret")
    faulted = publish_error(make(sandbox, "facebook"))
    assert type(faulted) is AccountProblem
    assert "Invalid appsecret_proof provided in the API argument" in faulted.message


def test_facebook_permission_error_200_is_an_account_problem(sandbox: Sandbox) -> None:
    """A Page token without pages_manage_posts/pages_read_engagement gets Graph's "(#200) If posting to a
    page, requires both pages_read_engagement and pages_manage_posts ..." (HTTP 403, code 200): every post of
    the account would fail the same way, so it is an AccountProblem carrying Graph's words."""
    sandbox.set_faults(f"facebook:{CREATE['facebook']}:no_scope")
    error = publish_error(make(sandbox, "facebook"))
    assert type(error) is AccountProblem
    assert (error.status, error.code) == (403, "200")
    assert "requires both pages_read_engagement and pages_manage_posts" in error.message


def test_accounts_check_names_a_wrong_facebook_app_secret(tmp_path: Path, sandbox: Sandbox) -> None:
    """`accounts check` with a wrong app secret: the Facebook account is a PROBLEM, the line carries Graph's
    words, the other accounts are unaffected, and the exit is 1."""
    plan = sandbox_plan(tmp_path, sandbox)
    environment = demo_environment(sandbox) | {"SANDBOX_FACEBOOK_APP_SECRET": "not-the-app-secret"}
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=environment)
    assert result.exit_code == 1
    assert "demo-facebook: Facebook: Facebook refused the app secret proof" in result.output
    assert "Invalid appsecret_proof provided in the API argument" in result.output
    assert result.output.splitlines()[-1] == "5 of 6 accounts ready to post"


# -- X --------------------------------------------------------------------------------------------------


def test_x_app_without_write_permission_is_an_account_problem(sandbox: Sandbox) -> None:
    """X's 403 {"title": "Forbidden", "detail": "Your client app is not configured with the appropriate oauth1
    app permissions for this endpoint.", "type": ".../problems/oauth1-permissions"} is an AccountProblem named
    by its problem type (not a per-post Permanent, not a duplicate), with X's words."""
    sandbox.set_faults(f"x:{CREATE['x']}:no_scope")
    error = publish_error(make(sandbox, "x"))
    assert type(error) is AccountProblem
    assert (error.status, error.code) == (403, "oauth1-permissions")
    assert ("Your client app is not configured with the appropriate oauth1 app permissions for this endpoint"
            in error.message)


@pytest.mark.parametrize("kind", ["error503", "error500"])
def test_x_5xx_on_publish_is_transient_and_the_post_may_be_out(sandbox: Sandbox, kind: str) -> None:
    """X's 5xx problem JSON on the create request is Transient with outcome_unknown, keeping X's words."""
    sandbox.set_faults(f"x:{CREATE['x']}:{kind}")
    error = publish_error(make(sandbox, "x"))
    assert type(error) is Transient
    assert error.outcome_unknown is True
    assert error.status == int(kind[-3:])
    assert ("Service Unavailable" if kind == "error503" else "Internal Server Error") in error.message


# -- Mastodon -------------------------------------------------------------------------------------------


def test_mastodon_token_without_write_scope_is_an_account_problem(sandbox: Sandbox) -> None:
    """Mastodon's 403 {"error": "This action is outside the authorized scopes"} on posting is an AccountProblem
    (the token lacks the write scope: every post would fail), not an expired token and not a per-post
    Permanent, with the server's words."""
    sandbox.set_faults(f"mastodon:{CREATE['mastodon']}:no_scope")
    error = publish_error(make(sandbox, "mastodon"))
    assert type(error) is AccountProblem
    assert error.status == 403
    assert "This action is outside the authorized scopes" in error.message


def test_mastodon_api_server_refusing_the_token_with_400_is_auth_expired(sandbox: Sandbox) -> None:
    """A Mastodon-API server answering a bad token with 400 {"error": "invalid_token", "error_description":
    "..."} is AuthExpired, and the message keeps both the error and its description (Mastodon.py keeps only
    the first)."""
    sandbox.set_faults(f"mastodon:{CREATE['mastodon']}:bad_token")
    error = publish_error(make(sandbox, "mastodon"))
    assert type(error) is AuthExpired
    assert error.status == 400
    assert "invalid_token" in error.message
    assert "The access token was revoked by the server" in error.message


def test_takahe_plain_text_400_for_a_bad_token_is_auth_expired(sandbox: Sandbox) -> None:
    """Takahe's middleware answers a bad bearer token with 400 and the plain text "Invalid Bearer token"
    (not JSON, so Mastodon.py keeps no message at all): AuthExpired, with those words."""
    with stub_server(400, b"Invalid Bearer token", "text/html; charset=utf-8") as base:
        error = publish_error(stub_adapter(sandbox, "mastodon", base))
    assert type(error) is AuthExpired
    assert error.status == 400
    assert "Invalid Bearer token" in error.message


def test_mastodon_5xx_on_publish_is_transient_and_the_post_may_be_out(sandbox: Sandbox) -> None:
    """Mastodon's 503 on the create request is Transient with outcome_unknown, keeping the server's words."""
    sandbox.set_faults(f"mastodon:{CREATE['mastodon']}:error503")
    error = publish_error(make(sandbox, "mastodon"))
    assert type(error) is Transient
    assert error.outcome_unknown is True
    assert error.status == 503
    assert "Service Unavailable" in error.message


# -- any 5xx body, any platform -------------------------------------------------------------------------

ODD_BODIES = {
    "html": (b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
             "text/html", "502 Bad Gateway"),
    "plain": (b"upstream connect error or disconnect/reset before headers", "text/plain",
              "upstream connect error"),
    "json-list": (b'["the service is overloaded"]', "application/json", "the service is overloaded"),
    "json-other-shape": (b'{"message": "the service is overloaded"}', "application/json",
                         "the service is overloaded"),
    "empty": (b"", None, ""),
}


@pytest.mark.parametrize("platform", ["x", "facebook", "mastodon"])
@pytest.mark.parametrize("shape", sorted(ODD_BODIES))
def test_a_5xx_with_any_body_is_transient(sandbox: Sandbox, platform: str, shape: str) -> None:
    """Whatever a 5xx carries — an HTML page, plain text, a JSON list (tweepy fails on it), JSON without
    Graph's "error" (pyfacebook took it for an answer), nothing — publishing raises Transient with the
    status, outcome_unknown set, and the server's words when it had any."""
    body, content_type, words = ODD_BODIES[shape]
    with stub_server(502, body, content_type) as base:
        error = publish_error(stub_adapter(sandbox, platform, base))
    assert type(error) is Transient, error
    assert error.outcome_unknown is True
    assert error.status == 502
    assert words in error.message


# -- accounts check -------------------------------------------------------------------------------------

MASTODON_ACCOUNT = {
    "id": "109876543210987654", "username": "lancspolice", "acct": "lancspolice",
    "display_name": "Lancashire Police", "locked": False, "bot": False, "created_at": "2022-11-01T00:00:00.000Z",
    "note": "", "url": "https://social.example/@lancspolice", "avatar": "", "avatar_static": "", "header": "",
    "header_static": "", "followers_count": 1, "following_count": 1, "statuses_count": 1, "emojis": [],
    "fields": [],
}


def test_accounts_check_says_plainly_when_mastodon_does_not_report_scopes(tmp_path: Path, sandbox: Sandbox) -> None:
    """A server whose apps/verify_credentials has no "scopes" (Mastodon before 4.3, some API-compatible
    servers): the account is neither "ready to post" nor a failure — the line says the server does not report
    the token's scopes, so its permission to post could not be checked, and what to check; exit 0."""
    routes = {
        "/api/v1/accounts/verify_credentials": (200, "application/json", json.dumps(MASTODON_ACCOUNT).encode()),
        "/api/v1/apps/verify_credentials": (200, "application/json",
                                            b'{"name": "campaign", "website": null, "vapid_key": "BCk"}'),
    }
    with stub_server(404, b'{"error": "Record not found"}', "application/json", routes) as base:
        plan = sandbox_plan(tmp_path, sandbox)
        text = plan.read_text().replace(f"api_base: {sandbox.base_url}\n    credentials:\n      access_token",
                                        f"api_base: {base}\n    credentials:\n      access_token")
        assert text.count(base) == 1
        plan.write_text(text)
        result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=demo_environment(sandbox))
    assert result.exit_code == 0, result.output
    mastodon = next(line for line in result.output.splitlines() if line.startswith("demo-mastodon "))
    assert mastodon.split()[-2:] == ["not", "reported"]
    assert ("demo-mastodon: not verified — the credentials work, but the server does not say which permissions "
            "(scopes) the token has, so we could not check that it is allowed to post.") in result.output
    assert "'write'" in result.output
    assert result.output.splitlines()[-1] == (
        "5 of 6 accounts ready to post; 1 more works but could not be checked for permission to post (see above)")


def test_a_mastodon_token_reported_without_write_is_a_problem(tmp_path: Path, sandbox: Sandbox) -> None:
    """When the server does report the scopes and "write" is not among them, the account is a PROBLEM."""
    plan = sandbox_plan(tmp_path, sandbox)
    loaded, _ = load_plan(plan)
    assert loaded is not None
    account = next(a for a in loaded.accounts.values() if a.platform == "mastodon")
    routes = {
        "/api/v1/accounts/verify_credentials": (200, "application/json", json.dumps(MASTODON_ACCOUNT).encode()),
        "/api/v1/apps/verify_credentials": (200, "application/json", b'{"name": "campaign", "scopes": ["read"]}'),
    }
    with stub_server(404, b'{"error": "Record not found"}', "application/json", routes) as base:
        status = check_account(replace(account, api_base=base), demo_environment(sandbox))
    assert not status.ok and not status.ready
    assert status.problem is not None and "cannot post (its scopes are read)" in status.problem


# -- engagement collection ------------------------------------------------------------------------------

POSTS = """\
- id: launch
  accounts: all
  text: Launch day of the week of action
  at: '2027-03-15 09:00'
"""


@pytest.fixture
def rehearsed(tmp_path: Path) -> Iterator[Rehearsal]:
    """A one-post plan rehearsed against the sandbox on every account (4 posts published)."""
    plan = write_campaign(tmp_path, POSTS)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        assert run.run(timeout=60).totals == {"published": 4}
        yield run


def test_engagement_collect_exits_1_naming_the_account_when_facebook_answers_503(
    rehearsed: Rehearsal, tmp_path: Path
) -> None:
    """`campaign engagement collect` when Graph answers the metrics lookup with its 503 JSON: the other
    accounts are collected, the command names the Facebook account and Graph's words and exits 1, and the
    failure is in the audit log as a transient error (a 5xx is not an account problem)."""
    rehearsed.sandbox.set_faults(f"facebook:{METRICS['facebook']}:error503")
    result = CliRunner().invoke(main, ["engagement", "collect", "--db", str(tmp_path / "rehearsal.db")],
                                env=rehearsed.environ)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[0] == "Collected 3 snapshots for 3 posts."
    assert "test-week/lancs-facebook: not collected — Facebook: Facebook's server failed (503): " \
           "Service temporarily unavailable" in result.output
    assert "1 account not collected" in result.output
    with rehearsed.store.session() as session:
        failures = [json.loads(e.details) for e in
                    session.scalars(select(AuditEntry).where(AuditEntry.action == "collection_failed"))]
    assert [(f["account"], f["kind"]) for f in failures] == [("lancs-facebook", "transient")]
    assert "Service temporarily unavailable" in failures[0]["reason"]


def test_the_runners_collection_reports_a_facebook_5xx_and_retries_it(rehearsed: Rehearsal) -> None:
    """The runner's pass (collect_due) with Facebook's HTML error page on the metrics lookup: the account is
    in the report's failures with the page's words, the posts stay due, and the next pass collects them."""
    published = max(p.published_at for p in rehearsed.store.posts_in([PostState.PUBLISHED]))
    assert published is not None
    collector = Collector(rehearsed.store, rehearsed.environ, clock=lambda: published + timedelta(hours=2))
    rehearsed.sandbox.set_faults(f"facebook:{METRICS['facebook']}:error500")
    first = collector.collect_due()
    assert list(first.failures) == ["test-week/lancs-facebook"]
    assert "Sorry, something went wrong." in first.failures["test-week/lancs-facebook"]
    assert not first.complete and first.snapshots == 3
    before = facebook_snapshots(rehearsed)
    rehearsed.sandbox.clear_faults()
    second = collector.collect_due()
    collector.close()
    assert second.complete
    assert facebook_snapshots(rehearsed) == before + 1


def facebook_snapshots(run: Rehearsal) -> int:
    with run.store.session() as session:
        return len([s for s in session.scalars(select(EngagementSnapshot)) if s.api_version == "graph-v25.0"])

