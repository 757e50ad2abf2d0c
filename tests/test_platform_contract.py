"""One contract, six adapters: each test runs against X, Facebook, Mastodon, Bluesky, LinkedIn and Instagram.

Every adapter is exercised through its real client library (tweepy, pyfacebook, Mastodon.py,
atproto; LinkedIn's REST API and Instagram's Graph API through requests) over real HTTP to the in-process sandbox;
nothing is mocked. Instagram's posts carry an image (every Instagram post is one), put in moto's S3 server (its
media host) and fetched from there by the sandbox, as Instagram fetches it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import math
import re
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from campaign.exceptions import CampaignError
from campaign.platforms import PLATFORMS, adapter_class, little_text
from campaign.platforms.base import MEASURES, AccountConfig, Adapter, ImageNotApproved, MediaItem, Outgoing
from campaign.platforms.bluesky import record_key
from campaign.platforms.errors import (
    AuthExpired,
    Duplicate,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    TooLong,
    Transient,
)
from campaign.platforms.linkedin import next_midnight
from campaign.sandbox import Sandbox, SandboxAccount, running
from campaign.sandbox.faults import NO_DUPLICATE_ERROR
from campaign.sandbox.runner import SandboxServer
from tests.conftest import FakeClock, served_over_https
from tests.runner_fixtures import wait_until
from tests.instagram_fixtures import S3Server, instagram_config, jpeg, post_for

PLATFORM_NAMES = ["x", "facebook", "mastodon", "bluesky", "linkedin", "instagram"]
CREATE = {
    "x": "POST /2/tweets",
    "facebook": "POST /v*/*/feed",
    "mastodon": "POST /api/v1/statuses",
    "bluesky": "POST /xrpc/com.atproto.repo.createRecord",
    "linkedin": "POST /rest/posts",
    "instagram": "POST /v*/*/media_publish",
}
METRICS = {
    "x": ("GET", "/2/tweets"),
    "facebook": ("GET", "/v25.0"),
    "mastodon": ("GET", "/api/v1/statuses/*"),
    "bluesky": ("GET", "/xrpc/app.bsky.feed.getPosts"),
    "linkedin": ("GET", "/rest/organizationalEntityShareStatistics"),
    "instagram": ("GET", "/v25.0/*/insights"),
}
REPORTS_VIEWS = {"x": True, "facebook": True, "mastodon": False, "bluesky": False, "linkedin": True,
                 "instagram": True}
FAULTS = {
    "rate_limit": RateLimited,
    "error500": Transient,
    "error503": Transient,
    "expired_token": AuthExpired,
    "duplicate": Duplicate,
}
HANG_TIMEOUT = 0.5


@pytest.fixture(params=PLATFORM_NAMES)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_adapter(sandbox: Sandbox, platform: str, timeout: float = 5.0, s3: S3Server | None = None) -> Adapter:
    """The adapter of the sandbox's account on *platform* (Instagram's with *s3* as its media host)."""
    if platform == "instagram":
        assert s3 is not None, "Instagram needs a media host: pass the s3_server fixture"
        return adapter_class(platform)(instagram_config(sandbox, s3, timeout))
    return adapter_class(platform)(sandbox.account_config(platform, timeout=timeout))


@pytest.fixture
def adapter(sandbox: Sandbox, platform: str, s3_server: S3Server) -> Iterator[Adapter]:
    with make_adapter(sandbox, platform, s3=s3_server) as made:
        yield made


def fault(platform: str, kind: str, options: str = "") -> str:
    method, path = CREATE[platform].split(" ")
    return f"{platform}:{method} {path}:{kind}" + (f":{options}" if options else "")


# -- publishing ---------------------------------------------------------------------------------------


def test_a_text_post_is_published_with_exactly_that_text(
    sandbox: Sandbox, adapter: Adapter, platform: str
) -> None:
    text = "Modern slavery is closer than you think. Call 08000 121 700 #SeeItShareIt https://www.gov.uk/modern-slavery"
    receipt = adapter.publish(post_for(platform, text))
    [posted] = sandbox.posts(platform)
    assert posted.id == receipt.remote_id
    assert posted.text == text
    assert receipt.url.startswith(("https://", "http://"))


def test_an_image_is_published_with_its_alt_text(
    sandbox: Sandbox, adapter: Adapter, platform: str, png: Path
) -> None:
    alt = "The cover of the pocket guide: a hand holding a phone showing the helpline number"
    image = jpeg(alt=alt) if "image/png" not in PLATFORMS[platform].image_types else MediaItem.from_file(png, alt,
                                                                                                         "image/png")
    receipt = adapter.publish(Outgoing("Our pocket guide", images=(image,)))
    [posted] = sandbox.posts(platform)
    assert posted.id == receipt.remote_id
    assert posted.alt_texts == [alt]
    assert posted.media[0].mime_type == image.mime_type
    assert posted.media[0].size == len(image.data)
    assert posted.media[0].sha256 == hashlib.sha256(image.data).hexdigest()


def test_a_thread_reply_is_recorded_as_a_reply_to_the_first_post(
    sandbox: Sandbox, adapter: Adapter, platform: str
) -> None:
    if not PLATFORMS[platform].threads:
        pytest.skip(f"{platform} has no threads: test_linkedin_refuses_a_reply_before_any_request")
    first = adapter.publish(Outgoing("Thread 1/2: the signs of modern slavery"))
    second = adapter.publish(Outgoing("Thread 2/2: how to report it", reply_to=first.remote_id))
    reply = next(p for p in sandbox.posts(platform) if p.id == second.remote_id)
    assert reply.reply_to == first.remote_id
    assert reply.text == "Thread 2/2: how to report it"


def test_bluesky_posts_carry_facets_so_tags_and_links_are_clickable(sandbox: Sandbox) -> None:
    with make_adapter(sandbox, "bluesky") as bluesky:
        bluesky.publish(Outgoing("Know the signs #SeeItShareIt https://www.gov.uk/modern-slavery"))
    features = [f["features"][0]["$type"] for f in sandbox.posts("bluesky")[0].facets]
    assert features == ["app.bsky.richtext.facet#tag", "app.bsky.richtext.facet#link"]


# -- metrics --------------------------------------------------------------------------------------------


def test_metrics_for_a_batch_use_one_request_per_platform_batch(
    sandbox: Sandbox, adapter: Adapter, platform: str, clock: FakeClock
) -> None:
    batch = PLATFORMS[platform].metrics_batch
    count = batch + 1 if batch > 1 else 3
    ids = [
        adapter.publish(post_for(platform, f"Post {number} of the week of action")).remote_id
        for number in range(count)
    ]
    clock.advance(hours=12)
    sandbox.clear_requests()

    readings = adapter.metrics(ids)

    method, path = METRICS[platform]
    assert len(sandbox.requests(platform, method, path)) == math.ceil(count / batch)
    assert [r.remote_id for r in readings] == ids
    for reading in readings:
        assert reading.collected_at.tzinfo is not None and reading.collected_at.utcoffset() == timedelta(0)
        assert set(reading.measures) == set(MEASURES)
        assert reading.measures["likes"] and reading.measures["likes"] > 0
        assert (reading.measures["views"] is not None) is REPORTS_VIEWS[platform]
        assert reading.source_metrics and all(isinstance(v, int) for v in reading.source_metrics.values())
        assert reading.api_version == adapter.api_version


def test_metrics_grow_as_time_passes(sandbox: Sandbox, adapter: Adapter, platform: str, clock: FakeClock) -> None:
    post_id = adapter.publish(post_for(platform, "Engagement grows")).remote_id
    clock.advance(hours=1)
    early = adapter.metrics([post_id])[0].measures["likes"]
    clock.advance(hours=24)
    late = adapter.metrics([post_id])[0].measures["likes"]
    assert early is not None and late is not None and late > early


def test_metrics_leave_out_deleted_posts(sandbox: Sandbox, adapter: Adapter, platform: str) -> None:
    kept = adapter.publish(post_for(platform, "Still here")).remote_id
    gone = adapter.publish(post_for(platform, "Deleted later")).remote_id
    sandbox.delete_post(platform, gone)
    assert [r.remote_id for r in adapter.metrics([kept, gone])] == [kept]


# -- reconciliation -------------------------------------------------------------------------------------


def test_find_finds_a_post_by_its_text_and_nothing_else(
    sandbox: Sandbox, adapter: Adapter, platform: str, clock: FakeClock
) -> None:
    """A lookup returns this account's posts with the same text (as the platform shows it: HTML-escaped, links
    shortened) created since the given time; an empty list means the platform has none."""
    text = "Training in Preston today & tomorrow: lancashire.police.uk/training #ModernSlavery"
    adapter.publish(post_for(platform, "An earlier post"))
    receipt = adapter.publish(post_for(platform, text))
    since = clock.now - timedelta(minutes=5)
    assert [found.remote_id for found in adapter.find(Outgoing(text), since)] == [receipt.remote_id]
    assert adapter.find(Outgoing("A post that was never published"), since) == []
    assert adapter.find(Outgoing(text), clock.now + timedelta(minutes=1)) == []


# -- the account ----------------------------------------------------------------------------------------


def test_check_returns_the_identity_behind_the_credentials(
    sandbox: Sandbox, adapter: Adapter, platform: str
) -> None:
    identity = adapter.check()
    account = sandbox.account(platform)
    assert identity.platform == platform
    assert identity.handle == account.handle
    assert identity.remote_user_id == account.user_id
    assert identity.display_name == "Lancashire Police"
    assert identity.token_ok and identity.problem is None
    assert identity.permissions


def test_check_reports_a_refused_token_instead_of_raising(
    sandbox: Sandbox, adapter: Adapter, platform: str
) -> None:
    sandbox.set_faults(f"{platform}:*:expired_token")
    identity = adapter.check()
    assert not identity.token_ok
    assert identity.problem and PLATFORMS[platform].label in identity.problem


def test_constructing_an_adapter_makes_no_request(sandbox: Sandbox, platform: str, s3_server: S3Server) -> None:
    make_adapter(sandbox, platform, s3=s3_server).close()
    assert sandbox.requests() == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_connection_opened_ahead_carries_the_post_and_reaches_no_endpoint(
    platform: str, scheme: str, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    """After the server closed its idle connections (as servers do), connecting ahead opens one, and the post's
    request goes out on it: the server never sees a second connection, over HTTPS (TLS 1.3, whose session
    tickets arrive after the handshake) as over plain HTTP. Opening it touched no platform endpoint (the sandbox
    recorded nothing: no credentials sent, no rate limit counted). Closing the adapter closes it."""
    context = served_over_https(tmp_path, monkeypatch) if scheme == "https" else None
    sandbox = Sandbox(seed=1234, clock=clock)
    with SandboxServer(sandbox, ssl_context=context) as server:
        assert server.base_url.startswith(f"{scheme}://")
        with make_adapter(sandbox, platform, s3=s3_server) as adapter:
            adapter.prepare()  # Bluesky logs in here, on a connection of its own
            server.go_down(0.05)  # cuts every open connection
            assert wait_until(lambda: not server.is_down and not server.open_connections(), timeout=5)
            recorded = len(sandbox.requests())

            adapter.connect_ahead(timeout=2.0)
            expected = 2 if platform == "x" else 1  # X: one for posts and one for images (one server here)
            assert wait_until(lambda: len(server.open_connections()) == expected, timeout=5)  # accepted in its time
            opened = server.open_connections()
            assert len(sandbox.requests()) == recorded

            adapter.publish(post_for(platform, "Open before nine, sent at nine #ModernSlavery"))
            assert server.open_connections() == opened
            assert len(sandbox.requests(platform, *CREATE[platform].split(" "))) == 1
        assert wait_until(lambda: not server.open_connections(), timeout=5)


# -- local checks -----------------------------------------------------------------------------------------


def test_over_long_text_is_rejected_before_any_request(
    sandbox: Sandbox, adapter: Adapter, platform: str
) -> None:
    limit = PLATFORMS[platform].max_length
    with pytest.raises(TooLong) as raised:
        adapter.publish(Outgoing("a" * (limit + 1)))
    assert (raised.value.length, raised.value.limit) == (limit + 1, limit)
    assert str(limit) in str(raised.value)
    assert sandbox.requests() == []


def test_too_many_images_or_too_long_alt_text_are_rejected_before_any_request(
    sandbox: Sandbox,
    adapter: Adapter,
    platform: str,
    png: Path,
) -> None:
    spec = PLATFORMS[platform]
    image = MediaItem.from_file(png, "A pocket guide", "image/png")
    with pytest.raises(InvalidMedia):
        adapter.publish(Outgoing("Too many", images=(image,) * (spec.max_images + 1)))
    with pytest.raises(InvalidMedia):
        adapter.publish(
            Outgoing("Alt too long", images=(MediaItem.from_file(png, "x" * (spec.max_alt_text + 1), "image/png"),))
        )
    assert sandbox.requests() == []


def test_an_image_changed_since_approval_is_refused_before_it_reaches_an_adapter(png: Path) -> None:
    """The bytes sent are the bytes approved: an image whose checksum differs from the approved one, or that is
    gone, cannot be made into a post at all."""
    approved = hashlib.sha256(png.read_bytes()).hexdigest()
    assert MediaItem.from_file(png, "alt", "image/png", approved).data == png.read_bytes()
    png.write_bytes(png.read_bytes() + b"replaced after sign-off")
    with pytest.raises(ImageNotApproved, match="has changed since the post was approved"):
        MediaItem.from_file(png, "alt", "image/png", approved)
    with pytest.raises(ImageNotApproved, match="cannot be read"):
        MediaItem.from_file(png.with_name("nope.png"), "alt", "image/png", approved)


# -- faults -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_fault_maps_to_its_error_kind(
    sandbox: Sandbox, adapter: Adapter, platform: str, kind: str
) -> None:
    if kind == "duplicate" and platform in NO_DUPLICATE_ERROR:
        pytest.skip(f"{platform} accepts identical posts: it has no duplicate error")
    sandbox.set_faults(fault(platform, kind, "reset=120" if kind == "rate_limit" else ""))
    with pytest.raises(PlatformError) as raised:
        adapter.publish(post_for(platform, f"Hit by {kind}"))
    error = raised.value
    assert type(error) is FAULTS[kind]
    assert error.platform == platform
    assert sandbox.posts(platform) == []
    if isinstance(error, RateLimited) and platform == "linkedin":  # daily limits, reset at midnight UTC
        assert error.retry_at == next_midnight(datetime.now(UTC))
    elif isinstance(error, RateLimited):
        assert error.retry_at is not None
        assert datetime.now(UTC) < error.retry_at <= datetime.now(UTC) + timedelta(minutes=3)
    if isinstance(error, Transient):
        assert error.outcome_unknown  # the post request itself failed: it may have been made


def test_a_hung_connection_is_transient_after_the_timeout(sandbox: Sandbox, platform: str, s3_server: S3Server) -> None:
    sandbox.set_faults(fault(platform, "hang"))
    with make_adapter(sandbox, platform, timeout=HANG_TIMEOUT, s3=s3_server) as adapter:
        started = time.monotonic()
        with pytest.raises(Transient) as raised:
            adapter.publish(post_for(platform, "Nobody answers"))
        elapsed = time.monotonic() - started
    assert HANG_TIMEOUT * 0.9 <= elapsed < HANG_TIMEOUT + 2.0
    assert raised.value.outcome_unknown
    assert f"{HANG_TIMEOUT:g} seconds" in str(raised.value)


def test_a_failure_before_the_post_request_leaves_no_doubt(sandbox: Sandbox, png: Path) -> None:
    sandbox.set_faults("x:POST /2/media/upload:error503")
    with make_adapter(sandbox, "x") as adapter, pytest.raises(Transient) as raised:
        adapter.publish(Outgoing("With an image", images=(MediaItem.from_file(png, "alt", "image/png"),)))
    assert not raised.value.outcome_unknown
    assert sandbox.requests("x", "POST", "/2/tweets") == []


def test_a_rate_limit_on_metrics_is_rate_limited(sandbox: Sandbox, adapter: Adapter, platform: str) -> None:
    post_id = adapter.publish(post_for(platform, "Counted later")).remote_id
    method, path = METRICS[platform]
    sandbox.set_faults(f"{platform}:{method} {path}:rate_limit")
    with pytest.raises(RateLimited):
        adapter.metrics([post_id])


def test_x_rate_limit_waits_for_the_24_hour_cap_when_it_is_spent(sandbox: Sandbox) -> None:
    sandbox.set_faults("x:POST /2/tweets:rate_limit:reset=3600")
    with make_adapter(sandbox, "x") as adapter, pytest.raises(RateLimited) as raised:
        adapter.publish(Outgoing("Over the cap"))
    assert raised.value.retry_at is not None
    assert raised.value.retry_at > datetime.now(UTC) + timedelta(minutes=55)


def test_bluesky_logs_in_again_after_its_session_expired(sandbox: Sandbox) -> None:
    with make_adapter(sandbox, "bluesky") as adapter:
        adapter.publish(Outgoing("First"))
        sandbox.set_faults("bluesky:POST /xrpc/com.atproto.repo.createRecord:expired_token:times=1")
        with pytest.raises(AuthExpired) as raised:
            adapter.publish(Outgoing("Second"))
        assert raised.value.relogin
        adapter.publish(Outgoing("Second"))
    assert [p.text for p in sandbox.posts("bluesky")] == ["First", "Second"]
    assert len(sandbox.requests("bluesky", "POST", "/xrpc/com.atproto.server.createSession")) == 2


def test_bluesky_logs_in_once_for_many_posts(sandbox: Sandbox) -> None:
    with make_adapter(sandbox, "bluesky") as adapter:
        for number in range(3):
            adapter.publish(Outgoing(f"Post {number}"))
    assert len(sandbox.requests("bluesky", "POST", "/xrpc/com.atproto.server.createSession")) == 1


def test_mastodon_resending_with_the_same_idempotency_key_publishes_once(sandbox: Sandbox) -> None:
    post = Outgoing("Sent twice after a timeout", idempotency_key="post-42:sha256-abc")
    with make_adapter(sandbox, "mastodon") as adapter:
        assert adapter.idempotent_publish
        first, second = adapter.publish(post), adapter.publish(post)
    assert first == second
    assert len(sandbox.posts("mastodon")) == 1


# -- secrets ----------------------------------------------------------------------------------------------

SECRETS = {
    "x": {
        "consumer_key": "ck-SECRET-x-4f1a9c",
        "consumer_secret": "cs-SECRET-x-77be02",
        "access_token": "1199887766554433221-SECRET-x-token-c0ffee",
        "access_token_secret": "ats-SECRET-x-5d5d5d",
    },
    "facebook": {
        "page_id": "100064581234567",
        "page_access_token": "EAA-SECRET-facebook-token-9931",
        "app_secret": "app-SECRET-facebook-4242",
    },
    "mastodon": {"access_token": "SECRET-mastodon-token-abcdef"},
    "bluesky": {"app_password": "SECRET-bsky-app-pass-0001"},
    "linkedin": {"organization_id": "2414183", "access_token": "AQ-SECRET-linkedin-token-7e7e"},
    "instagram": {"ig_user_id": "17841400000012345", "access_token": "EAA-SECRET-instagram-token-5151"},
}
SECRET_TEST_TIMEOUT = 0.2
WRONG = {
    "x": "access_token_secret",
    "facebook": "page_access_token",
    "mastodon": "access_token",
    "bluesky": "app_password",
    "linkedin": "access_token",
    "instagram": "access_token",
}


def _secret_sandbox(clock: FakeClock) -> Sandbox:
    accounts = []
    for account in Sandbox().accounts():
        credentials = SECRETS[account.platform]
        accounts.append(
            SandboxAccount(
                account.platform,
                account.handle,
                account.user_id,
                account.display_name,
                dict(credentials),
                app_bearer_token=account.app_bearer_token,
                scopes=account.scopes,
            )
        )
    return Sandbox(seed=5, clock=clock, accounts=accounts)


def _error_paths(sandbox: Sandbox, platform: str, png: Path, s3: S3Server) -> Iterator[BaseException]:
    """Every way publishing, metrics, reconciliation and check can fail, each error raised."""
    config = sandbox.account_config(platform, timeout=SECRET_TEST_TIMEOUT)
    if platform == "instagram":
        config = instagram_config(sandbox, s3, SECRET_TEST_TIMEOUT)
    kinds = [k for k in (*FAULTS, "hang") if not (k == "duplicate" and platform in NO_DUPLICATE_ERROR)]
    image = jpeg() if platform == "instagram" else MediaItem.from_file(png, "alt", "image/png")
    post = Outgoing("Secret test", images=(image,))
    for kind in kinds:
        sandbox.set_faults(f"{platform}:*:{kind}")
        with adapter_class(platform)(config) as adapter:
            for call in (
                lambda: adapter.publish(post),
                lambda: adapter.metrics(["1_2"]),
                lambda: adapter.find(Outgoing("x"), datetime.now(UTC)),
                adapter.check,
            ):
                try:
                    result = call()
                except PlatformError as error:
                    yield error
                else:
                    yield RuntimeError(repr(result))
    sandbox.clear_faults()
    wrong = dict(config.credentials) | {
        WRONG[platform]: config.credentials[WRONG[platform]] + "-SECRET-wrong"
    }
    closed = AccountConfig(
        platform, config.handle, dict(config.credentials), "http://127.0.0.1:9", config.timeout, config.media_host
    )
    for broken in (AccountConfig(platform, config.handle, wrong, config.api_base, config.timeout, config.media_host),
                   closed):
        with adapter_class(platform)(broken) as adapter:
            yield RuntimeError(repr(adapter) + repr(broken) + str(broken))
            for call in (lambda: adapter.publish(post), lambda: adapter.metrics(["1_2"]), adapter.check):
                try:
                    yield RuntimeError(repr(call()))
                except PlatformError as error:
                    yield error


def test_secrets_never_appear_in_errors_logs_or_sandbox_records(
    platform: str,
    clock: FakeClock,
    png: Path,
    caplog: pytest.LogCaptureFixture,
    s3_server: S3Server,
) -> None:
    caplog.set_level(logging.DEBUG)
    public = ("page_id", "organization_id", "ig_user_id")
    secrets = [v for k, v in SECRETS[platform].items() if k not in public] + ["SECRET-wrong"]
    with running(_secret_sandbox(clock)) as sandbox:
        shown = []
        for error in _error_paths(sandbox, platform, png, s3_server):
            shown += [str(error), repr(error), "".join(traceback.format_exception(error))]
        recorded = repr(sandbox.posts(include_deleted=True)) + repr(sandbox.requests())
    assert any(isinstance(e, str) and "Error" in e for e in shown)
    logged = caplog.text + "".join(repr(r.args) + str(r.msg) for r in caplog.records)
    assert "HTTP" in logged or "http" in logged  # the libraries' debug logging was captured
    for secret in secrets:
        assert not [text for text in shown if secret in text], f"{secret} leaked into an error"
        assert secret not in logged, f"{secret} leaked into the logs"
        assert secret not in recorded


def test_bluesky_refreshes_a_session_about_to_expire_instead_of_logging_in_again() -> None:
    with running(Sandbox(access_token_lifetime=600)) as sandbox:  # atproto refreshes 15 minutes early
        with make_adapter(sandbox, "bluesky") as adapter:
            adapter.publish(Outgoing("First"))
            adapter.publish(Outgoing("Second"))
        assert len(sandbox.requests("bluesky", "POST", "/xrpc/com.atproto.server.createSession")) == 1
        assert sandbox.requests("bluesky", "POST", "/xrpc/com.atproto.server.refreshSession")
        assert [p.text for p in sandbox.posts("bluesky")] == ["First", "Second"]


# -- Bluesky: one record key per post, reads from the PDS, what the record carries -------------------------------


def _keyed(text: str, key: str = "runner-proof:e001/demo-bluesky:0123abcd", **fields: Any) -> Outgoing:
    return Outgoing(text, idempotency_key=key, first_attempt_at=datetime.now(UTC), **fields)


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (0, 94, 184)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_bluesky_record_keys_are_tids_fixed_by_the_first_attempt_and_the_idempotency_key() -> None:
    """The same post always gets the same key; it is a valid TID whose time is the first attempt's (in
    microseconds) and whose clock id comes from the idempotency key."""
    first = datetime(2027, 3, 15, 9, 0, 0, 123456, tzinfo=UTC)
    key = record_key(first, "runner-proof:e001/lancs:abc")
    assert key == record_key(first, "runner-proof:e001/lancs:abc")
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", key)
    value = 0
    for char in key:
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
    assert value >> 10 == (first - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    others = {record_key(first, f"runner-proof:e{n:03d}/lancs:abc") for n in range(50)}
    assert len(others) > 45  # the clock id differs between posts (10 bits: rare collisions only)
    assert record_key(first + timedelta(microseconds=1), "runner-proof:e001/lancs:abc") > key  # sortable


def test_bluesky_a_second_create_of_the_same_post_is_refused_as_a_duplicate_and_looked_up(sandbox: Sandbox) -> None:
    """Sending the same post again (same first attempt and idempotency key) writes to the same record key: the
    sandbox refuses it as the reference PDS does (500), the adapter reads the key back and raises Duplicate,
    and the lookup finds the one post."""
    post = _keyed("Helpline: 08000 121 700")
    with make_adapter(sandbox, "bluesky") as adapter:
        receipt = adapter.publish(post)
        with pytest.raises(Duplicate) as refused:
            adapter.publish(post)
        assert (refused.value.status, refused.value.code) == (500, "InternalServerError")
        assert [p.remote_id for p in adapter.find(post, datetime.now(UTC) - timedelta(minutes=1))] == [receipt.remote_id]
        assert adapter.find(_keyed(post.text, key="another-post"), datetime.now(UTC) - timedelta(minutes=1)) == []
    assert [p.id for p in sandbox.posts("bluesky")] == [receipt.remote_id]
    assert receipt.remote_id.rsplit("/", 1)[1] == sandbox.posts("bluesky")[0].extra["rkey"]


def test_bluesky_a_500_to_a_keyed_create_with_nothing_at_the_key_stays_unknown(sandbox: Sandbox) -> None:
    """A 500 is read as "key taken" only when a record is at the key; otherwise its outcome stays unknown."""
    sandbox.set_faults(fault("bluesky", "error500", "times=1"))
    with make_adapter(sandbox, "bluesky") as adapter, pytest.raises(Transient) as raised:
        adapter.publish(_keyed("Failed, not a duplicate"))
    assert type(raised.value) is Transient and raised.value.outcome_unknown
    assert sandbox.requests("bluesky", "GET", "/xrpc/com.atproto.repo.getRecord")


def test_bluesky_lookups_and_reply_parents_read_the_pds_while_the_appview_lags() -> None:
    """With reads lagging writes by a minute (the AppView behind the PDS), a post published a moment ago is not
    in the author feed or getPosts, yet its lookup by record key finds it and a reply to it goes out."""
    with running(Sandbox(read_lag=60)) as lagging, make_adapter(lagging, "bluesky") as adapter:
        post = _keyed("Training in Preston today")
        parent = adapter.publish(post)
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert adapter.find(Outgoing(post.text), since) == []  # the author feed lags
        assert adapter.metrics([parent.remote_id]) == []  # so does getPosts
        assert [p.remote_id for p in adapter.find(post, since)] == [parent.remote_id]
        reply = adapter.publish(Outgoing("Booking details below", reply_to=parent.remote_id))
        assert lagging.get_post("bluesky", reply.remote_id).reply_to == parent.remote_id  # type: ignore[union-attr]


def test_bluesky_a_lookup_that_cannot_ask_raises_and_a_missing_parent_is_permanent(sandbox: Sandbox) -> None:
    """A failed getRecord is never "not found"; a reply to a post the PDS does not have cannot be sent."""
    with make_adapter(sandbox, "bluesky") as adapter:
        parent = adapter.publish(Outgoing("Deleted later"))
        sandbox.delete_post("bluesky", parent.remote_id)
        with pytest.raises(PlatformError, match="no longer exists") as missing:
            adapter.publish(Outgoing("A reply to nothing", reply_to=parent.remote_id))
        assert missing.value.kind == "permanent"
        sandbox.set_faults("bluesky:GET /xrpc/com.atproto.repo.getRecord:error503")
        with pytest.raises(Transient):
            adapter.find(_keyed("Anything"), datetime.now(UTC) - timedelta(minutes=1))


def test_bluesky_records_carry_language_and_aspect_ratio_and_unresolved_mentions_are_reported(
    sandbox: Sandbox,
) -> None:
    """``langs`` is the post's language, every image has its width and height, the receipt has the record's
    ``createdAt``, and a mention of a handle that resolves to no account is reported, not silently dropped."""
    own = sandbox.account("bluesky").handle
    text = f"Wythnos weithredu gyda @{own} a @neb-yma.bsky.social"
    image = MediaItem("guide.png", _png(40, 30), "Pocket guide", "image/png")
    with make_adapter(sandbox, "bluesky") as adapter:
        receipt = adapter.publish(Outgoing(text, images=(image,), language="cy"))
    [posted] = sandbox.posts("bluesky")
    assert posted.extra["langs"] == ["cy"]
    assert [(r["width"], r["height"]) for r in posted.extra["aspect_ratios"]] == [(40, 30)]
    assert receipt.created_at == datetime.fromisoformat(posted.extra["record"]["createdAt"])
    assert [f["features"][0]["$type"] for f in posted.facets] == ["app.bsky.richtext.facet#mention"]
    assert receipt.warnings == (
        (
            "@neb-yma.bsky.social is not a Bluesky account (the handle does not resolve), so it went out as plain "
            "text, not as a mention."
        ),
    )


def test_bluesky_text_under_300_graphemes_but_over_3000_bytes_is_refused_before_any_request(
    sandbox: Sandbox,
) -> None:
    """The byte limit is checked locally like the grapheme limit: nothing reaches the server."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, 25 bytes
    with make_adapter(sandbox, "bluesky") as adapter, pytest.raises(TooLong) as raised:
        adapter.publish(Outgoing(family * 121))
    assert (raised.value.length, raised.value.limit) == (3025, 3000)
    assert sandbox.requests() == []


