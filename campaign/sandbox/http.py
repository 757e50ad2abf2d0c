"""Small pieces the platform route modules share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from campaign.sandbox.core import Sandbox
from campaign.sandbox.faults import FaultRule

SANDBOX_KEY = web.AppKey("sandbox", Sandbox)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Reply(Exception):
    """Raised by a handler to answer at once (an auth failure, a validation error)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class PlatformModule(Protocol):
    """What each platform's route module provides to the server."""

    NAME: str

    def register(self, app: web.Application) -> None: ...

    def fault_response(self, rule: FaultRule, request: web.Request, sandbox: Sandbox) -> web.Response: ...

    def error_response(self, status: int, message: str) -> web.Response: ...


def sandbox_of(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def read_json(request: web.Request) -> dict[str, Any] | None:
    """The request body as a JSON object, or ``None`` when it is not one."""
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def iso_z(moment: datetime, millis: bool = True) -> str:
    """``2026-10-13T08:00:00.000Z``."""
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None
