"""What happens to posts, as events: frozen dataclasses with a name, sent to listeners.

Listeners are called from a copy of the list, one after another; a listener that raises is logged and
skipped, never allowed to stop publishing (as APScheduler's ``_dispatch_event`` does). The audit log is
written by the store itself, in the same transaction as each change; the listeners here are for people:
the console's live view, webhooks and alert emails (:mod:`campaign.publishing.alerts`) for what needs a person.
A bus given the sign-off desk's address (:class:`Desk`) gives every event that needs a person the link to it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = "event"
    needs_a_person: ClassVar[bool] = False
    post: str
    """The post's key (or the account's, for account events)."""
    campaign: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    desk: str = ""
    """Where a person acts on it: the post's page on the sign-off desk (set by a bus that knows the desk)."""

    def as_dict(self) -> dict[str, Any]:
        data = _plain(asdict(self))
        if not self.desk:
            del data["desk"]
        return {"event": self.name, "needs_a_person": self.needs_a_person, **data}

    def with_desk(self, desk: Desk) -> Self:
        """This event with its link on *desk*."""
        return replace(self, desk=desk.post(self.campaign, self.post))


def _plain(value: Any) -> Any:
    """*value* with every datetime written as ISO 8601 (UTC as ``Z``), ready for JSON."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class Scheduled(Event):
    name: ClassVar[str] = "scheduled"
    due_at: datetime | None = None


@dataclass(frozen=True)
class Claimed(Event):
    name: ClassVar[str] = "claimed"
    runner: str = ""


@dataclass(frozen=True)
class Published(Event):
    name: ClassVar[str] = "published"
    url: str = ""
    late_by_seconds: float = 0.0
    """When the platform accepted the post (its own creation time where it says), less the post's due time."""
    first_try_late_by_seconds: float | None = None
    """When the first request for it went out, less its due time."""
    found_by_lookup: bool = False
    """True when a lookup found it on the platform (after an answer that was lost, or a runner that died)."""
    warnings: tuple[str, ...] = ()
    """What went out differently from what was written (a mention that did not resolve, ...)."""


@dataclass(frozen=True)
class Retrying(Event):
    name: ClassVar[str] = "retrying"
    reason: str = ""
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Failed(Event):
    name: ClassVar[str] = "failed"
    needs_a_person: ClassVar[bool] = True
    reason: str = ""


@dataclass(frozen=True)
class Unknown(Event):
    """The post may or may not be out: it is looked up before anything else happens to it."""

    name: ClassVar[str] = "unknown"
    reason: str = ""


@dataclass(frozen=True)
class Unresolved(Event):
    """The post's grace window has ended and lookups still cannot tell whether it is out: a person should check
    the account. Lookups go on; the post is never sent again on a guess."""

    name: ClassVar[str] = "unresolved"
    needs_a_person: ClassVar[bool] = True
    reason: str = ""


@dataclass(frozen=True)
class Reconciled(Event):
    """A lookup settled an unknown post that was not found (found ones are :class:`Published`)."""

    name: ClassVar[str] = "reconciled"
    found: bool = False
    state: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Missed(Event):
    name: ClassVar[str] = "missed"
    needs_a_person: ClassVar[bool] = True


@dataclass(frozen=True)
class Held(Event):
    name: ClassVar[str] = "held"
    reason: str = ""


@dataclass(frozen=True)
class AuthExpired(Event):
    name: ClassVar[str] = "auth_expired"
    needs_a_person: ClassVar[bool] = True
    account: str = ""
    reason: str = ""


@dataclass(frozen=True)
class WaitingDay:
    """One local day's drafts in an :class:`AwaitingSignOff`."""

    day: str
    """The campaign's local date, ``YYYY-MM-DD`` (the desk's ``/days/`` page)."""
    count: int
    first_due: datetime
    first_post: str
    first_at: str = ""
    """The first one's local time, ``09:00``."""
    desk: str = ""


@dataclass(frozen=True)
class WaitingPost:
    """One draft in an :class:`AwaitingSignOff`."""

    key: str
    due_at: datetime
    local: str
    """Its due time as the campaign's people read it: ``Mon 15 Mar 2027 09:00 GMT``."""
    approval_voided: bool = False
    """True if it was approved and then changed (the approval was voided); False if it was never approved."""
    new: bool = True
    """Not in this runner's earlier alerts."""
    desk: str = ""


@dataclass(frozen=True)
class AwaitingSignOff(Event):
    """Drafts that fall due within the look-ahead are not signed off: without approval they will not go out.
    ``post`` is the earliest of them; ``days`` counts them by local day, ``posts`` lists them (the first
    :data:`LISTED`), earliest first."""

    name: ClassVar[str] = "awaiting_sign_off"
    needs_a_person: ClassVar[bool] = True
    count: int = 0
    new: int = 0
    """How many were not in this runner's earlier alerts."""
    within: str = ""
    """The look-ahead, in words (``24 hours``)."""
    days: tuple[WaitingDay, ...] = ()
    posts: tuple[WaitingPost, ...] = ()
    reason: str = ""

    LISTED: ClassVar[int] = 50
    """At most this many posts are listed (every one is counted in ``days``): a webhook takes a few kB."""

    def with_desk(self, desk: Desk) -> Self:
        """Links to each day's page and each post's; the event's own is the first day's, where the drafts can
        be read and approved together."""
        days = tuple(replace(day, desk=desk.day(self.campaign, day.day)) for day in self.days)
        posts = tuple(replace(post, desk=desk.post(self.campaign, post.key)) for post in self.posts)
        own = days[0].desk if days else desk.post(self.campaign, self.post)
        return replace(self, days=days, posts=posts, desk=own)


