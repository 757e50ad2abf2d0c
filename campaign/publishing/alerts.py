"""Alerts to the approvers: drafts that fall due soon without sign-off, and email for what needs a person.

:class:`SignOffWatch` is asked at every refresh of the runner which drafts (never approved, or whose approval a
change voided) fall due within the look-ahead. It answers with one :class:`~campaign.publishing.events.AwaitingSignOff`
per campaign when that set gains posts — not at every refresh, and not again for the same posts — and one
:class:`~campaign.publishing.events.SignOffUrgent` for each draft that falls due within the hour. What it has
alerted about is kept in the runner's memory only: a restarted runner alerts once more about drafts still
waiting, and two runners on one store each alert.

:class:`EmailListener` sends what needs a person as plain-text email through an SMTP server, from a thread of
its own behind a bounded queue, as the webhook does: a slow or dead mail server never delays publishing, a
failure is one logged line, and a full queue drops an event with one logged line. Events that arrive within a
few seconds of each other go out as one email.
"""

from __future__ import annotations

import logging
import queue
import re
import smtplib
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaign.publishing import events
from campaign.store import PostState, Store
from campaign.store.models import Post
from campaign.store.next_steps import way_forward
from campaign.store.sql import P
from campaign.times import as_utc

log = logging.getLogger(__name__)

PASSWORD_VARIABLE = "CAMPAIGN_SMTP_PASSWORD"
SCHEMES = {"smtp": ("plain", 25), "smtps": ("tls", 465), "smtp+starttls": ("starttls", 587)}
"""URL scheme -> (how the connection is protected, default port)."""
SMTP_EXAMPLES = "smtp://relay.force.local:25, smtps://USER@HOST:465 or smtp+starttls://USER@HOST:587"


# -- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str
    """``plain``, ``tls`` (from the first byte, smtps) or ``starttls``."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The server as an address, never with the password."""
        scheme = next(name for name, (security, _) in SCHEMES.items() if security == self.security)
        user = f"{urllib.parse.quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def smtp_server(url: str, environ: Mapping[str, str]) -> SmtpServer:
    """The mail server *url* names, its password from ``$CAMPAIGN_SMTP_PASSWORD``; ValueError with a sentence
    that says what to change. Whether the server answers is not checked here: that is said when sending."""
    shown = repr(re.sub(r"(://[^/@\s]*?):[^/@\s]*@", r"\1:***@", url))
    if not url.strip():
        raise ValueError(f"it is blank: give the mail server, such as {SMTP_EXAMPLES}")
    if any(c.isspace() for c in url):
        raise ValueError(f"{shown} has a space in it: give the mail server, such as {SMTP_EXAMPLES}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{shown} is not a mail server address ({error}): give one such as {SMTP_EXAMPLES}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"{shown} is not a mail server address: give one such as {SMTP_EXAMPLES}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shown} holds more than a mail server: give only {scheme}://[USER@]HOST[:PORT]")
    if parts.password is not None:
        raise ValueError(f"{shown} holds a password, which would show in process lists and logs: take it out "
                         f"and set {PASSWORD_VARIABLE} instead")
    security, default_port = SCHEMES[scheme]
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = environ.get(PASSWORD_VARIABLE) or None
    if user is not None and security == "plain":
        raise ValueError(f"{shown} would send the password of {user!r} unencrypted: use smtps://…:465 or "
                         "smtp+starttls://…:587")
    if user is not None and password is None:
        raise ValueError(f"{shown} names the user {user!r} but {PASSWORD_VARIABLE} is not set: set it to that "
                         "user's password")
    if user is None and password is not None:
        raise ValueError(f"{PASSWORD_VARIABLE} is set but {shown} names no user to log in as: write it as "
                         f"{scheme}://USER@{parts.hostname}…")
    return SmtpServer(parts.hostname, port or default_port, security, user, password)


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")


def email_address(value: str) -> str:
    """*value*, stripped, if it is one plain email address (``duty.inspector@force.police.uk``); else
    ValueError with a sentence."""
    address = value.strip()
    if not address:
        raise ValueError("it is blank: give an email address, such as duty.inspector@force.police.uk")
    if _ADDRESS.fullmatch(address) is None:
        raise ValueError(f"{value!r} is not one email address: give a plain address, such as "
                         "duty.inspector@force.police.uk (several: repeat the option, or separate them with commas)")
    return address


def email_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """Every address in *values* (each may hold several, separated by commas), checked, without repeats."""
    found: list[str] = []
    for value in values:
        parts = [part for part in value.split(",") if part.strip()] or [value]
        for part in parts:
            address = email_address(part)
            if address.casefold() not in (a.casefold() for a in found):
                found.append(address)
    return tuple(found)


