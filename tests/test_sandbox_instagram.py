"""Instagram over its wire format: the container flow, the media host, exactly once, the publishing limit, insights.

Everything runs over real HTTP: the adapter (requests) to the in-process sandbox, boto3 to moto's S3 server, and
the sandbox's Instagram GETs every image_url it is given, as Instagram does. Raw requests show what the sandbox
answers where the adapter would never ask it (a URL it cannot fetch, a second publish of one container).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from campaign.platforms import adapter_class
from campaign.platforms.base import Adapter, MediaItem, Outgoing
from campaign.platforms.errors import AccountProblem, InvalidMedia, Permanent, RateLimited, Transient
from campaign.platforms.instagram import GRAPH_VERSION
from campaign.platforms.media_host import S3MediaHost, ServedMediaHost
from campaign.sandbox import RecordedPost, Sandbox
from tests.conftest import FakeClock
from tests.instagram_fixtures import KEYS, S3Server, instagram_config, jpeg, jpeg_bytes


def make(sandbox: Sandbox, s3: S3Server, timeout: float = 5.0) -> Adapter:
    return adapter_class("instagram")(instagram_config(sandbox, s3, timeout))


def graph(sandbox: Sandbox, method: str, path: str, **data: str) -> requests.Response:
    """A raw Graph request with the demo account's token."""
    token = sandbox.account("instagram").credentials["access_token"]
    return requests.request(method, f"{sandbox.base_url}/{GRAPH_VERSION}{path}", data=data or None,
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)


def user(sandbox: Sandbox) -> str:
    return sandbox.account("instagram").user_id


def finished(sandbox: Sandbox, container: str) -> dict[str, Any]:
    """The container's status once the sandbox has processed it."""
    for _ in range(50):
        answer: dict[str, Any] = graph(sandbox, "GET", f"/{container}?fields=status_code,status").json()
        if answer["status_code"] != "IN_PROGRESS":
            return answer
        time.sleep(0.05)  # processing takes real time, whatever the sandbox's clock says
    raise AssertionError(f"container {container} never finished")


# -- the container flow ---------------------------------------------------------------------------------------


def test_an_image_post_is_a_container_instagram_fetched_from_s3_then_one_publish(sandbox: Sandbox,
                                                                                 s3_server: S3Server) -> None:
    """One container (image_url, caption, alt_text), its status read until FINISHED, one media_publish; the bytes
    Instagram fetched from the presigned URL are the approved bytes, stored in the bucket under their SHA-256."""
    image = jpeg(alt="The pocket guide: the helpline number on a phone")
    with make(sandbox, s3_server) as adapter:
        receipt = adapter.publish(Outgoing("Know the signs #SeeItShareIt", images=(image,)))
    [posted] = sandbox.posts("instagram")
    approved = hashlib.sha256(image.data).hexdigest()
    assert (posted.id, posted.text, posted.alt_texts) == (receipt.remote_id, "Know the signs #SeeItShareIt",
                                                          [image.alt])
    assert posted.media[0].sha256 == approved
    assert receipt.url.startswith("https://www.instagram.com/p/")
    assert [(r.method, r.path.replace(user(sandbox), "USER")) for r in sandbox.requests("instagram", "POST")] == [
        ("POST", f"/{GRAPH_VERSION}/USER/media"), ("POST", f"/{GRAPH_VERSION}/USER/media_publish")]
    stored = s3_server.client().get_object(Bucket=s3_server.settings.bucket, Key=f"instagram/{approved}.jpg")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == approved


def test_several_images_are_a_carousel_of_item_containers_published_once(sandbox: Sandbox,
                                                                         s3_server: S3Server) -> None:
    """Three images: three carousel items, then one CAROUSEL container naming them, one media_publish, one media
    holding the three images in order with their alt texts."""
    images = tuple(jpeg(f"card-{n}.jpg", f"Card {n} of the week", colour=(n * 60, 20, 90)) for n in range(1, 4))
    with make(sandbox, s3_server) as adapter:
        adapter.publish(Outgoing("Three cards for the week", images=images))
    [posted] = sandbox.posts("instagram")
    assert posted.alt_texts == ["Card 1 of the week", "Card 2 of the week", "Card 3 of the week"]
    assert [m.sha256 for m in posted.media] == [hashlib.sha256(i.data).hexdigest() for i in images]
    assert posted.extra["media_type"] == "CAROUSEL_ALBUM"
    assert len(sandbox.requests("instagram", "POST", "*/media")) == 4
    assert len(sandbox.requests("instagram", "POST", "*/media_publish")) == 1


