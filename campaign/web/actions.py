"""The desk's forms that change the store: approve and reject a post, approve a day, pause and resume.

Every one of them is a POST that must carry the session's CSRF token (:func:`form_of`, a dependency of the
whole router, so no form can forget it), is made as the person signed in, and goes through the store, which
checks their role and scope again and audits the change under their login.

An approval is bound to what the person saw: each form sends back the content hash and state shown on the page
(for a day, those of every post shown). If the post changed since the page was loaded, nothing is approved and
the page says what changed — the hash they saw and the hash now, the state then and now.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from campaign.exceptions import StoreError
from campaign.people import Action, NotAllowed, Person
from campaign.store import PostState, Selection
from campaign.store.models import CampaignRow, Post
from campaign.store.sql import utcnow
from campaign.times import as_utc
from campaign.web.desk import Desk, SignedIn, desk_of, in_scope, sentence
from campaign.web.errors import DeskError, Refused
from campaign.web.pages import day_page, day_posts, parse_day, post_page, shown_post, status_page
from campaign.web.sessions import CSRF_FIELD, csrf_matches, flash

LONGEST_REASON = 2000
_HASH = re.compile(r"[0-9a-f]{64}")

CSRF_REFUSED = ("this form did not come from your session on this desk (its security token is missing or out of date):"
                " reload the page and try again — nothing was changed")


async def form_of(request: Request) -> FormData:
    """The form posted, if it carries this session's CSRF token; refused with 403 otherwise."""
    try:
        form = await request.form(max_files=0, max_fields=50_000)
    except Exception:  # noqa: BLE001 - a body that is no form is refused like a form without a token
        raise Refused(CSRF_REFUSED) from None
    if not csrf_matches(request, form.get(CSRF_FIELD)):
        raise Refused(CSRF_REFUSED)
    return form


PostedForm = Annotated[FormData, Depends(form_of)]
"""A route's parameter for the form posted, its CSRF token checked."""
router = APIRouter(dependencies=[Depends(form_of)])


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _seen_hash(form: FormData) -> str:
    seen = _text(form, "hash").strip().lower()
    if not _HASH.fullmatch(seen):
        raise DeskError("the form does not say which content you saw (its content hash is missing); reload the page")
    return seen


def what_changed(post: Post, seen_hash: str, seen_state: str) -> list[str]:
    """What is different about *post* from what a page showed (its content hash and its state), as sentences."""
    changes = []
    if post.content_hash != seen_hash:
        changes.append(f"{post.key}: its content changed — you saw content {seen_hash[:12]}, it is now "
                       f"{post.content_hash[:12]}")
    if post.state != seen_state:
        by = f" by {post.approved_by}" if post.state == PostState.APPROVED and post.approved_by else ""
        changes.append(f"{post.key}: its state changed — it was {seen_state or 'unknown'} when you loaded the page, "
                       f"it is now {post.state}{by}")
    return changes


def _back_to(path: str, campaign: str, **params: Any) -> RedirectResponse:
    from urllib.parse import urlencode

    return RedirectResponse(f"{path}?{urlencode({'campaign': campaign, **params})}", status_code=303)


# -- one post --------------------------------------------------------------------------------------


def _one_post(request: Request, form: FormData, person: Person,
              action: Action) -> tuple[Desk, CampaignRow, str, Post, str]:
    """The post a form acts on (as the person may see it), checked for *action*, and the content hash the page
    showed: (desk, campaign, key as posted, post, hash seen)."""
    desk = desk_of(request)
    campaign = desk.campaign(request, person, _text(form, "campaign"))
    key = _text(form, "key")
    post = shown_post(desk, request, person, key, campaign)
    person.require(action, campaign.id, [post.account])
    return desk, campaign, key, post, _seen_hash(form)


