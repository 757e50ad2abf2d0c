"""LinkedIn's versioned REST API (``/rest/...``) for an organisation page, as the toolkit uses it.

Images (``initializeUpload``, the binary PUT to the ``uploadUrl`` it hands out, status), posts (create,
get, batch get, the ``author`` finder, delete), organisation share statistics, the ACL finder and the
organisation lookup. Every ``/rest`` call needs ``Authorization: Bearer``, ``X-Restli-Protocol-Version:
2.0.0`` and a ``LinkedIn-Version`` that is one of the last twelve months (an older or unknown one answers
426 ``NONEXISTENT_VERSION``, as LinkedIn does once a version is retired). URNs arrive percent-encoded, in
paths and in Rest.li ``List(a,b)`` query values whose ``List(``, ``,`` and ``)`` stay raw.

A post's commentary is "little text": the page shows it cut at the first reserved character that is not
escaped (:func:`campaign.platforms.little_text.shown`), and that is the recorded post's ``text``; the
commentary as sent is kept in ``extra["commentary"]``. A create answers 201 with an empty body and the
new ``urn:li:share:<id>`` in ``x-restli-id`` (``id >> 22`` is its creation time in epoch ms). The same
commentary from the same organisation within ten minutes is a 422 duplicate naming the earlier post.
Statistics leave out shares with no impressions and no actions, as LinkedIn's do. Rate limits answer
429 without ``Retry-After``: LinkedIn's limits are daily and reset at midnight UTC.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from campaign.platforms import little_text
from campaign.sandbox.accounts import SandboxAccount
from campaign.sandbox.core import RecordedMedia, RecordedPost, Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import Reply, bearer_token, json_response, read_json, sandbox_of

NAME = "linkedin"
ORG = "urn:li:organization:"
SHARE = "urn:li:share:"
IMAGE = "urn:li:image:"
MAX_COMMENTARY = 3000
MAX_ALT_TEXT = 4086
MAX_FINDER_COUNT = 100
MAX_STATISTICS_URNS = 20
MULTI_IMAGE = (2, 20)
DUPLICATE_WINDOW = timedelta(minutes=10)
UPLOAD_URL_LIFETIME = timedelta(hours=1)
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
VISIBILITIES = ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER")
_VERSION = re.compile(r"^(\d{4})(\d{2})(?:\.(\d{2}))?$")
_AUTHOR = re.compile(r"^urn:li:(?:organization|person):\S+$")
CODES = {401: "INVALID_ACCESS_TOKEN", 403: "ACCESS_DENIED", 404: "NOT_FOUND", 429: "TOO_MANY_REQUESTS"}
CODES |= {500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
DUPLICATE_EXCEPTION = "com.linkedin.content.common.exception.BadRequestResponseException"
MISSING = "field is required but not found and has no default value"
THROTTLED = "Resource level throttle limit for calls to this resource is reached."
REVOKED = "The token used in the request has been revoked by the user"
NO_VERSION = "A version must be present. Please specify a version by adding the LinkedIn-Version header."


def error(status: int, code: str, message: str, service_code: int | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return json_response(body, status=status)


def error_response(status: int, message: str) -> web.Response:
    return error(status, CODES.get(status, "SERVER_ERROR" if status >= 500 else "BAD_REQUEST"), message)


def invalid_token() -> web.Response:
    return error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)


def illegal(message: str) -> Reply:
    """400 for a query LinkedIn cannot read (a bad parameter, a list not in Rest.li 2.0 form)."""
    return Reply(error(400, "ILLEGAL_ARGUMENT", message))


def bad_request(status: int, message: str, description: str, code: str, at: dict[str, Any]) -> web.Response:
    """LinkedIn's ``BadRequest`` body: one input error, no top-level ``code``."""
    details = {"inputErrors": [{"description": description, "input": at, "code": code}]}
    body = {"errorDetailType": "com.linkedin.common.error.BadRequest", "message": message}
    return json_response(body | {"errorDetails": details, "status": status}, status=status)


