"""Instagram professional accounts, through the Instagram Graph API (Graph API :data:`GRAPH_VERSION`, the same
version and host as Facebook's adapter) over plain ``requests``; why not a client library, see
``docs/decisions/0016-instagram-media-host.md``.

Publishing is Instagram's container flow, with the token in an ``Authorization: Bearer`` header (never in a URL):

- Each image is made reachable by the account's media host (:mod:`campaign.platforms.media_host`: the approved
  bytes put in a bucket behind a presigned URL, or checked where the force already serves them), and a container
  is made for it: ``POST /{ig-user-id}/media`` with ``image_url``, ``alt_text`` and the ``caption`` (a carousel:
  one container per image with ``is_carousel_item=true``, then one ``media_type=CAROUSEL`` container naming them
  as ``children`` and carrying the caption).
- Instagram fetches the image and processes the container asynchronously: the adapter reads its ``status_code``
  (``GET /{container-id}?fields=status_code``), waiting longer each time, until ``FINISHED``, for at most the
  account's timeout. Still ``IN_PROGRESS`` then is a :class:`Transient` that sent nothing; ``ERROR`` (the image
  could not be fetched or is no image) is :class:`InvalidMedia`.
- ``POST /{ig-user-id}/media_publish`` with ``creation_id`` publishes it; the answer's ``id`` is the media's.

A container is published at most once: a second ``media_publish`` of it is refused (code 9007). The adapter keeps
each post's container (by its idempotency key) for as long as it lives, so a post sent again after an unknown
outcome (and the lookup the runner makes first) goes out as the same container: a publish refused while the
container's documented ``status_code`` says ``PUBLISHED`` is "already published", and the media is found by the
lookup (:meth:`InstagramAdapter._recent_posts`) instead of being published a second time.

A lookup reads the account's media (``GET /{ig-user-id}/media?fields=id,caption,timestamp``), newest first.
Engagement is each media's insights (``reach``, ``views``, ``likes``, ``comments``, ``saved``, ``shares``;
``impressions`` was retired in April 2025); a metric Instagram does not report stays ``None``. An account may
publish 50 posts in a moving 24 hours: the check reads ``content_publishing_limit`` and says how many are left, and
the refusal past it (code 9, subcode 2207042) is :class:`RateLimited`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from campaign import __version__, twitter_text
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
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.facebook import (
    AUTH_CODES,
    GRAPH_URL,
    GRAPH_VERSION,
    PERMISSION_CODES,
    RATE_LIMIT_CODES,
    TRANSIENT_CODES,
    _int,
    _parse_time,
    graph_words,
    retry_time,
)
from campaign.platforms.sessions import open_connection, read_environment_once, server_root, transport_error

PROCESSING_POLL = 0.1
"""Seconds before the first look at a container's status, doubling after each look."""
RECENT_PAGE = 50
RECENT_PAGES = 5
RECENT_FIELDS = "id,caption,timestamp,permalink"
INSIGHTS = {  # Instagram's media insights, by the toolkit's measure names ("saved" has none: kept as a source)
    "reach": "reach",
    "views": "views",
    "likes": "likes",
    "replies": "comments",
    "reposts": "shares",
}
INSIGHT_METRICS = ("reach", "views", "likes", "comments", "saved", "shares")
PUBLISH_LIMIT_SUBCODE = 2207042
"""Graph's subcode for "the account reached the most posts it may publish in 24 hours" (code 9)."""
NOT_READY_CODE = 9007
"""Graph's code for a media_publish of a container that cannot be published (not ready, or already published)."""
PUBLISH_LIMIT_WAIT = timedelta(hours=1)
"""The publishing window moves (one post leaves it at a time) and the refusal says not when: look again in an hour."""
CLOCK_MARGIN = timedelta(minutes=1)
"""How much earlier than the container's request its media may seem to have been made: Instagram's timestamps are
whole seconds, and its clock is not ours."""
MISSING_OBJECT = 33
"""Graph's subcode (with code 100) for an object that does not exist (a deleted media)."""