# -- waiting for sign-off ------------------------------------------------------------------------


Mark = tuple[str, str, datetime]
"""(campaign, post key, due time): what an alert was about. A draft given a new time is a new mark."""


def _mark(post: Post) -> Mark:
    return post.campaign_id, post.key, as_utc(post.due_at)


class SignOffWatch:
    """Which drafts fall due within *warning* without sign-off, as events, once per change (see the module
    docstring). What was alerted is remembered by this object only: a restart alerts once more."""

    def __init__(self, store: Store, campaign: str | None, warning: timedelta,
                 urgent: timedelta = timedelta(hours=1)) -> None:
        self.store = store
        self.campaign = campaign
        self.warning = warning
        self.urgent = urgent
        self._alerted: set[Mark] = set()
        self._urgent: set[Mark] = set()
        self._lock = threading.Lock()

    def check(self, now: datetime) -> list[events.Event]:
        """The alerts due now: an AwaitingSignOff per campaign whose waiting set gained posts since the last
        alert, and a SignOffUrgent per draft newly within the urgent window."""
        with self._lock:
            drafts = self.store.drafts_due(now + self.warning, now, self.campaign)
            waiting = {_mark(post) for post in drafts}
            # A draft approved (or cancelled) leaves the set; if it comes back (changed, so its approval was
            # voided) that is news again.
            self._alerted &= waiting
            self._urgent &= waiting
            by_campaign: dict[str, list[Post]] = {}
            for post in drafts:
                by_campaign.setdefault(post.campaign_id, []).append(post)
            found: list[events.Event] = []
            for campaign, posts in by_campaign.items():
                fresh = {_mark(post) for post in posts} - self._alerted
                urgent = [p for p in posts if as_utc(p.due_at) - now <= self.urgent and _mark(p) not in self._urgent]
                if not fresh and not urgent:
                    continue
                voided = self.store.voided_drafts(campaign)
                if fresh:
                    found.append(self._awaiting(campaign, posts, fresh, voided))
                    self._alerted.update(_mark(post) for post in posts)
                for post in urgent:
                    found.append(_urgent_event(post, post.key in voided, now))
                    self._urgent.add(_mark(post))
            return found


    def _awaiting(self, campaign: str, posts: Sequence[Post], fresh: set[Mark],
                  voided: set[str]) -> events.AwaitingSignOff:
        by_day: dict[date, list[Post]] = {}
        for post in posts:  # the desk's day pages go by the post's local time
            by_day.setdefault(post.local_time.date(), []).append(post)
        days = tuple(events.WaitingDay(day=day.isoformat(), count=len(group), first_due=as_utc(group[0].due_at),
                                       first_post=group[0].key, first_at=_clock(group[0]))
                     for day, group in sorted(by_day.items()))
        listed = tuple(events.WaitingPost(key=post.key, due_at=as_utc(post.due_at), local=local_due(post),
                                          approval_voided=post.key in voided, new=_mark(post) in fresh)
                       for post in posts[:events.AwaitingSignOff.LISTED])
        within = span(self.warning)
        told = "; ".join(f"{day.count} on {date.fromisoformat(day.day):%a %d %b}, the first at {day.first_at}"
                         for day in days[:7])
        if len(days) > 7:
            told += f"; and {_count(len(days) - 7, 'more day')}"
        new = "" if len(fresh) == len(posts) else f" ({len(fresh)} new)"
        reason = (f"{_count(len(posts), 'post')} due within the next {within} {_are(len(posts))} not signed off"
                  f"{new} and will not go out without approval: {told}")
        return events.AwaitingSignOff(post=posts[0].key, campaign=campaign, count=len(posts), new=len(fresh),
                                      within=within, days=days, posts=listed, reason=reason)


def _urgent_event(post: Post, voided: bool, now: datetime) -> events.SignOffUrgent:
    due = as_utc(post.due_at)
    if due > now:
        reason = f"due at {_clock(post)} and not signed off: it will not go out"
    else:
        reason = (f"was due at {_clock(post)} and is not signed off: it will not go out unless approved by "
                  f"{_clock(post, post.late_after)}")
    return events.SignOffUrgent(post=post.key, campaign=post.campaign_id, due_at=due, approval_voided=voided,
                                reason=reason)


def local_due(post: Post) -> str:
    """When *post* falls due, as the campaign's people read it: ``Mon 15 Mar 2027 09:00 GMT``."""
    return f"{as_utc(post.due_at).astimezone(ZoneInfo(post.zone)):%a %d %b %Y %H:%M %Z}"