def input_error(path: str, code: str, description: str) -> Reply:
    """A 400 naming the field of the body that fails (``MISSING_FIELD``, ``FIELD_LENGTH_TOO_LONG``...)."""
    where = {"inputPath": {"fieldPath": path}}
    return Reply(bad_request(400, f"ERROR :: {path} :: {description}\n", description, code, where))


def invalid(path: str, description: str) -> Reply:
    return input_error(path, "INVALID_VALUE_FOR_FIELD", description)


def duplicate_error(earlier: str) -> web.Response:
    """The 422 LinkedIn gives for a post that repeats one made in the last ten minutes (its documented words)."""
    message = f"{DUPLICATE_EXCEPTION}: Content is a duplicate of {earlier}"
    return bad_request(422, message, "Duplicate post is detected", "DUPLICATE_POST", {})


def denied(request: web.Request, what: str | None = None) -> web.Response:
    """403 for a token without the permission (or asking about another organisation)."""
    if what is None:
        method = {"POST": "CREATE", "DELETE": "DELETE"}.get(request.method, "GET")
        if request.method == "GET" and "q" in request.rel_url.query:
            method = f"FINDER-{request.rel_url.query['q']}"
        what = f"{'partnerApiPostsExternal' if request.path.startswith('/rest/posts') else request.path}.{method}"
    return error(403, "ACCESS_DENIED", f"Not enough permissions to access: {what}.{version_of(request)}", 100)


