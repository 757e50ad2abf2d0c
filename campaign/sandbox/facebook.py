"""Facebook Graph API (Pages), on versioned paths (``/v25.0/...``; any ``vNN.N`` is accepted).

Covers what a Page publisher uses: feed and photo posts, comments (a page's replies to its own
posts, which is how the toolkit threads on Facebook), deletes, the ``ids=`` multi-object lookup,
field expansion (``reactions.summary(total_count).limit(0)``, ``insights.metric(a,b)``,
``comments{message,from}``), the insights edge with the metrics Meta still serves in 2026 (any other
metric fails the whole call with code 100), ``/me``, ``debug_token`` and Graph API error JSON
(``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``).

The token may come as ``access_token`` in the query or form, or in an ``Authorization`` header.
When the page has an app secret, ``appsecret_proof`` must be the HMAC-SHA256 of the token.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
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


def fb_error(message: str, code: int, *, status: int = 400, subcode: int | None = None,
             error_type: str = "OAuthException", transient: bool | None = None,
             headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
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
        usage = {page_id: [{"type": "pages", "call_count": 100, "total_cputime": 12, "total_time": 14,
                            "estimated_time_to_regain_access": minutes}]}
        headers = {"X-App-Usage": '{"call_count":100,"total_cputime":12,"total_time":14}',
                   "X-Business-Use-Case-Usage": _dumps(usage)}
        return fb_error(RATE_LIMIT_MESSAGES[code], code, transient=True, headers=headers)
    if rule.kind == "error500":
        return error_response(500, "")
    if rule.kind == "error503":
        return error_response(503, "")
    if rule.kind == "expired_token":
        stamp = datetime.now(timezone.utc).strftime("%A, %d-%b-%y %H:%M:%S UTC")
        return fb_error(f"Error validating access token: Session has expired on {stamp}. The current time is "
                        f"{stamp}.", 190, subcode=463)
    if rule.kind == "duplicate":
        return duplicate_error()
    raise ValueError(f"no Facebook answer for the fault {rule.kind!r}")


def duplicate_error() -> web.Response:
    return fb_error("Duplicate status message", 506, subcode=1455006, transient=False,
                    error_user_title="Duplicate Status Update",
                    error_user_msg="This status update is identical to the last one you posted. Try posting "
                                   "something different, or delete your previous update.")


def _dumps(data: Any) -> str:
    import json

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
        raise Reply(fb_error(f"(#100) Syntax error \"Expected end of string instead of \"{text[position:]}\".\"", 100))
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


async def authenticate(request: web.Request) -> tuple[SandboxAccount, dict[str, Any]]:
    sandbox = sandbox_of(request)
    params = await params_of(request)
    token = params.get("access_token")
    header = request.headers.get("Authorization", "")
    if not token and header.split(" ", 1)[0].lower() in ("bearer", "oauth"):
        token = header.split(" ", 1)[1].strip()
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
            raise Reply(fb_error("API calls from the server require an appsecret_proof argument", 100))
        if not hmac.compare_digest(str(proof), expected):
            raise Reply(fb_error("Invalid appsecret_proof provided in the API argument", 100))
    return account, params


# -- rendering ---------------------------------------------------------------------------------------


def fb_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


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
    values = {"id": page.user_id, "name": page.display_name, "username": page.handle,
              "link": f"https://www.facebook.com/{page.handle}", "category": "Police Station",
              "fan_count": 182000, "followers_count": 190000}
    data = {}
    for item in fields:
        if item.name not in values:
            raise Reply(fb_error(f"(#100) Tried accessing nonexisting field ({item.name}) on node type (Page)", 100))
        data[item.name] = values[item.name]
    return data


def _render_field(sandbox: Sandbox, post: RecordedPost, item: Field) -> dict[str, Any]:
    counts = sandbox.counts(post)
    page = sandbox.account(NAME, post.account)
    comments = [c for c in sandbox.posts(NAME) if c.reply_to == post.id and c.extra.get("kind") == "comment"]
    simple: dict[str, Any] = {
        "id": post.id, "message": post.text, "created_time": fb_time(post.created_at),
        "permalink_url": post.url, "from": {"name": page.display_name, "id": page.user_id},
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
            rendered = [render_node(sandbox, c, item.children or parse_fields("created_time,from,message,id"))
                        for c in comments]
            return {"comments": _edge(rendered, counts["replies"] + len(comments), item)}
        if item.name == "insights":
            names = [m for m in item.modifiers.get("metric", "").split(",") if m]
            return {"insights": {"data": insights(sandbox, post, names)}}
        if item.name == "attachments":
            media = [{"type": "photo", "media": {"image": {"src": f"https://scontent.sandbox/{m.id}.jpg"}},
                      "target": {"id": m.id}} for m in post.media]
            return {"attachments": {"data": media}} if media else {}
    raise Reply(fb_error(f"(#100) Tried accessing nonexisting field ({item.name}) on node type ({node_type(post)})",
                         100))


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
        "post_clicks_by_type": {"link clicks": c["link_clicks"], "photo view": c["photo_views"],
                                "other clicks": c["other_clicks"]},
        "post_reactions_by_type_total": {"like": c["likes"], "love": c["love"], "wow": c["wow"]},
        "post_activity_by_action_type": {"share": c["reposts"], "like": c["likes"], "comment": c["replies"]},
    }
    return [{"name": name, "period": "lifetime", "values": [{"value": values[name]}],
             "title": INSIGHT_METRICS[name], "description": f"Lifetime: {INSIGHT_METRICS[name]}.",
             "id": f"{post.id}/insights/{name}/lifetime"} for name in names]


def find_node(sandbox: Sandbox, node_id: str, me: SandboxAccount) -> RecordedPost | SandboxAccount:
    if node_id in ("me", me.user_id):
        return me
    post = sandbox.get_post(NAME, node_id)
    if post is None or post.account != me.handle:
        raise Reply(fb_error(
            f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.", 100, subcode=33, error_type="GraphMethodException"))
    return post
