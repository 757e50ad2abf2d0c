"""Facebook Graph API (Pages), on versioned paths (``/v25.0/...``; any ``vNN.N`` is accepted).

Covers what a Page publisher uses: feed and photo posts, comments (a page's replies to its own
posts, which is how the toolkit threads on Facebook), deletes, the ``ids=`` multi-object lookup,
field expansion (``reactions.summary(total_count).limit(0)``, ``insights.metric(a,b)``,
``comments{message,from}``), the insights edge with the metrics Meta still serves in 2026 (any other
metric fails the whole call with code 100), ``/me``, ``debug_token`` and Graph API error JSON
(``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``).

The token may come as ``access_token`` in the query or form, or in an ``Authorization`` header.
When the page has an app secret, ``appsecret_proof`` must be the HMAC-SHA256 of the token: a proof made
with another secret gets Graph's own answer, HTTP 400 ``{"error": {"message": "Invalid appsecret_proof
provided in the API argument", "type": "GraphMethodException", "code": 100, ...}}``.

Faults answer as Graph does: ``error503`` is its JSON ``Service temporarily unavailable`` (code 2,
``is_transient``, type ``OAuthException`` — the type names no token problem here); ``error500`` is the
HTML "Sorry, something went wrong." page Facebook's front end serves instead of JSON when Graph itself
fails (reported against several Graph clients: nov/fb_graph#355, Thuzi/facebook-node-sdk#27,
facebookarchive/php-graph-sdk#856, where a client took the page for a successful answer);
``bad_appsecret`` is the code-100 answer above; ``no_scope`` is the ``(#200)`` permission error a Page
token without ``pages_manage_posts``/``pages_read_engagement`` gets (HTTP 403, as arsduo/koala#470 shows).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, json_response, sandbox_of

NAME = "facebook"
MAX_MESSAGE = 63206
MAX_IDS = 50
OBJECT_BASE = 122_100_000_000_000_000
INSIGHT_METRICS = {
    "post_media_view": "Lifetime Post Media Views",
    "post_total_media_view_unique": "Lifetime Post Total Media Viewers",
    "post_clicks": "Lifetime Post Clicks",
    "post_clicks_by_type": "Lifetime Post Clicks by Type",
    "post_reactions_by_type_total": "Lifetime Total post Reactions by Type",
    "post_activity_by_action_type": "Lifetime Post Stories by action type",
}
RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}


def fb_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    transient: bool | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error |= extra
    error["fbtrace_id"] = "A" + hashlib.sha256(f"{message}:{code}".encode()).hexdigest()[:22]
    return json_response({"error": error}, status=status, headers=headers)


def error_response(status: int, message: str) -> web.Response:
    if status == 404:
        return fb_error(f"Unknown path components: {message}", 2500)
    if status == 503:
        return fb_error("Service temporarily unavailable", 2, status=503, transient=True)
    return fb_error("An unknown error has occurred.", 1, status=status, transient=True)


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":
        code = rule.code or 32
        minutes = max(1, math.ceil(rule.reset / 60))
        page_id = sandbox.account(NAME).user_id
        usage = {
            page_id: [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 14,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        headers = {
            "X-App-Usage": '{"call_count":100,"total_cputime":12,"total_time":14}',
            "X-Business-Use-Case-Usage": _dumps(usage),
        }
        return fb_error(RATE_LIMIT_MESSAGES[code], code, transient=True, headers=headers)
    if rule.kind == "error500":
        return front_end_error_page(500)
    if rule.kind == "error503":
        return error_response(503, "")
    if rule.kind == "bad_appsecret":
        return bad_appsecret_error()
    if rule.kind == "no_scope":
        return missing_permission_error()
    if rule.kind == "expired_token":
        stamp = datetime.now(UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
        return fb_error(
            f"Error validating access token: Session has expired on {stamp}. The current time is {stamp}.",
            190,
            subcode=463,
        )
    if rule.kind == "duplicate":
        return duplicate_error()
    raise ValueError(f"no Facebook answer for the fault {rule.kind!r}")


FRONT_END_ERROR_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en" id="facebook">
<head><title>Facebook | Error</title>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<meta http-equiv="Cache-Control" content="no-cache" /><meta name="robots" content="noindex,nofollow" />
<style type="text/css">html, body { margin: 0px; padding: 0px; text-align: center; }</style></head>
<body><div class="core"><h1>Sorry, something went wrong.</h1>
<p>We're working on getting this fixed as soon as we can.</p>
<p><a href="https://www.facebook.com/">Go Back</a></p></div></body></html>
"""