def test_bluesky_an_image_that_cannot_be_read_is_refused_before_any_request(sandbox: Sandbox) -> None:
    """Its size (for aspectRatio) comes from its bytes; bytes that are no image stop the post locally."""
    broken = MediaItem("guide.png", b"not a png at all", "Pocket guide", "image/png")
    with make_adapter(sandbox, "bluesky") as adapter, pytest.raises(InvalidMedia, match="cannot be read"):
        adapter.publish(Outgoing("With a broken image", images=(broken,)))
    assert sandbox.requests() == []


# -- LinkedIn ---------------------------------------------------------------------------------------------


def test_linkedin_escapes_its_markup_so_the_page_shows_every_word(sandbox: Sandbox) -> None:
    """LinkedIn's commentary is little text: an unescaped ( or _ is markup, and LinkedIn answers 201 and shows
    the post cut there. The adapter sends every reserved character escaped and each hashtag as a hashtag
    template, so the page (the sandbox shows posts as LinkedIn does) shows the words as written, hashtags as
    hashtags; the same commentary unescaped would have shown only what came before the bracket."""
    text = ("Worried about someone (at work or next door)? Call 101 or the helpline 08000 121 700 *any time* "
            "#ModernSlavery https://www.gov.uk/government/collections/modern_slavery")
    with make_adapter(sandbox, "linkedin") as linkedin:
        linkedin.publish(Outgoing(text))
    [posted] = sandbox.posts("linkedin")
    assert posted.text == text
    sent = posted.extra["commentary"]
    assert "{hashtag|\\#|ModernSlavery}" in sent and "\\(at work" in sent and "modern\\_slavery" in sent
    assert little_text.shown(text) == "Worried about someone "  # the same words, sent unescaped


