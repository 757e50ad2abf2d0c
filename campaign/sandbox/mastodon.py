"""Mastodon's REST API: instance info (v1 and v2), statuses, v2 media with descriptions, accounts.

Statuses honour ``Idempotency-Key`` (the same key from the same account returns the same status),
an over-long status fails with 422 and Mastodon's ``{"error": "Validation failed: ..."}``, and a
status's ``content`` is HTML the way Mastodon renders it (paragraphs, line breaks, linked URLs and
hashtags). Rate limits answer 429 with ``X-RateLimit-Limit/Remaining/Reset`` (an ISO 8601 time).
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, timedelta
from typing import Any

from aiohttp import web

from campaign import counting, twitter_text
from campaign.platforms import PLATFORMS
from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, bearer_token, iso_z, json_response, read_json, sandbox_of

NAME = "mastodon"
VERSION = "4.3.0"
DOMAIN = "social.sandbox"
MASTODON_EPOCH_MS = 0
MAX_DESCRIPTION = 1500
_HASHTAG = re.compile(r"(?<![\w/#])#(\w+)")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": message}, status=status, headers=headers)


def error_response(status: int, message: str) -> web.Response:
    return error(status, "Record not found" if status == 404 else message)


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":
        from datetime import datetime

        reset = datetime.now(UTC) + timedelta(seconds=rule.reset)
        return error(
            429,
            "Too many requests",
            {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": iso_z(reset)},
        )
    if rule.kind == "error500":
        return error(500, "We're sorry, but something went wrong on our end.")
    if rule.kind == "error503":
        return error(503, "Service Unavailable")
    if rule.kind == "expired_token":
        return error(401, "The access token expired")
    if rule.kind == "no_scope":
        # Mastodon's Api::BaseController#doorkeeper_forbidden_render_options: a token without the scope.
        return error(403, "This action is outside the authorized scopes")
    if rule.kind == "bad_token":
        # A server that implements the API without being Mastodon, refusing the token with 400 and an
        # OAuth 2.0 error body (RFC 6750) instead of Mastodon's 401.
        return json_response(
            {"error": "invalid_token", "error_description": "The access token was revoked by the server"},
            status=400,
        )
    raise ValueError(f"no Mastodon answer for the fault {rule.kind!r}")


def authenticate(request: web.Request) -> SandboxAccount:
    token = bearer_token(request)
    account = sandbox_of(request).find_account(NAME, access_token=token or "") if token else None
    if account is None:
        raise Reply(error(401, "The access token is invalid"))
    return account


# -- rendering ---------------------------------------------------------------------------------------


def base_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def render_account(
    request: web.Request, account: SandboxAccount, with_source: bool = False
) -> dict[str, Any]:
    base = base_of(request)
    data: dict[str, Any] = {
        "id": account.user_id,
        "username": account.username,
        "acct": account.username,
        "display_name": account.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-01T00:00:00.000Z",
        "note": "<p>Official account</p>",
        "url": f"{base}/@{account.username}",
        "uri": f"{base}/users/{account.username}",
        "avatar": f"{base}/avatars/original/missing.png",
        "avatar_static": f"{base}/avatars/original/missing.png",
        "header": f"{base}/headers/original/missing.png",
        "header_static": f"{base}/headers/original/missing.png",
        "followers_count": 5400,
        "following_count": 120,
        "statuses_count": len(sandbox_of(request).posts(NAME, account.handle)),
        "last_status_at": None,
        "emojis": [],
        "fields": [],
    }
    if with_source:
        data["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "en",
            "note": "Official account",
            "fields": [],
            "follow_requests_count": 0,
        }
    return data


def render_content(text: str, base: str) -> str:
    """*text* as the HTML Mastodon stores: paragraphs, ``<br />``, links and hashtag links."""

    def inline(chunk: str) -> str:
        out, position = [], 0
        for url in twitter_text.extract_urls_with_indices(chunk):
            out.append(_tags(html.escape(chunk[position : url.start], quote=False), base))
            href = chunk[url.start : url.end]
            href = href if "://" in href else f"https://{href}"
            scheme, _, rest = href.partition("://")
            out.append(
                f'<a href="{html.escape(href)}" target="_blank" rel="nofollow noopener noreferrer">'
                f'<span class="invisible">{scheme}://</span><span class="">{html.escape(rest)}</span></a>'
            )
            position = url.end
        out.append(_tags(html.escape(chunk[position:], quote=False), base))
        return "".join(out)

    paragraphs = re.split(r"\n{2,}", text.strip("\n"))
    return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


def _tags(escaped: str, base: str) -> str:
    return _HASHTAG.sub(
        lambda m: (
            f'<a href="{base}/tags/{m[1].lower()}" class="mention hashtag" rel="tag">#<span>{m[1]}</span></a>'
        ),
        escaped,
    )


def render_media(request: web.Request, media: RecordedMedia) -> dict[str, Any]:
    base = base_of(request)
    return {
        "id": media.id,
        "type": "image",
        "url": f"{base}/system/media/{media.id}.png",
        "preview_url": f"{base}/system/media/small/{media.id}.png",
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {},
        "description": media.alt or None,
        "blurhash": "UFBWY:8_0Jxu%2M{%Mt7-;of%Mof",
    }


def render_status(request: web.Request, post: RecordedPost) -> dict[str, Any]:
    sandbox = sandbox_of(request)
    account = sandbox.account(NAME, post.account)
    counts = sandbox.counts(post)
    base = base_of(request)
    parent = sandbox.get_post(NAME, post.reply_to, include_deleted=True) if post.reply_to else None
    return {
        "id": post.id,
        "created_at": iso_z(post.created_at),
        "in_reply_to_id": post.reply_to,
        "in_reply_to_account_id": account.user_id if parent else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": post.extra.get("visibility", "public"),
        "language": post.extra.get("language", "en"),
        "uri": f"{base}/users/{account.username}/statuses/{post.id}",
        "url": post.url,
        "replies_count": counts["replies"],
        "reblogs_count": counts["reposts"],
        "favourites_count": counts["likes"],
        "quotes_count": counts["quotes"],
        "edited_at": None,
        "favourited": False,
        "reblogged": False,
        "muted": False,
        "bookmarked": False,
        "pinned": False,
        "content": render_content(post.text, base),
        "filtered": [],
        "reblog": None,
        "application": {"name": "campaign", "website": None},
        "account": render_account(request, account),
        "media_attachments": [render_media(request, m) for m in post.media],
        "mentions": [],
        "tags": [{"name": t.lower(), "url": f"{base}/tags/{t.lower()}"} for t in _HASHTAG.findall(post.text)],
        "emojis": [],
        "card": None,
        "poll": None,
    }


# -- handlers ----------------------------------------------------------------------------------------


async def instance_v1(request: web.Request) -> web.Response:
    return json_response(
        {
            "uri": DOMAIN,
            "title": "Campaign sandbox",
            "short_description": "A stand-in for a Mastodon server.",
            "description": "",
            "email": "sandbox@example.invalid",
            "version": VERSION,
            "urls": {"streaming_api": f"ws://{request.host}"},
            "stats": {"user_count": 4, "status_count": 0, "domain_count": 1},
            "thumbnail": None,
            "languages": ["en"],
            "registrations": False,
            "approval_required": True,
            "invites_enabled": False,
            "configuration": _configuration(),
            "contact_account": None,
            "rules": [],
        }
    )


async def instance_v2(request: web.Request) -> web.Response:
    return json_response(
        {
            "domain": DOMAIN,
            "title": "Campaign sandbox",
            "version": VERSION,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A stand-in for a Mastodon server.",
            "usage": {"users": {"active_month": 4}},
            "thumbnail": {"url": f"{base_of(request)}/thumb.png"},
            "languages": ["en"],
            "configuration": _configuration() | {"urls": {"streaming": f"ws://{request.host}"}},
            "registrations": {"enabled": False, "approval_required": True, "message": None},
            "contact": {"email": "sandbox@example.invalid", "account": None},
            "rules": [],
            "api_versions": {"mastodon": 2},
        }
    )


def _configuration() -> dict[str, Any]:
    return {
        "accounts": {"max_featured_tags": 10},
        "statuses": {
            "max_characters": PLATFORMS[NAME].max_length,
            "max_media_attachments": 4,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
            "image_size_limit": 16777216,
            "image_matrix_limit": 33177600,
        },
        "polls": {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2629746,
        },
    }


async def verify_credentials(request: web.Request) -> web.Response:
    return json_response(render_account(request, authenticate(request), with_source=True))


async def app_credentials(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(
        {
            "id": "1",
            "name": "campaign",
            "website": None,
            "scopes": list(account.scopes),
            "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"],
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        }
    )


async def post_status(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    body = await read_json(request) if request.content_type == "application/json" else None
    if body is None:
        form = await request.post()
        body = {
            "status": form.get("status", ""),
            "in_reply_to_id": form.get("in_reply_to_id"),
            "media_ids": form.getall("media_ids[]", []),
            "visibility": form.get("visibility"),
            "language": form.get("language"),
        }
    key = request.headers.get("Idempotency-Key")
    if key:
        existing = sandbox.idempotent(account.handle, key)
        post = sandbox.get_post(NAME, existing, include_deleted=True) if existing else None
        if post is not None:
            return json_response(render_status(request, post))
    text = str(body.get("status") or "")
    media_ids = [str(m) for m in body.get("media_ids") or []]
    if counting.length(PLATFORMS[NAME], text) > PLATFORMS[NAME].max_length:
        return error(422, f"Validation failed: Text character limit of {PLATFORMS[NAME].max_length} exceeded")
    media = [sandbox.get_media(NAME, m) for m in media_ids]
    if any(m is None or m.account != account.handle for m in media) or len(media) > 4:
        return error(422, "Validation failed: Media attachments are invalid")
    if not text.strip() and not media:
        return error(422, "Validation failed: Text can't be blank")
    reply_to = body.get("in_reply_to_id")
    if reply_to and sandbox.get_post(NAME, str(reply_to)) is None:
        return error(404, "Record not found")
    status_id = sandbox.snowflake(MASTODON_EPOCH_MS)
    post = sandbox.record_post(
        RecordedPost(
            platform=NAME,
            account=account.handle,
            id=status_id,
            text=text,
            created_at=sandbox.now(),
            url=f"{base_of(request)}/@{account.username}/{status_id}",
            media=tuple(m for m in media if m),
            reply_to=str(reply_to) if reply_to else None,
            extra={
                "visibility": body.get("visibility") or "public",
                "language": body.get("language") or "en",
                "idempotency_key": key,
            },
        )
    )
    if key:
        sandbox.idempotent(account.handle, key, post.id)
    return json_response(render_status(request, post))


async def post_media(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return error(422, "Validation failed: File can't be blank")
    description = str(form.get("description") or "")
    if len(description) > MAX_DESCRIPTION:
        return error(
            422, f"Validation failed: Description is too long (maximum is {MAX_DESCRIPTION} characters)"
        )
    content = upload.file.read()
    media = sandbox.record_media(
        RecordedMedia(
            NAME,
            account.handle,
            sandbox.snowflake(MASTODON_EPOCH_MS),
            upload.content_type,
            len(content),
            hashlib.sha256(content).hexdigest(),
            description,
        )
    )
    return json_response(render_media(request, media))


def optional_auth(request: web.Request) -> None:
    """Public reads need no token, but a token that is sent must be valid (as with Doorkeeper)."""
    if "Authorization" in request.headers:
        authenticate(request)


async def get_status(request: web.Request) -> web.Response:
    optional_auth(request)
    sandbox = sandbox_of(request)
    post = sandbox.get_post(NAME, request.match_info["id"])
    if post is None or not sandbox.visible(post):
        return error(404, "Record not found")
    return json_response(render_status(request, post))


async def delete_status(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    post = sandbox.get_post(NAME, request.match_info["id"])
    if post is None or post.account != account.handle:
        return error(404, "Record not found")
    sandbox.delete_post(NAME, post.id)
    return json_response(render_status(request, post) | {"text": post.text})


async def account_statuses(request: web.Request) -> web.Response:
    optional_auth(request)
    sandbox = sandbox_of(request)
    owner = next((a for a in sandbox.accounts(NAME) if a.user_id == request.match_info["id"]), None)
    if owner is None:
        return error(404, "Record not found")
    try:
        limit = min(40, max(1, int(request.query.get("limit", "20"))))
        max_id = int(request.query["max_id"]) if request.query.get("max_id") else None
        since_id = int(request.query.get("since_id") or request.query.get("min_id") or 0)
    except ValueError:
        return error(422, "Validation failed: limit, max_id and since_id must be numbers")
    statuses = [
        p
        for p in reversed(sandbox.posts(NAME, owner.handle))
        if (max_id is None or int(p.id) < max_id)
        and int(p.id) > since_id
        and sandbox.visible(p)
        and not (request.query.get("exclude_replies") in ("1", "true") and p.reply_to)
    ]
    page = statuses[:limit]
    headers = {}
    if page:
        path = f"{base_of(request)}{request.path}"
        headers["Link"] = (
            f'<{path}?limit={limit}&max_id={page[-1].id}>; rel="next", '
            f'<{path}?limit={limit}&min_id={page[0].id}>; rel="prev"'
        )
    return json_response([render_status(request, p) for p in page], headers=headers)


def register(app: web.Application) -> None:
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        app.router.add_get(path, instance_v1)
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        app.router.add_get(path, instance_v2)
    app.router.add_get("/api/v1/accounts/verify_credentials", verify_credentials)
    app.router.add_get("/api/v1/apps/verify_credentials", app_credentials)
    app.router.add_get("/api/v1/accounts/{id}/statuses", account_statuses)
    app.router.add_post("/api/v1/statuses", post_status)
    app.router.add_get("/api/v1/statuses/{id}", get_status)
    app.router.add_delete("/api/v1/statuses/{id}", delete_status)
    app.router.add_post("/api/v2/media", post_media)