def front_end_error_page(status: int) -> web.Response:
    """The HTML error page Facebook serves in place of Graph's JSON when the service itself fails."""
    return web.Response(status=status, text=FRONT_END_ERROR_PAGE, content_type="text/html", charset="utf-8")


def bad_appsecret_error() -> web.Response:
    """Graph's answer to an ``appsecret_proof`` made with the wrong app secret."""
    return fb_error(
        "Invalid appsecret_proof provided in the API argument", 100, error_type="GraphMethodException"
    )


def missing_appsecret_error() -> web.Response:
    """Graph's answer when the app requires ``appsecret_proof`` and the call has none."""
    return fb_error(
        "API calls from the server require an appsecret_proof argument",
        100,
        error_type="GraphMethodException",
    )


def missing_permission_error() -> web.Response:
    """Graph's answer to a post from a token without ``pages_manage_posts`` and ``pages_read_engagement``."""
    return fb_error(
        "(#200) If posting to a page, requires both pages_read_engagement and "
        "pages_manage_posts as an admin with sufficient administrative permission",
        200,
        status=403,
    )


def duplicate_error() -> web.Response:
    return fb_error(
        "Duplicate status message",
        506,
        subcode=1455006,
        transient=False,
        error_user_title="Duplicate Status Update",
        error_user_msg="This status update is identical to the last one you posted. Try posting "
        "something different, or delete your previous update.",
    )


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


# -- field expansion ---------------------------------------------------------------------------------


@dataclass
class Field:
    """One requested field: ``name.modifier(args)...{children}``."""

    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)


def parse_fields(text: str) -> list[Field]:
    """Parse Graph API field expansion syntax; a malformed string raises :class:`Reply` (code 100)."""
    fields, position = _parse_list(text, 0)
    if position != len(text):
        raise Reply(
            fb_error(f'(#100) Syntax error "Expected end of string instead of "{text[position:]}"."', 100)
        )
    return fields


def _parse_list(text: str, position: int) -> tuple[list[Field], int]:
    fields: list[Field] = []
    while position < len(text) and text[position] != "}":
        start = position
        while position < len(text) and (text[position].isalnum() or text[position] == "_"):
            position += 1
        current = Field(text[start:position])
        while position < len(text) and text[position] == ".":
            position += 1
            start = position
            while position < len(text) and (text[position].isalnum() or text[position] == "_"):
                position += 1
            name, end = text[start:position], text.find(")", position)
            if not text.startswith("(", position) or end < 0:
                raise Reply(fb_error(f"(#100) Syntax error in field modifier {name!r}", 100))
            current.modifiers[name] = text[position + 1 : end]
            position = end + 1
        if position < len(text) and text[position] == "{":
            current.children, position = _parse_list(text, position + 1)
            if position >= len(text) or text[position] != "}":
                raise Reply(fb_error("(#100) Syntax error: missing '}'", 100))
            position += 1
        if current.name:
            fields.append(current)
        if position < len(text) and text[position] == ",":
            position += 1
        elif position < len(text) and text[position] != "}":
            return fields, position
    return fields, position


def fields_of(request: web.Request, default: str) -> list[Field]:
    return parse_fields(request.query.get("fields") or default)


# -- authentication ----------------------------------------------------------------------------------


async def params_of(request: web.Request) -> dict[str, Any]:
    """Query and form parameters together (form wins), as Graph API reads them."""
    values: dict[str, Any] = dict(request.query)
    if request.method in ("POST", "PUT"):
        values |= dict(await request.post())
    return values


def graph_token(request: web.Request, params: dict[str, Any]) -> str | None:
    """The access token, from the ``access_token`` parameter or an ``Authorization: Bearer``/``OAuth`` header."""
    token = params.get("access_token")
    header = request.headers.get("Authorization", "")
    if not token and header.split(" ", 1)[0].lower() in ("bearer", "oauth"):
        token = header.split(" ", 1)[1].strip()
    return str(token) if token else None


