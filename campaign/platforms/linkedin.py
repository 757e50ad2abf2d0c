"""LinkedIn organisation pages, through LinkedIn's versioned REST API (the Posts, Images and share statistics
APIs) over plain ``requests``: why not LinkedIn's own client, see ``docs/decisions/0014-linkedin-client.md``.

Every request carries ``LinkedIn-Version`` (:data:`LINKEDIN_VERSION`, YYYYMM; LinkedIn retires a version after
about a year and then answers 426 to it) and ``X-Restli-Protocol-Version: 2.0.0``, with the page's access token
(scopes ``w_organization_social`` to post, ``r_organization_social`` to look posts up, ``rw_organization_admin``
for statistics and the check). The words go out as little text (:mod:`campaign.platforms.little_text`): every
reserved character escaped, hashtags as hashtag templates. Unescaped, LinkedIn answers 201 and shows the post cut
at the first one.

- A post is ``POST /rest/posts``; its URN comes back in the ``x-restli-id`` header of an empty 201 answer.
- An image is registered (``POST /rest/images?action=initializeUpload``), its approved bytes are PUT to the
  upload URL that returns, and the post names it by URN with its alt text (two or more: ``multiImage``). LinkedIn
  processes an image after its upload: the adapter looks again, waiting longer each time, until it is
  ``AVAILABLE``, for at most the account's timeout; one still processing then is a :class:`Transient` before the
  post request (nothing was created), and one LinkedIn could not process is :class:`InvalidMedia`.
- LinkedIn has no threads: a reply is refused before any request.
- A lookup reads the organisation's posts (the ``author`` finder), newest first, and compares what the page
  shows for each (:func:`~campaign.platforms.little_text.shown`) with the words.
- A 422 "Content is a duplicate of urn:li:share:…" is a :class:`Duplicate`, looked up like any other.
- Rate limits are daily and reset at midnight UTC; LinkedIn sends no ``Retry-After``: a 429 waits until then.
- Engagement is the organisation's share statistics; LinkedIn leaves out shares with no impressions and no
  actions, so a post it leaves out is read as all zeros once a batch read shows it still exists (a deleted post
  is left out of the readings, as on the other platforms).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from campaign import __version__
from campaign.exceptions import CampaignError
from campaign.platforms import PLATFORMS
from campaign.platforms.base import (
    AccountConfig,
    AccountIdentity,
    Adapter,
    MediaItem,
    MetricsReading,
    Outgoing,
    Receipt,
    RecentPost,
    measures,
)
from campaign.platforms.errors import (
    AccountProblem,
    AuthExpired,
    Duplicate,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.little_text import commentary, shown
from campaign.platforms.sessions import open_connection, read_environment_once, server_root, transport_error

API_URL = "https://api.linkedin.com"
LINKEDIN_VERSION = "202610"
PROCESSING_POLL = 0.1
"""Seconds before the first look at an uploaded image's processing, doubling after each look."""
RECENT_PAGE = 50
RECENT_PAGES = 5
POSTING_ROLES = ("ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER", "CONTENT_ADMIN", "CONTENT_ADMINISTRATOR")
MAX_WORDS = 300
_DUPLICATE = re.compile(r"duplicate of (urn:li:(?:share|ugcPost):\d+)", re.IGNORECASE)
STATISTICS = {  # LinkedIn's share statistics, by the toolkit's measure names
    "views": "impressionCount",
    "reach": "uniqueImpressionsCount",
    "likes": "likeCount",
    "replies": "commentCount",
    "reposts": "shareCount",
    "link_clicks": "clickCount",
}


class LinkedInError(Exception):
    """LinkedIn answered with an error: its status, code and words."""

    def __init__(self, status: int, code: str | None, words: str) -> None:
        super().__init__(status, words)
        self.status, self.code, self.words = status, code, words