def test_instagram_fetches_the_image_itself_and_fails_a_container_it_cannot_fetch(sandbox: Sandbox,
                                                                                  s3_server: S3Server) -> None:
    """A presigned URL for a key the bucket does not have (a wrong URL), bytes that are no JPEG, and a 9:16 picture
    make the container ERROR with Instagram's words, and media_publish of it is refused with code 9007."""
    client = s3_server.client()
    client.put_object(Bucket=s3_server.settings.bucket, Key="not-a-jpeg.png", Body=b"\x89PNG\r\n\x1a\nnot a jpeg")
    wrong = client.generate_presigned_url("get_object", Params={"Bucket": s3_server.settings.bucket,
                                                               "Key": "instagram/never-uploaded.jpg"}, ExpiresIn=60)
    png = client.generate_presigned_url("get_object", Params={"Bucket": s3_server.settings.bucket,
                                                             "Key": "not-a-jpeg.png"}, ExpiresIn=60)
    client.put_object(Bucket=s3_server.settings.bucket, Key="tall.jpg", Body=jpeg_bytes(90, 160))
    tall = client.generate_presigned_url("get_object", Params={"Bucket": s3_server.settings.bucket,
                                                              "Key": "tall.jpg"}, ExpiresIn=60)
    for url, words in ((wrong, "Media download has failed"), (png, "Only photo or video"),
                       (tall, "The aspect ratio is not supported")):
        container = graph(sandbox, "POST", f"/{user(sandbox)}/media", image_url=url, caption="Broken").json()["id"]
        status = finished(sandbox, container)
        assert status["status_code"] == "ERROR" and words in status["status"]
        refused = graph(sandbox, "POST", f"/{user(sandbox)}/media_publish", creation_id=container)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 9007
    assert sandbox.posts("instagram") == []


def test_a_served_image_that_is_not_the_approved_one_is_refused_before_any_container(sandbox: Sandbox) -> None:
    """A base-URL media host: the toolkit GETs the file where the force serves it, and other bytes there (or none)
    stop the post before Instagram is asked anything (nothing sent, the fix named); the approved bytes go out."""
    image = jpeg("guide.jpg")
    config = dataclasses.replace(sandbox.account_config("instagram"),
                                 media_host=ServedMediaHost(f"{sandbox.base_url}/_sandbox/media/"))
    with adapter_class("instagram")(config) as adapter:
        with pytest.raises(InvalidMedia, match="answered 404.*put the approved file at that address"):
            adapter.publish(Outgoing("Not served yet", images=(image,)))
        sandbox.serve_file("guide.jpg", jpeg_bytes(colour=(0, 0, 0)))
        with pytest.raises(InvalidMedia, match="serves other bytes than the approved guide.jpg"):
            adapter.publish(Outgoing("Replaced on the web server", images=(image,)))
        assert sandbox.requests("instagram") == []
        sandbox.serve_file("guide.jpg", image.data)
        adapter.publish(Outgoing("The approved one", images=(image,)))
    assert [p.media[0].sha256 for p in sandbox.posts("instagram")] == [hashlib.sha256(image.data).hexdigest()]


def test_what_instagram_refuses_is_refused_before_any_request(sandbox: Sandbox, s3_server: S3Server) -> None:
    """No image, a PNG, 31 hashtags, a reply, or an account without a media host: refused locally, nothing sent
    (not even to the bucket)."""
    png = MediaItem("guide.png", b"\x89PNG\r\n\x1a\n", "alt", "image/png")
    tags = " ".join(f"#Tag{n}" for n in range(31))
    with make(sandbox, s3_server) as adapter:
        for post, error, words in (
            (Outgoing("Words alone"), InvalidMedia, "need at least 1 image"),
            (Outgoing("A PNG", images=(png,)), InvalidMedia, "JPEG only"),
            (Outgoing(tags, images=(jpeg(),)), Permanent, "31 hashtags"),
            (Outgoing("A reply", images=(jpeg(),), reply_to="17900000000000001"), Permanent, "no threads"),
        ):
            with pytest.raises(error, match=words):
                adapter.publish(post)
    with adapter_class("instagram")(sandbox.account_config("instagram")) as hostless, \
            pytest.raises(AccountProblem, match="names no media_host"):
        hostless.publish(Outgoing("No host", images=(jpeg(),)))
    assert sandbox.requests() == []


# -- exactly once ---------------------------------------------------------------------------------------------