async def authenticate(request: web.Request) -> tuple[SandboxAccount, dict[str, Any]]:
    sandbox = sandbox_of(request)
    params = await params_of(request)
    token = graph_token(request, params)
    if not token:
        raise Reply(fb_error("An access token is required to request this resource.", 104))
    account = sandbox.find_account(NAME, page_access_token=str(token))
    if account is None:
        raise Reply(fb_error("Invalid OAuth access token - Cannot parse access token", 190))
    secret = account.credentials.get("app_secret")
    if secret:
        proof = params.get("appsecret_proof")
        expected = hmac.new(secret.encode(), str(token).encode(), hashlib.sha256).hexdigest()
        if not proof:
            raise Reply(missing_appsecret_error())
        if not hmac.compare_digest(str(proof), expected):
            raise Reply(bad_appsecret_error())
    return account, params


# -- rendering ---------------------------------------------------------------------------------------


def fb_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def node_type(post: RecordedPost) -> str:
    return "Comment" if post.extra.get("kind") == "comment" else "Post"


def render_node(sandbox: Sandbox, node: RecordedPost | SandboxAccount, fields: list[Field]) -> dict[str, Any]:
    if isinstance(node, SandboxAccount):
        return render_page(node, fields)
    data: dict[str, Any] = {}
    for item in fields:
        data |= _render_field(sandbox, node, item)
    return data


def render_page(page: SandboxAccount, fields: list[Field]) -> dict[str, Any]:
    values = {
        "id": page.user_id,
        "name": page.display_name,
        "username": page.handle,
        "link": f"https://www.facebook.com/{page.handle}",
        "category": "Police Station",
        "fan_count": 182000,
        "followers_count": 190000,
    }
    data = {}
    for item in fields:
        if item.name not in values:
            raise Reply(
                fb_error(f"(#100) Tried accessing nonexisting field ({item.name}) on node type (Page)", 100)
            )
        data[item.name] = values[item.name]
    return data


def _render_field(sandbox: Sandbox, post: RecordedPost, item: Field) -> dict[str, Any]:
    counts = sandbox.counts(post)
    page = sandbox.account(NAME, post.account)
    comments = [c for c in sandbox.posts(NAME) if c.reply_to == post.id and c.extra.get("kind") == "comment"]
    simple: dict[str, Any] = {
        "id": post.id,
        "message": post.text,
        "created_time": fb_time(post.created_at),
        "permalink_url": post.url,
        "from": {"name": page.display_name, "id": page.user_id},
        "is_published": True,
    }
    if node_type(post) == "Comment":
        simple |= {"like_count": counts["likes"], "comment_count": 0}
        if post.reply_to:
            simple["parent"] = {"id": post.reply_to}
    else:
        simple["status_type"] = "added_photos" if post.media else "mobile_status_update"
    if item.name in simple:
        return {item.name: simple[item.name]}
    if node_type(post) == "Post":
        if item.name == "shares":
            return {"shares": {"count": counts["reposts"]}} if counts["reposts"] else {}
        if item.name in ("reactions", "likes"):
            total = counts["likes"] + counts["love"] + counts["wow"]
            return {item.name: _edge([], total, item)}
        if item.name == "comments":
            rendered = [
                render_node(sandbox, c, item.children or parse_fields("created_time,from,message,id"))
                for c in comments
            ]
            return {"comments": _edge(rendered, counts["replies"] + len(comments), item)}
        if item.name == "insights":
            names = [m for m in item.modifiers.get("metric", "").split(",") if m]
            return {"insights": {"data": insights(sandbox, post, names)}}
        if item.name == "attachments":
            media = [
                {
                    "type": "photo",
                    "media": {"image": {"src": f"https://scontent.sandbox/{m.id}.jpg"}},
                    "target": {"id": m.id},
                }
                for m in post.media
            ]
            return {"attachments": {"data": media}} if media else {}
    raise Reply(
        fb_error(
            f"(#100) Tried accessing nonexisting field ({item.name}) on node type ({node_type(post)})", 100
        )
    )


def _edge(data: list[dict[str, Any]], total: int, item: Field) -> dict[str, Any]:
    limit = int(item.modifiers.get("limit", "25") or 25)
    edge: dict[str, Any] = {"data": data[:limit]}
    if "summary" in item.modifiers:
        edge["summary"] = {"total_count": total, "can_comment": True, "order": "chronological"}
        if item.name in ("reactions", "likes"):
            edge["summary"] = {"total_count": total, "viewer_reaction": "NONE"}
    return edge


