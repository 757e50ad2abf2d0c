"""Instagram's Graph API for professional accounts (``/vNN.N/{ig-id}/...`` on Graph's host), as the toolkit uses it.

Instagram shares Graph's host and paths with Facebook: the server sends a request here when the node it names is
an Instagram id (17 digits starting 17 or 18, as Instagram's are: users ``17841…``; the sandbox's Facebook ids are
15 or 18 digits, or ``PAGE_POST``), see :func:`campaign.sandbox.server.platform_of`. Errors are Graph's JSON, made
by :func:`campaign.sandbox.facebook.fb_error`.

- ``POST /{ig-user-id}/media`` makes a container: an image (``image_url``, ``caption``, ``alt_text``), a carousel
  item (``is_carousel_item=true``) or a carousel (``media_type=CAROUSEL`` with ``children``). As Instagram does, the
  sandbox GETs ``image_url`` itself: a URL it cannot fetch, bytes that are not a JPEG, or a picture narrower than
  4:5 or wider than 1.91:1, make the container ``ERROR`` (its ``status`` says why). A container is ``IN_PROGRESS`` for ``Sandbox.media_processing`` seconds,
  then ``FINISHED`` (or ``ERROR``); ``EXPIRED`` 24 hours after it was made unpublished; ``PUBLISHED`` once published.
- ``GET /{container-id}?fields=status_code,status``.
- ``POST /{ig-user-id}/media_publish`` with ``creation_id``: a container not ``FINISHED`` is refused with code 9007
  ("Media ID is not available"): one still processing, failed, expired, or already published. What Instagram
  answers to a second publish of a published container is not documented; code 9007 is the sandbox's choice, and
  the adapter relies only on the code and on the container's documented ``PUBLISHED`` status. The 51st post in a
  moving 24 hours is refused with code 9, subcode 2207042.
- ``GET /{ig-user-id}/media`` lists the account's media newest first (cursor paging); ``GET /{media-id}`` and
  ``GET /{media-id}/insights?metric=…`` (``reach``, ``views``, ``likes``, ``comments``, ``saved``, ``shares``; the
  retired ``impressions`` fails the call with code 100; a media nobody has seen yet has no insights, and gets
  "an empty data set instead of 0", as Instagram's reference says); ``GET /{ig-user-id}`` and its
  ``content_publishing_limit``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.facebook import (
    RATE_LIMIT_MESSAGES,
    fb_error,
    fb_time,
    graph_token,
    params_of,
)
from campaign.sandbox.facebook import error_response as graph_error_response
from campaign.sandbox.facebook import fault_response as graph_fault_response
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, json_response, sandbox_of

NAME = "instagram"
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
MAX_CHILDREN = 10
PUBLISH_LIMIT = 50
PUBLISH_WINDOW = timedelta(hours=24)
CONTAINER_LIFETIME = timedelta(hours=24)
FETCH_TIMEOUT = 10.0
MEDIA_BASE = 17_900_000_000_000_000
ASPECT_RATIOS = (0.8, 1.91)
INSIGHTS = {"reach": "reach", "views": "views", "likes": "likes", "comments": "replies", "saved": "bookmarks",
            "shares": "reposts"}
DOWNLOAD_FAILED = "Media download has failed. The media URI doesn't meet our requirements."


def error_response(status: int, message: str) -> web.Response:
    return graph_error_response(status, message)


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":  # Instagram's app and user limits are Graph's codes 4 and 17, with usage headers
        code = rule.code or 4
        user = sandbox.account(NAME).user_id if sandbox.accounts(NAME) else "0"
        usage = {user: [{"type": "instagram", "call_count": 100, "total_cputime": 12, "total_time": 14,
                         "estimated_time_to_regain_access": max(1, math.ceil(rule.reset / 60))}]}
        headers = {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}
        return fb_error(RATE_LIMIT_MESSAGES[code], code, transient=True, headers=headers)
    return graph_fault_response(rule, request, sandbox)


def no_object(node: str, method: str = "get") -> web.Response:
    return fb_error(f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be loaded due to "
                    "missing permissions, or does not support this operation.", 100, subcode=33,
                    error_type="GraphMethodException")


def invalid(message: str) -> Reply:
    return Reply(fb_error(message, 100))


# -- containers -------------------------------------------------------------------------------------------


@dataclass
class Container:
    """A media container: what it will publish, and what became of fetching its image."""

    id: str
    account: str
    made: float
    """When it was made (the sandbox clock's epoch seconds, for EXPIRED; processing uses real time)."""
    made_monotonic: float
    caption: str = ""
    alt: str = ""
    carousel_item: bool = False
    children: tuple[str, ...] = ()
    image: RecordedMedia | None = None
    failure: str | None = None
    """Why its image could not be used, Instagram's ``status`` words."""
    published: str | None = None


def containers_of(sandbox: Sandbox) -> dict[str, Container]:
    containers: dict[str, Container] = sandbox.platform_state(NAME).setdefault("containers", {})
    return containers


def status_of(sandbox: Sandbox, container: Container) -> tuple[str, str]:
    """The container's ``status_code``, and its ``status`` words."""
    if container.published:
        return "PUBLISHED", "Published"
    children = [containers_of(sandbox)[child] for child in container.children]
    if time.monotonic() - container.made_monotonic < sandbox.media_processing:
        return "IN_PROGRESS", "In Progress"
    failed = next((c for c in [container, *children] if c.failure), None)
    if failed is not None:
        return "ERROR", f"Error: {failed.failure}"
    if sandbox.now().timestamp() - container.made > CONTAINER_LIFETIME.total_seconds():
        return "EXPIRED", "Expired"
    if any(status_of(sandbox, child)[0] != "FINISHED" for child in children):
        return "IN_PROGRESS", "In Progress"
    return "FINISHED", "Finished"


async def fetch_image(url: str) -> tuple[bytes | None, str | None]:
    """GET *url* as Instagram does: the bytes, or why they could not be used."""
    try:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                return None, f"{DOWNLOAD_FAILED} (HTTP {response.status})"
            data = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        return None, f"{DOWNLOAD_FAILED} ({type(error).__name__})"
    if not data.startswith(b"\xff\xd8\xff"):
        return None, "Only photo or video can be accepted as media type. (The image is not a JPEG.)"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError):
        return None, "Only photo or video can be accepted as media type. (The JPEG cannot be read.)"
    if not ASPECT_RATIOS[0] <= width / height <= ASPECT_RATIOS[1]:
        return None, (f"The aspect ratio is not supported. ({width}×{height}: Instagram only accepts media with aspect "
                      f"ratios between {ASPECT_RATIOS[0]:.3f} and {ASPECT_RATIOS[1]:.3f}.)")
    return data, None


