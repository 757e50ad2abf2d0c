"""Desk sessions: signed cookies, CSRF tokens, and who is signed in.

A session is a small dictionary kept in one cookie, signed with the desk's secret (itsdangerous), so every
worker and machine that shares the secret reads it the same way. The cookie is ``HttpOnly`` and
``SameSite=Lax``, ``Secure`` whenever the request came over https (uvicorn's proxy-headers middleware reads
``X-Forwarded-Proto`` from a trusted proxy) or the settings ask for it, and lasts :data:`SESSION_HOURS` from
login at most.

Signed in, a session holds the person's login, the user's ``session_version`` when they logged in, a session
id, when it started, and its CSRF token. On every request (:func:`signed_in`) the user is read from the store
again: a disabled user, a service account, a changed password (a new ``session_version``), a session older
than its lifetime, or one its person logged out of (a ``logout`` in the audit naming this session) ends there.

Every form carries the session's CSRF token, and every POST is refused unless it sends it back
(:func:`check_csrf`, compared in constant time). A session is *rotated* at login (:func:`start_session`):
the old dictionary is cleared and a new one made, with a new CSRF token. :func:`start_session` is also what
single sign-on (:mod:`campaign.web.sso`, optional) calls once it knows who someone is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign.exceptions import StoreError
from campaign.people import Person
from campaign.store import Store
from campaign.store.models import UserRow
from campaign.store.people import person_of
from campaign.store.sql import A
from campaign.web.settings import SESSION_HOURS

COOKIE = "campaign_desk"
CSRF_FIELD = "csrf_token"
"""The name of every form's hidden CSRF field."""
FLASH = "flash"


class SessionMiddleware:
    """Keeps ``scope["session"]`` (what :attr:`Request.session` reads) in a signed cookie.

    Starlette's own SessionMiddleware decides ``Secure`` once, at start; the desk decides it per request (https
    behind a proxy, plain http on 127.0.0.1 in development), so this is its own small version of it.
    """

    def __init__(self, app: ASGIApp, secret: str, max_age: int = SESSION_HOURS * 3600,
                 secure_always: bool = False) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="campaign desk session")
        self.max_age = max_age
        self.secure_always = secure_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        initial = self._read(HTTPConnection(scope).cookies.get(COOKIE))
        scope["session"] = dict(initial)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if session != initial:
                    MutableHeaders(scope=message).append("Set-Cookie", self._cookie(scope, session))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _read(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _cookie(self, scope: Scope, session: Mapping[str, Any]) -> str:
        flags = "; Path=/; HttpOnly; SameSite=Lax"
        if self.secure_always or scope.get("scheme") == "https":
            flags += "; Secure"
        if not session:
            return f"{COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{flags}"
        return f"{COOKIE}={self.serializer.dumps(dict(session))}; Max-Age={self.max_age}{flags}"


# -- CSRF ------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made when a session first needs one (a visitor's login form has one too)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_matches(request: Request, sent: object) -> bool:
    """True if *sent* is this session's CSRF token (compared in constant time)."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not isinstance(sent, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), sent.encode("utf-8"))


# -- starting and ending sessions ------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """*target* if it is a path on this desk (never another site), else ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 for c in target):
        return "/"
    return target


def start_session(request: Request, user: UserRow, next_url: str | None = None) -> RedirectResponse:
    """Sign *user* in on this browser: a new session (the old one cleared), a new CSRF token, the user's
    ``session_version`` recorded; answer with a redirect to *next_url* (a path on this desk) or ``/``.

    The caller has checked who the user is (a password, single sign-on) and audits the login its way: the store's
    :meth:`~campaign.store.Store.verify_login` does for passwords.
    """
    request.session.clear()
    request.session.update({
        "login": user.login,
        "version": user.session_version,
        "sid": secrets.token_urlsafe(18),
        "started": time.time(),
        "csrf": secrets.token_urlsafe(32),
    })
    return RedirectResponse(safe_next(next_url), status_code=303)


def session_tag(request: Request) -> str:
    """A short, non-secret name for this session, as the audit names it at logout."""
    sid = str(request.session.get("sid", ""))
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()[:16]


def flash(request: Request, message: str) -> None:
    """Say *message* on the next page this browser sees (after a redirect)."""
    request.session[FLASH] = message[:500]


def take_flash(request: Request) -> str | None:
    message = request.session.pop(FLASH, None)
    return message if isinstance(message, str) else None


# -- who is signed in ------------------------------------------------------------------------------


class SignInNeeded(Exception):
    """Nobody is signed in on this request (or their session has just ended); *reason* says why, if it ended."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason


ENDED = "your session has ended ({why}); sign in again"


def signed_in(request: Request, store: Store) -> Person:
    """The person signed in on *request*, read from the store again; raises :class:`SignInNeeded`."""
    session = request.session
    login = session.get("login")
    if not isinstance(login, str) or not login:
        raise SignInNeeded()
    why = _ended(request, store, login)
    if isinstance(why, str):
        end_session(request)
        raise SignInNeeded(ENDED.format(why=why))
    return person_of(why)


def _ended(request: Request, store: Store, login: str) -> UserRow | str:
    """The user, if the session still stands; else why it ended."""
    session = request.session
    try:
        row = store.user(login)
    except StoreError:
        return "the user is no longer in the store"
    started = session.get("started")
    if row.disabled_at is not None:
        return "the user was disabled"
    if row.service:
        return "a service account cannot use the desk"
    if session.get("version") != row.session_version:
        return "the password was changed, or the user disabled, since you signed in"
    if not isinstance(started, (int, float)) or time.time() - started > SESSION_HOURS * 3600:
        return f"sessions last {SESSION_HOURS} hours"
    if _logged_out(store, login, session_tag(request), started):
        return "you signed out"
    return row


def _logged_out(store: Store, login: str, tag: str, started: float) -> bool:
    """True if *login* logged out of the session *tag* (the audit keeps every logout), since it *started*."""
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(started, UTC)
    with store.read_session() as session:
        found = session.scalars(select(A.id).where(
            A.action == "logout", A.actor == login, A.at >= since,
            A.details.like(f'%"session": {json.dumps(tag)}%')).limit(1)).first()
    return found is not None


def end_session(request: Request) -> None:
    """Forget who is signed in on this browser (a new, empty session)."""
    request.session.clear()


def login_redirect(request: Request, reason: str | None = None) -> RedirectResponse:
    """To the login page, coming back here afterwards (for a page read with GET)."""
    target = "/login"
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if here != "/":
            target += f"?next={quote(here, safe='')}"
    if reason:
        flash(request, reason)
    return RedirectResponse(target, status_code=303)
