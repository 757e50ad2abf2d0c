"""Bluesky's XRPC API (a PDS with the app view methods the toolkit reads).

``createSession`` hands out real JWTs (HS256, signed with the sandbox's key, with ``exp``) and
``refreshSession`` renews them; every other method checks the access token and answers
``400 ExpiredToken`` once it has expired, like a PDS. Posts are ``app.bsky.feed.post`` records made
with ``createRecord``: more than 300 graphemes fails with ``InvalidRequest``, facets, image alt
texts and aspect ratios and ``langs`` are kept. Errors are XRPC's ``{"error": NAME, "message": TEXT}``;
rate limits send ``ratelimit-limit/remaining/reset/policy``.

Record keys and ``getRecord`` answer as the AT Protocol reference PDS (``@atproto/pds`` 0.5, run by
tests/test_bluesky_peer.py) does, word for word: a given ``rkey`` must be a string of record-key syntax
and, for a post, a TID; a create at a key that already holds a record is refused with
``500 InternalServerError: Internal Server Error`` (the PDS's repository throws "There is already a value
at key" and the server reports it as its own failure); ``getRecord`` needs no session, reads the
repository as written (no read lag: that is the AppView's) and answers a missing record with
``400 RecordNotFound: Could not locate record: URI``. The AppView's reads (``getPosts``,
``getAuthorFeed``) hide a post until the sandbox's read lag has passed (:meth:`Sandbox.visible`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

import jwt
from aiohttp import web

from campaign.counting import graphemes
from campaign.platforms import PLATFORMS
from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, bearer_token, iso_z, json_response, read_json, sandbox_of

NAME = "bluesky"
AUDIENCE = "did:web:pds.sandbox"
REFRESH_LIFETIME = 90 * 24 * 3600
MAX_TEXT_BYTES = 3000
MAX_GET_POSTS = 25
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
POST_COLLECTION = "app.bsky.feed.post"
RECORD_KEY_MAX = 512
RECORD_KEY = re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$")
"""@atproto/syntax's record-key syntax (and neither ``.`` nor ``..``)."""
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
"""@atproto/syntax's TID: 13 characters, the first with the top bit clear."""
NSID = re.compile(
    r"^[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z](?:[a-zA-Z0-9]{0,62})$"
)


def xrpc_error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": name, "message": message}, status=status, headers=headers)


def error_response(status: int, message: str) -> web.Response:
    if status == 404:
        return xrpc_error(404, "XRPCNotSupported", "XRPCNotSupported")
    if status == 503:
        return xrpc_error(503, "ServiceUnavailable", "Service Unavailable")
    return xrpc_error(status, "InternalServerError", "Internal Server Error")


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":
        reset = int(time.time()) + rule.reset
        return xrpc_error(
            429,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
            {
                "ratelimit-limit": "3000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "3000;w=300",
            },
        )
    if rule.kind == "error500":
        return error_response(500, "")
    if rule.kind == "error503":
        return error_response(503, "")
    if rule.kind == "expired_token":
        return xrpc_error(400, "ExpiredToken", "Token has expired")
    raise ValueError(f"no Bluesky answer for the fault {rule.kind!r}")


# -- identifiers ---------------------------------------------------------------------------------------


def make_cid(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256, base32): dag-cbor 0x71 for records, raw 0x55 for blobs."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def make_tid(sandbox: Sandbox) -> str:
    """A record key in atproto's TID format (microseconds and a clock id, base32-sortable)."""
    micros = int(sandbox.now().timestamp() * 1_000_000) + sandbox.next_number()
    value = (micros << 10) | 7
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


# -- sessions ------------------------------------------------------------------------------------------


def issue_tokens(sandbox: Sandbox, account: SandboxAccount) -> dict[str, str]:
    now = int(time.time())
    access = jwt.encode(
        {
            "scope": "com.atproto.appPass",
            "sub": account.user_id,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + sandbox.access_token_lifetime,
        },
        sandbox.jwt_key,
        algorithm="HS256",
    )
    refresh = jwt.encode(
        {
            "scope": "com.atproto.refresh",
            "sub": account.user_id,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + REFRESH_LIFETIME,
            "jti": make_cid(f"{now}:{sandbox.next_number()}".encode()),
        },
        sandbox.jwt_key,
        algorithm="HS256",
    )
    return {"accessJwt": access, "refreshJwt": refresh}


