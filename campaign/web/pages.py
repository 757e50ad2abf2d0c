"""The desk's pages for reading: the week, a post, a day, the status, the audit trail and the report.

Every page checks that someone is signed in (:func:`campaign.web.desk.person_on`), that they may view the
campaign, and shows only the posts of the accounts their work covers. The forms on these pages are handled by
:mod:`campaign.web.actions`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select

from campaign.cards import side_by_side
from campaign.exceptions import StoreError
from campaign.people import Action, Person
from campaign.platforms import PLATFORMS
from campaign.store import PostState, Selection
from campaign.store.models import NEEDS_A_PERSON, AuditEntry, CampaignRow, Post
from campaign.store.sql import A, utcnow
from campaign.web.advice import what_to_do
from campaign.web.desk import Desk, SignedIn, allowed, desk_of, in_scope, require_post_in_scope
from campaign.web.errors import NotFound
from campaign.web.views import (
    cards,
    default_week,
    monday_of,
    read_image,
    week,
)

router = APIRouter()

AUDIT_PAGE = 50
"""Audit entries per page."""
STATE_NAMES = [str(state) for state in PostState]
FIRST_WEEK = monday_of(date.min) + timedelta(days=7)
LAST_WEEK = monday_of(date.max) - timedelta(days=7)
"""The weeks the week page can show: it links to the week before and the week after, which must be dates."""


def _campaign_posts(desk: Desk, person: Person, campaign: CampaignRow) -> list[Post]:
    return in_scope(person, desk.store.select_posts(Selection(campaign=campaign.id)))


def shown_post(desk: Desk, request: Request, person: Person, key: str, campaign: CampaignRow) -> Post:
    """The post *key* of *campaign*, if the person's work covers its account."""
    try:
        post = desk.store.post(key, campaign.id)
    except StoreError:  # the store says "no post" in several ways; the desk says it once
        raise NotFound(f"there is no post {key!r} in campaign {campaign.id!r}") from None
    require_post_in_scope(person, Action.VIEW, post)
    return post


# -- the week --------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def week_page(request: Request, person: SignedIn) -> Response:
    desk = desk_of(request)
    campaign = desk.campaign(request, person)
    posts = _campaign_posts(desk, person, campaign)
    chosen = {name: request.query_params.get(name) or "" for name in ("platform", "account", "state")}
    platforms = sorted({p.platform for p in posts})
    accounts = sorted({p.account for p in posts})
    filtered = [p for p in posts
                if (chosen["platform"] in ("", p.platform)) and (chosen["account"] in ("", p.account))
                and (chosen["state"] in ("", p.state))]
    monday = chosen_week(request.query_params.get("week")) or default_week(posts, campaign.zone, utcnow())
    return desk.page(
        request, "week.html.j2", campaign=campaign, days=week(filtered, monday), monday=monday,
        previous=monday - timedelta(days=7), following=monday + timedelta(days=7), chosen=chosen,
        platforms=platforms, accounts=accounts, states=STATE_NAMES, labels={n: s.label for n, s in PLATFORMS.items()},
        total=len(filtered),
    )


# -- one post --------------------------------------------------------------------------------------


def post_page(desk: Desk, request: Request, person: Person, campaign: CampaignRow, key: str, status: int = 200,
              problem: str | None = None, changes: list[str] | None = None) -> HTMLResponse:
    """The page of one post; after a refused action, with what refused it (*problem*, *changes*)."""
    post = shown_post(desk, request, person, key, campaign)
    # A post published as a pair (the same post in the other language, on the partner account) is shown with its
    # partner, the plan's first language first, and signed off with it.
    pair = sorted([post, *in_scope(person, desk.store.partners([post]))], key=lambda p: p.follows is not None)
    shown_pair = cards(desk.store, campaign, pair, desk.problems, desk.sizes)
    shown = next(item for item in shown_pair if item.post.key == post.key)
    history = [e for e in desk.store.audit(campaign.id, post=post.key) if e.post_key == post.key]
    accounts = [p.account for p in pair]
    may_approve = person.may(Action.APPROVE, campaign.id, accounts)
    return desk.page(
        request, "post.html.j2", status=status, campaign=campaign, shown=shown, post=post,
        pair=shown_pair if len(pair) > 1 else [], partners_seen=[seen_value(p) for p in pair if p.key != post.key],
        history=[_entry(e) for e in reversed(history)], problem=problem, changes=changes or [],
        way_forward=what_to_do(post, may_approve, on_its_page=True) if post.state in NEEDS_A_PERSON else None,
        may_approve=may_approve and post.state in (PostState.DRAFT, PostState.REJECTED),
        may_reject=person.may(Action.REJECT, campaign.id, accounts)
        and post.state in (PostState.DRAFT, PostState.APPROVED, PostState.MISSED, PostState.FAILED),
    )