class GraphError(Exception):
    """Graph answered with an error: the HTTP status, Graph's code and subcode, and its words."""

    def __init__(self, status: int, code: int | None, subcode: int | None, words: str,
                 headers: Mapping[str, str]) -> None:
        super().__init__(status, code, words)
        self.status, self.code, self.subcode, self.words, self.headers = status, code, subcode, words, headers


@dataclass(frozen=True)
class Container:
    """A container made for a post: its id, and when the request that made it went out."""

    id: str
    made_at: datetime


class InstagramAdapter(Adapter):
    """Publishes to one Instagram professional account with a token of a person who may post for it."""

    spec = PLATFORMS["instagram"]
    api_version = f"graph-{GRAPH_VERSION}"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        self._user = account.credentials["ig_user_id"].strip()
        if not self._user.isdigit():
            raise CampaignError("an Instagram ig_user_id is the account's number (17841…), and this one is not: set "
                                "the variable the plan names for it to the id Graph gives for the account")
        self._base = f"{(account.api_base or GRAPH_URL).rstrip('/')}/{GRAPH_VERSION}"
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {account.credentials['access_token']}",
                                      "User-Agent": f"campaign/{__version__}"})
        self._server = server_root(self._base)
        read_environment_once(self._session, self._server)
        self._containers: dict[str, Container] = {}
        self._lock = threading.Lock()

    def connect_ahead(self, timeout: float) -> None:
        open_connection(self._session, self._server, timeout)

    def close(self) -> None:
        self._session.close()

    def post_url(self, remote_id: str) -> str:
        # A media's address is its permalink (a shortcode, not its id); without one, the account's page.
        return f"https://www.instagram.com/{self.account.handle.lstrip('@')}/"

    # -- hooks ----------------------------------------------------------------------------------------

    def _check_extra(self, post: Outgoing) -> None:
        spec = self.spec
        if post.reply_to is not None and not spec.threads:
            raise Permanent(spec.name, "Instagram has no threads: a post cannot reply to another")
        for number, image in enumerate(post.images, start=1):
            if image.mime_type not in spec.image_types:
                raise InvalidMedia(spec.name, f"image {number} ({image.name}) is {image.mime_type!r}; Instagram "
                                   "takes JPEG only: save it as a .jpg")
        tags = len(twitter_text.extract_hashtags(post.text))
        if spec.max_hashtags is not None and tags > spec.max_hashtags:
            raise Permanent(spec.name, f"the caption has {tags} hashtags; Instagram takes at most {spec.max_hashtags}")
        if self.account.media_host is None:
            raise AccountProblem(spec.name, f"the account {self.account.handle!r} names no media_host, and Instagram "
                                 "fetches every image from a public address: name one in the plan")

    def _publish(self, post: Outgoing) -> Receipt:
        key = post.idempotency_key
        with self._lock:
            container = self._containers.get(key) if key else None
        if container is None or self._wait(container) == "EXPIRED":
            container = self._container(post)
            self._wait(container)
            if key:
                with self._lock:
                    self._containers[key] = container
        self._sending()
        try:
            answer = self._request("POST", f"/{self._user}/media_publish", data={"creation_id": container.id}).json()
        except GraphError as error:
            if error.code != NOT_READY_CODE or self._status(container)[0] != "PUBLISHED":
                raise
            receipt = self._already_published(container, post)
        else:
            receipt = Receipt(str(answer["id"]), self._permalink(str(answer["id"])))
        if key:  # out, and known to be: the post will not be sent again
            with self._lock:
                self._containers.pop(key, None)
        return receipt

    def _container(self, post: Outgoing) -> Container:
        """The post's container, made once each image's container (a carousel's) is ``FINISHED``."""
        made_at = self._now()
        if len(post.images) == 1:
            return Container(self._make(self._image_fields(post.images[0]) | {"caption": post.text}), made_at)
        children = []
        for image in post.images:
            child = Container(self._make(self._image_fields(image) | {"is_carousel_item": "true"}), made_at)
            self._wait(child)
            children.append(child.id)
        return Container(self._make({"media_type": "CAROUSEL", "children": ",".join(children),
                                     "caption": post.text}), made_at)

    def _image_fields(self, image: MediaItem) -> dict[str, str]:
        assert self.account.media_host is not None  # checked before any request (_check_extra)
        url = self.account.media_host.url_for(image, self.spec.name, self.account.timeout)
        return {"image_url": url, "alt_text": image.alt} if image.alt else {"image_url": url}

    def _make(self, fields: Mapping[str, str]) -> str:
        return str(self._request("POST", f"/{self._user}/media", data=dict(fields)).json()["id"])

    def _status(self, container: Container) -> tuple[str, str]:
        """The container's ``status_code``, and Instagram's words about it."""
        answer = self._request("GET", f"/{container.id}", params={"fields": "status_code,status"}).json()
        return str(answer.get("status_code")), str(answer.get("status") or "")

    def _wait(self, container: Container) -> str:
        """The container's status once Instagram has processed it (waiting at most the account's timeout): the one
        place this adapter sleeps, before the publish request; given up, nothing was published."""
        waited, pause = 0.0, PROCESSING_POLL
        while True:
            status, words = self._status(container)
            if status in ("FINISHED", "PUBLISHED", "EXPIRED"):
                return status
            if status == "ERROR":
                raise InvalidMedia(self.spec.name, f"Instagram could not make container {container.id} "
                                   f"({words or 'ERROR'}): it could not fetch an image from the media host, or what "
                                   "it fetched is no picture it takes; the post was not sent")
            if waited + pause > self.account.timeout:
                raise Transient(self.spec.name, f"Instagram was still processing container {container.id} after "
                                f"{waited:.1f} s (status {status}); the post was not sent")
            time.sleep(pause)
            waited, pause = waited + pause, pause * 2

    def _already_published(self, container: Container, post: Outgoing) -> Receipt:
        """The receipt of a post whose container Instagram says is published: its media, found by the lookup."""
        found = self._find(post, container.made_at - CLOCK_MARGIN)
        if len(found) != 1:
            raise Transient(self.spec.name, f"Instagram says container {container.id} is published, and the "
                            f"account's media lists {len(found)} posts with these words since", outcome_unknown=True)
        return Receipt(found[0].remote_id, found[0].url or self._permalink(found[0].remote_id),
                       created_at=found[0].created_at)

    def _permalink(self, media_id: str) -> str:
        """The media's permalink; the account's page when Instagram does not say (the post is out either way)."""
        try:
            return str(self._request("GET", f"/{media_id}", params={"fields": "permalink"}).json()["permalink"])
        except (GraphError, requests.RequestException, ValueError, KeyError):
            return self.post_url(media_id)

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        params: dict[str, Any] = {"fields": RECENT_FIELDS, "limit": RECENT_PAGE}
        for _ in range(RECENT_PAGES):
            page = self._request("GET", f"/{self._user}/media", params=params).json()
            for media in page.get("data") or []:
                created = _parse_time(str(media["timestamp"]))
                if created < since:
                    return
                yield RecentPost(str(media["id"]), str(media.get("caption") or ""), created,
                                 str(media["permalink"]) if media.get("permalink") else None)
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not after:
                return
            params["after"] = after
        raise self._lookup_too_short(RECENT_PAGES)

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        readings = []
        for media_id in remote_ids:
            try:
                answer = self._request("GET", f"/{media_id}/insights",
                                       params={"metric": ",".join(INSIGHT_METRICS)}).json()
            except GraphError as error:
                if error.code == 100 and error.subcode == MISSING_OBJECT:
                    continue  # deleted: left out, as on the other platforms
                raise
            values = {str(item["name"]): int(item["values"][0]["value"]) for item in answer.get("data") or []
                      if item.get("values")}
            readings.append(MetricsReading(
                remote_id=media_id,
                collected_at=self._now(),
                measures=measures(**{measure: values.get(name) for measure, name in INSIGHTS.items()}),
                source_metrics=values,
                api_version=self.api_version,
                raw=dict(answer),
            ))
        return readings

    def _check(self) -> AccountIdentity:
        user = self._request("GET", f"/{self._user}", params={"fields": "id,username,name"}).json()
        limit = self._request("GET", f"/{self._user}/content_publishing_limit",
                              params={"fields": "config,quota_usage"}).json()
        usage = (limit.get("data") or [{}])[0]
        total = int((usage.get("config") or {}).get("quota_total") or 0)
        used = int(usage.get("quota_usage") or 0)
        hours = int((usage.get("config") or {}).get("quota_duration") or 86400) // 3600
        handle = str(user.get("username") or "")
        problem = None
        if handle.lower() != self.account.handle.lstrip("@").lower():
            problem = f"Instagram account {self._user} is {handle!r}, not {self.account.handle!r}"
        elif total and used >= total:
            problem = (f"the account has published {used} of its {total} posts in the last {hours} hours: no post "
                       "can go out until the oldest of them is that old")
        insights = self._insights_readable()
        notes = [f"{max(0, total - used)} of {total} posts left in the moving {hours} hours"] if total else []
        if insights is False:
            notes.append("the token may post but not read engagement (it lacks instagram_manage_insights): give it "
                         "that permission, or no engagement will be collected for this account")
        elif insights is None:
            notes.append("whether the token may read engagement (instagram_manage_insights) could not be checked: "
                         "the account has no post yet to read it of")
        return AccountIdentity(
            platform=self.spec.name,
            handle=handle or self.account.handle,
            remote_user_id=str(user.get("id") or self._user),
            display_name=str(user.get("name") or ""),
            token_ok=True,
            # Reading content_publishing_limit needs instagram_basic and instagram_content_publish (its reference),
            # so an answer proves the token may publish.
            permissions=("instagram_basic", "instagram_content_publish",
                         *(("instagram_manage_insights",) if insights else ())),
            problem=problem,
            notes=tuple(notes),
        )

    def _insights_readable(self) -> bool | None:
        """Whether the token may read engagement (instagram_manage_insights), tried on the account's newest post;
        None when it has none to try."""
        newest = self._request("GET", f"/{self._user}/media", params={"fields": "id", "limit": 1}).json()
        if not newest.get("data"):
            return None
        try:
            self._request("GET", f"/{newest['data'][0]['id']}/insights", params={"metric": "reach"})
        except GraphError as error:
            if error.code in PERMISSION_CODES:
                return False
            raise
        return True

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        if isinstance(error, GraphError):
            status, code = error.status, error.code
            said = f"{status}{f' code {code}' if code is not None else ''}: {error.words}"
            text = str(code) if code is not None else None
            if status >= 500:
                return Transient(name, f"Instagram's server failed ({said})", status=status, code=text)
            if code in AUTH_CODES or status == 401:
                return AuthExpired(name, f"Instagram refused the access token ({said})", status=status, code=text)
            if code == 9 and error.subcode == PUBLISH_LIMIT_SUBCODE:
                return RateLimited(name, f"the account published as many posts as Instagram allows in 24 hours "
                                   f"({said})", retry_at=self._now() + PUBLISH_LIMIT_WAIT, status=status, code=text)
            if code in RATE_LIMIT_CODES or status == 429:
                return RateLimited(name, f"too many requests ({said})", retry_at=retry_time(error.headers, self._now()),
                                   status=status, code=text)
            if code in PERMISSION_CODES:
                return AccountProblem(name, f"Instagram says the token lacks a permission ({said})", status=status,
                                      code=text)
            if code in TRANSIENT_CODES:
                return Transient(name, f"Instagram failed for a moment ({said})", status=status, code=text)
            return Permanent(name, f"Instagram refused the request ({said})", status=status, code=text)
        return transport_error(name, self.spec.label, self.account.timeout, error)

    # -- helpers --------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Any) -> requests.Response:
        response = self._session.request(method, self._base + path, timeout=self.account.timeout, **options)
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            graph = body.get("error") if isinstance(body, dict) else None
            graph = graph if isinstance(graph, dict) else {}
            raise GraphError(response.status_code, _int(graph.get("code")), _int(graph.get("error_subcode")),
                             graph_words(response, body), dict(response.headers))
        return response


__all__ = ["InstagramAdapter"]
