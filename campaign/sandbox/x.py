"""X API v2, as far as the toolkit uses it: posts, lookups with metrics, the user, media and alt text.

Requests are authenticated like X does: OAuth 1.0a user context (the HMAC-SHA1 signature is checked
against the account's consumer and token secrets, over the original URL the client signed) or an
app-only bearer token on read endpoints. Answers use X's shapes: ``{"data": ...}`` on success and
RFC 7807 problem JSON (``title``, ``detail``, ``type``, ``status``) on failure. Returned post text is
HTML-escaped and its links are wrapped in t.co links, with the originals in ``entities.urls``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from campaign import counting, twitter_text
from campaign.platforms import PLATFORMS
from campaign.sandbox import oauth1
from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, iso_z, json_response, read_json, sandbox_of

NAME = "x"
TWITTER_EPOCH_MS = 1288834974657
MAX_LOOKUP_IDS = 100
MAX_IMAGE_BYTES = 5 * 1024 * 1024
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG_DETAIL = (
    "Your Tweet text is too long. For more information on how Twitter determines text length "
    "see https://github.com/twitter/twitter-text."
)
DEFAULT_FIELDS = ("id", "text", "edit_history_tweet_ids")
NO_WRITE_PERMISSION_DETAIL = (
    "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."
)
"""X's answer to a post from an app without Read and Write permission (plhery/node-twitter-api-v2#493)."""


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> web.Response:
    body: dict[str, Any] = {"title": title, "detail": detail, "type": type_, "status": status, **extra}
    return json_response(body, status=status)


def error_response(status: int, message: str) -> web.Response:
    titles = {404: "Not Found Error", 500: "Internal Server Error", 503: "Service Unavailable"}
    return problem(status, titles.get(status, "Error"), message)


def unauthorized() -> web.Response:
    return problem(401, "Unauthorized", "Unauthorized")


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":
        reset = str(int(time.time()) + rule.reset)
        headers = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
        if request.method == "POST" and request.path == "/2/tweets":
            headers |= {
                "x-user-limit-24hour-limit": "100",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": reset,
            }
        response = problem(429, "Too Many Requests", "Too Many Requests")
        response.headers.update(headers)
        return response
    if rule.kind == "error500":
        return error_response(500, "Internal Server Error")
    if rule.kind == "error503":
        return error_response(503, "Service Unavailable")
    if rule.kind == "expired_token":
        return unauthorized()
    if rule.kind == "duplicate":
        return problem(403, "Forbidden", DUPLICATE_DETAIL)
    if rule.kind == "no_scope":
        return problem(
            403,
            "Forbidden",
            NO_WRITE_PERMISSION_DETAIL,
            "https://api.twitter.com/2/problems/oauth1-permissions",
        )
    raise ValueError(f"no X answer for the fault {rule.kind!r}")


# -- authentication -----------------------------------------------------------------------------------