@router.post("/approve")
def approve(request: Request, form: PostedForm, person: SignedIn) -> Response:
    desk, campaign, key, post, seen = _one_post(request, form, person, Action.APPROVE)
    changes = what_changed(post, seen, _text(form, "state"))
    # Its pair is approved with it (a pair is one sign-off): the page showed the partner, and it must be unchanged.
    partners_seen = _seen_posts(form)
    partners = desk.store.partners([post])
    for partner in partners:
        if partner.key not in partners_seen:
            changes.append(f"{post.key} is paired with {partner.key}, which the page did not show")
        else:
            changes += what_changed(partner, partners_seen[partner.key][1], partners_seen[partner.key][0])
    if changes:
        what = "the post or its pair" if partners else "the post"
        return post_page(desk, request, person, campaign, key, 409, f"Not approved: {what} changed since you loaded "
                         "the page. Look at it again below, and approve what you see now.", changes)
    previewed = {post.key: seen, **{k: content_hash for k, (_, content_hash) in partners_seen.items()}}
    try:
        # The pair's keys are named too: the page showed each, so a pair rejected together is approved again
        # together, as each post's own key would (a rejection is lifted only by its post's own key).
        desk.store.approve(Selection(campaign=campaign.id, posts=(post.key, *partners_seen)), person,
                           previewed=previewed)
    except NotAllowed:
        raise
    except StoreError as refusal:
        return post_page(desk, request, person, campaign, key, 409, f"Not approved: {refusal}")
    reverses = " (the rejection is reversed, on the record)" if post.state == PostState.REJECTED else ""
    past = (" Its time and grace window have passed: it will be missed, not sent — give it a time to come in the "
            "plan." if as_utc(post.late_after) < utcnow() else "")
    pair = f" with its pair, {', '.join(partners_seen)}," if partners_seen else ""
    flash(request, f"Approved {post.key}{pair} content {seen[:12]}{reverses}.{past}")
    return _back_to(f"/posts/{post.key}", campaign.id)


@router.post("/reject")
def reject(request: Request, form: PostedForm, person: SignedIn) -> Response:
    desk, campaign, key, post, seen = _one_post(request, form, person, Action.REJECT)
    reason = _text(form, "reason").strip()
    if not reason:
        return post_page(desk, request, person, campaign, key, 400, "Not rejected: say why (the reason is for the "
                         "author and the record).")
    if len(reason) > LONGEST_REASON:
        return post_page(desk, request, person, campaign, key, 400, f"Not rejected: the reason is longer than "
                         f"{LONGEST_REASON:,} characters; shorten it.")
    changes = what_changed(post, seen, _text(form, "state"))
    if changes:
        return post_page(desk, request, person, campaign, key, 409, "Not rejected: the post changed since you loaded "
                         "the page. Look at it again below.", changes)
    try:
        desk.store.reject(post.key, person, reason, campaign.id, previewed_hash=seen)
    except NotAllowed:
        raise
    except StoreError as refusal:
        return post_page(desk, request, person, campaign, key, 409, f"Not rejected: {refusal}")
    flash(request, f"Rejected {post.key}: {reason}")
    return _back_to(f"/posts/{post.key}", campaign.id)


# -- a day -----------------------------------------------------------------------------------------


def _seen_posts(form: FormData) -> dict[str, tuple[str, str]]:
    """What the day's page showed: key -> (state, content hash), from its hidden ``seen`` fields."""
    seen: dict[str, tuple[str, str]] = {}
    for value in form.getlist("seen"):
        state, _, rest = str(value).partition(":")
        content_hash, _, key = rest.partition(":")
        if not key or not _HASH.fullmatch(content_hash):
            raise DeskError("the form does not say what you saw on this day; reload the page")
        seen[key] = (state, content_hash)
    return seen