@router.get("/posts/{key:path}", response_class=HTMLResponse)
def one_post(key: str, request: Request, person: SignedIn) -> Response:
    desk = desk_of(request)
    return post_page(desk, request, person, desk.campaign(request, person), key)


# -- one day ---------------------------------------------------------------------------------------


def day_posts(desk: Desk, person: Person, campaign: CampaignRow, day: date) -> list[Post]:
    return in_scope(person, desk.store.select_posts(Selection(campaign=campaign.id, day=day.isoformat())))


def day_page(desk: Desk, request: Request, person: Person, campaign: CampaignRow, day: date, status: int = 200,
             problem: str | None = None, changes: list[str] | None = None) -> HTMLResponse:
    posts = day_posts(desk, person, campaign, day)
    drafts = [p for p in posts if p.state == PostState.DRAFT]
    shown = cards(desk.store, campaign, posts, desk.problems, desk.sizes)
    return desk.page(
        request, "day.html.j2", status=status, campaign=campaign, day=day, shown=shown,
        groups=side_by_side(shown, [(p.key, p.follows) for p in posts]),
        drafts=drafts, seen=[seen_value(p) for p in posts], problem=problem, changes=changes or [],
        may_approve=bool(drafts) and person.may(Action.APPROVE, campaign.id, {p.account for p in drafts}),
        previous=day - timedelta(days=1), following=day + timedelta(days=1),
    )


def seen_value(post: Post) -> str:
    """What a day's form says it showed of one post: its state, content hash and key."""
    return f"{post.state}:{post.content_hash}:{post.key}"


def parse_day(value: str) -> date:
    """The day *value* names, if a day's page can show it: its page links to the day before and the day after,
    so the first and last days a date can hold (0001-01-01, 9999-12-31) are refused like dates that do not exist."""
    try:
        day: date | None = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not date.min < day < date.max:
        raise NotFound(f"{value!r} is not a day: the address takes a date such as 2027-03-15")
    return day


def chosen_week(value: str | None) -> date | None:
    """The Monday of the week *value* names, if the week page can show it (its links go a week either way);
    None for anything else, which opens the campaign's own week."""
    try:
        monday = monday_of(date.fromisoformat(value or ""))
    except ValueError:
        return None
    return monday if FIRST_WEEK <= monday <= LAST_WEEK else None


@router.get("/days/{day}", response_class=HTMLResponse)
def one_day(day: str, request: Request, person: SignedIn) -> Response:
    desk = desk_of(request)
    return day_page(desk, request, person, desk.campaign(request, person), parse_day(day))


# -- status ----------------------------------------------------------------------------------------


def status_page(desk: Desk, request: Request, person: Person, campaign: CampaignRow, status: int = 200,
                problem: str | None = None, resumed: dict[str, Any] | None = None) -> HTMLResponse:
    state = desk.store.status(campaign.id)
    accounts = sorted({a.key for a in desk.store.accounts(campaign.id)})
    pausable = [a for a in accounts if person.may(Action.PAUSE, campaign.id, [a])]
    return desk.page(
        request, "status.html.j2", status=status, campaign=campaign, state=state,
        next_due=in_scope(person, state.next_due),
        needs=[(p, what_to_do(p, person.may(Action.APPROVE, campaign.id, [p.account]), on_its_page=False))
               for p in in_scope(person, state.needs_a_person)],
        stalled=in_scope(person, state.stalled), holds=state.holds, problem=problem, resumed=resumed,
        may_pause_all=allowed(person, Action.PAUSE, campaign.id, None), pausable=pausable,
        may_resume=lambda account: allowed(person, Action.RESUME, campaign.id, None if account is None else [account]),
        counts=_counts(state.counts) if person.accounts is None else _counts_of(
            _campaign_posts(desk, person, campaign)),
    )


def _counts(counts: dict[str, dict[str, int]]) -> list[tuple[str, int]]:
    return [(state, sum(counts[state].values())) for state in STATE_NAMES if state in counts]


