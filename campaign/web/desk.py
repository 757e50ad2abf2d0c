"""What every part of the desk shares: the store, the templates, the plans' warnings, and how a page is answered.

A request reaches the desk's parts through :func:`desk_of` (the :class:`Desk` kept on the application) and
:func:`person_on` (who is signed in, checked against the store on every request). A page that refuses says why
in one sentence, with the right status: :class:`Refused` (403), :class:`NotFound` (404), :class:`Conflict` (409).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from campaign.people import Action, NotAllowed, Person
from campaign.store import Store
from campaign.store.models import CampaignRow, Post
from campaign.store.sql import CAMP
from campaign.web.errors import NotFound, Refused
from campaign.web.sessions import csrf_token, signed_in, take_flash
from campaign.web.settings import DeskSettings
from campaign.web.views import ImageSizes, PlanProblems


def templates() -> Environment:
    """The desk's templates (``campaign/web/templates``), which may also use the toolkit's shared ones
    (``campaign/templates``: the card partial the HTML preview draws posts with)."""
    from campaign.preview_html import environment

    env = environment()  # the filters the card partial needs (rich_text, language_name)
    env.loader = ChoiceLoader([PackageLoader("campaign.web", "templates"), PackageLoader("campaign", "templates")])
    env.autoescape = select_autoescape(["html", "j2"], default_for_string=True)
    env.filters["urlpath"] = lambda value: quote(str(value), safe="/@")
    return env


@dataclass
class Desk:
    settings: DeskSettings
    store: Store
    env: Environment = field(default_factory=templates)
    sso_login: str | None = None
    """The path that starts single sign-on, when it is configured (:mod:`campaign.web.sso`)."""
    problems: PlanProblems = field(default_factory=PlanProblems)
    sizes: ImageSizes = field(default_factory=ImageSizes)
    globals: dict[str, Any] = field(default_factory=dict)
    """Given to every template."""

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """*template* rendered for *request*, with what every page needs (who is signed in, the campaign chooser,
        the CSRF token for its forms, a message left by the last action)."""
        context.setdefault("response_status", status)
        html = self.env.get_template(template).render(self.page_context(request, context))
        return HTMLResponse(html, status_code=status)

    def page_context(self, request: Request, context: dict[str, Any]) -> dict[str, Any]:
        """What a template sees: *context*, and what every page needs."""
        person: Person | None = getattr(request.state, "person", None)
        campaign: CampaignRow | None = context.get("campaign")
        base = {
            "request": request,
            "person": person,
            "csrf_token": csrf_token(request),
            "flash": take_flash(request),
            "campaign": campaign,
            "campaigns": self.campaigns_for(person) if person is not None else [],
            "href": _href(campaign.id if campaign is not None else None),
            "may": (lambda action, accounts=(): person.may(Action(action), campaign.id if campaign else None,
                                                             accounts)) if person is not None else _never,
            "sso_login": self.sso_login,
            "sees_whole_campaign": person is not None and campaign is not None
            and allowed(person, Action.VIEW, campaign.id, None),
        }
        return {**self.globals, **base, **context}

    # -- campaigns ---------------------------------------------------------------------------------

    def all_campaigns(self) -> list[CampaignRow]:
        with self.store.read_session() as session:
            return list(session.scalars(select(CampaignRow).order_by(CAMP.id)))

    def campaigns_for(self, person: Person) -> list[CampaignRow]:
        """The campaigns the person's work covers: those their campaign limit names (all, without one) that have
        at least one of their accounts (any, for a person not limited to accounts)."""
        with_accounts = self._with_their_accounts(person)
        return [c for c in self.all_campaigns() if self._covers(person, c.id, with_accounts)]

    def _with_their_accounts(self, person: Person) -> set[str] | None:
        """The campaigns with at least one of the person's accounts; None for a person not limited to accounts."""
        if person.accounts is None:
            return None
        return {a.campaign_id for a in self.store.accounts() if a.key in person.accounts}

    @staticmethod
    def _covers(person: Person, campaign: str, with_accounts: set[str] | None) -> bool:
        return ((person.campaigns is None or campaign in person.campaigns)
                and (with_accounts is None or campaign in with_accounts))

    def campaign(self, request: Request, person: Person, wanted: str | None = None) -> CampaignRow:
        """The campaign this request is about (``?campaign=ID``, else the person's first), checked: the person
        may view it, and, if their work is limited to some accounts, it has one of them."""
        wanted = wanted if wanted is not None else request.query_params.get("campaign")
        every = self.all_campaigns()
        if wanted:
            found = next((c for c in every if c.id == wanted), None)
            if found is None:
                raise NotFound(f"there is no campaign {wanted!r} in this store")
            person.require(Action.VIEW, found.id)
            if not self._covers(person, found.id, self._with_their_accounts(person)):
                raise Refused(f"{person.login} may not view campaign {found.id!r}: their work is limited to the "
                              f"accounts {_listed(person.accounts)}, and it has none of them")
            return found
        mine = self.campaigns_for(person)
        if not mine:
            if not every:
                raise NotFound("the store has no campaigns yet: schedule one first (`campaign schedule PLAN`)")
            if person.campaigns is not None and not any(c.id in person.campaigns for c in every):
                raise Refused(f"{person.login} may not view this store's campaigns: their work is limited to "
                              f"{_listed(person.campaigns)}, which this store does not hold")
            raise Refused(f"{person.login} may not view this store's campaigns: their work is limited to the accounts "
                          f"{_listed(person.accounts)}, and no campaign they may view has one of them")
        person.require(Action.VIEW, mine[0].id)
        return mine[0]


def _listed(names: Iterable[str] | None) -> str:
    return ", ".join(sorted(names or ()))


def _never(*_: object) -> bool:
    return False


def _href(campaign: str | None) -> Callable[..., str]:
    """``href("/status", day="…")``: a link on this desk that keeps the chosen campaign."""

    def href(path: str, **params: Any) -> str:
        query = {"campaign": campaign} if campaign else {}
        query.update({name: value for name, value in params.items() if value not in (None, "")})
        return path + ("?" + urlencode(query) if query else "")

    return href


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def person_on(request: Request) -> Person:
    """Who is signed in (raises :class:`campaign.web.sessions.SignInNeeded` if nobody is), remembered for the
    page's header."""
    person = signed_in(request, desk_of(request).store)
    request.state.person = person
    return person


SignedIn = Annotated[Person, Depends(person_on)]
"""A route's parameter for the person signed in (see :func:`person_on`)."""


def in_scope(person: Person, posts: Iterable[Post]) -> list[Post]:
    """The posts whose accounts the person's work covers (all of them for a person not limited to accounts)."""
    return [p for p in posts if person.accounts is None or p.account in person.accounts]


def allowed(person: Person, action: Action, campaign: str, accounts: Iterable[str] | None = ()) -> bool:
    """As :meth:`Person.may`, where *accounts* None means the whole campaign (every account, and any to come)."""
    try:
        person.require(action, campaign, accounts)
    except NotAllowed:
        return False
    return True


def require_post_in_scope(person: Person, action: Action, post: Post) -> None:
    try:
        person.require(action, post.campaign_id, [post.account])
    except NotAllowed as refusal:
        raise Refused(str(refusal)) from None


def sentence(items: Sequence[str], limit: int = 3) -> str:
    """``a, b and c`` (``… and N more`` past *limit*)."""
    shown = list(items[:limit])
    rest = len(items) - len(shown)
    if rest > 0:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]
