"""The sandbox's LinkedIn, spoken to over real HTTP with requests: it must answer as LinkedIn's REST API does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests

from campaign.platforms import little_text
from campaign.sandbox import Sandbox, SandboxAccount, running
from tests.conftest import FakeClock, write_png

VERSION = datetime.now(UTC).strftime("%Y%m")
ORG_ID = "2414183"
ORG = f"urn:li:organization:{ORG_ID}"
TOKEN = "AQsandbox-linkedin-token"
PAGE = SandboxAccount(
    platform="linkedin",
    handle="lancashire-police",
    user_id=ORG_ID,
    display_name="Lancashire Police",
    credentials={"organization_id": ORG_ID, "access_token": TOKEN},
    scopes=("w_organization_social", "r_organization_social", "rw_organization_admin"),
)
OTHER = SandboxAccount(
    platform="linkedin",
    handle="cumbria-police",
    user_id="5515715",
    display_name="Cumbria Police",
    credentials={"organization_id": "5515715", "access_token": "AQsandbox-other-token"},
    scopes=PAGE.scopes,
)
DISTRIBUTION = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}


@pytest.fixture
def li(clock: FakeClock) -> Iterator[Sandbox]:
    """A sandbox with two LinkedIn pages, served on a free port, on the test's clock; it processes images at once
    (test_an_image_is_processing_for_a_moment_and_cannot_be_posted_until_it_is_available shows the wait)."""
    with running(Sandbox(seed=7, clock=clock, accounts=[PAGE, OTHER], media_processing=0.0)) as served:
        yield served


def headers(token: str | None = TOKEN, version: str | None = VERSION) -> dict[str, str]:
    sent = {"X-Restli-Protocol-Version": "2.0.0"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if version is not None:
        sent["LinkedIn-Version"] = version
    return sent


def enc(urn: str) -> str:
    return quote(urn, safe="")


def rest_list(urns: list[str]) -> str:
    return "List(" + ",".join(enc(u) for u in urns) + ")"


def get(sandbox: Sandbox, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{sandbox.base_url}{path}", headers=headers(), timeout=5, **kwargs)


def create(sandbox: Sandbox, commentary: str | None, content: dict[str, Any] | None = None,
           **fields: Any) -> requests.Response:
    """POST /rest/posts with an organisation post's body; *fields* replace its fields, and a field given as
    None (the commentary too) is left out."""
    body: dict[str, Any] = {
        "author": ORG,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": DISTRIBUTION,
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        "content": content,
        **fields,
    }
    sent = {name: value for name, value in body.items() if value is not None}
    return requests.post(f"{sandbox.base_url}/rest/posts", json=sent, headers=headers(), timeout=5)


def created(sandbox: Sandbox, commentary: str, content: dict[str, Any] | None = None) -> str:
    response = create(sandbox, commentary, content)
    assert response.status_code == 201, response.text
    return response.headers["x-restli-id"]


def upload(sandbox: Sandbox, data: bytes) -> str:
    started = requests.post(
        f"{sandbox.base_url}/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": ORG}},
        headers=headers(),
        timeout=5,
    )
    assert started.status_code == 200, started.text
    value = started.json()["value"]
    assert value["uploadUrl"].startswith(f"{sandbox.base_url}/dms-uploads/")
    put = requests.put(value["uploadUrl"], data=data, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert (put.status_code, put.content) == (201, b"")
    urn: str = value["image"]
    return urn


def statistics(sandbox: Sandbox, shares: list[str]) -> requests.Response:
    query = f"q=organizationalEntity&organizationalEntity={enc(ORG)}&shares={rest_list(shares)}"
    return get(sandbox, f"/rest/organizationalEntityShareStatistics?{query}")


def finder(sandbox: Sandbox, count: int = 10, start: int = 0) -> requests.Response:
    return get(
        sandbox, f"/rest/posts?author={enc(ORG)}&q=author&count={count}&start={start}&sortBy=LAST_MODIFIED"
    )


def test_image_post_then_finder_then_statistics(li: Sandbox, clock: FakeClock, tmp_path: Any) -> None:
    """The whole flow an adapter runs: register an image, PUT its bytes, see it AVAILABLE, post it with alt
    text, find the post with the author finder, and read its statistics once engagement has grown."""
    image_bytes = write_png(tmp_path / "appeal.png").read_bytes()
    image = upload(li, image_bytes)
    status = get(li, f"/rest/images/{enc(image)}")
    assert status.json() == {"id": image, "owner": ORG, "status": "AVAILABLE"}
    commentary = little_text.commentary("Have you seen Sam? Call 101 (quote 123) #FindSam")
    urn = created(li, commentary, {"media": {"id": image, "altText": "Sam, smiling"}})

    post = li.posts("linkedin")[0]
    assert (post.id, post.account, post.url) == (
        urn,
        "lancashire-police",
        f"https://www.linkedin.com/feed/update/{urn}/",
    )
    assert post.text == "Have you seen Sam? Call 101 (quote 123) #FindSam"
    assert post.extra["commentary"] == commentary
    assert [(m.id, m.mime_type, m.size, m.alt) for m in post.media] == [
        (image, "image/png", len(image_bytes), "Sam, smiling")
    ]

    found = finder(li)
    assert found.status_code == 200
    [element] = found.json()["elements"]
    assert element["id"] == urn and element["author"] == ORG
    assert element["commentary"] == commentary
    assert element["content"] == {"media": {"id": image, "altText": "Sam, smiling"}}
    assert element["createdAt"] == int(urn.rsplit(":", 1)[1]) >> 22
    assert found.json()["paging"] == {"start": 0, "count": 10, "links": []}

    clock.advance(hours=6)
    answer = statistics(li, [urn])
    assert answer.status_code == 200
    [stats] = answer.json()["elements"]
    counts = li.counts(post)
    assert stats["organizationalEntity"] == ORG and stats["share"] == urn
    totals = stats["totalShareStatistics"]
    assert totals["impressionCount"] == counts["views"] > 0
    assert totals["uniqueImpressionsCount"] == counts["reach"]
    assert (totals["likeCount"], totals["commentCount"], totals["shareCount"], totals["clickCount"]) == (
        counts["likes"],
        counts["replies"],
        counts["reposts"],
        counts["link_clicks"],
    )
    actions = counts["link_clicks"] + counts["likes"] + counts["replies"] + counts["reposts"]
    assert totals["engagement"] == pytest.approx(actions / counts["views"])


def test_a_create_answers_201_with_an_empty_body_and_the_urn_in_x_restli_id(
    li: Sandbox, clock: FakeClock
) -> None:
    """LinkedIn's create gives no JSON: the new post's URN is only in the x-restli-id header, and its number
    shifted right by 22 bits is the creation time in epoch milliseconds."""
    response = create(li, "Road closed on the A59")
    assert response.status_code == 201
    assert response.content == b""
    urn = response.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:")
    assert int(urn.rsplit(":", 1)[1]) >> 22 == int(clock.now.timestamp() * 1000)


def test_an_unescaped_parenthesis_cuts_the_post_where_an_escaped_one_does_not(li: Sandbox) -> None:
    """An unescaped "(" in commentary is still a 201, but the page shows the post cut just before it; the same
    words escaped as little text show whole."""
    words = "Va al repo (durable) https://example.org/help"
    raw = created(li, words)
    escaped = created(li, little_text.commentary(words))
    assert [(p.id, p.text) for p in li.posts("linkedin")] == [(raw, "Va al repo "), (escaped, words)]
    assert [p.extra["commentary"] for p in li.posts("linkedin")] == [words, little_text.commentary(words)]


def test_the_same_commentary_within_ten_minutes_is_a_422_duplicate(li: Sandbox, clock: FakeClock) -> None:
    """Posting the same commentary again within ten minutes answers LinkedIn's 422, naming the earlier post;
    eleven minutes later it is accepted."""
    first = created(li, "Roads are icy this morning")
    clock.advance(minutes=5)
    again = create(li, "Roads are icy this morning")
    assert again.status_code == 422
    assert again.json() == {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
        f"Content is a duplicate of {first}",
        "errorDetails": {
            "inputErrors": [
                {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
            ]
        },
        "status": 422,
    }
    clock.advance(minutes=6)
    assert create(li, "Roads are icy this morning").status_code == 201


def test_a_retired_or_missing_version_is_refused(li: Sandbox) -> None:
    """A LinkedIn-Version older than twelve months answers 426 NONEXISTENT_VERSION (the version written
    YYYYMM01, as LinkedIn writes it); no version at all is a 400."""
    retired = requests.get(
        f"{li.base_url}/rest/posts?author={enc(ORG)}&q=author", headers=headers(version="202404"), timeout=5
    )
    assert retired.status_code == 426
    assert retired.json() == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 20240401 is not active",
    }
    missing = requests.get(
        f"{li.base_url}/rest/posts?author={enc(ORG)}&q=author", headers=headers(version=None), timeout=5
    )
    assert missing.status_code == 400
    assert "version must be present" in missing.json()["message"]


def test_a_missing_or_unknown_token_is_a_401(li: Sandbox) -> None:
    """No Bearer token, or one LinkedIn does not know, answers 401 in LinkedIn's error shape."""
    missing = requests.post(f"{li.base_url}/rest/posts", json={}, headers=headers(token=None), timeout=5)
    assert missing.status_code == 401
    assert missing.json()["status"] == 401
    assert missing.json()["message"] == "Empty oauth2_access_token"
    unknown = requests.post(f"{li.base_url}/rest/posts", json={}, headers=headers(token="AQnope"), timeout=5)
    assert unknown.status_code == 401
    assert unknown.json() == {
        "status": 401,
        "serviceErrorCode": 65600,
        "code": "INVALID_ACCESS_TOKEN",
        "message": "Invalid access token",
    }
    assert li.posts("linkedin") == []