@dataclass(frozen=True)
class SignOffUrgent(Event):
    """One draft falls due within the hour and is not signed off."""

    name: ClassVar[str] = "sign_off_urgent"
    needs_a_person: ClassVar[bool] = True
    due_at: datetime | None = None
    approval_voided: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Desk:
    """The sign-off desk (``campaign serve``) at *url*: links to a post, a day and the status page."""

    url: str

    def __post_init__(self) -> None:
        problem = desk_problem(self.url)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def post(self, campaign: str, key: str) -> str:
        # "/" is kept: the desk's route takes the rest of the path as the key, and a proxy may refuse an
        # encoded slash (Apache does by default); "@" and everything else is quoted.
        return self._link(f"/posts/{urllib.parse.quote(key, safe='/')}", campaign)

    def day(self, campaign: str, day: str) -> str:
        return self._link(f"/days/{urllib.parse.quote(day, safe='')}", campaign)

    def status(self, campaign: str) -> str:
        return self._link("/status", campaign)

    def _link(self, path: str, campaign: str) -> str:
        # The desk shows the campaign named in ?campaign= (else the person's first): a key is unique only
        # within its campaign.
        return self.url + path + (f"?{urllib.parse.urlencode({'campaign': campaign})}" if campaign else "")


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self, listeners: list[Listener] | None = None, desk: Desk | None = None) -> None:
        self._listeners: list[Listener] = list(listeners or [])
        self._lock = threading.Lock()
        self.desk = desk
        """Events that need a person get their link on it before any listener sees them."""

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        if self.desk is not None and event.needs_a_person and not event.desk:
            try:
                event = event.with_desk(self.desk)
            except Exception:  # noqa: BLE001 - the event goes out without its link rather than not at all
                log.exception("the %s event for %s could not be given its desk link", event.name, event.post)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must never stop publishing
                log.exception("the %s listener failed on a %s event; publishing goes on", listener, event.name)


def webhook_problem(url: str) -> str | None:
    """Why *url* cannot be a webhook (a sentence), or None if it can: an http(s) address with a host."""
    return _web_address_problem(url, "the webhook's address, such as https://example.org/teams-incoming-webhook",
                                "the webhook's address exactly as its service shows it", "https://example.org/hook")


def desk_problem(url: str) -> str | None:
    """Why *url* cannot be the sign-off desk's address (a sentence), or None if it can: an http(s) address
    with a host, and neither query nor fragment (links are made by adding ``/posts/KEY`` to it)."""
    problem = _web_address_problem(url, "the desk's address, such as https://desk.force.local",
                                   "the desk's address as people open it", "https://desk.force.local")
    if problem is None:
        parts = urllib.parse.urlsplit(url)
        if parts.query or parts.fragment:
            return (f"{url!r} has a '?' or '#' part: give the desk's address alone, such as "
                    f"{parts.scheme}://{parts.netloc}{parts.path}")
    return problem


def _web_address_problem(url: str, blank: str, spaced: str, example: str) -> str | None:
    if not url.strip():
        return f"it is blank: give {blank}"
    if any(c.isspace() for c in url):
        return f"{url!r} has a space in it: give {spaced}"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as error:
        return f"{url!r} is not a web address ({error}): give one such as {example}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} is not a web address: give one starting https://, such as {example}"
    return None


class WebhookListener:
    """POSTs events that need a person as JSON (e.g. to a Teams or Slack incoming webhook).

    Sending happens on a thread of its own, so a slow or failing webhook never delays publishing; and no
    failure (a refused connection, an error answer, a timeout, an event that cannot be written as JSON)
    stops that thread: it is logged, and the next event is sent as usual.
    """

    def __init__(self, url: str, timeout: float = 5.0, every_event: bool = False) -> None:
        problem = webhook_problem(url)
        if problem is not None:
            raise ValueError(problem)
        self.url = url
        self.timeout = timeout
        self.every_event = every_event
        self.failures = 0
        """How many events the webhook did not take."""
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="campaign-webhook", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if event.needs_a_person or self.every_event:
            self._queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._send(event)
            except Exception as exc:  # noqa: BLE001 - the thread outlives every failure; the next event is sent
                self.failures += 1
                try:
                    log.warning("the webhook did not take the %s event for %s: %s", event.name, event.post, exc)
                except Exception:  # noqa: BLE001, S110 - not even a broken log handler may stop the thread
                    pass

    def _send(self, event: Event) -> None:
        body = event.as_dict()
        body["text"] = f"campaign: {event.name} — {event.post}" + (
            f": {getattr(event, 'reason')}" if getattr(event, "reason", "") else "") + (
            f" {event.desk}" if event.desk else "")
        request = urllib.request.Request(self.url, data=json.dumps(body, default=str).encode("utf-8"),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the user's URL
            response.read()