def _clock(post: Post, moment: datetime | None = None) -> str:
    return f"{as_utc(moment or post.due_at).astimezone(ZoneInfo(post.zone)):%H:%M}"


def span(length: timedelta) -> str:
    """*length* in words: ``24 hours``, ``2 days``, ``90 minutes``."""
    minutes = int(length.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:
        return _count(minutes // (24 * 60), "day")
    if minutes % 60 == 0:
        return _count(minutes // 60, "hour")
    return _count(minutes, "minute")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _are(number: int) -> str:
    return "is" if number == 1 else "are"


def next_step(post: Post, approval_voided: bool) -> str:
    """What a person can do about *post* now, as a sentence (:func:`campaign.store.store.way_forward`, which
    takes every draft for one whose approval was voided, and the states an alert may find a post in since)."""
    if post.state == PostState.DRAFT and not approval_voided:
        return (f"it has not been approved: preview it and approve it (on the desk, or `campaign approve "
                f"{post.key}`) before it is due, or it will not go out")
    if post.state == PostState.APPROVED:
        return "none: it has been approved since, and goes out at its time"
    if post.state == PostState.PUBLISHED:
        return "none: it is out"
    return way_forward(post)


# -- email ---------------------------------------------------------------------------------------


TITLES = {
    "awaiting_sign_off": "Waiting for sign-off",
    "sign_off_urgent": "Due within the hour and not signed off",
    "failed": "Failed",
    "missed": "Missed",
    "unresolved": "May or may not be out",
    "auth_expired": "An account cannot post",
}


class EmailListener:
    """Emails the events that need a person to *to*, through *server* (see the module docstring).

    Events arriving within *batch* seconds of the first go out as one email. The queue holds at most
    *queue_size* events; ``sent``, ``failures`` and ``dropped`` count emails sent, emails not taken and events
    dropped. With a *store*, each post is described as it is when the email is written: its local due time,
    state, the way forward and its desk link.
    """

    MOST_PER_EMAIL = 100

    def __init__(self, server: SmtpServer, to: Sequence[str], sender: str, store: Store | None = None,
                 batch: float = 3.0, timeout: float = 10.0, queue_size: int = 200) -> None:
        if not to:
            raise ValueError("an alert email needs someone to go to: give at least one address")
        self.server = server
        self.to = tuple(to)
        self.sender = sender
        self.store = store
        self.batch = batch
        self.timeout = timeout
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._queue: queue.Queue[events.Event | None] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-email", daemon=True)
        self._thread.start()

    def __call__(self, event: events.Event) -> None:
        if not event.needs_a_person:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.warning("the alert email queue is full (%d events wait for %s): the %s event for %s is not emailed",
                        self._queue.maxsize, self.server.where, event.name, event.post)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (without waiting for more), then stop; give up waiting after *timeout* s."""
        self._closing.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the thread sees _closing once it has emptied the queue
        self._thread.join(timeout)

    # -- the thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._closing.is_set() and self._queue.empty()):
            first = self._queue.get()
            if first is None:
                return
            batch, last = self._gather(first)
            self._send_logged(batch)
            if last:
                return

    def _gather(self, first: events.Event) -> tuple[list[events.Event], bool]:
        """*first* and what arrives within ``batch`` seconds of it (at once when closing); True if closed."""
        batch = [first]
        deadline = time.monotonic() + self.batch
        while len(batch) < self.MOST_PER_EMAIL:
            wait = 0.0 if self._closing.is_set() else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _send_logged(self, batch: list[events.Event]) -> None:
        try:
            self.send(self.message(batch))
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - the thread outlives every failure; the next email is tried
            self.failures += 1
            try:
                log.warning("the alert email about %s was not sent through %s: %s", _about(batch), self.server.where,
                            _one_line(exc))
            except Exception:  # noqa: BLE001, S110 - not even a broken log handler may stop the thread
                pass

    def send(self, message: EmailMessage) -> None:
        """Hand *message* to the mail server (each step waits at most ``timeout`` seconds)."""
        server = self.server
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        with client:
            if server.security == "starttls":
                client.starttls(context=context)
            if server.user is not None and server.password is not None:
                client.login(server.user, server.password)
            client.send_message(message)

    # -- writing it --------------------------------------------------------------------------------

    def message(self, batch: Sequence[events.Event]) -> EmailMessage:
        """One plain-text email about *batch*: the subject names the campaign and what is needed; the body has
        each post's key, local due time, state, way forward and desk link."""
        campaigns = list(dict.fromkeys(event.campaign for event in batch))
        names = {campaign: self._campaign_name(campaign) for campaign in campaigns}
        posts: dict[tuple[str, str], Post] = {}
        for campaign in campaigns:
            keys = {key for event in batch if event.campaign == campaign for key in _keys(event)}
            posts.update(((campaign, post.key), post) for post in self._posts(campaign, keys))
        subject = f"{', '.join(names[c] for c in campaigns)}: {_needs(batch)}"
        lines = [f"{', '.join(f'{names[c]} ({c})' if names[c] != c else c for c in campaigns)} needs a person.", ""]
        for event in batch:
            lines += _section(event, posts)
        lines.append("— campaign run")
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())[:200]
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid("campaign", domain=self.sender.rpartition("@")[2] or "localhost")
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
        message.set_content("\n".join(lines) + "\n")
        return message

    def _campaign_name(self, campaign: str) -> str:
        if self.store is None or not campaign:
            return campaign
        try:
            return self.store.campaign_row(campaign).name or campaign
        except Exception:  # noqa: BLE001 - the email goes out with the id rather than not at all
            return campaign

    def _posts(self, campaign: str, keys: set[str]) -> list[Post]:
        if self.store is None or not keys:
            return []
        try:
            with self.store.read_session() as session:
                return list(session.scalars(select(Post).where(P.campaign_id == campaign, P.key.in_(sorted(keys)))))
        except Exception as exc:  # noqa: BLE001 - the email goes out with what the events say
            log.debug("could not read the posts for an alert email: %s", exc)
            return []


def _keys(event: events.Event) -> list[str]:
    if isinstance(event, events.AwaitingSignOff):
        return [post.key for post in event.posts]
    return [event.post]


def _needs(batch: Sequence[events.Event]) -> str:
    """What the batch asks of a person, in a few words: ``3 posts to sign off, 1 failed post``."""
    by_name: dict[str, list[events.Event]] = {}
    for event in batch:
        by_name.setdefault(event.name, []).append(event)
    said = []
    for name, group in by_name.items():
        posts = len({event.post for event in group})
        if name == "awaiting_sign_off":
            said.append(f"{_count(max(getattr(e, 'count', 0) for e in group), 'post')} to sign off")
        elif name == "sign_off_urgent":
            said.append(f"{_count(posts, 'post')} due within the hour not signed off")
        elif name in ("failed", "missed"):
            said.append(_count(posts, f"{name} post"))
        elif name == "unresolved":
            said.append(f"{_count(posts, 'post')} that may or may not be out")
        elif name == "auth_expired":
            said.append(f"{_count(len({getattr(e, 'account', '') for e in group}), 'account')} that cannot post")
        else:
            said.append(f"{len(group)} {name}")
    return ", ".join(said)


def _section(event: events.Event, posts: Mapping[tuple[str, str], Post]) -> list[str]:
    title = TITLES.get(event.name, event.name)
    reason = str(getattr(event, "reason", "") or "")
    if isinstance(event, events.AwaitingSignOff):
        lines = [f"{title}: {reason}"]
        lines += [f"  {date.fromisoformat(day.day):%a %d %b %Y}: {_count(day.count, 'post')}, the first at "
                  f"{day.first_at}" + (f" — {day.desk}" if day.desk else "") for day in event.days]
        lines.append("")
        for item in event.posts:
            lines += _post_lines(posts.get((event.campaign, item.key)), item.key + (" (new)" if item.new else ""),
                                 item.desk, item.approval_voided, item.local)
        if event.count > len(event.posts):
            lines.append(f"  … and {_count(event.count - len(event.posts), 'more post')}: see the days above")
        return [*lines, ""]
    voided = bool(getattr(event, "approval_voided", False))
    lines = [f"{title}: {event.post}", *([f"  {reason}"] if reason else [])]
    lines += _post_lines(posts.get((event.campaign, event.post)), event.post, event.desk, voided, None)
    return [*lines, ""]


def _post_lines(post: Post | None, label: str, link: str, voided: bool, due: str | None) -> list[str]:
    lines = [f"  {label}"]
    if post is not None:
        state = str(post.state)
        if post.state == PostState.DRAFT:
            state += " (approved, then changed: the approval was voided)" if voided else " (never approved)"
        lines += [f"    due:          {local_due(post)}", f"    state:        {state}",
                  f"    way forward:  {next_step(post, voided)}"]
    elif due is not None:
        lines.append(f"    due:          {due}")
    if link:
        lines.append(f"    desk:         {link}")
    return lines


def _about(batch: Sequence[events.Event]) -> str:
    named = ", ".join(f"{event.name} {event.post}" for event in batch[:3])
    more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
    return f"{_count(len(batch), 'event')} ({named}{more})"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:300] if text else type(error).__name__) or "failed"