def insights(sandbox: Sandbox, post: RecordedPost, names: list[str]) -> list[dict[str, Any]]:
    """Insight objects for *names*; an unknown metric fails the whole call with code 100."""
    if not names:
        raise Reply(fb_error("(#100) The parameter metric is required", 100))
    unknown = [n for n in names if n not in INSIGHT_METRICS]
    if unknown:
        raise Reply(fb_error("(#100) The value must be a valid insights metric", 100))
    c = sandbox.counts(post)
    values: dict[str, Any] = {
        "post_media_view": c["views"],
        "post_total_media_view_unique": c["reach"],
        "post_clicks": c["link_clicks"] + c["photo_views"] + c["other_clicks"],
        "post_clicks_by_type": {
            "link clicks": c["link_clicks"],
            "photo view": c["photo_views"],
            "other clicks": c["other_clicks"],
        },
        "post_reactions_by_type_total": {"like": c["likes"], "love": c["love"], "wow": c["wow"]},
        "post_activity_by_action_type": {"share": c["reposts"], "like": c["likes"], "comment": c["replies"]},
    }
    return [
        {
            "name": name,
            "period": "lifetime",
            "values": [{"value": values[name]}],
            "title": INSIGHT_METRICS[name],
            "description": f"Lifetime: {INSIGHT_METRICS[name]}.",
            "id": f"{post.id}/insights/{name}/lifetime",
        }
        for name in names
    ]


def find_node(
    sandbox: Sandbox, node_id: str, me: SandboxAccount, *, read: bool = False
) -> RecordedPost | SandboxAccount:
    """The page or one of its posts; a *read* does not see a post its read lag still hides."""
    if node_id in ("me", me.user_id):
        return me
    post = sandbox.get_post(NAME, node_id)
    if post is None or post.account != me.handle or (read and not sandbox.visible(post)):
        raise Reply(
            fb_error(
                f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be loaded due to missing "
                "permissions, or does not support this operation.",
                100,
                subcode=33,
                error_type="GraphMethodException",
            )
        )
    return post


# -- handlers ----------------------------------------------------------------------------------------


