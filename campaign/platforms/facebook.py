"""Facebook Pages through python-facebook-api (``pyfacebook``), Graph API v25.0.

Why this library and not ``facebook-sdk``: see ``docs/decisions/0001-facebook-client.md``.

A post with no image goes to ``/{page}/feed``; one image to ``/{page}/photos`` with its alt text in
``alt_text_custom``; several images are uploaded unpublished and attached to a feed post. A reply
(the toolkit's threads) is the page's own comment on the post. Metrics ask for up to 50 posts in
one ``?ids=`` request with field expansion, using only the insights Meta still serves in 2026
(``post_media_view`` and friends; the retired ``post_impressions`` would fail the whole call).

pyfacebook is built with ``sleep_on_rate_limit=False`` (adapters never sleep), ``base_url`` (the
sandbox or a proxy) and ``timeout``. Its errors carry no HTTP status or headers, so a response hook
keeps the last answer's, for rate-limit reset times (``X-Business-Use-Case-Usage``, ``Retry-After``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pyfacebook import FacebookError, GraphAPI, LibraryError

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
    AuthExpired,
    Duplicate,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"
INSIGHTS = ("post_media_view", "post_total_media_view_unique", "post_clicks", "post_clicks_by_type")
POST_FIELDS = (
    "id,created_time,shares,reactions.summary(total_count).limit(0),"
    "comments.summary(total_count).limit(0),insights.metric(" + ",".join(INSIGHTS) + ")"
)
COMMENT_FIELDS = "id,created_time,like_count,comment_count"
RECENT_FIELDS = "id,message,created_time,comments.limit(100){id,message,created_time,from}"
REQUIRED_PERMISSIONS = ("pages_manage_posts", "pages_read_engagement")
RATE_LIMIT_CODES = {4, 17, 32, 613, 80001}
AUTH_CODES = {102, 190}
RECENT_PAGES = 5
_ID = re.compile(r"^\d+_\d+$")
_MISSING = re.compile(r"do not exist: ([\d_,]+)")


class FacebookAdapter(Adapter):
    """Publishes to a Facebook Page with a Page access token and reads back its insights."""

    spec = PLATFORMS["facebook"]
    api_version = f"graph-{GRAPH_VERSION}"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        self._page_id = account.credentials["page_id"]
        self._token = account.credentials["page_access_token"]
        self._api = GraphAPI(
            access_token=self._token,
            app_secret=account.credentials.get("app_secret") or None,
            version=GRAPH_VERSION,
            base_url=(account.api_base or GRAPH_URL).rstrip("/") + "/",
            timeout=account.timeout,
            sleep_on_rate_limit=False,
        )
        self._last = threading.local()
        self._api.session.hooks["response"].append(self._remember)

    def close(self) -> None:
        self._api.session.close()

    # -- hooks ----------------------------------------------------------------------------------------

    def _check_extra(self, post: Outgoing) -> None:
        if post.reply_to is not None and not _ID.match(post.reply_to):
            raise Permanent(
                self.spec.name, f"{post.reply_to!r} is not a Facebook post or comment id to reply to"
            )
        if post.reply_to is not None and len(post.images) > 1:
            raise InvalidMedia(
                self.spec.name, "a reply is a comment on Facebook, and a comment takes one image"
            )

    def _publish(self, post: Outgoing) -> Receipt:
        if post.reply_to is not None:
            return self._comment(post, post.reply_to)
        if len(post.images) == 1:
            self._sending()
            result = self._photo(post.images[0], post.text, published=True)
            return self._receipt(str(result["post_id"]))
        attached = {
            f"attached_media[{i}]": json.dumps({"media_fbid": self._photo(image, "", published=False)["id"]})
            for i, image in enumerate(post.images)
        }
        self._sending()
        result = self._api.post_object(self._page_id, "feed", data={"message": post.text, **attached})
        return self._receipt(str(result["id"]))

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        posts = [i for i in remote_ids if i.startswith(f"{self._page_id}_")]
        comments = [i for i in remote_ids if i not in posts]
        collected = self._now()
        readings = [self._post_reading(obj, collected) for obj in self._objects(posts, POST_FIELDS)]
        readings += [self._comment_reading(obj, collected) for obj in self._objects(comments, COMMENT_FIELDS)]
        return readings

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        after: str | None = None
        for _ in range(RECENT_PAGES):
            args: dict[str, Any] = {"fields": RECENT_FIELDS, "since": int(since.timestamp()), "limit": 100}
            if after:
                args["after"] = after
            body = self._api.get_connection(self._page_id, "posts", **args)
            for post in body.get("data", []):
                yield RecentPost(str(post["id"]), post.get("message", ""), _parse_time(post["created_time"]))
                for comment in (post.get("comments") or {}).get("data", []):
                    if str((comment.get("from") or {}).get("id")) == self._page_id:
                        yield RecentPost(
                            str(comment["id"]),
                            comment.get("message", ""),
                            _parse_time(comment["created_time"]),
                        )
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if not after:
                return
        raise self._lookup_too_short(RECENT_PAGES)

    def _check(self) -> AccountIdentity:
        page = self._api.get_object(self._page_id, fields="id,name,username,link")
        permissions: tuple[str, ...] = ()
        problem = None
        try:
            debug = self._api.get_object("debug_token", input_token=self._token).get("data", {})
        except FacebookError:
            debug = {}  # not every token may inspect itself; the page lookup above proved it works
        if debug:
            permissions = tuple(debug.get("scopes", []))
            missing = [p for p in REQUIRED_PERMISSIONS if p not in permissions]
            expires = int(debug.get("expires_at") or 0)
            if missing:
                problem = (
                    f"the page token lacks {', '.join(missing)}: generate a new Page access token "
                    "with those permissions"
                )
            elif expires and datetime.fromtimestamp(expires, UTC) < self._now() + timedelta(days=7):
                problem = (
                    f"the page token expires on {datetime.fromtimestamp(expires, UTC):%Y-%m-%d}: "
                    "replace it with a long-lived Page token"
                )
        handle = str(page.get("username") or page.get("id"))
        if problem is None and self.account.handle.lstrip("@").lower() not in (handle.lower(), self._page_id):
            problem = f"the token is for the page {handle!r}, not {self.account.handle!r}"
        return AccountIdentity(
            platform=self.spec.name,
            handle=handle,
            remote_user_id=str(page["id"]),
            display_name=str(page.get("name", "")),
            token_ok=True,
            permissions=permissions,
            problem=problem,
        )

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        status = getattr(self._last, "status", None)
        if isinstance(error, FacebookError):
            code = _int(getattr(error, "code", None))
            message = str(getattr(error, "message", "") or "")
            code_text = str(code) if code is not None else None
            if code in AUTH_CODES:
                return AuthExpired(
                    name, f"Facebook refused the page token ({message})", status=status, code=code_text
                )
            if code in RATE_LIMIT_CODES:
                return RateLimited(name, message, retry_at=self._retry_at(), status=status, code=code_text)
            if code == 506:
                return Duplicate(name, message, status=status, code=code_text)
            if code in (1, 2) or getattr(error, "is_transient", False):
                return Transient(name, message, status=status, code=code_text)
            return Permanent(
                name, f"Facebook refused the request (code {code}): {message}", status=status, code=code_text
            )
        if isinstance(error, LibraryError):
            text = f"Facebook answered with something that is not JSON ({status or 'no status'})"
            return (
                Transient(name, text, status=status)
                if (status or 0) >= 500
                else Permanent(name, text, status=status)
            )
        if isinstance(error, requests.Timeout):
            return Transient(name, f"Facebook did not answer within {self.account.timeout:g} seconds")
        if isinstance(error, requests.ConnectionError):
            return Transient(name, "could not connect to Facebook (the connection failed or was dropped)")
        if isinstance(error, requests.RequestException):
            return Transient(name, f"the request to Facebook failed ({type(error).__name__})")
        if isinstance(error, (KeyError, ValueError)):
            return Transient(name, f"Facebook answered with something unexpected ({type(error).__name__})")
        return None

    # -- helpers --------------------------------------------------------------------------------------

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.status = response.status_code
        self._last.headers = dict(response.headers)

    def _retry_at(self) -> datetime | None:
        headers = {k.lower(): v for k, v in (getattr(self._last, "headers", None) or {}).items()}
        now = self._now()
        if str(headers.get("retry-after", "")).isdigit():
            return now + timedelta(seconds=int(headers["retry-after"]))
        minutes = 0
        try:
            usage = json.loads(headers.get("x-business-use-case-usage", "{}"))
            for items in usage.values():
                for item in items:
                    minutes = max(minutes, int(item.get("estimated_time_to_regain_access") or 0))
        except (ValueError, AttributeError, TypeError):
            return None
        return now + timedelta(minutes=minutes) if minutes else None

    def _receipt(self, post_id: str) -> Receipt:
        return Receipt(post_id, self.post_url(post_id))

    def post_url(self, remote_id: str) -> str:
        page, _, number = remote_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{number}"

    def _photo(self, image: MediaItem, message: str, *, published: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"published": "true" if published else "false"}
        if message:
            data["message"] = message
        if image.alt:
            data["alt_text_custom"] = image.alt
        result: dict[str, Any] = self._api.post_object(
            self._page_id,
            "photos",
            data=data,
            files={"source": (image.name, image.data, image.mime_type)},
        )
        return result

    def _comment(self, post: Outgoing, parent: str) -> Receipt:
        data: dict[str, Any] = {"message": post.text}
        if post.images:
            data["attachment_id"] = self._photo(post.images[0], "", published=False)["id"]
        self._sending()
        result = self._api.post_object(parent, "comments", data=data)
        comment_id = str(result["id"])
        root = parent.split("_")[1] if parent.startswith(f"{self._page_id}_") else parent.split("_")[0]
        url = f"https://www.facebook.com/{self._page_id}/posts/{root}?comment_id={comment_id.split('_')[-1]}"
        return Receipt(comment_id, url)

    def _objects(self, ids: Sequence[str], fields: str) -> list[dict[str, Any]]:
        """Objects for *ids* in one request; ids Facebook no longer has are dropped (one more request)."""
        ids = list(ids)
        if not ids:
            return []
        try:
            body = self._api.get_objects(ids=",".join(ids), fields=fields)
        except FacebookError as error:
            missing = _MISSING.search(str(getattr(error, "message", "")))
            if _int(getattr(error, "code", None)) != 803 or missing is None:
                raise
            gone = set(missing.group(1).split(","))
            ids = [i for i in ids if i not in gone]
            body = self._api.get_objects(ids=",".join(ids), fields=fields) if ids else {}
        return [body[i] for i in ids if i in body]

    def _post_reading(self, obj: Mapping[str, Any], collected: datetime) -> MetricsReading:
        insights = {
            item["name"]: item["values"][0]["value"]
            for item in (obj.get("insights") or {}).get("data", [])
            if item.get("values")
        }
        reactions = ((obj.get("reactions") or {}).get("summary") or {}).get("total_count")
        comments = ((obj.get("comments") or {}).get("summary") or {}).get("total_count")
        shares = (obj.get("shares") or {}).get("count", 0)  # Facebook leaves "shares" out when there are none
        by_type = insights.get("post_clicks_by_type")
        source: dict[str, int] = {"shares.count": shares}
        if reactions is not None:
            source["reactions.summary.total_count"] = reactions
        if comments is not None:
            source["comments.summary.total_count"] = comments
        for metric, value in insights.items():
            if isinstance(value, int):
                source[metric] = value
            elif isinstance(value, dict):
                source |= {f"{metric}.{k}": v for k, v in value.items() if isinstance(v, int)}
        return MetricsReading(
            remote_id=str(obj["id"]),
            collected_at=collected,
            measures=measures(
                views=insights.get("post_media_view"),
                reach=insights.get("post_total_media_view_unique"),
                likes=reactions,
                reposts=shares,
                replies=comments,
                link_clicks=by_type.get("link clicks", 0) if isinstance(by_type, dict) else None,
            ),
            source_metrics=source,
            api_version=self.api_version,
            raw=dict(obj),
        )

    def _comment_reading(self, obj: Mapping[str, Any], collected: datetime) -> MetricsReading:
        likes, replies = obj.get("like_count"), obj.get("comment_count")
        source = {k: v for k, v in (("like_count", likes), ("comment_count", replies)) if isinstance(v, int)}
        return MetricsReading(
            remote_id=str(obj["id"]),
            collected_at=collected,
            measures=measures(likes=likes, replies=replies),
            source_metrics=source,
            api_version=self.api_version,
            raw=dict(obj),
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
