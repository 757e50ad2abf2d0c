"""The sandbox's HTTP server: one aiohttp application that answers for every platform.

The platforms' paths do not overlap (X ``/2/...``, Facebook ``/vNN.N/...``, Mastodon ``/api/...``,
Bluesky ``/xrpc/...``, LinkedIn ``/rest/...`` and its uploads ``/dms-uploads/...``), so one base URL serves them
all; Instagram shares Graph's ``/vNN.N/...`` with Facebook, and a Graph request whose node is an Instagram id goes
to Instagram's module. One middleware records each request, adds
the configured latency, and injects faults: a platform's error answer instead of its handler, or a
transport fault around it (a lost or slow reply, a server that goes down, an ignored
``Idempotency-Key``), played by :func:`campaign.sandbox.transport.play`, the same code the fault proxy
uses. Errors it did not plan (a bug, an unknown path) still answer in the platform's own error shape.

Why aiohttp: see ``docs/decisions/0002-sandbox-server.md``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import cast

from aiohttp import web

from campaign.sandbox import bluesky, facebook, instagram, linkedin, mastodon, transport, x
from campaign.sandbox.core import Sandbox
from campaign.sandbox.faults import FaultRule
from campaign.sandbox.http import SANDBOX_KEY, Handler, PlatformModule, Reply, json_response
from campaign.sandbox.transport import STOPPING_KEY, AccessLogger

__all__ = ["MODULES", "STOPPING_KEY", "AccessLogger", "build_app", "platform_of", "sandbox_middleware"]

log = logging.getLogger("campaign.sandbox")

MODULES: dict[str, PlatformModule] = {
    module.NAME: cast(PlatformModule, module) for module in (x, facebook, mastodon, bluesky, linkedin, instagram)
}
_FACEBOOK_PATH = re.compile(r"^/v\d+\.\d+(/|$)")
_INSTAGRAM_PATH = re.compile(r"^/v\d+\.\d+/1[78]\d{15}(/|$)")
"""A Graph path whose node is an Instagram id: 17 digits starting 17 or 18, as Instagram's user and media ids are
(Facebook's pages have 15 digits, its objects in the sandbox 18, its posts ``PAGE_POST``)."""
MAX_BODY = 20 * 1024 * 1024


def platform_of(path: str) -> str | None:
    """Which platform a request path belongs to (``None`` for the sandbox's own pages)."""
    if path.startswith("/2/"):
        return "x"
    if _INSTAGRAM_PATH.match(path):
        return "instagram"
    if _FACEBOOK_PATH.match(path):
        return "facebook"
    if path.startswith(("/api/v1/", "/api/v2/", "/oauth/")):
        return "mastodon"
    if path.startswith("/xrpc/"):
        return "bluesky"
    if path.startswith(("/rest/", "/dms-uploads/")):
        return "linkedin"
    return None


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    sandbox = request.app[SANDBOX_KEY]
    platform = platform_of(request.path)
    if platform is None:
        return await handler(request)
    record = sandbox.record_request(platform, request.method, request.path)
    module = MODULES[platform]
    if platform == instagram.NAME:
        handler = instagram.handle  # Graph's paths, which Facebook's module routes: Instagram's ids come here
    if sandbox.latency_ms:
        await asyncio.sleep(sandbox.latency_ms / 1000)
    rule = sandbox.faults.pick(platform, request.method, request.path)
    if rule is not None:
        record.fault = rule.kind

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Reply as reply:
            return reply.response
        except web.HTTPNotFound:
            return module.error_response(404, request.path)
        except web.HTTPMethodNotAllowed:
            return module.error_response(404, f"{request.method} {request.path}")
        except Exception:
            log.exception("the sandbox failed on %s %s", request.method, request.path)
            return module.error_response(500, "Internal Server Error")

    def refuse(rule: FaultRule, request: web.Request) -> web.StreamResponse:
        if rule.kind == "hang":
            return module.error_response(504, "Gateway Timeout")
        return module.fault_response(rule, request, sandbox)

    response = await transport.play(request, rule, handle, refuse)
    record.status = transport.status_of(response)
    return response


async def index(request: web.Request) -> web.Response:
    """What the sandbox serves, for people poking at it with curl."""
    sandbox = request.app[SANDBOX_KEY]
    return json_response(
        {
            "sandbox": "campaign",
            "platforms": sorted(MODULES),
            "accounts": [
                {"platform": a.platform, "handle": a.handle, "id": a.user_id} for a in sandbox.accounts()
            ],
            "faults": [rule.spec() for rule in sandbox.faults.rules],
            "seed": sandbox.seed,
        }
    )


async def recorded_posts(request: web.Request) -> web.Response:
    """Everything posted so far (rehearsals read this instead of a platform's web page)."""
    sandbox = request.app[SANDBOX_KEY]
    platform = request.query.get("platform")
    return json_response(
        [
            {
                "platform": p.platform,
                "account": p.account,
                "id": p.id,
                "text": p.text,
                "url": p.url,
                "created_at": p.created_at.isoformat(),
                "reply_to": p.reply_to,
                "deleted": p.deleted,
                "media": [{"id": m.id, "mime_type": m.mime_type, "alt": m.alt} for m in p.media],
                "facets": list(p.facets),
                "engagement": sandbox.counts(p),
            }
            for p in sandbox.posts(platform, include_deleted=True)
        ]
    )


async def served_media(request: web.Request) -> web.Response:
    """A file the sandbox serves as a force's web server would (:meth:`Sandbox.serve_file`)."""
    data = request.app[SANDBOX_KEY].served_file(request.match_info["name"])
    if data is None:
        return web.Response(status=404, text="Not Found")
    return web.Response(body=data, content_type="application/octet-stream")


def build_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp application serving *sandbox*."""
    app = web.Application(middlewares=[sandbox_middleware], client_max_size=MAX_BODY)
    app[SANDBOX_KEY] = sandbox
    app[STOPPING_KEY] = asyncio.Event()
    for module in MODULES.values():
        module.register(app)
    app.router.add_get("/", index)
    app.router.add_get("/_sandbox/posts", recorded_posts)
    app.router.add_get("/_sandbox/media/{name}", served_media)
    return app