def test_statistics_leave_out_a_post_without_activity_and_a_deleted_one(
    li: Sandbox, clock: FakeClock
) -> None:
    """As LinkedIn documents, a share with no impressions and no actions is not in the elements, and neither is
    a deleted one, even when it had activity."""
    seen = created(li, "Appeal for witnesses")
    removed = created(li, "Posted by mistake")
    clock.advance(hours=6)
    quiet = created(li, "Just out")
    deleted = requests.delete(f"{li.base_url}/rest/posts/{enc(removed)}", headers=headers(), timeout=5)
    assert deleted.status_code == 204
    answer = statistics(li, [seen, quiet, removed])
    assert answer.status_code == 200
    assert [e["share"] for e in answer.json()["elements"]] == [seen]


def test_the_batch_get_puts_a_deleted_post_in_errors(li: Sandbox) -> None:
    """``GET /rest/posts?ids=List(...)`` returns live posts in results (status 200) and a deleted one in errors
    with a 404."""
    kept = created(li, "Stay safe on the roads")
    gone = created(li, "Wrong date")
    li.delete_post("linkedin", gone)
    answer = get(li, f"/rest/posts?ids={rest_list([kept, gone])}")
    assert answer.status_code == 200
    body = answer.json()
    assert list(body["results"]) == [kept]
    assert body["results"][kept]["commentary"] == "Stay safe on the roads"
    assert body["statuses"] == {kept: 200}
    assert body["errors"][gone]["status"] == 404
    assert body["errors"][gone]["code"] == "NOT_FOUND"


