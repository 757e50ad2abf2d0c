"""The sandbox itself, spoken to with plain HTTP (requests): it must refuse and answer like the platforms."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from click.testing import CliRunner
from requests_oauthlib import OAuth1

from campaign.cli import main
from campaign.platforms.base import ORIGINAL_URL_HEADER
from campaign.sandbox import FaultSpecError, Sandbox, parse_fault, running
from campaign.sandbox.engagement import Engagement
from campaign.sandbox.faults import FaultPlan
from tests.conftest import FakeClock

X_UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


def x_auth(sandbox: Sandbox, **override: str) -> OAuth1:
    c = sandbox.account("x").credentials | override
    return OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"])


def x_post(sandbox: Sandbox, text: str, auth: OAuth1 | None = None) -> requests.Response:
    return requests.post(
        f"{sandbox.base_url}/2/tweets", json={"text": text}, auth=auth or x_auth(sandbox), timeout=5
    )


def fb_params(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    c = sandbox.account("facebook").credentials
    proof = hmac.new(c["app_secret"].encode(), c["page_access_token"].encode(), hashlib.sha256).hexdigest()
    return {"access_token": c["page_access_token"], "appsecret_proof": proof, **extra}


def fb_page(sandbox: Sandbox) -> str:
    return f"{sandbox.base_url}/v25.0/{sandbox.account('facebook').user_id}"


def mastodon_headers(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.account('mastodon').credentials['access_token']}", **extra}


def bluesky_session(sandbox: Sandbox) -> dict[str, str]:
    account = sandbox.account("bluesky")
    response = requests.post(
        f"{sandbox.base_url}/xrpc/com.atproto.server.createSession",
        timeout=5,
        json={"identifier": account.handle, "password": account.credentials["app_password"]},
    )
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


# -- X ---------------------------------------------------------------------------------------------------


def test_x_accepts_a_correct_oauth1_signature(sandbox: Sandbox) -> None:
    response = x_post(sandbox, "Signed correctly")
    assert response.status_code == 201
    assert response.json()["data"]["text"] == "Signed correctly"


def test_x_rejects_a_bad_oauth1_signature_with_its_401(sandbox: Sandbox) -> None:
    response = x_post(
        sandbox, "Signed with the wrong secret", x_auth(sandbox, consumer_secret="not-the-secret")
    )
    assert response.status_code == 401
    assert response.json() == X_UNAUTHORIZED
    assert sandbox.posts("x") == []


def test_x_verifies_the_signature_over_the_original_url(sandbox: Sandbox) -> None:
    """A request signed for api.twitter.com verifies only when the original URL comes along."""
    prepared = requests.Request("GET", "https://api.twitter.com/2/users/me", auth=x_auth(sandbox)).prepare()
    local = prepared.url.replace("https://api.twitter.com", sandbox.base_url)  # type: ignore[union-attr]
    without = requests.get(local, headers={"Authorization": prepared.headers["Authorization"]}, timeout=5)
    assert without.status_code == 401
    prepared = requests.Request("GET", "https://api.twitter.com/2/users/me", auth=x_auth(sandbox)).prepare()
    with_original = requests.get(
        local,
        timeout=5,
        headers={"Authorization": prepared.headers["Authorization"], ORIGINAL_URL_HEADER: str(prepared.url)},
    )
    assert with_original.status_code == 200
    assert with_original.json()["data"]["username"] == "LancsPolice"


def test_x_rejects_a_replayed_nonce(sandbox: Sandbox) -> None:
    prepared = requests.Request("GET", f"{sandbox.base_url}/2/users/me", auth=x_auth(sandbox)).prepare()
    session = requests.Session()
    assert session.send(prepared, timeout=5).status_code == 200
    assert session.send(prepared, timeout=5).status_code == 401


def test_x_checks_bearer_tokens(sandbox: Sandbox) -> None:
    post_id = x_post(sandbox, "Readable with the app token").json()["data"]["id"]
    good = {"Authorization": f"Bearer {sandbox.account('x').app_bearer_token}"}
    bad = {"Authorization": "Bearer None"}
    lookup = f"{sandbox.base_url}/2/tweets?ids={post_id}"
    assert requests.get(lookup, headers=good, timeout=5).json()["data"][0]["id"] == post_id
    refused = requests.get(lookup, headers=bad, timeout=5)
    assert (refused.status_code, refused.json()) == (401, X_UNAUTHORIZED)
    app_only_post = requests.post(
        f"{sandbox.base_url}/2/tweets", json={"text": "no"}, headers=good, timeout=5
    )
    assert app_only_post.status_code == 403
    assert app_only_post.json()["title"] == "Unsupported Authentication"


def test_x_counts_weighted_length_and_rejects_over_long_posts(sandbox: Sandbox) -> None:
    assert x_post(sandbox, "😀" * 140).status_code == 201  # emoji weigh 2: exactly 280
    response = x_post(sandbox, "😀" * 141)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Your Tweet text is too long.")
    assert x_post(sandbox, "a" * 257 + " https://example.com/" + "b" * 200).status_code == 400
    assert (
        x_post(sandbox, "a" * 256 + " https://example.com/" + "b" * 200).status_code == 201
    )  # the URL weighs 23


def test_x_refuses_duplicate_content_with_its_403(sandbox: Sandbox) -> None:
    assert x_post(sandbox, "Said once").status_code == 201
    response = x_post(sandbox, "Said once")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "title": "Forbidden",
        "status": 403,
        "type": "about:blank",
    }


def test_x_rate_limit_fault_sends_reset_headers(sandbox: Sandbox) -> None:
    sandbox.set_faults("x:POST /2/tweets:rate_limit:every=2,reset=90")
    assert x_post(sandbox, "first").status_code == 201
    limited = x_post(sandbox, "second")
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert 80 <= int(limited.headers["x-rate-limit-reset"]) - time.time() <= 91
    assert "x-user-limit-24hour-reset" in limited.headers
    assert x_post(sandbox, "third").status_code == 201


def test_x_wraps_links_in_tco_and_escapes_html_like_x(sandbox: Sandbox) -> None:
    x_post(sandbox, "Fish & chips at https://example.com/menu")
    lookup = requests.get(
        f"{sandbox.base_url}/2/users/{sandbox.account('x').user_id}/tweets",
        params={"tweet.fields": "entities"},
        auth=x_auth(sandbox),
        timeout=5,
    ).json()
    tweet = lookup["data"][0]
    assert tweet["text"].startswith("Fish &amp; chips at https://t.co/")
    assert tweet["entities"]["urls"][0]["expanded_url"] == "https://example.com/menu"


# -- Facebook ---------------------------------------------------------------------------------------------


def test_facebook_rejects_a_bad_token_with_code_190(sandbox: Sandbox) -> None:
    response = requests.get(fb_page(sandbox), params={"access_token": "EAAnotatoken"}, timeout=5)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert set(error) >= {"message", "type", "code", "fbtrace_id"}


def test_facebook_requires_a_valid_appsecret_proof(sandbox: Sandbox) -> None:
    params = fb_params(sandbox)
    assert requests.get(fb_page(sandbox), params=params, timeout=5).status_code == 200
    wrong = requests.get(fb_page(sandbox), params=params | {"appsecret_proof": "0" * 64}, timeout=5)
    assert wrong.json()["error"]["code"] == 100
    missing = requests.get(fb_page(sandbox), params={"access_token": params["access_token"]}, timeout=5)
    assert (
        missing.json()["error"]["message"] == "API calls from the server require an appsecret_proof argument"
    )


def test_facebook_rejects_an_over_long_message(sandbox: Sandbox) -> None:
    response = requests.post(
        f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="a" * 63207), timeout=5
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 100
    ok = requests.post(f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="a" * 63206), timeout=5)
    assert ok.status_code == 200 and ok.json()["id"].startswith(sandbox.account("facebook").user_id + "_")


def test_facebook_refuses_a_repeated_message_with_code_506(sandbox: Sandbox) -> None:
    requests.post(f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="Same again"), timeout=5)
    again = requests.post(
        f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="Same again"), timeout=5
    )
    assert again.json()["error"]["code"] == 506


def test_facebook_insights_serve_2026_metrics_and_fail_the_call_on_a_retired_one(sandbox: Sandbox) -> None:
    post_id = requests.post(
        f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="Counted"), timeout=5
    ).json()["id"]
    url = f"{sandbox.base_url}/v25.0/{post_id}/insights"
    served = requests.get(
        url, params=fb_params(sandbox, metric="post_media_view,post_clicks_by_type"), timeout=5
    )
    assert [m["name"] for m in served.json()["data"]] == ["post_media_view", "post_clicks_by_type"]
    retired = requests.get(
        url, params=fb_params(sandbox, metric="post_media_view,post_impressions"), timeout=5
    )
    assert retired.status_code == 400
    assert retired.json()["error"]["code"] == 100
    assert retired.json()["error"]["message"] == "(#100) The value must be a valid insights metric"
    expanded = requests.get(
        f"{sandbox.base_url}/v25.0/{post_id}",
        timeout=5,
        params=fb_params(sandbox, fields="insights.metric(post_engaged_users)"),
    )
    assert expanded.json()["error"]["code"] == 100


def test_facebook_expands_fields_with_summaries(sandbox: Sandbox, clock: FakeClock) -> None:
    post_id = requests.post(
        f"{fb_page(sandbox)}/feed", data=fb_params(sandbox, message="Shared"), timeout=5
    ).json()["id"]
    clock.advance(hours=48)
    fields = "id,reactions.summary(total_count).limit(0),comments.summary(true).limit(0){message},shares"
    body = requests.get(
        f"{sandbox.base_url}/v25.0/", timeout=5, params=fb_params(sandbox, ids=post_id, fields=fields)
    )
    post = body.json()[post_id]
    assert post["reactions"]["data"] == [] and post["reactions"]["summary"]["total_count"] > 0
    assert post["comments"]["summary"]["total_count"] > 0
    assert post["shares"]["count"] > 0


# -- Mastodon ---------------------------------------------------------------------------------------------


def test_mastodon_rejects_an_over_long_status_with_422(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/v1/statuses"
    response = requests.post(url, data={"status": "a" * 501}, headers=mastodon_headers(sandbox), timeout=5)
    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    link = "https://example.com/" + "x" * 100  # every URL counts 23
    fits = requests.post(
        url, data={"status": "a" * 476 + " " + link}, headers=mastodon_headers(sandbox), timeout=5
    )
    assert fits.status_code == 200


def test_mastodon_replays_the_same_status_for_the_same_idempotency_key(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/v1/statuses"
    headers = mastodon_headers(sandbox, **{"Idempotency-Key": "post-7"})
    first = requests.post(url, data={"status": "Only once"}, headers=headers, timeout=5).json()
    again = requests.post(url, data={"status": "Only once"}, headers=headers, timeout=5).json()
    other = requests.post(
        url,
        data={"status": "Only once"},
        headers=mastodon_headers(sandbox, **{"Idempotency-Key": "post-8"}),
        timeout=5,
    ).json()
    assert first["id"] == again["id"] != other["id"]
    assert len(sandbox.posts("mastodon")) == 2


def test_mastodon_rejects_a_bad_token_with_401(sandbox: Sandbox) -> None:
    response = requests.get(
        f"{sandbox.base_url}/api/v1/accounts/verify_credentials",
        headers={"Authorization": "Bearer nope"},
        timeout=5,
    )
    assert (response.status_code, response.json()) == (401, {"error": "The access token is invalid"})


def test_mastodon_serves_instance_info_on_both_versions(sandbox: Sandbox) -> None:
    v1 = requests.get(f"{sandbox.base_url}/api/v1/instance/", timeout=5).json()
    v2 = requests.get(f"{sandbox.base_url}/api/v2/instance/", timeout=5).json()
    assert v1["version"] == v2["version"] == "4.3.0"
    assert v2["configuration"]["statuses"]["max_characters"] == 500


# -- Bluesky ----------------------------------------------------------------------------------------------


def test_bluesky_sessions_are_jwts_with_an_expiry(sandbox: Sandbox) -> None:
    session = bluesky_session(sandbox)
    claims = jwt.decode(
        session["accessJwt"], sandbox.jwt_key, algorithms=["HS256"], audience="did:web:pds.sandbox"
    )
    assert claims["sub"] == sandbox.account("bluesky").user_id
    assert 7000 < claims["exp"] - time.time() <= 7200


def test_bluesky_answers_expired_token_once_the_jwt_has_expired() -> None:
    with running(Sandbox(access_token_lifetime=-5)) as sandbox:
        session = bluesky_session(sandbox)
        response = requests.get(
            f"{sandbox.base_url}/xrpc/app.bsky.actor.getProfile",
            timeout=5,
            params={"actor": session["did"]},
            headers={"Authorization": f"Bearer {session['accessJwt']}"},
        )
    assert (response.status_code, response.json()) == (
        400,
        {"error": "ExpiredToken", "message": "Token has expired"},
    )


def test_bluesky_rejects_a_wrong_app_password_and_a_forged_token(sandbox: Sandbox) -> None:
    refused = requests.post(
        f"{sandbox.base_url}/xrpc/com.atproto.server.createSession",
        timeout=5,
        json={"identifier": "lancspolice.bsky.social", "password": "wrong"},
    )
    assert (refused.status_code, refused.json()["error"]) == (401, "AuthenticationRequired")
    forged = jwt.encode(
        {
            "sub": sandbox.account("bluesky").user_id,
            "scope": "com.atproto.appPass",
            "exp": int(time.time()) + 60,
            "aud": "did:web:pds.sandbox",
        },
        "not-the-sandbox-key-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    response = requests.get(
        f"{sandbox.base_url}/xrpc/app.bsky.feed.getAuthorFeed",
        params={"actor": "x"},
        headers={"Authorization": f"Bearer {forged}"},
        timeout=5,
    )
    assert (response.status_code, response.json()["error"]) == (401, "InvalidToken")


def test_bluesky_rejects_posts_over_300_graphemes(sandbox: Sandbox) -> None:
    session = bluesky_session(sandbox)
    headers = {"Authorization": f"Bearer {session['accessJwt']}"}

    def create(text: str) -> requests.Response:
        record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-20T10:00:00Z"}
        return requests.post(
            f"{sandbox.base_url}/xrpc/com.atproto.repo.createRecord",
            headers=headers,
            timeout=5,
            json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": record},
        )

    accented = "e\u0301"  # one grapheme, two code points
    assert create(accented * 300).status_code == 200
    response = create("a" * 301)
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidRequest"
    assert "300 graphemes" in response.json()["message"]


# -- engagement, faults, latency ------------------------------------------------------------------------------


def test_engagement_grows_deterministically_from_the_seed() -> None:
    start = datetime(2026, 10, 13, 9, 0, tzinfo=UTC)
    clock = FakeClock(start + timedelta(hours=3))
    same_a, same_b, other = Engagement(7, clock), Engagement(7, clock), Engagement(8, clock)
    assert same_a.counts("x", "123", start) == same_b.counts("x", "123", start)
    assert same_a.counts("x", "123", start) != other.counts("x", "123", start)
    assert same_a.counts("x", "123", start) != same_a.counts("x", "124", start)
    assert same_a.counts("x", "123", start + timedelta(hours=3)) == {
        k: 0 for k in same_a.counts("x", "1", start)
    }
    series = []
    for _ in range(10):
        series.append(same_a.counts("x", "123", start)["views"])
        clock.advance(hours=3)
    assert series == sorted(series) and series[0] < series[-1] <= 4000 * 1.5


def test_two_sandboxes_with_the_same_seed_and_clock_report_the_same_numbers() -> None:
    readings = []
    for _ in range(2):
        clock = FakeClock(datetime(2026, 10, 13, 9, 0, tzinfo=UTC))
        with running(Sandbox(seed=99, clock=clock)) as sandbox:
            post_id = x_post(sandbox, "Deterministic").json()["data"]["id"]
            clock.advance(hours=5)
            readings.append(
                requests.get(
                    f"{sandbox.base_url}/2/tweets",
                    auth=x_auth(sandbox),
                    timeout=5,
                    params={"ids": post_id, "tweet.fields": "public_metrics"},
                ).json()
            )
    assert readings[0] == readings[1]
    assert readings[0]["data"][0]["public_metrics"]["like_count"] > 0


def test_fault_rules_read_back_as_they_were_written() -> None:
    for text in (
        "x:POST /2/tweets:rate_limit:every=3",
        "facebook:/v*/*/feed:rate_limit:code=613",
        "bluesky:*:error503:probability=0.25",
        "mastodon:GET /api/*:hang:times=1,after=2",
    ):
        assert parse_fault(text).spec() == text


@pytest.mark.parametrize(
    "text",
    [
        "x:/2/tweets:explode",
        "mastodon:*:duplicate",
        "myspace:*:hang",
        "x:/2/tweets:hang:every=0",
        "x POST /2/tweets hang",
        "x:*:hang:sometimes=1",
        "bluesky:*:bad_token",
        "x:*:bad_appsecret",
        "*:*:no_scope",
    ],
)
def test_fault_rules_that_make_no_sense_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(FaultSpecError) as raised:
        parse_fault(text)
    assert len(str(raised.value)) > 20


def test_every_nth_and_probability_faults_fire_as_written() -> None:
    plan = FaultPlan(["x:GET /2/tweets:error500:every=3,after=1"])
    fired = [plan.pick("x", "GET", "/2/tweets") is not None for _ in range(10)]
    assert fired == [False, False, False, True, False, False, True, False, False, True]
    runs = [
        [FaultPlan(["*:*:hang:probability=0.3"], seed=4).pick("x", "GET", "/") is not None for _ in range(1)]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    plan = FaultPlan(["*:*:hang:probability=0.3"], seed=4)
    hits = sum(plan.pick("bluesky", "GET", "/xrpc/a") is not None for _ in range(1000))
    assert 240 < hits < 360


def test_latency_delays_every_answer() -> None:
    with running(Sandbox(latency_ms=150)) as sandbox:
        started = time.monotonic()
        requests.get(f"{sandbox.base_url}/api/v1/instance/", timeout=5)
        assert time.monotonic() - started >= 0.15


def test_a_hung_request_holds_no_thread_and_others_are_answered(sandbox: Sandbox) -> None:
    sandbox.set_faults("mastodon:GET /api/v1/instance/:hang")
    with pytest.raises(requests.Timeout):
        requests.get(f"{sandbox.base_url}/api/v1/instance/", timeout=0.2)
    assert requests.get(f"{sandbox.base_url}/api/v2/instance/", timeout=5).status_code == 200


def test_recorded_requests_hold_no_query_string(sandbox: Sandbox) -> None:
    requests.get(fb_page(sandbox), params=fb_params(sandbox), timeout=5)
    [record] = sandbox.requests("facebook")
    assert record.path == f"/v25.0/{sandbox.account('facebook').user_id}"
    assert record.status == 200


# -- the command ----------------------------------------------------------------------------------------------


def test_serve_help_documents_the_fault_grammar() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    for word in (
        "PLATFORM:[METHOD ]PATH:KIND",
        "rate_limit",
        "expired_token",
        "every=N",
        "--latency",
        "--seed",
    ):
        assert word in result.output


def test_serve_refuses_a_bad_fault_rule_without_a_traceback() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--faults", "x:*:explode"])
    assert result.exit_code == 1
    assert "unknown fault 'explode'" in result.output
    assert "Traceback" not in result.output


def test_serve_runs_until_interrupted_and_prints_the_demo_credentials() -> None:
    command = [
        sys.executable,
        "-c",
        "from campaign.cli import main; main()",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--quiet",
        "--faults",
        "x:POST /2/tweets:error503",
    ]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Sandbox listening on http://127.0.0.1:"), first
        base_url = first.split()[3]
        lines = [process.stdout.readline() for _ in range(5)]
        assert any("SANDBOX_X_CONSUMER_KEY=sandbox-x-consumer-key" in line for line in lines)
        assert requests.get(base_url + "/", timeout=5).json()["faults"] == ["x:POST /2/tweets:error503"]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Sandbox stopped." in output


def test_mastodon_public_reads_need_no_token_but_refuse_a_bad_one(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/v1/statuses"
    status = requests.post(url, data={"status": "Public"}, headers=mastodon_headers(sandbox), timeout=5).json()
    assert requests.get(f"{url}/{status['id']}", timeout=5).status_code == 200
    refused = requests.get(f"{url}/{status['id']}", headers={"Authorization": "Bearer revoked"}, timeout=5)
    assert refused.status_code == 401


def test_x_honours_deletes(sandbox: Sandbox) -> None:
    post_id = x_post(sandbox, "Posted by mistake").json()["data"]["id"]
    deleted = requests.delete(f"{sandbox.base_url}/2/tweets/{post_id}", auth=x_auth(sandbox), timeout=5)
    assert deleted.json() == {"data": {"deleted": True}}
    lookup = requests.get(f"{sandbox.base_url}/2/tweets", params={"ids": post_id}, auth=x_auth(sandbox), timeout=5)
    assert "data" not in lookup.json()
    assert lookup.json()["errors"][0]["title"] == "Not Found Error"
    assert sandbox.posts("x") == [] and sandbox.posts("x", include_deleted=True)[0].deleted
