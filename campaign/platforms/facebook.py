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

Errors are classified from the HTTP status and the body together. pyfacebook never looks at the status:
it raises only when a JSON body has an ``"error"`` key, returns any other JSON as if it were the answer
(a 5xx body of another shape became "no posts" in a metrics call, or a ``KeyError`` on publish), and fails
on bodies that are not JSON. So the response hook raises :class:`GraphHTTPError` itself for every 5xx
answer, whatever its body — Graph's JSON (``{"error": {"message": "Service temporarily unavailable",
"type": "OAuthException", "is_transient": true, "code": 2}}``: its type names no token problem here), an
HTML error page, or nothing — and for any 4xx answer that is not Graph's error JSON. A 5xx is always
:class:`Transient`, with the server's own words.

Graph's error codes, from Meta's "Handling Errors" guide
(https://developers.facebook.com/docs/graph-api/guides/error-handling): 102 and 190 (with subcodes
458-467, 492) are a token that expired, was revoked or is invalid; 1 and 2 are temporary; 4, 17, 32 and
613 (and 80001-style business use case limits) are throttling; 3 ("API Method: capability or
permissions issue"), 10 ("API Permission Denied") and 200-299 ("API Permission ... not granted or has
been removed") are permissions the app or the Page token lacks; 506 is a duplicate post. Code 100 is
"invalid parameter", a per-request problem, except for the two answers about ``appsecret_proof``
("Invalid appsecret_proof provided in the API argument", "API calls from the server require an
appsecret_proof argument"), which mean the configured app secret is wrong or missing (Meta's "Securing
Graph API Requests" guide, https://developers.facebook.com/docs/graph-api/guides/secure-requests): the
permission and app-secret errors stop every post of the account, so they are :class:`AccountProblem`.
"""

from __future__ import annotations

import html
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
    AccountProblem,
    AuthExpired,
    Duplicate,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.sessions import open_connection, read_environment_once, server_root

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
PERMISSION_CODES = {3, 10, *range(200, 300)}
"""Codes of permissions the app or the token lacks (Meta's error-handling guide: 3, 10 and 200-299)."""
TRANSIENT_CODES = {1, 2}
RECENT_PAGES = 5
_ID = re.compile(r"^\d+_\d+$")
_MISSING = re.compile(r"do not exist: ([\d_,]+)")
_TAGS = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)
MAX_WORDS = 300


class GraphHTTPError(Exception):
    """An answer pyfacebook cannot be trusted with: any 5xx, or a 4xx whose body is not Graph's error JSON.

    ``words`` is what the server said (Graph's ``error.message``, another body's text, or nothing)."""

    def __init__(self, status: int, words: str, code: int | None = None) -> None:
        super().__init__(status, words)
        self.status = status
        self.words = words
        self.code = code


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
        self._server = server_root(account.api_base or GRAPH_URL)
        read_environment_once(self._api.session, self._server)

    def connect_ahead(self, timeout: float) -> None:
        open_connection(self._api.session, self._server, timeout)

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
        except (FacebookError, GraphHTTPError):
            # Not every token may inspect itself; the page lookup above proved it works. Without debug_token
            # the permissions stay unreported (empty), and `accounts check` says they could not be verified.
            debug = {}
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
        if isinstance(error, GraphHTTPError):
            return self._map_http(error)
        status = getattr(self._last, "status", None)
        if isinstance(error, FacebookError):
            code = _int(getattr(error, "code", None))
            message = str(getattr(error, "message", "") or "")
            code_text = str(code) if code is not None else None
            if status is not None and status >= 500:  # the hook raises for these; kept for safety
                return Transient(name, f"Facebook's server failed ({status}): {message}", status=status,
                                 code=code_text)
            if code in AUTH_CODES:
                return AuthExpired(
                    name, f"Facebook refused the page token ({message})", status=status, code=code_text
                )
            if code in RATE_LIMIT_CODES:
                return RateLimited(name, message, retry_at=self._retry_at(), status=status, code=code_text)
            if code == 506:
                return Duplicate(name, message, status=status, code=code_text)
            if code in PERMISSION_CODES:
                return AccountProblem(
                    name,
                    f"Facebook says the app or the Page token lacks a permission (code {code}): {message}",
                    status=status,
                    code=code_text,
                )
            if code == 100 and "appsecret_proof" in message.lower():
                return AccountProblem(
                    name,
                    f"Facebook refused the app secret proof, so the app secret the plan names is wrong or "
                    f"missing (code {code}): {message}",
                    status=status,
                    code=code_text,
                )
            if code in TRANSIENT_CODES or getattr(error, "is_transient", False):
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

    def _map_http(self, error: GraphHTTPError) -> PlatformError:
        """A 5xx (always :class:`Transient`), or a 4xx that is not Graph's error JSON (a proxy's)."""
        name, status = self.spec.name, error.status
        said = f": {error.words}" if error.words else " and no message"
        code = str(error.code) if error.code is not None else None
        if status >= 500:
            return Transient(name, f"Facebook's server failed ({status}){said}", status=status, code=code)
        if status == 429:
            return RateLimited(
                name, f"too many requests (429){said}", retry_at=self._retry_at(), status=status
            )
        return Permanent(name, f"Facebook refused the request ({status}){said}", status=status, code=code)

    # -- helpers --------------------------------------------------------------------------------------

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep the answer's status and headers; raise for the error answers pyfacebook would misread."""
        self._last.status = response.status_code
        self._last.headers = dict(response.headers)
        if response.status_code < 400:
            return
        body = _json(response)
        graph = body.get("error") if isinstance(body, dict) else None
        if response.status_code < 500 and isinstance(graph, dict):
            if "json" not in response.headers.get("Content-Type", "").lower():
                raise FacebookError(body)  # Graph's error, under a content type pyfacebook would refuse
            return  # pyfacebook raises FacebookError with Graph's code and message
        raise GraphHTTPError(
            response.status_code,
            graph_words(response, body),
            _int(graph.get("code")) if isinstance(graph, dict) else None,
        )

    def _retry_at(self) -> datetime | None:
        return retry_time(getattr(self._last, "headers", None) or {}, self._now())

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


def retry_time(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When Graph's throttling lifts, from an answer's ``Retry-After`` or the longest
    ``estimated_time_to_regain_access`` of its ``X-Business-Use-Case-Usage``; ``None`` when it does not say."""
    headers = {k.lower(): v for k, v in headers.items()}
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


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def graph_words(response: requests.Response, body: Any = None) -> str:
    """What an error answer says, in the server's own words: Graph's ``error.message``, another JSON body's
    message, the text of an HTML error page, or the plain text (shortened; empty when there is none)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _shorten(str(error["message"]))
        for key in ("error_description", "message", "detail", "error", "title"):
            if isinstance(body.get(key), str) and body[key].strip():
                return _shorten(body[key])
    if body is not None:
        return _shorten(json.dumps(body, ensure_ascii=False))
    text = response.text
    if "<" in text and ">" in text:
        text = _TAGS.sub(" ", text)
        text = html.unescape(text)
    return _shorten(text)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1].rstrip() + "…"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