def test_the_finder_honours_the_read_lag(clock: FakeClock) -> None:
    """With ``read_lag``, a new post is missing from the author finder (and from a lookup) until that much real
    time has passed, as a lagging read view would leave it out."""
    with running(Sandbox(seed=7, clock=clock, accounts=[PAGE], read_lag=0.6)) as sandbox:
        urn = created(sandbox, "Lagging post")
        assert finder(sandbox).json()["elements"] == []
        assert get(sandbox, f"/rest/posts/{enc(urn)}").status_code == 404
        time.sleep(0.7)
        assert [e["id"] for e in finder(sandbox).json()["elements"]] == [urn]
        assert get(sandbox, f"/rest/posts/{enc(urn)}").status_code == 200


def test_the_finder_pages_newest_first_with_a_next_link(li: Sandbox, clock: FakeClock) -> None:
    """The finder lists the organisation's posts newest first, ``count`` at a time, with a ``next`` link while
    more remain; another organisation's posts are not in it."""
    urns = []
    for n in range(3):
        urns.append(created(li, f"Update {n}"))
        clock.advance(minutes=1)
    first = finder(li, count=2).json()
    assert [e["id"] for e in first["elements"]] == [urns[2], urns[1]]
    [link] = first["paging"]["links"]
    assert link["rel"] == "next" and "start=2" in link["href"]
    second = get(li, link["href"]).json()
    assert [e["id"] for e in second["elements"]] == [urns[0]]
    assert second["paging"]["links"] == []
    other = f"/rest/posts?author={enc('urn:li:organization:5515715')}&q=author"
    assert get(li, other).status_code == 403