async def authenticate(request: web.Request, *, user_context: bool = True) -> SandboxAccount | None:
    """The account the request acts for; ``None`` for a valid app-only bearer token on a read endpoint."""
    sandbox = sandbox_of(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        if not any(account.app_bearer_token == token for account in sandbox.accounts(NAME)):
            raise Reply(unauthorized())
        if user_context:
            raise Reply(
                problem(
                    403,
                    "Unsupported Authentication",
                    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
                    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                    "https://api.twitter.com/2/problems/unsupported-authentication",
                )
            )
        return None
    oauth = oauth1.parse_header(header)
    if oauth is None:
        raise Reply(unauthorized())
    account = sandbox.find_account(NAME, consumer_key=oauth.consumer_key, access_token=oauth.token)
    if account is None:
        raise Reply(unauthorized())
    url = request.headers.get(oauth1.ORIGINAL_URL_HEADER) or str(request.url)
    form: list[tuple[str, str]] = []
    if request.content_type == "application/x-www-form-urlencoded":
        form = [(k, str(v)) for k, v in (await request.post()).items()]
    why = oauth1.problem(
        request.method,
        url,
        oauth,
        account.credentials["consumer_secret"],
        account.credentials["access_token_secret"],
        form,
    )
    if why is not None or not sandbox.use_nonce(oauth.params.get("oauth_nonce", "")):
        raise Reply(unauthorized())
    return account


# -- posts ----------------------------------------------------------------------------------------------


async def create_tweet(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request)
    assert account is not None
    body = await read_json(request)
    if body is None:
        return problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    text = str(body.get("text", ""))
    media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids", [])]
    reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    if counting.length(PLATFORMS[NAME], text) > PLATFORMS[NAME].max_length:
        return problem(400, "Bad Request", TOO_LONG_DETAIL)
    if not text and not media_ids:
        return problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    media = [sandbox.get_media(NAME, media_id) for media_id in media_ids]
    if any(item is None or item.account != account.handle for item in media) or len(media) > 4:
        return problem(
            400,
            "Invalid Request",
            "Your media IDs are invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    parent = sandbox.get_post(NAME, str(reply_to)) if reply_to is not None else None
    if reply_to is not None and parent is None:
        return problem(
            403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you."
        )
    if any(p.text == text for p in sandbox.posts(NAME, account.handle)):
        return problem(403, "Forbidden", DUPLICATE_DETAIL)
    tweet_id = sandbox.snowflake(TWITTER_EPOCH_MS)
    sandbox.record_post(
        RecordedPost(
            platform=NAME,
            account=account.handle,
            id=tweet_id,
            text=text,
            created_at=sandbox.now(),
            url=f"https://x.com/{account.username}/status/{tweet_id}",
            media=tuple(item for item in media if item is not None),
            reply_to=parent.id if parent else None,
            extra={
                "author_id": account.user_id,
                "conversation_id": parent.extra.get("conversation_id", parent.id) if parent else tweet_id,
                "in_reply_to_user_id": parent.extra.get("author_id") if parent else None,
            },
        )
    )
    display, _ = wrap_links(tweet_id, text)
    return json_response(
        {"data": {"id": tweet_id, "text": display, "edit_history_tweet_ids": [tweet_id]}}, status=201
    )


async def delete_tweet(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request)
    assert account is not None
    tweet = sandbox.get_post(NAME, request.match_info["id"])
    if tweet is None:
        return json_response({"data": {"deleted": False}})
    if tweet.account != account.handle:
        return problem(403, "Forbidden", "You are not allowed to delete a Tweet that is not yours.")
    sandbox.delete_post(NAME, tweet.id)
    return json_response({"data": {"deleted": True}})


async def lookup_tweets(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request, user_context=False)
    ids = [i for i in request.query.get("ids", "").split(",") if i]
    if not 1 <= len(ids) <= MAX_LOOKUP_IDS:
        return json_response(
            {
                "errors": [
                    {
                        "parameters": {"ids": [request.query.get("ids", "")]},
                        "message": f"The number of values in the `ids` query parameter list [{len(ids)}] "
                        f"is not between 1 and {MAX_LOOKUP_IDS}",
                    }
                ],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
            status=400,
        )
    fields = _fields(request)
    data, errors = [], []
    for tweet_id in ids:
        tweet = sandbox.get_post(NAME, tweet_id)
        if tweet is None or not sandbox.visible(tweet):
            errors.append(
                {
                    "value": tweet_id,
                    "detail": f"Could not find tweet with ids: [{tweet_id}].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": "ids",
                    "resource_id": tweet_id,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            )
            continue
        rendered, field_errors = render_tweet(sandbox, tweet, fields, account)
        data.append(rendered)
        errors.extend(field_errors)
    body: dict[str, Any] = {"data": data} if data else {}
    if errors:
        body["errors"] = errors
    return json_response(body)


async def get_tweet(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request, user_context=False)
    tweet = sandbox.get_post(NAME, request.match_info["id"])
    if tweet is None or not sandbox.visible(tweet):
        return problem(
            404,
            "Not Found Error",
            f"Could not find tweet with id: [{request.match_info['id']}].",
            "https://api.twitter.com/2/problems/resource-not-found",
        )
    rendered, errors = render_tweet(sandbox, tweet, _fields(request), account)
    return json_response({"data": rendered, **({"errors": errors} if errors else {})})


async def users_me(request: web.Request) -> web.Response:
    account = await authenticate(request)
    assert account is not None
    response = json_response(
        {"data": {"id": account.user_id, "name": account.display_name, "username": account.username}}
    )
    response.headers["x-access-level"] = account.scopes[0] if account.scopes else "read"
    return response


async def user_tweets(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    viewer = await authenticate(request, user_context=False)
    owner = next((a for a in sandbox.accounts(NAME) if a.user_id == request.match_info["id"]), None)
    if owner is None:
        return problem(
            404,
            "Not Found Error",
            f"Could not find user with id: [{request.match_info['id']}].",
            "https://api.twitter.com/2/problems/resource-not-found",
        )
    try:
        limit = min(100, max(5, int(request.query.get("max_results", "10"))))
        start = _parse_time(request.query.get("start_time"))
        offset = int(request.query.get("pagination_token", "0") or 0)
    except ValueError:
        return problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    tweets = [
        t
        for t in reversed(sandbox.posts(NAME, owner.handle))
        if (start is None or t.created_at >= start) and sandbox.visible(t)
    ]
    page = tweets[offset : offset + limit]
    fields = _fields(request)
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
    if offset + limit < len(tweets):
        meta["next_token"] = str(offset + limit)
    data = [render_tweet(sandbox, t, fields, viewer)[0] for t in page]
    return json_response({"data": data, "meta": meta} if data else {"meta": meta})


# -- media ----------------------------------------------------------------------------------------------


async def upload_media(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request)
    assert account is not None
    content, mime = b"", ""
    if request.content_type == "application/json":
        body = await read_json(request) or {}
        content = base64.b64decode(str(body.get("media", "")) or b"")
        mime = str(body.get("media_type", ""))
    else:
        form = await request.post()
        item = form.get("media")
        if isinstance(item, web.FileField):
            content = item.file.read()
            mime = str(form.get("media_type") or item.content_type or "")
    if not content:
        return problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    if len(content) > MAX_IMAGE_BYTES:
        return problem(400, "Bad Request", "File size exceeds 5242880 bytes.")
    media_id = sandbox.snowflake(TWITTER_EPOCH_MS)
    sandbox.record_media(
        RecordedMedia(
            NAME,
            account.handle,
            media_id,
            mime or "application/octet-stream",
            len(content),
            hashlib.sha256(content).hexdigest(),
        )
    )
    return json_response(
        {
            "data": {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": len(content),
                "expires_after_secs": 86400,
                "image": {"image_type": mime},
            }
        }
    )


async def media_metadata(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = await authenticate(request)
    assert account is not None
    body = await read_json(request) or {}
    media_id = str(body.get("id") or body.get("media_id") or "")
    metadata = body.get("metadata") if "metadata" in body else body
    alt = ((metadata or {}).get("alt_text") or {}).get("text")
    media = sandbox.get_media(NAME, media_id)
    if media is None or media.account != account.handle:
        return problem(
            400,
            "Invalid Request",
            "Your media IDs are invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    if not isinstance(alt, str) or len(alt) > 1000:
        return problem(
            400,
            "Invalid Request",
            "alt_text.text must be a string of at most 1000 characters.",
            "https://api.twitter.com/2/problems/invalid-request",
        )
    sandbox.record_media(
        RecordedMedia(media.platform, media.account, media.id, media.mime_type, media.size, media.sha256, alt)
    )
    return json_response({"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": alt}}}})


# -- rendering ------------------------------------------------------------------------------------------


def wrap_links(tweet_id: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    """*text* as X returns it: HTML-escaped, each link replaced by a t.co link, and the url entities."""
    pieces: list[str] = []
    entities: list[dict[str, Any]] = []
    position = 0
    for number, url in enumerate(twitter_text.extract_urls_with_indices(text)):
        pieces.append(html.escape(text[position : url.start], quote=False))
        original = text[url.start : url.end]
        short = "https://t.co/" + hashlib.sha256(f"{tweet_id}:{number}".encode()).hexdigest()[:10]
        start = sum(len(p) for p in pieces)
        expanded = original if "://" in original else f"http://{original}"
        display = expanded.split("://", 1)[1]
        entities.append(
            {
                "start": start,
                "end": start + len(short),
                "url": short,
                "expanded_url": expanded,
                "display_url": display if len(display) <= 26 else display[:25] + "…",
            }
        )
        pieces.append(short)
        position = url.end
    pieces.append(html.escape(text[position:], quote=False))
    return "".join(pieces), entities


def render_tweet(
    sandbox: Sandbox, tweet: RecordedPost, fields: set[str], viewer: SandboxAccount | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tweet object with the requested ``tweet.fields``, and field errors for private metrics."""
    text, urls = wrap_links(tweet.id, tweet.text)
    data: dict[str, Any] = {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}
    counts = sandbox.counts(tweet)
    errors: list[dict[str, Any]] = []
    if "created_at" in fields:
        data["created_at"] = iso_z(tweet.created_at)
    if "author_id" in fields:
        data["author_id"] = tweet.extra.get("author_id")
    if "conversation_id" in fields:
        data["conversation_id"] = tweet.extra.get("conversation_id", tweet.id)
    if "in_reply_to_user_id" in fields and tweet.extra.get("in_reply_to_user_id"):
        data["in_reply_to_user_id"] = tweet.extra["in_reply_to_user_id"]
    if "referenced_tweets" in fields and tweet.reply_to:
        data["referenced_tweets"] = [{"type": "replied_to", "id": tweet.reply_to}]
    if "attachments" in fields and tweet.media:
        data["attachments"] = {"media_keys": [f"3_{m.id}" for m in tweet.media]}
    if "entities" in fields and urls:
        data["entities"] = {"urls": urls}
    if "public_metrics" in fields:
        data["public_metrics"] = {
            "retweet_count": counts["reposts"],
            "reply_count": counts["replies"],
            "like_count": counts["likes"],
            "quote_count": counts["quotes"],
            "bookmark_count": counts["bookmarks"],
            "impression_count": counts["views"],
        }
    for private in ("non_public_metrics", "organic_metrics"):
        if private not in fields:
            continue
        own = viewer is not None and viewer.handle == tweet.account
        if not own or sandbox.now() - tweet.created_at > timedelta(days=30):
            errors.append(
                {
                    "value": private,
                    "detail": f"Sorry, you are not authorized to access '{private}' on the Tweet "
                    f"with id [{tweet.id}].",
                    "title": "Field Authorization Error",
                    "resource_type": "tweet",
                    "parameter": "tweet.fields",
                    "resource_id": tweet.id,
                    "field": private,
                    "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                }
            )
            continue
        metrics = {
            "impression_count": counts["views"],
            "url_link_clicks": counts["link_clicks"],
            "user_profile_clicks": counts["profile_clicks"],
        }
        if private == "organic_metrics":
            metrics |= {
                "like_count": counts["likes"],
                "reply_count": counts["replies"],
                "retweet_count": counts["reposts"],
            }
        data[private] = metrics
    return data, errors


def _fields(request: web.Request) -> set[str]:
    return {f for f in request.query.get("tweet.fields", "").split(",") if f}


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)


def register(app: web.Application) -> None:
    app.router.add_post("/2/tweets", create_tweet)
    app.router.add_get("/2/tweets", lookup_tweets)
    app.router.add_get("/2/tweets/{id}", get_tweet)
    app.router.add_delete("/2/tweets/{id}", delete_tweet)
    app.router.add_get("/2/users/me", users_me)
    app.router.add_get("/2/users/{id}/tweets", user_tweets)
    app.router.add_post("/2/media/upload", upload_media)
    app.router.add_post("/2/media/metadata", media_metadata)
    app.router.add_post("/2/media/metadata/create", media_metadata)