class LinkedInAdapter(Adapter):
    """Publishes to one LinkedIn organisation page with an access token of one of its administrators."""

    spec = PLATFORMS["linkedin"]
    api_version = f"linkedin-{LINKEDIN_VERSION}"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        self._organization = f"urn:li:organization:{organization_number(account.credentials['organization_id'])}"
        self._base = (account.api_base or API_URL).rstrip("/")
        self._session = requests.Session()
        self._session.headers.update({
            "Authorization": f"Bearer {account.credentials['access_token']}",
            "LinkedIn-Version": LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": "2.0.0",
            "User-Agent": f"campaign/{__version__}",
        })
        self._server = server_root(self._base)
        read_environment_once(self._session, self._server)

    def connect_ahead(self, timeout: float) -> None:
        open_connection(self._session, self._server, timeout)

    def close(self) -> None:
        self._session.close()

    def post_url(self, remote_id: str) -> str:
        return f"https://www.linkedin.com/feed/update/{remote_id}/"

    # -- hooks ----------------------------------------------------------------------------------------

    def _check_extra(self, post: Outgoing) -> None:
        if post.reply_to is not None and not self.spec.threads:
            raise Permanent(self.spec.name, "LinkedIn has no threads: a post cannot reply to another")

    def _publish(self, post: Outgoing) -> Receipt:
        images = [{"id": self._upload(image), "altText": image.alt} for image in post.images]
        body: dict[str, Any] = {
            "author": self._organization,
            "commentary": commentary(post.text),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if len(images) == 1:
            body["content"] = {"media": images[0]}
        elif images:
            body["content"] = {"multiImage": {"images": images}}
        self._sending()
        response = self._request("POST", "/rest/posts", json=body)
        urn = response.headers.get("x-restli-id", "")
        if not urn.startswith("urn:li:"):
            raise Transient(self.spec.name, f"LinkedIn answered {response.status_code} without the new post's id",
                            outcome_unknown=True, status=response.status_code)
        return Receipt(urn, self.post_url(urn))

    def _upload(self, image: MediaItem) -> str:
        """Register *image*, upload its bytes, and return its URN once LinkedIn has processed it (processing is
        asynchronous: a post naming an image still ``PROCESSING`` is refused). The wait is the one place this
        adapter sleeps, before the post request and never longer than the account's timeout: given up, the post
        was not sent, and the runner tries it again later."""
        started = self._request("POST", "/rest/images?action=initializeUpload",
                                json={"initializeUploadRequest": {"owner": self._organization}}).json()["value"]
        urn, url = str(started["image"]), str(started["uploadUrl"])
        self._request("PUT", url, data=image.data, headers={"Content-Type": "application/octet-stream"})
        waited, pause = 0.0, PROCESSING_POLL
        while True:
            status = self._request("GET", f"/rest/images/{quote(urn, safe='')}").json().get("status")
            if status == "AVAILABLE":
                return urn
            if status == "PROCESSING_FAILED":
                raise InvalidMedia(self.spec.name, f"LinkedIn could not process image {image.name} (PROCESSING_FAILED: "
                                   "too large, not a JPG, GIF or PNG, or LinkedIn failed); the post was not sent")
            if waited + pause > self.account.timeout:
                raise Transient(self.spec.name, f"LinkedIn was still processing image {image.name} after "
                                f"{waited:.1f} s (status {status}); the post was not sent")
            time.sleep(pause)
            waited, pause = waited + pause, pause * 2

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        for start in range(0, RECENT_PAGE * RECENT_PAGES, RECENT_PAGE):
            page = self._request("GET", f"/rest/posts?author={quote(self._organization, safe='')}&q=author"
                                        f"&count={RECENT_PAGE}&start={start}&sortBy=LAST_MODIFIED").json()
            elements = page.get("elements") or []
            for element in elements:
                # Newest change first: an old post edited today comes before the posts made since, so the
                # lookup stops at the first post not changed since *since* (a post made since was changed since).
                created = datetime.fromtimestamp(int(element["createdAt"]) / 1000, UTC)
                changed = datetime.fromtimestamp(int(element.get("lastModifiedAt") or element["createdAt"]) / 1000, UTC)
                if changed < since:
                    return
                yield RecentPost(str(element["id"]), shown(str(element.get("commentary", ""))), created)
            if len(elements) < RECENT_PAGE:
                return
        raise self._lookup_too_short(RECENT_PAGES)

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        kinds = {"shares": [i for i in remote_ids if i.startswith("urn:li:share:")],
                 "ugcPosts": [i for i in remote_ids if i.startswith("urn:li:ugcPost:")]}
        query = "".join(f"&{kind}={rest_list(ids)}" for kind, ids in kinds.items() if ids)
        answer = self._request("GET", "/rest/organizationalEntityShareStatistics?q=organizationalEntity"
                                      f"&organizationalEntity={quote(self._organization, safe='')}{query}").json()
        collected = self._now()
        found = {str(e.get("share") or e.get("ugcPost")): e.get("totalShareStatistics") or {}
                 for e in answer.get("elements") or []}
        quiet = [remote_id for remote_id in remote_ids if remote_id not in found]
        if quiet:  # left out: no activity yet, or deleted; only a post that still exists reads as zeros
            existing = self._request("GET", f"/rest/posts?ids={rest_list(quiet)}").json().get("results") or {}
            found.update({remote_id: {} for remote_id in quiet if remote_id in existing})
        return [self._reading(remote_id, found[remote_id], collected) for remote_id in remote_ids
                if remote_id in found]

    def _check(self) -> AccountIdentity:
        organization_id = self._organization.rsplit(":", 1)[1]
        try:
            page = self._request("GET", f"/rest/organizations/{organization_id}").json()
        except LinkedInError as error:
            if error.status != 404:
                raise
            return AccountIdentity(
                platform=self.spec.name, handle=self.account.handle, remote_user_id=organization_id,
                display_name="", token_ok=True, permissions=(),
                problem=f"LinkedIn has no organisation {organization_id}: the variable the plan names for "
                        "organization_id must hold the number in the page's admin address "
                        "(linkedin.com/company/NUMBER/admin)")
        acls = self._request("GET", "/rest/organizationAcls?q=roleAssignee&state=APPROVED").json()
        roles = sorted({str(acl.get("role")) for acl in acls.get("elements") or []
                        if acl.get("organization") == self._organization})
        problem = None
        if not set(roles) & set(POSTING_ROLES):
            problem = (f"the token's member has no role on the page that may post ({', '.join(roles) or 'none'}): "
                       "make them an administrator or content admin of the page")
        elif str(page.get("vanityName", "")).lower() != self.account.handle.lower():
            problem = f"organisation {organization_id} is the page {page.get('vanityName')!r}, not {self.account.handle!r}"
        return AccountIdentity(
            platform=self.spec.name,
            handle=str(page.get("vanityName") or self.account.handle),
            remote_user_id=organization_id,
            display_name=str(page.get("localizedName") or ""),
            token_ok=True,
            permissions=tuple(roles),
            problem=problem,
        )

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        if isinstance(error, LinkedInError):
            status, code = error.status, error.code
            said = f"{status}{f' {code}' if code else ''}: {error.words}"
            if status == 429:
                return RateLimited(name, f"too many requests today ({said})", retry_at=next_midnight(self._now()),
                                   status=status, code=code)
            if status == 401:
                return AuthExpired(name, f"LinkedIn refused the access token ({said})", status=status, code=code)
            if status == 403:
                return AccountProblem(name, f"LinkedIn says the token may not do this for the page ({said})",
                                      status=status, code=code)
            if status == 426:
                return AccountProblem(name, f"LinkedIn no longer serves API version {LINKEDIN_VERSION} ({said}); "
                                      "update the campaign toolkit", status=status, code=code)
            if status == 422 and _DUPLICATE.search(error.words):
                return Duplicate(name, error.words, status=status, code="DUPLICATE_POST")
            if status >= 500 or status == 409:
                return Transient(name, f"LinkedIn's server failed ({said})", status=status, code=code)
            return Permanent(name, f"LinkedIn refused the request ({said})", status=status, code=code)
        return transport_error(name, self.spec.label, self.account.timeout, error)

    # -- helpers --------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Any) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else self._base + path
        response = self._session.request(method, url, timeout=self.account.timeout, **options)
        if response.status_code >= 400:
            code, words = error_words(response)
            raise LinkedInError(response.status_code, code, words)
        return response

    def _reading(self, remote_id: str, statistics: Mapping[str, Any], collected: datetime) -> MetricsReading:
        counts = {field: int(statistics.get(field) or 0) for field in STATISTICS.values()}
        return MetricsReading(
            remote_id=remote_id,
            collected_at=collected,
            measures=measures(**{measure: counts[field] for measure, field in STATISTICS.items()}),
            source_metrics=counts,
            api_version=self.api_version,
            raw=dict(statistics),
        )


def organization_number(value: str) -> str:
    """The organisation's number from what an ``organization_id`` credential holds: the number itself, or the
    organisation's URN (``urn:li:organization:2414183``), which LinkedIn's tools show as often."""
    number = value.strip().removeprefix("urn:li:organization:")
    if not number.isdigit():
        raise CampaignError("a LinkedIn organization_id is the page's number, the digits in its admin address "
                            "(linkedin.com/company/NUMBER/admin) or in urn:li:organization:NUMBER, and this one "
                            "is not: set the variable the plan names for it to those digits")
    return number


def rest_list(items: Iterable[str]) -> str:
    """A Rest.li 2.0 list for a query string: ``List(urn%3Ali%3Ashare%3A1,...)``, each item percent-encoded."""
    return "List(" + ",".join(quote(item, safe="") for item in items) + ")"


def next_midnight(now: datetime) -> datetime:
    """When LinkedIn's daily limits reset: the next midnight UTC."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def error_words(response: requests.Response) -> tuple[str | None, str]:
    """An error answer's code and words: ``code`` and ``message`` of LinkedIn's JSON (the first input error's
    code when there is no top-level one), or its text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code")
        inputs = (body.get("errorDetails") or {}).get("inputErrors") if isinstance(body.get("errorDetails"), dict) \
            else None
        if code is None and isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
            code = inputs[0].get("code")
        words = str(body.get("message") or json.dumps(body)[:MAX_WORDS])
    else:
        code, words = None, response.text or response.reason or ""
    words = " ".join(words.split())
    return (str(code) if code else None), (words if len(words) <= MAX_WORDS else words[: MAX_WORDS - 1] + "…")


__all__ = ["LINKEDIN_VERSION", "LinkedInAdapter", "next_midnight", "rest_list"]