def test_linkedin_refuses_a_reply_before_any_request(sandbox: Sandbox) -> None:
    """LinkedIn has no threads: a post that replies to another is refused with a reason, and nothing is sent."""
    with make_adapter(sandbox, "linkedin") as linkedin, pytest.raises(Permanent, match="no threads"):
        linkedin.publish(Outgoing("How to report it", reply_to="urn:li:share:7012345678901234567"))
    assert sandbox.requests() == []


def test_linkedin_posts_several_images_as_one_multi_image_post(sandbox: Sandbox, png: Path) -> None:
    """Each image is registered, its bytes uploaded, and the post names them all with their alt texts."""
    images = tuple(MediaItem.from_file(png, f"Card {n}", "image/png") for n in (1, 2, 3))
    with make_adapter(sandbox, "linkedin") as linkedin:
        receipt = linkedin.publish(Outgoing("Three cards for the week", images=images))
    [posted] = sandbox.posts("linkedin")
    assert posted.id == receipt.remote_id and posted.alt_texts == ["Card 1", "Card 2", "Card 3"]
    assert len(sandbox.requests("linkedin", "PUT")) == 3


def test_linkedin_metrics_read_a_quiet_post_as_zeros_and_leave_out_a_deleted_one(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """LinkedIn's statistics leave out a share with no impressions and no actions: one that still exists reads
    as zeros (it is there, nobody has seen it yet), one deleted is left out, as on every platform."""
    with make_adapter(sandbox, "linkedin") as linkedin:
        quiet = linkedin.publish(Outgoing("Just out")).remote_id
        gone = linkedin.publish(Outgoing("Deleted at once")).remote_id
        sandbox.delete_post("linkedin", gone)
        [reading] = linkedin.metrics([quiet, gone])
    assert reading.remote_id == quiet
    assert reading.measures["views"] == 0 and reading.measures["likes"] == 0 and reading.measures["quotes"] is None


def test_linkedin_words_longer_once_escaped_are_refused_before_any_request(sandbox: Sandbox) -> None:
    """LinkedIn's length is counted on the commentary as sent: 2,990 characters with 20 brackets are 3,010."""
    text = "a" * 2970 + "()" * 10
    with make_adapter(sandbox, "linkedin") as linkedin, pytest.raises(TooLong) as raised:
        linkedin.publish(Outgoing(text))
    assert (raised.value.length, raised.value.limit) == (3010, 3000)
    assert sandbox.requests() == []


def test_linkedin_takes_the_organisation_as_its_number_or_its_urn(sandbox: Sandbox) -> None:
    """An organization_id written as LinkedIn's tools show it (urn:li:organization:NUMBER) is the same page; one
    that is not a number is refused when the adapter is made, saying what to write; a number LinkedIn does not
    know is reported by the check as that, not as a missing permission."""
    config = sandbox.account_config("linkedin")
    number = config.credentials["organization_id"]

    def with_organization(value: str) -> AccountConfig:
        return dataclasses.replace(config, credentials={**config.credentials, "organization_id": value})

    with adapter_class("linkedin")(with_organization(f"urn:li:organization:{number}")) as linkedin:
        assert linkedin.check().problem is None
    with pytest.raises(CampaignError, match="the digits in its admin address"):
        adapter_class("linkedin")(with_organization("lancashire-police"))
    with adapter_class("linkedin")(with_organization("999")) as unknown:
        problem = unknown.check().problem
    assert problem is not None and problem.startswith("LinkedIn has no organisation 999")


def test_linkedin_waits_for_an_image_to_be_processed_within_its_timeout(sandbox: Sandbox, png: Path) -> None:
    """LinkedIn processes an image after its upload, and refuses a post naming one still PROCESSING: the adapter
    looks again until it is AVAILABLE (the sandbox takes 0.3 s here), then posts. An image still processing when
    the account's timeout is spent is a Transient that sent nothing (the runner tries again later)."""
    image = MediaItem.from_file(png, "A card", "image/png")
    sandbox.media_processing = 0.3
    with make_adapter(sandbox, "linkedin") as linkedin:
        linkedin.publish(Outgoing("Processed in its time", images=(image,)))
    assert len(sandbox.posts("linkedin")) == 1
    assert len(sandbox.requests("linkedin", "GET", "/rest/images/*")) >= 2
    sandbox.media_processing = 60.0
    with make_adapter(sandbox, "linkedin", timeout=1.0) as linkedin, pytest.raises(Transient) as raised:
        linkedin.publish(Outgoing("Still processing", images=(image,)))
    assert not raised.value.outcome_unknown and "still processing" in str(raised.value)
    assert len(sandbox.requests("linkedin", "POST", "/rest/posts")) == 1


def test_linkedin_finds_a_post_listed_behind_an_older_one_edited_since(sandbox: Sandbox, clock: FakeClock) -> None:
    """LinkedIn's finder lists posts by their last change, so an old post edited after ours comes first. The
    lookup reads on past it (it stops only at a post not changed since it was sent) and finds ours: stopping at
    the first post made before, it said 'not there' and the post would have been sent again."""
    with make_adapter(sandbox, "linkedin") as linkedin:
        old = linkedin.publish(Outgoing("Last week's appeal for information"))
        clock.advance(hours=2)
        ours = linkedin.publish(Outgoing("Training in Preston today"))
        edited = next(post for post in sandbox.posts("linkedin") if post.id == old.remote_id)
        changed = int((clock.now + timedelta(minutes=1)).timestamp() * 1000)
        sandbox.record_post(dataclasses.replace(edited, extra={**edited.extra, "last_modified_ms": changed}))
        found = linkedin.find(Outgoing("Training in Preston today"), clock.now - timedelta(minutes=5))
    assert [post.remote_id for post in found] == [ours.remote_id]