def test_a_second_publish_of_a_container_is_refused_and_the_resend_adopts_the_media(sandbox: Sandbox,
                                                                                   s3_server: S3Server) -> None:
    """The reply to media_publish is lost (the post is out, the adapter does not know). Sent again, the post goes
    out as the same container: Instagram refuses a second publish of it (9007, the container PUBLISHED), and the
    adapter answers with the media the lookup finds. One post on Instagram, one container made."""
    post = Outgoing("Published once, heard never", images=(jpeg(),), idempotency_key="launch/lancs-ig:abc123")
    sandbox.set_faults("instagram:POST /v*/*/media_publish:lose_reply:times=1")
    with make(sandbox, s3_server) as adapter:
        with pytest.raises(Transient) as lost:
            adapter.publish(post)
        assert lost.value.outcome_unknown
        receipt = adapter.publish(post)
    [posted] = sandbox.posts("instagram")
    assert receipt.remote_id == posted.id
    publishes = sandbox.requests("instagram", "POST", "*/media_publish")
    assert [(r.status, r.fault) for r in publishes] == [(200, "lose_reply"), (400, None)]  # made, answer lost
    assert len(sandbox.requests("instagram", "POST", "*/media")) == 1


def test_the_sandbox_refuses_a_second_publish_of_a_published_container(sandbox: Sandbox, s3_server: S3Server) -> None:
    """Raw: the first media_publish answers the media's id; the second, of the same container, Graph's error 9007,
    and the container's status is PUBLISHED."""
    url = s3_server.host().url_for(jpeg(), "instagram", 5.0)
    container = graph(sandbox, "POST", f"/{user(sandbox)}/media", image_url=url, caption="Once").json()["id"]
    assert finished(sandbox, container)["status_code"] == "FINISHED"
    first = graph(sandbox, "POST", f"/{user(sandbox)}/media_publish", creation_id=container)
    second = graph(sandbox, "POST", f"/{user(sandbox)}/media_publish", creation_id=container)
    assert first.status_code == 200 and first.json()["id"] == sandbox.posts("instagram")[0].id
    assert second.status_code == 400 and second.json()["error"]["code"] == 9007
    assert finished(sandbox, container)["status_code"] == "PUBLISHED"
    assert len(sandbox.posts("instagram")) == 1


# -- the publishing limit, the check, insights ----------------------------------------------------------------


def test_the_51st_post_in_24_hours_is_refused_and_accounts_check_says_none_are_left(
    sandbox: Sandbox, s3_server: S3Server, clock: FakeClock
) -> None:
    """With 50 posts in the last 24 hours, media_publish is refused with Instagram's 9/2207042 (RateLimited, an
    hour on: the window moves), and the check reads content_publishing_limit: 0 of 50 left, a problem."""
    account = sandbox.account("instagram")
    for number in range(50):
        sandbox.record_post(RecordedPost("instagram", account.handle, str(17_950_000_000_000_000 + number),
                                         f"Earlier post {number}", clock.now - timedelta(hours=23), "https://x"))
    with make(sandbox, s3_server) as adapter:
        with pytest.raises(RateLimited) as limited:
            adapter.publish(Outgoing("One too many", images=(jpeg(),)))
        assert limited.value.code == "9"
        assert limited.value.retry_at is not None and limited.value.retry_at > datetime.now(UTC) + timedelta(minutes=55)
        identity = adapter.check()
    assert identity.notes == ("0 of 50 posts left in the moving 24 hours",)
    assert identity.problem is not None and "50 of its 50 posts" in identity.problem
    clock.advance(hours=2)  # the 50 are more than 24 hours old now
    with make(sandbox, s3_server) as adapter:
        adapter.publish(Outgoing("Room again", images=(jpeg(),)))
        assert adapter.check().notes == ("49 of 50 posts left in the moving 24 hours",)


def test_insights_fill_the_common_measures_and_leave_unreported_ones_empty(
    sandbox: Sandbox, s3_server: S3Server, clock: FakeClock
) -> None:
    """Just out, Instagram has no insights yet (an empty data set): every measure is None, not 0. A day later
    views, reach, likes, replies (comments) and reposts (shares) are filled, saved is kept under its own name,
    and what Instagram does not report (quotes, link clicks) stays None."""
    with make(sandbox, s3_server) as adapter:
        media = adapter.publish(Outgoing("Counted later", images=(jpeg(),))).remote_id
        [early] = adapter.metrics([media])
        clock.advance(hours=24)
        [later] = adapter.metrics([media])
    assert set(early.measures.values()) == {None} and early.source_metrics == {}
    assert all(later.measures[m] for m in ("views", "reach", "likes"))
    assert later.measures["replies"] is not None and later.measures["reposts"] is not None
    assert later.measures["quotes"] is None and later.measures["link_clicks"] is None
    assert set(later.source_metrics) == {"reach", "views", "likes", "comments", "saved", "shares"}


