"""Signing in and out of the desk.

A password is checked by the store (:meth:`campaign.store.Store.verify_login`), which also rate-limits
guessing — per login and per client address, across every worker sharing the store — and audits every attempt
(``login``, ``login_failed``, ``login_throttled``). Its refusal is safe to show: it never says whether the
login or the password was wrong. A service account never signs in. Signing in rotates the session
(:func:`campaign.web.sessions.start_session`); signing out is audited (``logout``, naming the session, which
then no longer authenticates even if its cookie is replayed).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from campaign.store.people import LoginRefused
from campaign.web.actions import PostedForm
from campaign.web.desk import desk_of
from campaign.web.sessions import (
    SignInNeeded,
    end_session,
    flash,
    safe_next,
    session_tag,
    signed_in,
    start_session,
)

router = APIRouter()

LONGEST_LOGIN = 200


def _source(request: Request) -> str:
    """The client's address, as uvicorn's proxy-headers middleware reports it (behind a trusted proxy: the
    address the proxy saw)."""
    return request.client.host if request.client is not None else "unknown"


def _login_page(request: Request, status: int = 200, problem: str | None = None, login: str = "",
                next_url: str = "/") -> HTMLResponse:
    return desk_of(request).page(request, "login.html.j2", status=status, problem=problem, login=login,
                                 next_url=safe_next(next_url))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    try:
        signed_in(request, desk_of(request).store)
    except SignInNeeded:
        return _login_page(request, next_url=next_url)
    return RedirectResponse(next_url, status_code=303)


@router.post("/login")
def login(request: Request, form: PostedForm) -> Response:
    login_name = form.get("login")
    password = form.get("password")
    next_url = str(form.get("next") or "/")
    if not isinstance(login_name, str) or not isinstance(password, str) or not login_name.strip() or not password:
        return _login_page(request, 400, "give your login and your password", next_url=next_url)
    login_name = login_name.strip()[:LONGEST_LOGIN]
    try:
        user = desk_of(request).store.verify_login(login_name, password, _source(request))
    except LoginRefused as refusal:
        return _login_page(request, 401, str(refusal), login=login_name, next_url=next_url)
    return start_session(request, user, next_url)


@router.post("/logout")
def logout(request: Request, form: PostedForm) -> Response:
    desk = desk_of(request)
    try:
        person = signed_in(request, desk.store)
    except SignInNeeded:
        person = None
    if person is not None:
        desk.store.record_desk_action(person, "logout", {"session": session_tag(request), "source": _source(request)})
    end_session(request)
    flash(request, "You have signed out.")
    return RedirectResponse("/login", status_code=303)
