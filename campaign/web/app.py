"""The desk's application factory: ``uvicorn campaign.web.app:create_app --factory``.

:func:`create_app` builds the FastAPI application from :class:`~campaign.web.settings.DeskSettings` (by default
read from the environment, which is how ``campaign serve`` hands them to each worker process), and wires:

- the pages (:mod:`campaign.web.pages`), the forms (:mod:`campaign.web.actions`), login and logout
  (:mod:`campaign.web.auth`), and the desk's stylesheets under ``/static``;
- signed cookie sessions (:mod:`campaign.web.sessions`);
- security headers on every answer (a Content-Security-Policy with no script at all, ``nosniff``, no referrer
  beyond the desk, no framing), and one sentence instead of any traceback: refusals with their status
  (403, 404, 409), and for anything unexpected a 500 page naming a reference that is in the log with the
  traceback;
- optional single sign-on: if the module ``campaign.web.sso`` exists and
  ``sso.SingleSignOn.from_environment()`` returns a configuration, the router ``sso.router(config, store_of)``
  (``store_of(request)`` gives the desk's store) is included, and the login page links to ``sso.LOGIN_PATH``
  (default ``/login/sso``). The router signs people in with :func:`campaign.web.sessions.start_session`, which
  rotates the session; auditing the login is its own part.
"""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path
from types import ModuleType

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign.exceptions import StoreError
from campaign.people import NotAllowed
from campaign.store import Store
from campaign.web import actions, auth, pages
from campaign.web.desk import Desk, desk_of
from campaign.web.errors import DeskError, log
from campaign.web.sessions import SessionMiddleware, SignInNeeded, login_redirect
from campaign.web.settings import DeskSettings
from campaign.web.views import card_styles

STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
NUL_REFUSED = ('<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Not done</title></head><body>'
               '<main><h1>Not done</h1><p role="alert">This address holds a NUL character, which no page of the desk '
               'takes: go back and use the page\'s own links.</p></main></body></html>')
UNEXPECTED = ("Something went wrong on the desk. It is in the desk's log as reference {reference}: look at the page "
              "again to see what was done, and if it happens again give that reference to whoever looks after the "
              "desk.")


def create_app(settings: DeskSettings | None = None, store: Store | None = None) -> FastAPI:
    """The desk, for *settings* (default: from the environment) over *store* (default: opened from
    ``settings.db``)."""
    settings = settings or DeskSettings.from_environment()
    store = store or Store.open(settings.db)
    app = FastAPI(title="campaign sign-off desk", docs_url=None, redoc_url=None, openapi_url=None)
    desk = Desk(settings=settings, store=store)
    app.state.desk = desk
    desk.globals["card_css_version"] = secrets.token_hex(4)
    _card_css = card_styles(desk.env)

    @app.get("/static/cards.css", include_in_schema=False)
    def cards_css() -> Response:
        return Response(_card_css, media_type="text/css", headers={"Cache-Control": "private, max-age=3600"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    _single_sign_on(app, desk)
    _handlers(app)
    app.add_middleware(SessionMiddleware, secret=settings.secret, max_age=settings.session_seconds,
                       secure_always=settings.secure_cookies)
    app.add_middleware(GuardMiddleware)
    return app


def single_sign_on() -> tuple[ModuleType, object] | None:
    """``campaign.web.sso`` and its configuration, when the module is there and configured; None otherwise.
    A configuration that is only half there is refused by the module, in one sentence."""
    try:
        sso = importlib.import_module("campaign.web.sso")
    except ModuleNotFoundError as missing:
        if missing.name != "campaign.web.sso":
            raise
        return None
    config = sso.SingleSignOn.from_environment()
    return None if config is None else (sso, config)


def _single_sign_on(app: FastAPI, desk: Desk) -> None:
    """Include the single sign-on pages when they are configured (the contract is in this module's docstring)."""
    found = single_sign_on()
    if found is None:
        return
    sso, config = found
    app.include_router(sso.router(config, lambda request: desk_of(request).store))
    desk.sso_login = str(getattr(sso, "LOGIN_PATH", "/login/sso"))


def _handlers(app: FastAPI) -> None:
    def page(request: Request, message: str, status: int) -> Response:
        desk: Desk = request.app.state.desk
        return desk.page(request, "message.html.j2", status=status, message=message)

    @app.exception_handler(SignInNeeded)
    def sign_in(request: Request, error: SignInNeeded) -> Response:
        return login_redirect(request, error.reason)

    @app.exception_handler(NotAllowed)
    def not_allowed(request: Request, error: NotAllowed) -> Response:
        return page(request, str(error), 403)

    @app.exception_handler(DeskError)
    def refused(request: Request, error: DeskError) -> Response:
        return page(request, error.message, error.status)

    @app.exception_handler(StoreError)
    def store_error(request: Request, error: StoreError) -> Response:
        return page(request, str(error), 409)

    @app.exception_handler(404)
    def not_found(request: Request, error: Exception) -> Response:
        return page(request, "there is no such page on the desk", 404)

    @app.exception_handler(405)
    def wrong_method(request: Request, error: Exception) -> Response:
        return page(request, "this address is not for that kind of request; go back and use the page's own "
                    "links and buttons", 405)


class GuardMiddleware:
    """The security headers on every answer, and one sentence (logged with its traceback) for anything
    unexpected: no traceback, no secret, ever reaches the browser."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "Cache-Control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"").lower():
            # No page takes a NUL (PostgreSQL cannot even look one up): refused before anything reads it.
            await HTMLResponse(NUL_REFUSED, status_code=400)(scope, receive, with_headers)
            return
        try:
            await self.app(scope, receive, with_headers)
        except Exception:  # noqa: BLE001 - logged in full; the person sees one sentence
            reference = secrets.token_hex(4)
            log.exception("the desk failed on %s %s (reference %s)", scope.get("method"), scope.get("path"),
                          reference)
            if started:
                return
            body = (f'<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Something went wrong'
                    f'</title></head><body><main><h1>Something went wrong</h1><p role="alert">'
                    f"{UNEXPECTED.format(reference=reference)}</p><p><a href=\"/\">Back to the desk</a></p></main>"
                    "</body></html>")
            await HTMLResponse(body, status_code=500)(scope, receive, with_headers)