async def get_node(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    me, _ = await authenticate(request)
    node_id = request.match_info.get("node", "")
    if not node_id:
        return await get_many(request, sandbox, me)
    node = find_node(sandbox, node_id, me, read=True)
    default = (
        "name,id"
        if isinstance(node, SandboxAccount)
        else ("created_time,from,message,id" if node_type(node) == "Comment" else "created_time,message,id")
    )
    return json_response(render_node(sandbox, node, fields_of(request, default)))


async def get_many(request: web.Request, sandbox: Sandbox, me: SandboxAccount) -> web.Response:
    ids = [i for i in request.query.get("ids", "").split(",") if i]
    if not ids:
        return fb_error("(#100) Missing ids parameter", 100)
    if len(ids) > MAX_IDS:
        return fb_error(f"(#100) Too many IDs. Maximum: {MAX_IDS}. Actual: {len(ids)}", 100)
    missing = [i for i in ids if i not in ("me", me.user_id) and not _owned(sandbox, i, me)]
    if missing:
        return fb_error(f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}", 803)
    result = {}
    for node_id in ids:
        node = find_node(sandbox, node_id, me, read=True)
        default = "name,id" if isinstance(node, SandboxAccount) else "created_time,message,id"
        result[node_id] = render_node(sandbox, node, fields_of(request, default))
    return json_response(result)


async def get_edge(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    me, params = await authenticate(request)
    node = find_node(sandbox, request.match_info["node"], me, read=True)
    edge = request.match_info["edge"]
    if isinstance(node, SandboxAccount) and edge in ("posts", "feed", "published_posts"):
        return list_posts(request, sandbox, node, params)
    if isinstance(node, RecordedPost) and edge == "insights":
        names = request.match_info.get("metric") or params.get("metric", "")
        return json_response({"data": insights(sandbox, node, [m for m in str(names).split(",") if m])})
    if isinstance(node, RecordedPost) and edge == "comments":
        item = Field(
            "comments",
            {"limit": str(params.get("limit", "25"))},
            fields_of(request, "created_time,from,message,id"),
        )
        if params.get("summary") in ("true", "1", "total_count"):
            item.modifiers["summary"] = "true"
        return json_response(_render_field(sandbox, node, item)["comments"])
    return fb_error(f"(#100) Tried accessing nonexisting field ({edge})", 100)


def list_posts(
    request: web.Request, sandbox: Sandbox, page: SandboxAccount, params: dict[str, Any]
) -> web.Response:
    try:
        since = _time_param(params.get("since"))
        until = _time_param(params.get("until"))
        limit = min(100, int(params.get("limit", 25)))
        offset = int(params.get("after", 0) or 0)
    except ValueError:
        return fb_error("(#100) The parameters since, until, limit and after must be numbers or times", 100)
    posts = [
        p
        for p in reversed(sandbox.posts(NAME, page.handle))
        if p.extra.get("kind") != "comment"
        and sandbox.visible(p)
        and (since is None or p.created_at >= since)
        and (until is None or p.created_at <= until)
    ]
    page_items = posts[offset : offset + limit]
    fields = fields_of(request, "created_time,message,id")
    body: dict[str, Any] = {"data": [render_node(sandbox, p, fields) for p in page_items]}
    if page_items:
        body["paging"] = {"cursors": {"before": str(offset), "after": str(offset + len(page_items))}}
        if offset + limit < len(posts):
            body["paging"]["next"] = f"{request.path}?after={offset + limit}&limit={limit}"
    return json_response(body)


def _owned(sandbox: Sandbox, node_id: str, me: SandboxAccount) -> bool:
    post = sandbox.get_post(NAME, node_id)
    return post is not None and post.account == me.handle and sandbox.visible(post)


def _time_param(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    return datetime.fromisoformat(text.replace("+0000", "+00:00"))


async def publish(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    me, params = await authenticate(request)
    node_id, edge = request.match_info["node"], request.match_info["edge"]
    if edge in ("feed", "photos") and node_id not in (me.user_id, "me"):
        return fb_error(
            "(#200) If posting to a page, requires both pages_read_engagement and "
            "pages_manage_posts as an admin with sufficient administrative permission",
            200,
        )
    message = str(params.get("message") or params.get("caption") or "")
    if len(message) > MAX_MESSAGE:
        return fb_error(f"(#100) Param message must be at most {MAX_MESSAGE} characters long.", 100)
    if edge == "photos":
        return await _post_photo(sandbox, me, params, message)
    if edge == "feed":
        return _post_feed(sandbox, me, params, message)
    if edge == "comments":
        return _post_comment(sandbox, me, find_node(sandbox, node_id, me), params, message)
    return fb_error(f"(#100) Unsupported post request to edge {edge}", 100)


def _published(params: dict[str, Any]) -> bool:
    return str(params.get("published", "true")).lower() not in ("false", "0")


def _new_post(
    sandbox: Sandbox, me: SandboxAccount, message: str, media: tuple[RecordedMedia, ...], **extra: Any
) -> RecordedPost:
    number = OBJECT_BASE + sandbox.next_number()
    post_id = f"{me.user_id}_{number}"
    return sandbox.record_post(
        RecordedPost(
            platform=NAME,
            account=me.handle,
            id=post_id,
            text=message,
            created_at=sandbox.now(),
            url=f"https://www.facebook.com/{me.user_id}/posts/{number}",
            media=media,
            extra={"kind": "post", "object_id": str(number), **extra},
        )
    )


def _is_duplicate(sandbox: Sandbox, me: SandboxAccount, message: str) -> bool:
    posts = [p for p in sandbox.posts(NAME, me.handle) if p.extra.get("kind") != "comment"]
    return bool(message) and bool(posts) and posts[-1].text == message


def _post_feed(sandbox: Sandbox, me: SandboxAccount, params: dict[str, Any], message: str) -> web.Response:
    media: list[RecordedMedia] = []
    index = 0
    while f"attached_media[{index}]" in params:
        try:
            fbid = str(json.loads(str(params[f"attached_media[{index}]"]))["media_fbid"])
        except (ValueError, KeyError, TypeError):
            return fb_error(f'(#100) attached_media[{index}] must be {{"media_fbid": ID}}', 100)
        item = sandbox.get_media(NAME, fbid)
        if item is None or item.account != me.handle:
            return fb_error(f"(#100) Invalid media_fbid {fbid}", 100)
        media.append(item)
        index += 1
    if not message and not media and not params.get("link"):
        return fb_error("(#100) The message is empty", 100)
    if _is_duplicate(sandbox, me, message):
        return duplicate_error()
    post = _new_post(sandbox, me, message, tuple(media), link=params.get("link"))
    return json_response({"id": post.id})


async def _read_source(params: dict[str, Any]) -> tuple[bytes, str] | None:
    source = params.get("source")
    if isinstance(source, web.FileField):
        return source.file.read(), source.content_type or "application/octet-stream"
    return None


async def _post_photo(
    sandbox: Sandbox, me: SandboxAccount, params: dict[str, Any], message: str
) -> web.Response:
    source = await _read_source(params)
    if source is None and not params.get("url"):
        return fb_error("(#324) Requires upload file", 324)
    content, mime = source or (str(params["url"]).encode(), "image/jpeg")
    photo = sandbox.record_media(
        RecordedMedia(
            NAME,
            me.handle,
            str(OBJECT_BASE + sandbox.next_number()),
            mime,
            len(content),
            hashlib.sha256(content).hexdigest(),
            str(params.get("alt_text_custom") or ""),
        )
    )
    if not _published(params):
        return json_response({"id": photo.id})
    if _is_duplicate(sandbox, me, message):
        return duplicate_error()
    post = _new_post(sandbox, me, message, (photo,))
    return json_response({"id": photo.id, "post_id": post.id})


def _post_comment(
    sandbox: Sandbox,
    me: SandboxAccount,
    parent: RecordedPost | SandboxAccount,
    params: dict[str, Any],
    message: str,
) -> web.Response:
    if not isinstance(parent, RecordedPost):
        return fb_error("(#100) Comments can only be made on posts", 100)
    media: tuple[RecordedMedia, ...] = ()
    attachment = params.get("attachment_id")
    if attachment:
        item = sandbox.get_media(NAME, str(attachment))
        if item is None or item.account != me.handle:
            return fb_error(f"(#100) Invalid attachment_id {attachment}", 100)
        media = (item,)
    if not message and not media:
        return fb_error("(#100) The comment is empty", 100)
    root = parent.extra.get("object_id", parent.id.split("_")[-1])
    number = OBJECT_BASE + sandbox.next_number()
    comment = sandbox.record_post(
        RecordedPost(
            platform=NAME,
            account=me.handle,
            id=f"{root}_{number}",
            text=message,
            created_at=sandbox.now(),
            url=f"{parent.url}?comment_id={number}",
            media=media,
            reply_to=parent.id,
            extra={"kind": "comment", "object_id": str(number)},
        )
    )
    return json_response({"id": comment.id})


async def delete_node(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    me, _ = await authenticate(request)
    node = find_node(sandbox, request.match_info["node"], me)
    if isinstance(node, SandboxAccount):
        return fb_error("(#100) A page cannot be deleted through this API", 100)
    sandbox.delete_post(NAME, node.id)
    return json_response({"success": True})


async def debug_token(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    await authenticate(request)
    page = sandbox.find_account(NAME, page_access_token=request.query.get("input_token", ""))
    if page is None:
        return json_response(
            {
                "data": {
                    "is_valid": False,
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                }
            }
        )
    return json_response(
        {
            "data": {
                "app_id": "1234567890123456",
                "type": "PAGE",
                "application": "Campaign toolkit (sandbox)",
                "data_access_expires_at": 0,
                "expires_at": 0,
                "is_valid": True,
                "profile_id": page.user_id,
                "scopes": list(page.scopes),
                "user_id": "10160000000000001",
            }
        }
    )


def register(app: web.Application) -> None:
    version = r"{version:v\d+\.\d+}"
    app.router.add_get(f"/{version}", get_node)
    app.router.add_get(f"/{version}/", get_node)
    app.router.add_get(f"/{version}/debug_token", debug_token)
    app.router.add_get(f"/{version}/{{node}}", get_node)
    app.router.add_delete(f"/{version}/{{node}}", delete_node)
    app.router.add_get(f"/{version}/{{node}}/{{edge}}", get_edge)
    app.router.add_get(f"/{version}/{{node}}/{{edge:insights}}/{{metric}}", get_edge)
    app.router.add_post(f"/{version}/{{node}}/{{edge}}", publish)
