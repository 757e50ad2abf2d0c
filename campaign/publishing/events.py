"""What happens to posts, as events: frozen dataclasses with a name, sent to listeners.

Listeners are called from a copy of the list, one after another; a listener that raises is logged and
skipped, never allowed to stop publishing (as APScheduler's ``_dispatch_event`` does). The audit log is
written by the store itself, in the same transaction as each change; the listeners here are for people:
the console's live view and webhooks for what needs a person.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = "event"
    needs_a_person: ClassVar[bool] = False
    post: str
    """The post's key (or the account's, for account events)."""
    campaign: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"event": self.name, "needs_a_person": self.needs_a_person, **data}


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


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self._listeners: list[Listener] = list(listeners or [])
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must never stop publishing
                log.exception("the %s listener failed on a %s event; publishing goes on", listener, event.name)


def webhook_problem(url: str) -> str | None:
    """Why *url* cannot be a webhook (a sentence), or None if it can: an http(s) address with a host."""
    if not url.strip():
        return "it is blank: give the webhook's address, such as https://example.org/teams-incoming-webhook"
    if any(c.isspace() for c in url):
        return f"{url!r} has a space in it: give the webhook's address exactly as its service shows it"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as error:
        return f"{url!r} is not a web address ({error}): give one such as https://example.org/hook"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} is not a web address: give one starting https://, such as https://example.org/hook"
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
            f": {getattr(event, 'reason')}" if getattr(event, "reason", "") else "")
        request = urllib.request.Request(self.url, data=json.dumps(body, default=str).encode("utf-8"),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the user's URL
            response.read()