def test_the_retired_impressions_metric_fails_the_whole_insights_call(sandbox: Sandbox, s3_server: S3Server,
                                                                      clock: FakeClock) -> None:
    """As on Instagram since April 2025: asking for impressions is an error (code 100), not a zero."""
    with make(sandbox, s3_server) as adapter:
        media = adapter.publish(Outgoing("Old metric names", images=(jpeg(),))).remote_id
    clock.advance(hours=2)
    refused = graph(sandbox, "GET", f"/{media}/insights?metric=impressions,reach")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 100


def test_the_check_names_an_account_whose_credentials_are_for_another(sandbox: Sandbox, s3_server: S3Server) -> None:
    """Credentials that work but belong to another username are a problem, not a pass."""
    config = dataclasses.replace(instagram_config(sandbox, s3_server), handle="someoneelse")
    with adapter_class("instagram")(config) as adapter:
        identity = adapter.check()
    assert identity.token_ok and identity.problem == (
        f"Instagram account {user(sandbox)} is 'lancspolice', not 'someoneelse'")


def test_a_token_without_the_permission_to_publish_is_an_account_problem(sandbox: Sandbox, s3_server: S3Server) -> None:
    """Graph's (#10) for a token without instagram_content_publish stops the account (AccountProblem), before any
    post is made; reading its media still works, and the check (which reads the publishing limit, as only a token
    that may publish can) says the token may not post."""
    account = sandbox.account("instagram")
    sandbox.add_account(dataclasses.replace(account, handle="readonly", scopes=("instagram_basic",),
                                            credentials={"ig_user_id": "17841400000054321",
                                                         "access_token": "EAAsandboxReadOnlyToken"}))
    config = dataclasses.replace(instagram_config(sandbox, s3_server), handle="readonly",
                                 credentials={"ig_user_id": "17841400000054321",
                                              "access_token": "EAAsandboxReadOnlyToken"})
    with adapter_class("instagram")(config) as adapter:
        with pytest.raises(AccountProblem, match=r"lacks a permission \(403 code 10"):
            adapter.publish(Outgoing("Not allowed", images=(jpeg(),)))
        assert adapter.find(Outgoing("Not allowed"), datetime.now(UTC) - timedelta(minutes=1)) == []
        identity = adapter.check()
    assert not identity.token_ok and identity.problem and "lacks a permission" in identity.problem
    assert sandbox.posts("instagram") == []


def test_instagram_is_given_a_presigned_address_that_expires_when_the_plan_says(s3_server: S3Server) -> None:
    """The image_url is a SigV4 presigned GET of the picture's own key (its SHA-256 under the plan's prefix), valid
    for the plan's `expires`: an hour unless the plan says otherwise."""
    image = jpeg()
    key = f"/{s3_server.settings.bucket}/instagram/{hashlib.sha256(image.data).hexdigest()}.jpg"
    for host, seconds in ((s3_server.host(), "3600"),
                          (S3MediaHost(dataclasses.replace(s3_server.settings, expires=600), KEYS), "600")):
        url = urlsplit(host.url_for(image, "instagram", 5.0))
        query = parse_qs(url.query)
        assert url.path == key
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == [seconds]


def test_the_check_says_when_a_token_may_post_but_not_read_engagement(sandbox: Sandbox, s3_server: S3Server) -> None:
    """A token with instagram_content_publish but not instagram_manage_insights: the check passes (it may post)
    and says, tried on the account's newest post, that engagement will not be collected without it; before its
    first post, it says that could not be checked."""
    account = sandbox.account("instagram")
    credentials = {"ig_user_id": "17841400000065432", "access_token": "EAAsandboxNoInsightsToken"}
    sandbox.add_account(dataclasses.replace(account, handle="noinsights", credentials=credentials,
                                            scopes=("instagram_basic", "instagram_content_publish")))
    config = dataclasses.replace(instagram_config(sandbox, s3_server), handle="noinsights", credentials=credentials)
    with adapter_class("instagram")(config) as adapter:
        assert any("could not be checked" in note for note in adapter.check().notes)
        adapter.publish(Outgoing("The week starts today", images=(jpeg(),)))
        identity = adapter.check()
    assert identity.token_ok and identity.problem is None
    assert "instagram_manage_insights" not in identity.permissions
    assert any("lacks instagram_manage_insights" in note for note in identity.notes)