def authenticate(request: web.Request, scope: str = "com.atproto.appPass") -> SandboxAccount:
    sandbox = sandbox_of(request)
    token = bearer_token(request)
    if token is None:
        raise Reply(xrpc_error(401, "AuthenticationRequired", "Authentication Required"))
    try:
        claims = jwt.decode(token, sandbox.jwt_key, algorithms=["HS256"], audience=AUDIENCE)
    except jwt.ExpiredSignatureError:
        raise Reply(xrpc_error(400, "ExpiredToken", "Token has expired")) from None
    except jwt.InvalidTokenError:
        raise Reply(xrpc_error(401, "InvalidToken", "Token could not be verified")) from None
    if claims.get("scope") != scope:
        raise Reply(xrpc_error(400, "InvalidToken", "Bad token scope"))
    account = next((a for a in sandbox.accounts(NAME) if a.user_id == claims.get("sub")), None)
    if account is None:
        raise Reply(xrpc_error(401, "InvalidToken", "Token could not be verified"))
    return account


def session_body(sandbox: Sandbox, account: SandboxAccount) -> dict[str, Any]:
    return {
        "did": account.user_id,
        "handle": account.handle,
        "active": True,
        **issue_tokens(sandbox, account),
    }


async def create_session(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    body = await read_json(request) or {}
    identifier, password = str(body.get("identifier", "")), str(body.get("password", ""))
    account = next(
        (a for a in sandbox.accounts(NAME) if identifier.lower() in (a.handle.lower(), a.user_id)), None
    )
    if account is None or account.credentials.get("app_password") != password:
        return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    return json_response(session_body(sandbox, account))


async def refresh_session(request: web.Request) -> web.Response:
    account = authenticate(request, scope="com.atproto.refresh")
    return json_response(session_body(sandbox_of(request), account))


async def get_session(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response({"did": account.user_id, "handle": account.handle, "active": True})


# -- rendering -----------------------------------------------------------------------------------------


def render_profile(sandbox: Sandbox, account: SandboxAccount) -> dict[str, Any]:
    return {
        "did": account.user_id,
        "handle": account.handle,
        "displayName": account.display_name,
        "description": "Official account",
        "followersCount": 8200,
        "followsCount": 140,
        "postsCount": len(sandbox.posts(NAME, account.handle)),
        "indexedAt": "2024-02-01T00:00:00.000Z",
        "createdAt": "2023-05-01T00:00:00.000Z",
        "labels": [],
    }


def render_post(sandbox: Sandbox, post: RecordedPost) -> dict[str, Any]:
    account = sandbox.account(NAME, post.account)
    counts = sandbox.counts(post)
    view: dict[str, Any] = {
        "uri": post.id,
        "cid": post.extra["cid"],
        "author": {
            "did": account.user_id,
            "handle": account.handle,
            "displayName": account.display_name,
            "labels": [],
        },
        "record": post.extra["record"],
        "replyCount": counts["replies"],
        "repostCount": counts["reposts"],
        "likeCount": counts["likes"],
        "quoteCount": counts["quotes"],
        "bookmarkCount": counts["bookmarks"],
        "indexedAt": iso_z(post.created_at),
        "labels": [],
    }
    if post.media:
        view["embed"] = {
            "$type": "app.bsky.embed.images#view",
            "images": [
                {
                    "thumb": f"https://cdn.bsky.sandbox/img/feed_thumbnail/plain/{account.user_id}/{m.id}@jpeg",
                    "fullsize": f"https://cdn.bsky.sandbox/img/feed_fullsize/plain/{account.user_id}/{m.id}@jpeg",
                    "alt": m.alt,
                }
                for m in post.media
            ],
        }
    return view


# -- handlers ------------------------------------------------------------------------------------------


async def get_profile(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    actor = request.query.get("actor", "")
    account = next(
        (a for a in sandbox.accounts(NAME) if actor.lower() in (a.handle.lower(), a.user_id)), None
    )
    if account is None:
        return xrpc_error(400, "InvalidRequest", "Profile not found")
    return json_response(render_profile(sandbox, account))


async def resolve_handle(request: web.Request) -> web.Response:
    handle = request.query.get("handle", "").lower()
    account = next((a for a in sandbox_of(request).accounts(NAME) if a.handle.lower() == handle), None)
    if account is None:
        return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
    return json_response({"did": account.user_id})


async def upload_blob(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    content = await request.read()
    if not content:
        return xrpc_error(400, "InvalidRequest", "Request body is empty")
    mime = request.headers.get("Content-Type", "application/octet-stream")
    cid = make_cid(content, codec=0x55)
    sandbox.record_media(
        RecordedMedia(NAME, account.handle, cid, mime, len(content), hashlib.sha256(content).hexdigest())
    )
    return json_response(
        {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(content)}}
    )


def _check_post_record(
    sandbox: Sandbox, account: SandboxAccount, record: dict[str, Any]
) -> list[RecordedMedia]:
    text = str(record.get("text", ""))
    limit = PLATFORMS[NAME].max_length
    if graphemes(text) > limit or len(text.encode()) > MAX_TEXT_BYTES:
        raise Reply(
            xrpc_error(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not be longer than {limit} graphemes",
            )
        )
    if "createdAt" not in record:
        raise Reply(
            xrpc_error(
                400,
                "InvalidRequest",
                'Invalid app.bsky.feed.post record: Record must have the property "createdAt"',
            )
        )
    media: list[RecordedMedia] = []
    embed = record.get("embed") or {}
    for image in embed.get("images", []) if embed.get("$type") == "app.bsky.embed.images" else []:
        cid = ((image.get("image") or {}).get("ref") or {}).get("$link", "")
        blob = sandbox.get_media(NAME, cid)
        if blob is None or blob.account != account.handle:
            raise Reply(xrpc_error(400, "InvalidRequest", f"Could not find blob: {cid}"))
        media.append(
            RecordedMedia(
                NAME,
                account.handle,
                blob.id,
                blob.mime_type,
                blob.size,
                blob.sha256,
                str(image.get("alt", "")),
            )
        )
    return media


def _js(value: Any) -> str:
    """*value* as the reference PDS's messages show it (JavaScript's ``String(value)``; strings quoted)."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "[object Object]" if isinstance(value, dict) else ",".join(map(str, value))
    return str(value)


def _valid_record_key(rkey: str) -> bool:
    return bool(RECORD_KEY.match(rkey)) and rkey not in (".", "..")


def _rkey_refusal(rkey: Any) -> web.Response | None:
    """The reference PDS's answer to a ``createRecord`` whose ``rkey`` it refuses (``None``: accepted).

    Its input validation comes first (a string of at most 512 characters in record-key syntax), then the
    collection's key type (``app.bsky.feed.post``: a TID), before the record itself is checked."""
    if not isinstance(rkey, str):
        return xrpc_error(400, "InvalidRequest", f"Expected string value type (got {_js(rkey)}) at $.rkey")
    if len(rkey) > RECORD_KEY_MAX:
        return xrpc_error(
            400, "InvalidRequest", f"string too big (maximum {RECORD_KEY_MAX}, got {len(rkey)}) at $.rkey"
        )
    if not _valid_record_key(rkey):
        return xrpc_error(400, "InvalidRequest", f"Invalid record key (got {_js(rkey)}) at $.rkey")
    if not TID.match(rkey):
        return xrpc_error(
            400,
            "InvalidRequest",
            f"Invalid record key for {POST_COLLECTION}: Invalid TID string (got {_js(rkey)}) at $",
        )
    return None


async def create_record(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    body = await read_json(request) or {}
    repo, collection, record = body.get("repo"), body.get("collection"), body.get("record")
    if repo not in (account.user_id, account.handle):
        return xrpc_error(400, "InvalidRequest", "Invalid repo: you can only write to your own repository")
    if collection != "app.bsky.feed.post" or not isinstance(record, dict):
        return xrpc_error(
            400, "InvalidRequest", f"The sandbox stores only app.bsky.feed.post records, not {collection}"
        )
    given = "rkey" in body
    if given:
        refusal = _rkey_refusal(body["rkey"])
        if refusal is not None:
            return refusal
    media = _check_post_record(sandbox, account, record)
    parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
    if parent and sandbox.get_post(NAME, parent) is None:
        return xrpc_error(400, "InvalidRequest", f"Could not find the post being replied to: {parent}")
    rkey = str(body["rkey"]) if given else make_tid(sandbox)
    uri = f"at://{account.user_id}/app.bsky.feed.post/{rkey}"
    if sandbox.get_post(NAME, uri) is not None:
        # The reference PDS's answer to a key that is taken: its repository throws and it reports a failure of
        # its own, not a conflict.
        return xrpc_error(500, "InternalServerError", "Internal Server Error")
    record = {"$type": "app.bsky.feed.post", **record}
    cid = make_cid(json.dumps(record, sort_keys=True).encode())
    sandbox.record_post(
        RecordedPost(
            platform=NAME,
            account=account.handle,
            id=uri,
            text=str(record.get("text", "")),
            created_at=sandbox.now(),
            url=f"https://bsky.app/profile/{account.handle}/post/{rkey}",
            media=tuple(media),
            reply_to=parent,
            facets=tuple(record.get("facets") or ()),
            extra={
                "cid": cid,
                "record": record,
                "rkey": rkey,
                "langs": list(record.get("langs") or ()),
                "aspect_ratios": [
                    image.get("aspectRatio") for image in ((record.get("embed") or {}).get("images") or ())
                ],
            },
        )
    )
    return json_response(
        {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": make_cid(uri.encode()), "rev": rkey},
            "validationStatus": "valid",
        }
    )


async def delete_record(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    body = await read_json(request) or {}
    sandbox.delete_post(NAME, f"at://{account.user_id}/{body.get('collection')}/{body.get('rkey')}")
    return json_response({})


async def get_posts(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    uris = request.query.getall("uris", [])
    if len(uris) > MAX_GET_POSTS:
        return xrpc_error(
            400, "InvalidRequest", f"Error: uris must not have more than {MAX_GET_POSTS} elements"
        )
    posts = [sandbox.get_post(NAME, uri) for uri in uris]
    return json_response(
        {"posts": [render_post(sandbox, p) for p in posts if p is not None and sandbox.visible(p)]}
    )


async def get_record(request: web.Request) -> web.Response:
    """``com.atproto.repo.getRecord`` as the PDS answers it: no session needed, and no read lag (the PDS reads
    the repository it writes). A repository the PDS does not hold is the AppView's answer."""
    sandbox = sandbox_of(request)
    params = request.query
    prefix = "Invalid com.atproto.repo.getRecord params: "
    for key in ("repo", "collection", "rkey"):
        if key not in params:
            return xrpc_error(400, "InvalidRequest", f'{prefix}Missing required key "{key}"')
    repo, collection, rkey = params["repo"], params["collection"], params["rkey"]
    if not NSID.match(collection):
        return xrpc_error(400, "InvalidRequest", f"{prefix}Invalid NSID (got {_js(collection)})")
    if not _valid_record_key(rkey):
        return xrpc_error(400, "InvalidRequest", f"{prefix}Invalid record key (got {_js(rkey)})")
    account = next(
        (a for a in sandbox.accounts(NAME) if repo.lower() in (a.handle.lower(), a.user_id)), None
    )
    if account is None:
        return xrpc_error(400, "InvalidRequest", f"Could not find repo: {repo}")
    uri = f"at://{account.user_id}/{collection}/{rkey}"
    post = sandbox.get_post(NAME, uri)
    cid = params.get("cid")
    if post is None or (cid and cid != post.extra["cid"]):
        return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
    return json_response({"uri": uri, "cid": post.extra["cid"], "value": post.extra["record"]})


async def get_author_feed(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    actor = request.query.get("actor", "")
    account = next(
        (a for a in sandbox.accounts(NAME) if actor.lower() in (a.handle.lower(), a.user_id)), None
    )
    if account is None:
        return xrpc_error(400, "InvalidRequest", "Profile not found")
    try:
        limit = min(100, max(1, int(request.query.get("limit", "50"))))
        offset = int(request.query.get("cursor") or 0)
    except ValueError:
        return xrpc_error(400, "InvalidRequest", "limit and cursor must be numbers")
    posts = [p for p in reversed(sandbox.posts(NAME, account.handle)) if sandbox.visible(p)]
    if request.query.get("filter") == "posts_no_replies":
        posts = [p for p in posts if not p.reply_to]
    page = posts[offset : offset + limit]
    body: dict[str, Any] = {"feed": [{"post": render_post(sandbox, p)} for p in page]}
    if offset + limit < len(posts):
        body["cursor"] = str(offset + limit)
    return json_response(body)


def register(app: web.Application) -> None:
    routes = {
        "com.atproto.server.createSession": create_session,
        "com.atproto.server.refreshSession": refresh_session,
        "com.atproto.repo.uploadBlob": upload_blob,
        "com.atproto.repo.createRecord": create_record,
        "com.atproto.repo.deleteRecord": delete_record,
    }
    for nsid, handler in routes.items():
        app.router.add_post(f"/xrpc/{nsid}", handler)
    queries = {
        "com.atproto.server.getSession": get_session,
        "com.atproto.identity.resolveHandle": resolve_handle,
        "com.atproto.repo.getRecord": get_record,
        "app.bsky.actor.getProfile": get_profile,
        "app.bsky.feed.getPosts": get_posts,
        "app.bsky.feed.getAuthorFeed": get_author_feed,
    }
    for nsid, query in queries.items():
        app.router.add_get(f"/xrpc/{nsid}", query)