@router.post("/approve-day")
def approve_day(request: Request, form: PostedForm, person: SignedIn) -> Response:
    """Approve every draft of a day the person was shown, if none of the day's posts changed since."""
    desk = desk_of(request)
    campaign = desk.campaign(request, person, _text(form, "campaign"))
    day: date = parse_day(_text(form, "day"))
    person.require(Action.APPROVE, campaign.id)
    seen = _seen_posts(form)
    posts = day_posts(desk, person, campaign, day)
    changes = [change for post in posts if post.key in seen
               for change in what_changed(post, seen[post.key][1], seen[post.key][0])]
    changes += [f"{post.key} is new on this day ({post.state})" for post in posts if post.key not in seen]
    current = {post.key for post in posts}
    changes += [f"{key} is no longer on this day" for key in seen if key not in current]
    if changes:
        return day_page(desk, request, person, campaign, day, 409, "Nothing was approved: the day changed since you "
                        "loaded the page. Look at it again below, and approve what you see now.", changes)
    drafts = [p for p in posts if p.state == PostState.DRAFT]
    if not drafts:
        return day_page(desk, request, person, campaign, day, 409, "Nothing was approved: this day has no drafts.")
    person.require(Action.APPROVE, campaign.id, {p.account for p in drafts})
    try:
        approved = desk.store.approve(
            Selection(campaign=campaign.id, posts=tuple(p.key for p in drafts), day=day.isoformat()), person,
            previewed={p.key: p.content_hash for p in drafts})
    except NotAllowed:
        raise
    except StoreError as refusal:
        return day_page(desk, request, person, campaign, day, 409, f"Nothing was approved: {refusal}")
    flash(request, f"Approved {len(approved)} draft{'s' if len(approved) != 1 else ''} of {day:%A %d %B %Y}.")
    return _back_to(f"/days/{day.isoformat()}", campaign.id)


# -- pause and resume ------------------------------------------------------------------------------


@router.post("/pause")
def pause(request: Request, form: PostedForm, person: SignedIn) -> Response:
    desk = desk_of(request)
    campaign = desk.campaign(request, person, _text(form, "campaign"))
    account = _text(form, "account").strip() or None
    person.require(Action.PAUSE, campaign.id, None if account is None else [account])
    reason = _text(form, "reason").strip()
    if not reason or len(reason) > LONGEST_REASON:
        return status_page(desk, request, person, campaign, 400, "Not paused: say why, in at most "
                           f"{LONGEST_REASON:,} characters (the reason goes on the record).")
    try:
        desk.store.pause(reason, person, campaign.id, account)
    except NotAllowed:
        raise
    except StoreError as refusal:
        return status_page(desk, request, person, campaign, 409, f"Not paused: {refusal}")
    pairs = desk.store.paired_accounts(campaign.id, account) if account else []
    still = in_scope(person, [post for held in [account, *pairs]
                              for post in desk.store.wait_for_sending(campaign.id, held, timeout=10)])
    scope = f"account {account}" if account else "every account"
    if pairs:
        scope += f" and its pair, {sentence(pairs)} (a pair is paused together)"
    sending = (f" {sentence([p.key for p in still])} {'was' if len(still) == 1 else 'were'} already on the way to "
               "the platform and may still appear: check the status." if still else "")
    source = f"from {sentence([account, *pairs])}" if account else "by this campaign"
    flash(request, f"Paused {scope} of {campaign.id}: nothing more will be published {source} until it is "
                   f"resumed.{sending}")
    return _back_to("/status", campaign.id)


@router.post("/resume")
def resume(request: Request, form: PostedForm, person: SignedIn) -> Response:
    desk = desk_of(request)
    campaign = desk.campaign(request, person, _text(form, "campaign"))
    account = _text(form, "account").strip() or None
    person.require(Action.RESUME, campaign.id, None if account is None else [account])
    try:
        holds, missed = desk.store.resume(person, campaign.id, account)
    except NotAllowed:
        raise
    except StoreError as refusal:
        return status_page(desk, request, person, campaign, 409, f"Not resumed: {refusal}")
    return status_page(desk, request, person, campaign, resumed={"holds": holds, "missed": missed})