def _counts_of(posts: list[Post]) -> list[tuple[str, int]]:
    """Posts by state, for a person who sees only some accounts' posts."""
    found = Counter(str(p.state) for p in posts)
    return [(state, found[state]) for state in STATE_NAMES if found[state]]


@router.get("/status", response_class=HTMLResponse)
def status(request: Request, person: SignedIn) -> Response:
    desk = desk_of(request)
    return status_page(desk, request, person, desk.campaign(request, person))


# -- the audit trail -------------------------------------------------------------------------------


def _entry(entry: AuditEntry) -> dict[str, Any]:
    try:
        details = json.loads(entry.details or "{}")
    except ValueError:
        details = {"details": entry.details}
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action, "post": entry.post_key,
            "details": details if isinstance(details, dict) else {"details": details}}


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, person: SignedIn) -> Response:
    """The trail, newest first, filtered by post, actor and action, :data:`AUDIT_PAGE` entries a page. The
    store-wide entries (logins, users) are shown to those who manage users."""
    desk = desk_of(request)
    campaign = desk.campaign(request, person)
    wanted = {name: (request.query_params.get(name) or "").strip()[:300] for name in ("post", "actor", "action")}
    try:
        page = max(1, min(int(request.query_params.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    query = select(AuditEntry)
    if person.may(Action.MANAGE_USERS, campaign.id):
        query = query.where(or_(A.campaign_id == campaign.id, A.campaign_id.is_(None)))
    else:
        query = query.where(A.campaign_id == campaign.id)
    if person.accounts is not None:
        query = query.where(or_(A.post_key.is_(None),
                                *(A.post_key.like(f"%/{_like(account)}", escape="\\") for account in person.accounts)))
    if wanted["post"]:
        query = query.where(or_(A.post_key == wanted["post"],
                                A.post_key.like(f"{_like(wanted['post'])}/%", escape="\\"),
                                A.post_key.like(f"{_like(wanted['post'])}@%", escape="\\")))
    if wanted["actor"]:
        query = query.where(A.actor == wanted["actor"])
    if wanted["action"]:
        query = query.where(A.action == wanted["action"])
    with desk.store.read_session() as session:
        entries = list(session.scalars(query.order_by(A.id.desc()).offset((page - 1) * AUDIT_PAGE)
                                       .limit(AUDIT_PAGE + 1)))
        actions = sorted(set(session.scalars(select(A.action).distinct())))
    return desk.page(request, "audit.html.j2", campaign=campaign, entries=[_entry(e) for e in entries[:AUDIT_PAGE]],
                     wanted=wanted, page=page, more=len(entries) > AUDIT_PAGE, actions=actions)


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- the engagement report -------------------------------------------------------------------------


@router.get("/report", response_class=HTMLResponse)
def report(request: Request, person: SignedIn) -> Response:
    """The engagement report (``campaign report``'s page), with the desk's navigation above it."""
    from campaign.report import build, html

    desk = desk_of(request)
    campaign = desk.campaign(request, person)
    person.require(Action.VIEW, campaign.id, None)  # the report covers every account of the campaign
    page = html(build(desk.store, campaign.id))
    bar = desk.env.get_template("report_bar.html.j2").render(desk.page_context(request, {"campaign": campaign}))
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + bar, page, count=1)
    page = page.replace("</head>", '<link rel="stylesheet" href="/static/desk-bar.css">\n</head>', 1)
    page = re.sub(r"<main(\s|>)", lambda m: '<main id="main"' + m.group(1), page, count=1)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", page, flags=re.DOTALL)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in styles)
    policy = (f"default-src 'none'; style-src 'self' {hashes}; img-src 'self' data:; form-action 'self'; "
              "base-uri 'none'; frame-ancestors 'none'")
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


# -- images ----------------------------------------------------------------------------------------


@router.get("/media/{sha256}")
def media(sha256: str, request: Request, person: SignedIn) -> Response:
    """One image of a post: only from inside its campaign folder, only if its bytes are the ones scheduled."""
    desk = desk_of(request)
    campaign = desk.campaign(request, person)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise NotFound("there is no such image")
    post = shown_post(desk, request, person, request.query_params.get("post") or "", campaign)
    data, mime_type = read_image(campaign, post, sha256)
    return Response(data, media_type=mime_type, headers={"Cache-Control": "private, max-age=3600"})