def test_posts_are_checked_as_linkedin_checks_them(li: Sandbox, tmp_path: Any) -> None:
    """A missing field, an over-long commentary, another organisation as author, a single-image multiImage and
    an image whose bytes are not an image are refused, each with LinkedIn's answer."""
    missing = create(li, None)
    assert missing.status_code == 400
    [problem] = missing.json()["errorDetails"]["inputErrors"]
    assert (problem["code"], problem["input"]) == (
        "MISSING_FIELD",
        {"inputPath": {"fieldPath": "/commentary"}},
    )
    too_long = create(li, "x" * 3001)
    assert too_long.status_code == 400
    assert too_long.json()["errorDetails"]["inputErrors"][0]["code"] == "FIELD_LENGTH_TOO_LONG"
    assert create(li, "x" * 3000).status_code == 201
    image = upload(li, write_png(tmp_path / "one.png").read_bytes())
    single = create(li, "One image", {"multiImage": {"images": [{"id": image, "altText": "one"}]}})
    assert single.status_code == 400
    broken = upload(li, b"%PDF-1.7 not an image")
    assert get(li, f"/rest/images/{enc(broken)}").json()["status"] == "PROCESSING_FAILED"
    refused = create(li, "Broken image", {"media": {"id": broken}})
    assert refused.status_code == 400
    assert refused.json()["errorDetails"]["inputErrors"][0]["code"] == "INVALID_VALUE_FOR_FIELD"
    as_other = create(li, "Hi", author="urn:li:organization:5515715")
    assert as_other.status_code == 403
    assert as_other.json()["code"] == "ACCESS_DENIED"
    assert (
        as_other.json()["message"]
        == f"Not enough permissions to access: partnerApiPostsExternal.CREATE.{VERSION}01"
    )


def test_faults_answer_in_linkedin_shapes(li: Sandbox) -> None:
    """An injected rate limit is LinkedIn's 429 (serviceErrorCode 101) with no Retry-After, its limits being
    daily; an expired token is its 401 REVOKED_ACCESS_TOKEN."""
    li.set_faults(
        "linkedin:POST /rest/posts:rate_limit:times=1", "linkedin:GET /rest/posts:expired_token:times=1"
    )
    limited = create(li, "Throttled")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert limited.json() == {
        "serviceErrorCode": 101,
        "message": "Resource level throttle limit for calls to this resource is reached.",
        "status": 429,
    }
    revoked = finder(li)
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "REVOKED_ACCESS_TOKEN" and revoked.json()["serviceErrorCode"] == 65601


def test_the_page_checks_an_adapter_makes(li: Sandbox) -> None:
    """The ACL finder names the token's member an approved ADMINISTRATOR of its organisation, and the
    organisation lookup gives its name and vanity name."""
    acls = get(li, "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED")
    assert acls.status_code == 200
    [acl] = acls.json()["elements"]
    assert (acl["organization"], acl["role"], acl["state"]) == (ORG, "ADMINISTRATOR", "APPROVED")
    assert acl["roleAssignee"].startswith("urn:li:person:")
    page = get(li, f"/rest/organizations/{ORG_ID}")
    assert page.json() == {
        "id": int(ORG_ID),
        "localizedName": "Lancashire Police",
        "vanityName": "lancashire-police",
    }
    assert get(li, "/rest/organizations/999").status_code == 404


def test_an_image_is_processing_for_a_moment_and_cannot_be_posted_until_it_is_available(
    li: Sandbox, tmp_path: Any
) -> None:
    """As LinkedIn processes an image after its upload, the sandbox answers PROCESSING for a while: a post
    naming it then is refused (400), and once it is AVAILABLE the same post goes out."""
    li.media_processing = 0.5
    image = upload(li, write_png(tmp_path / "card.png").read_bytes())
    assert get(li, f"/rest/images/{enc(image)}").json()["status"] == "PROCESSING"
    content = {"media": {"id": image, "altText": "A card"}}
    assert create(li, "Too soon", content).status_code == 400
    time.sleep(0.6)
    assert get(li, f"/rest/images/{enc(image)}").json()["status"] == "AVAILABLE"
    assert create(li, "In its time", content).status_code == 201