def fault_response(rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response:
    if rule.kind == "rate_limit":  # no Retry-After: the limits are daily, reset at midnight UTC
        return json_response({"serviceErrorCode": 101, "message": THROTTLED, "status": 429}, status=429)
    if rule.kind in ("error500", "error503"):
        status = int(rule.kind[5:])
        return error_response(status, "Internal Server Error" if status == 500 else "Service Unavailable")
    if rule.kind == "expired_token":
        return error(401, "REVOKED_ACCESS_TOKEN", REVOKED, 65601)
    if rule.kind == "no_scope":
        return denied(request)
    if rule.kind == "duplicate":
        token = bearer_token(request)
        account = sandbox.find_account(NAME, access_token=token) if token else None
        accounts = [account] if account else sandbox.accounts(NAME)[:1]
        posts = sandbox.posts(NAME, accounts[0].handle) if accounts else []
        return duplicate_error(posts[-1].id if posts else f"{SHARE}{sandbox.snowflake(0)}")
    raise ValueError(f"no LinkedIn answer for the fault {rule.kind!r}")


# -- images and their upload slots (kept in the sandbox's state) ------------------------------------------


@dataclass
class Image:
    """An image from ``initializeUpload``: its owner organisation's URN, the account that registered it (the PUT
    must carry a token of the same one; the token itself is not kept) and the opaque end of its upload URL."""

    urn: str
    owner: str
    account: str
    upload: str
    uploaded: float | None = None
    """When its bytes arrived (monotonic seconds); it is processed ``Sandbox.media_processing`` later."""
    readable: bool = False

    def status(self, processing: float) -> str:
        """LinkedIn processes an image after its upload: ``PROCESSING`` for *processing* seconds, then
        ``AVAILABLE`` (or ``PROCESSING_FAILED`` for bytes that are no image)."""
        if self.uploaded is None:
            return "WAITING_UPLOAD"
        if time.monotonic() - self.uploaded < processing:
            return "PROCESSING"
        return "AVAILABLE" if self.readable else "PROCESSING_FAILED"


def images_of(sandbox: Sandbox) -> dict[str, Image]:
    """The images initialised in *sandbox*, by URN."""
    images: dict[str, Image] = sandbox.platform_state(NAME).setdefault("images", {})
    return images


# -- the checks every /rest call goes through ----------------------------------------------------------


def version_of(request: web.Request) -> str:
    """The requested version as LinkedIn writes it in messages: ``202604`` → ``20260401``."""
    raw = request.headers.get("LinkedIn-Version", "").strip()
    match = _VERSION.match(raw)
    if match is None:
        return raw or datetime.now(UTC).strftime("%Y%m01")
    return f"{match[1]}{match[2]}{match[3] or '01'}"


def is_active(version: str, now: datetime) -> bool:
    """Whether *version* (``YYYYMM`` or ``YYYYMM.RR``) is one of the twelve months up to *now*'s."""
    match = _VERSION.match(version)
    if match is None or not 1 <= int(match[2]) <= 12:
        return False
    current, asked = now.year * 12 + now.month - 1, int(match[1]) * 12 + int(match[2]) - 1
    return current - 11 <= asked <= current


def authenticate(request: web.Request) -> SandboxAccount:
    """The account of the Bearer token, once the version and protocol headers are checked too."""
    token = bearer_token(request)
    if not token:
        raise Reply(error(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2_access_token", 401))
    account = sandbox_of(request).find_account(NAME, access_token=token)
    if account is None:
        raise Reply(invalid_token())
    version = request.headers.get("LinkedIn-Version", "").strip()
    if not version:
        raise Reply(error(400, "VERSION_MISSING", NO_VERSION))
    if not is_active(version, datetime.now(UTC)):
        raise Reply(
            error(426, "NONEXISTENT_VERSION", f"Requested version {version_of(request)} is not active")
        )
    if request.headers.get("X-Restli-Protocol-Version", "").strip() != "2.0.0":
        raise Reply(error(400, "INVALID_PROTOCOL_VERSION", "X-Restli-Protocol-Version: 2.0.0 is required"))
    return account


def require(request: web.Request, account: SandboxAccount, *scopes: str) -> None:
    """403 unless the account's token has one of *scopes*."""
    if not set(scopes) & set(account.scopes):
        raise Reply(denied(request))


def org_of(account: SandboxAccount) -> str:
    return f"{ORG}{account.credentials.get('organization_id', account.user_id)}"


def query_of(request: web.Request) -> dict[str, str]:
    """The raw (still percent-encoded) query parameters: a Rest.li list is decoded element by element."""
    params: dict[str, str] = {}
    for pair in filter(None, request.rel_url.raw_query_string.split("&")):
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), value)
    return params


def scalar(params: dict[str, str], name: str, default: str | None = None) -> str | None:
    return unquote(params[name]) if name in params else default


def urn_list(params: dict[str, str], name: str) -> list[str]:
    """A ``List(a,b)`` parameter's elements, decoded; any other form is a 400."""
    raw = params.get(name)
    if raw is None:
        return []
    if not (raw.startswith("List(") and raw.endswith(")")):
        raise illegal(f"{name} must be a Rest.li 2.0 list: List(urn%3Ali%3A...,urn%3Ali%3A...)")
    return [unquote(item) for item in raw[5:-1].split(",") if item]


def number(params: dict[str, str], name: str, default: int, high: int) -> int:
    text = scalar(params, name, str(default)) or ""
    if not text.isdigit() or int(text) > high:
        raise illegal(f"{name} must be a number from 0 to {high}")
    return int(text)


def path_urn(request: web.Request, prefix: str) -> str:
    """The URN that ends the path, which LinkedIn needs percent-encoded (``urn%3Ali%3Ashare%3A1``)."""
    raw = request.rel_url.raw_path[len(prefix) :]
    if ":" in raw:
        raise illegal(f"The key {raw} must be percent-encoded")
    return unquote(raw)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# -- rendering ------------------------------------------------------------------------------------------


def created_ms(post: RecordedPost) -> int:
    """When *post* was made, in epoch milliseconds: the top bits of its id."""
    return int(post.id.rsplit(":", 1)[1]) >> 22


def last_modified_ms(post: RecordedPost) -> int:
    """When *post* was last changed (``extra["last_modified_ms"]`` for one a test edited), in epoch ms."""
    return int(post.extra.get("last_modified_ms", created_ms(post)))


def render_post(post: RecordedPost) -> dict[str, Any]:
    created = created_ms(post)
    data: dict[str, Any] = {
        "id": post.id,
        "author": post.extra["author"],
        "commentary": little_text.as_stored(post.extra["commentary"]),
        "createdAt": created,
        "publishedAt": created,
        "lastModifiedAt": last_modified_ms(post),
        "lifecycleState": "PUBLISHED",
        "lifecycleStateInfo": {"isEditedByAuthor": last_modified_ms(post) != created},
        "visibility": post.extra["visibility"],
        "distribution": post.extra["distribution"],
        "isReshareDisabledByAuthor": post.extra["isReshareDisabledByAuthor"],
    }
    if post.extra.get("content"):
        data["content"] = post.extra["content"]
    return data


def statistics(sandbox: Sandbox, posts: list[RecordedPost]) -> dict[str, Any]:
    counts = [sandbox.counts(p) for p in posts]

    def total(key: str) -> int:
        return sum(c[key] for c in counts)

    actions = total("link_clicks") + total("likes") + total("replies") + total("reposts")
    return {
        "uniqueImpressionsCount": total("reach"),
        "shareCount": total("reposts"),
        "engagement": actions / total("views") if total("views") else 0.0,
        "clickCount": total("link_clicks"),
        "likeCount": total("likes"),
        "impressionCount": total("views"),
        "commentCount": total("replies"),
    }


def readable(sandbox: Sandbox, urn: str, org: str) -> RecordedPost | None:
    """The organisation's post *urn*, if it exists, is not deleted and reads show it already."""
    post = sandbox.get_post(NAME, urn)
    if post is None or post.extra.get("author") != org or not sandbox.visible(post):
        return None
    return post


# -- images ---------------------------------------------------------------------------------------------


async def initialize_upload(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    if request.rel_url.query.get("action") != "initializeUpload":
        raise illegal("The Images API's action is initializeUpload")
    upload = (await read_json(request) or {}).get("initializeUploadRequest")
    if not isinstance(upload, dict) or not upload.get("owner"):
        raise input_error("/initializeUploadRequest/owner", "MISSING_FIELD", MISSING)
    if upload["owner"] != org_of(account):
        return denied(request, "images.ACTION-initializeUpload")
    require(request, account, "w_organization_social")
    seed = hashlib.sha256(f"{sandbox.seed}:{sandbox.next_number()}".encode()).digest()
    urn = IMAGE + "D4E10AQ" + re.sub(r"[^A-Za-z0-9]", "x", base64.b64encode(seed).decode())[:12]
    image = Image(urn, upload["owner"], account.handle, hashlib.sha256(seed).hexdigest())
    images_of(sandbox)[urn] = image
    url = f"{request.scheme}://{request.host}/dms-uploads/{image.upload}"
    expires = millis(sandbox.now() + UPLOAD_URL_LIFETIME)
    return json_response({"value": {"uploadUrlExpiresAt": expires, "uploadUrl": url, "image": urn}})


async def upload_image(request: web.Request) -> web.Response:
    """The PUT of an image's bytes to the upload URL: 201 and an empty body."""
    sandbox = sandbox_of(request)
    image = next((i for i in images_of(sandbox).values() if i.upload == request.match_info["token"]), None)
    if image is None:
        return error(404, "NOT_FOUND", "No upload is waiting at this URL")
    token = bearer_token(request)
    account = sandbox.find_account(NAME, access_token=token) if token else None
    if account is None or account.handle != image.account:
        return invalid_token()
    content = await request.read()
    mime = next((kind for magic, kind in MAGIC if content.startswith(magic)), None)  # JPEG, GIF or PNG
    image.uploaded, image.readable = time.monotonic(), mime is not None
    digest = hashlib.sha256(content).hexdigest()
    mime = mime or "application/octet-stream"
    sandbox.record_media(RecordedMedia(NAME, account.handle, image.urn, mime, len(content), digest))
    return web.Response(status=201)


async def get_image(request: web.Request) -> web.Response:
    account = authenticate(request)
    urn = path_urn(request, "/rest/images/")
    image = images_of(sandbox_of(request)).get(urn)
    if image is None:
        return error(404, "NOT_FOUND", f"Image {urn} does not exist")
    if image.owner != org_of(account):
        return denied(request, "images.GET")
    status = image.status(sandbox_of(request).media_processing)
    return json_response({"id": image.urn, "owner": image.owner, "status": status})


# -- posts ----------------------------------------------------------------------------------------------


def required(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for name in path.strip("/").split("/"):
        value = value.get(name) if isinstance(value, dict) else None
    if value is None:
        raise input_error(path, "MISSING_FIELD", MISSING)
    return value


def check_image(sandbox: Sandbox, item: Any, path: str, owner: str) -> RecordedMedia:
    """The uploaded image an item of ``content`` names (``{"id": urn, "altText": ...}``), with its alt text."""
    urn = item.get("id") if isinstance(item, dict) else None
    if urn is None:
        raise input_error(f"{path}/id", "MISSING_FIELD", MISSING)
    image, media = images_of(sandbox).get(str(urn)), sandbox.get_media(NAME, str(urn))
    if image is None or image.owner != owner or image.status(sandbox.media_processing) != "AVAILABLE" or media is None:
        raise invalid(f"{path}/id", f"{urn} is not an AVAILABLE image of {owner}")
    alt = item.get("altText", "")
    if not isinstance(alt, str) or len(alt) > MAX_ALT_TEXT:
        raise input_error(f"{path}/altText", "FIELD_LENGTH_TOO_LONG", f"Longer than {MAX_ALT_TEXT}")
    return replace(media, alt=alt)


def check_content(sandbox: Sandbox, content: Any, owner: str) -> tuple[RecordedMedia, ...]:
    if content is None:
        return ()
    if isinstance(content, dict) and "media" in content:
        return (check_image(sandbox, content["media"], "/content/media", owner),)
    images = content.get("multiImage", {}).get("images") if isinstance(content, dict) else None
    if not isinstance(images, list) or not MULTI_IMAGE[0] <= len(images) <= MULTI_IMAGE[1]:
        path = "/content/multiImage/images" if isinstance(images, list) else "/content"
        raise invalid(path, "content is media, or multiImage with from 2 to 20 images")
    path = "/content/multiImage/images/"
    return tuple(check_image(sandbox, item, f"{path}{i}", owner) for i, item in enumerate(images))


async def create_post(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    body = await read_json(request)
    if body is None:
        raise invalid("/", "The body must be a JSON object")
    author, commentary = required(body, "/author"), required(body, "/commentary")
    visibility, lifecycle = required(body, "/visibility"), required(body, "/lifecycleState")
    distribution = required(body, "/distribution")
    required(body, "/distribution/feedDistribution")
    if not isinstance(author, str) or not _AUTHOR.match(author):
        raise input_error("/author", "INVALID_URN_TYPE", "author must be a person or organization URN")
    if author != org_of(account) or "w_organization_social" not in account.scopes:
        return denied(request, "partnerApiPostsExternal.CREATE")
    if not isinstance(commentary, str):
        raise invalid("/commentary", "commentary must be a string")
    if len(commentary) > MAX_COMMENTARY:
        description = f"Length of field value exceeds the maximum of {MAX_COMMENTARY}"
        raise input_error("/commentary", "FIELD_LENGTH_TOO_LONG", description)
    if visibility not in VISIBILITIES:
        raise invalid("/visibility", f"visibility is one of {', '.join(VISIBILITIES)}")
    if lifecycle != "PUBLISHED":
        raise invalid("/lifecycleState", "PUBLISHED is the only value on creation")
    media = check_content(sandbox, body.get("content"), author)
    now = sandbox.now()
    if commentary.strip():
        for earlier in reversed(sandbox.posts(NAME, account.handle)):
            if earlier.extra.get("commentary") == commentary and now - earlier.created_at < DUPLICATE_WINDOW:
                return duplicate_error(earlier.id)
    urn = f"{SHARE}{(millis(now) << 22) | (sandbox.next_number() & 0x3FFFFF)}"
    extra = {"commentary": commentary, "author": author, "visibility": visibility}
    extra |= {"distribution": distribution, "content": body.get("content")}
    extra["isReshareDisabledByAuthor"] = bool(body.get("isReshareDisabledByAuthor"))
    url = f"https://www.linkedin.com/feed/update/{urn}/"
    text = little_text.shown(commentary)
    sandbox.record_post(RecordedPost(NAME, account.handle, urn, text, now, url, media=media, extra=extra))
    return web.Response(status=201, headers={"x-restli-id": urn})


async def get_post(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    require(request, account, "r_organization_social")
    urn = path_urn(request, "/rest/posts/")
    post = readable(sandbox, urn, org_of(account))
    if post is None:
        return error(404, "NOT_FOUND", f"Post {urn} does not exist")
    return json_response(render_post(post))


async def delete_post(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    account = authenticate(request)
    require(request, account, "w_organization_social")
    urn = path_urn(request, "/rest/posts/")
    post = sandbox.get_post(NAME, urn)
    if post is None:
        return error(404, "NOT_FOUND", f"Post {urn} does not exist")
    if post.extra.get("author") != org_of(account):
        return denied(request)
    sandbox.delete_post(NAME, urn)
    return web.Response(status=204)


async def find_posts(request: web.Request) -> web.Response:
    """The ``author`` finder (``q=author``), or the batch get (``ids=List(...)``)."""
    sandbox = sandbox_of(request)
    account = authenticate(request)
    params, org = query_of(request), org_of(account)
    if "ids" in params:
        require(request, account, "r_organization_social")
        results, errors = {}, {}
        for urn in urn_list(params, "ids"):
            if post := readable(sandbox, urn, org):
                results[urn] = render_post(post)
            else:
                errors[urn] = {"status": 404, "code": "NOT_FOUND", "message": f"Post {urn} does not exist"}
        return json_response({"results": results, "statuses": dict.fromkeys(results, 200), "errors": errors})
    author, sort = scalar(params, "author"), scalar(params, "sortBy")
    if scalar(params, "q") != "author" or not author:
        raise illegal("Use q=author&author=<organization URN>, or ids=List(...) for a batch get")
    if author != org or "r_organization_social" not in account.scopes:
        return denied(request, "partnerApiPostsExternal.FINDER-author")
    if sort not in (None, "LAST_MODIFIED", "CREATED"):
        raise illegal("sortBy is LAST_MODIFIED or CREATED")
    start, count = number(params, "start", 0, 10**6), number(params, "count", 10, MAX_FINDER_COUNT)
    posts = [p for p in sandbox.posts(NAME) if p.extra.get("author") == org and sandbox.visible(p)]
    # LinkedIn's default order and LAST_MODIFIED put a post edited today before the posts made since it was.
    by = created_ms if sort == "CREATED" else last_modified_ms
    posts.sort(key=lambda p: (by(p), created_ms(p)), reverse=True)
    links = []
    if len(posts) > start + count and count:
        href = f"/rest/posts?author={quote(author, safe='')}&count={count}&q=author"
        href += (f"&sortBy={sort}" if sort else "") + f"&start={start + count}"
        links.append({"rel": "next", "type": "application/json", "href": href})
    elements = [render_post(p) for p in posts[start : start + count]]
    return json_response({"paging": {"start": start, "count": count, "links": links}, "elements": elements})


# -- organisations ----------------------------------------------------------------------------------------


async def share_statistics(request: web.Request) -> web.Response:
    """Lifetime statistics of the organisation, or of each share and ugcPost asked for that has any."""
    sandbox = sandbox_of(request)
    account = authenticate(request)
    params, org = query_of(request), org_of(account)
    entity = scalar(params, "organizationalEntity")
    if scalar(params, "q") != "organizationalEntity" or not entity:
        raise illegal("Use q=organizationalEntity&organizationalEntity=<organization URN>")
    if "timeIntervals" in params:
        raise illegal("The sandbox serves lifetime statistics only (no timeIntervals)")
    if entity != org or "rw_organization_admin" not in account.scopes:
        return denied(request, "organizationalEntityShareStatistics.FINDER-organizationalEntity")
    asked = [(kind, urn) for kind in ("share", "ugcPost") for urn in urn_list(params, f"{kind}s")]
    if len(asked) > MAX_STATISTICS_URNS:
        raise illegal(f"At most {MAX_STATISTICS_URNS} shares and ugcPosts per request")
    paging = {"start": 0, "count": 10, "links": []}
    if not asked:
        posts = [p for p in sandbox.posts(NAME) if p.extra.get("author") == org and sandbox.visible(p)]
        element = {"organizationalEntity": org, "totalShareStatistics": statistics(sandbox, posts)}
        return json_response({"paging": paging, "elements": [element]})
    elements: dict[str, dict[str, Any]] = {}
    for kind, urn in asked:
        post = readable(sandbox, urn, org)
        totals = statistics(sandbox, [post]) if post else {}
        if any(value for name, value in totals.items() if name != "engagement"):  # no activity: left out
            elements[urn] = {"organizationalEntity": org, kind: urn, "totalShareStatistics": totals}
    return json_response({"paging": paging, "elements": list(elements.values())})


async def organization_acls(request: web.Request) -> web.Response:
    """The ``roleAssignee`` finder: the token's member is an approved ADMINISTRATOR of its organisation."""
    account = authenticate(request)
    params = query_of(request)
    if scalar(params, "q") != "roleAssignee":
        raise illegal("The sandbox serves the roleAssignee finder: q=roleAssignee")
    require(request, account, "rw_organization_admin", "r_organization_admin")
    person = base64.b32encode(hashlib.sha256((bearer_token(request) or "").encode()).digest()).decode()[:10]
    acl = {"organization": org_of(account), "role": "ADMINISTRATOR", "state": "APPROVED"}
    acl["roleAssignee"] = f"urn:li:person:{person}"
    wanted = (scalar(params, "role", "ADMINISTRATOR"), scalar(params, "state", "APPROVED"))
    elements = [acl] if wanted == ("ADMINISTRATOR", "APPROVED") else []
    return json_response({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})


async def get_organization(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    wanted = request.match_info["id"]
    page = next((a for a in sandbox.accounts(NAME) if org_of(a) == f"{ORG}{wanted}"), None)
    if page is None or not wanted.isdigit():
        return error(404, "NOT_FOUND", f"Organization {wanted} does not exist")
    return json_response({"id": int(wanted), "localizedName": page.display_name, "vanityName": page.handle})


def register(app: web.Application) -> None:
    app.router.add_post("/rest/images", initialize_upload)
    app.router.add_get("/rest/images/{urn}", get_image)
    app.router.add_put("/dms-uploads/{token}", upload_image)
    app.router.add_post("/rest/posts", create_post)
    app.router.add_get("/rest/posts", find_posts)
    app.router.add_get("/rest/posts/{urn}", get_post)
    app.router.add_delete("/rest/posts/{urn}", delete_post)
    app.router.add_get("/rest/organizationalEntityShareStatistics", share_statistics)
    app.router.add_get("/rest/organizationAcls", organization_acls)
    app.router.add_get("/rest/organizations/{id}", get_organization)