# -- the account ------------------------------------------------------------------------------------------


async def authenticate(request: web.Request) -> tuple[SandboxAccount, dict[str, Any]]:
    """The Instagram account of the request's token, and its parameters."""
    params = await params_of(request)
    token = graph_token(request, params)
    if not token:
        raise Reply(fb_error("An active access token must be used to query information about the current user.",
                             2500))
    account = sandbox_of(request).find_account(NAME, access_token=str(token))
    if account is None:
        raise Reply(fb_error("Invalid OAuth access token - Cannot parse access token", 190))
    return account, params


def new_id(sandbox: Sandbox) -> str:
    return str(MEDIA_BASE + sandbox.next_number() * 7919)


async def make_container(request: web.Request, sandbox: Sandbox, account: SandboxAccount,
                         params: dict[str, Any]) -> web.Response:
    caption = str(params.get("caption") or "")
    if len(caption) > MAX_CAPTION:
        raise invalid(f"(#100) The caption is {len(caption)} characters; at most {MAX_CAPTION} are allowed")
    if caption.count("#") > MAX_HASHTAGS:
        raise invalid(f"(#100) The caption has more than {MAX_HASHTAGS} hashtags")
    containers = containers_of(sandbox)
    container = Container(new_id(sandbox), account.handle, sandbox.now().timestamp(), time.monotonic(),
                          caption=caption, alt=str(params.get("alt_text") or ""),
                          carousel_item=str(params.get("is_carousel_item", "")).lower() == "true")
    if str(params.get("media_type", "")).upper() == "CAROUSEL":
        children = tuple(c for c in str(params.get("children") or "").split(",") if c)
        if not 2 <= len(children) <= MAX_CHILDREN:
            raise invalid(f"(#100) A carousel has from 2 to {MAX_CHILDREN} children")
        for child in children:
            item = containers.get(child)
            if item is None or item.account != account.handle or not item.carousel_item:
                raise invalid(f"(#100) The child {child} is not a carousel item of this account")
        container.children = children
    else:
        url = params.get("image_url")
        if not url:
            raise invalid("(#100) The parameter image_url is required")
        data, container.failure = await fetch_image(str(url))
        if data is not None:
            container.image = RecordedMedia(NAME, account.handle, container.id, "image/jpeg", len(data),
                                            hashlib.sha256(data).hexdigest(), container.alt)
    containers[container.id] = container
    return json_response({"id": container.id})


async def publish(request: web.Request, sandbox: Sandbox, account: SandboxAccount,
                  params: dict[str, Any]) -> web.Response:
    containers = containers_of(sandbox)
    container = containers.get(str(params.get("creation_id") or ""))
    if container is None or container.account != account.handle or container.carousel_item:
        raise invalid(f"(#100) creation_id {params.get('creation_id')!r} is not a container of this account")
    status, words = status_of(sandbox, container)
    if status != "FINISHED":
        raise Reply(fb_error("Media ID is not available", 9007, subcode=2207027, error_user_title="Media not ready",
                             error_user_msg=f"The media cannot be published: its container is {status} ({words})."))
    now = sandbox.now()
    recent = [p for p in sandbox.posts(NAME, account.handle) if now - p.created_at < PUBLISH_WINDOW]
    if len(recent) >= PUBLISH_LIMIT:
        raise Reply(fb_error("Application request limit reached", 9, subcode=2207042, transient=False,
                             error_user_title="Cannot publish more posts",
                             error_user_msg="You reached maximum number of posts that is allowed to be published "
                                            "by Content Publishing API."))
    items = [containers[c] for c in container.children] or [container]
    media = tuple(item.image for item in items if item.image is not None)
    media_id = new_id(sandbox)
    container.published = media_id
    shortcode = hashlib.sha256(media_id.encode()).hexdigest()[:11]
    url = f"https://www.instagram.com/p/{shortcode}/"
    sandbox.record_post(RecordedPost(NAME, account.handle, media_id, container.caption, now, url, media=media,
                                     extra={"container": container.id,
                                            "media_type": "CAROUSEL_ALBUM" if container.children else "IMAGE"}))
    return json_response({"id": media_id})


def render_media(post: RecordedPost, fields: list[str]) -> dict[str, Any]:
    values = {"id": post.id, "caption": post.text, "timestamp": fb_time(post.created_at), "permalink": post.url,
              "media_type": post.extra.get("media_type", "IMAGE"), "media_product_type": "FEED"}
    return {name: values[name] for name in fields if name in values}


def list_media(sandbox: Sandbox, account: SandboxAccount, params: dict[str, Any]) -> web.Response:
    posts = sorted((p for p in sandbox.posts(NAME, account.handle) if sandbox.visible(p)),
                   key=lambda p: p.created_at, reverse=True)
    limit = min(int(params.get("limit") or 25), 100)
    start = int(params.get("after") or 0)
    fields = str(params.get("fields") or "id").split(",")
    body: dict[str, Any] = {"data": [render_media(p, fields) for p in posts[start : start + limit]]}
    if start + limit < len(posts):
        body["paging"] = {"cursors": {"before": str(start), "after": str(start + limit)}, "next": "more"}
    return json_response(body)


def insights(sandbox: Sandbox, post: RecordedPost, params: dict[str, Any]) -> web.Response:
    asked = [m for m in str(params.get("metric") or "").split(",") if m]
    unknown = [m for m in asked if m not in INSIGHTS]
    if not asked or unknown:
        raise invalid(f"(#100) metric[0] must be one of the following values: {', '.join(INSIGHTS)}"
                      + (f" ({unknown[0]} is not)" if unknown else ""))
    counts = sandbox.counts(post)
    if not counts["views"]:  # "returns an empty data set instead of 0" while insights are not available yet
        return json_response({"data": []})
    data = [{"name": m, "period": "lifetime", "values": [{"value": counts[INSIGHTS[m]]}], "title": m.title(),
             "id": f"{post.id}/insights/{m}/lifetime"} for m in asked]
    return json_response({"data": data})


async def handle(request: web.Request) -> web.Response:
    """Every Instagram request (Graph paths whose node is an Instagram id)."""
    sandbox = sandbox_of(request)
    account, params = await authenticate(request)
    parts = request.path.strip("/").split("/")[1:]
    node, edge = parts[0], (parts[1] if len(parts) > 1 else None)
    user = account.credentials["ig_user_id"]
    needs = "instagram_manage_insights" if edge == "insights" else "instagram_content_publish" \
        if request.method == "POST" or edge == "content_publishing_limit" else "instagram_basic"
    if needs not in account.scopes:
        return fb_error("(#10) Application does not have permission for this action", 10, status=403)
    if node == user:
        if request.method == "POST" and edge == "media":
            return await make_container(request, sandbox, account, params)
        if request.method == "POST" and edge == "media_publish":
            return await publish(request, sandbox, account, params)
        if request.method == "GET" and edge == "media":
            return list_media(sandbox, account, params)
        if request.method == "GET" and edge == "content_publishing_limit":
            now = sandbox.now()
            used = sum(1 for p in sandbox.posts(NAME, account.handle) if now - p.created_at < PUBLISH_WINDOW)
            config = {"quota_total": PUBLISH_LIMIT, "quota_duration": int(PUBLISH_WINDOW.total_seconds())}
            return json_response({"data": [{"config": config, "quota_usage": used}]})
        if request.method == "GET" and edge is None:
            return json_response({"id": user, "username": account.username, "name": account.display_name})
        return no_object(node, request.method.lower())
    container = containers_of(sandbox).get(node)
    if container is not None and container.account == account.handle and request.method == "GET" and edge is None:
        status, words = status_of(sandbox, container)
        return json_response({"status_code": status, "status": words, "id": container.id})
    post = sandbox.get_post(NAME, node)
    if post is None or post.account != account.handle or request.method != "GET" or not sandbox.visible(post):
        return no_object(node, request.method.lower())
    if edge == "insights":
        return insights(sandbox, post, params)
    if edge is None:
        return json_response(render_media(post, str(params.get("fields") or "id").split(",")))
    return no_object(node)


def register(app: web.Application) -> None:
    """Nothing of its own: Instagram's paths are Graph's, which Facebook's module registers; the server's middleware
    hands the requests whose node is an Instagram id to :func:`handle`."""
