"""Alerts to the approvers, proved with real parts: a real SMTP server (aiosmtpd's ``Controller`` on a free local
port) receives the emails, a real HTTP server the webhook's POSTs, and a real Runner reads a real store, with
posts published to the in-process sandbox on the real clock. Where a test needs hours to pass (a draft coming
within the hour) the runner is given a clock the test moves.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner, Result
from sqlalchemy import update

from campaign.cli import main
from campaign.publishing import events
from campaign.publishing.alerts import EmailListener, SmtpServer, smtp_server
from campaign.publishing.events import Desk, EventBus, WebhookListener
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.render import render_plan
from campaign.sandbox import running
from campaign.store import PostState, Selection, Store
from campaign.store.models import Post
from campaign.store.next_steps import way_forward
from tests.runner_fixtures import (
    CAMPAIGN,
    P,
    attempts,
    aware,
    demo_plan_accounts,
    environment,
    live_sandbox,
    posts,
    states,
    wait_until,
    write_plan,
)
from tests.test_runner import assert_published_exactly_once, closed_port, scene, started, webhook_server

DESK = "https://desk.force.local/signoff"
ZONE = ZoneInfo("Europe/London")
TO = ("duty.inspector@force.example", "comms.lead@force.example")
SENDER = "campaign@force.example"
BATCH = 0.3
"""Seconds an email waits for more events: short, so that the tests are quick."""
QUIET = BATCH + 1.0
"""Long enough for an email or a POST that was going to come, to have come."""


# -- a real SMTP server, and servers that do not answer -------------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: keeps every message it is given, parsed, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        """Each message's text, its lines ending in \\n (SMTP carries them as \\r\\n)."""
        return [str(message.get_content()).replace("\r\n", "\n") for message in self.messages]


class FreePortController(Controller):
    """aiosmtpd's Controller listening on a port the system chose (port 0), found before it checks itself."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def mail_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    controller = FreePortController(mailbox, hostname="127.0.0.1", port=0, server_hostname="mail.force.example")
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


@contextmanager
def hung_mail_server() -> Iterator[tuple[int, list[datetime]]]:
    """A server that takes connections and never says a word (not even the greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    taken: list[socket.socket] = []
    accepted: list[datetime] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(datetime.now(UTC))
            taken.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1]), accepted
    finally:
        stop.set()
        thread.join(5)
        for connection in taken:
            connection.close()
        listener.close()


def email_to(port: int, store: Store | None, timeout: float = 5.0, **options: Any) -> EmailListener:
    return EmailListener(SmtpServer("127.0.0.1", port, "plain"), TO, SENDER, store=store, batch=BATCH,
                         timeout=timeout, **options)


# -- a store with drafts ------------------------------------------------------------------------------------------

EXTRA_POSTS = """\
  - {id: evening, accounts: [demo-x], at: '2027-03-15 18:00', text: 'Evening: spot the signs of modern slavery and report them on 101.'}
  - {id: helpline, accounts: [demo-x], daily: '12:30', from: 2027-03-16, until: 2027-03-17, text: '{{ when | day }}: worried about someone? Report concerns on 101.'}
"""
LATE_NEWS = """\
  - {id: late-news, accounts: [demo-x], at: '2027-03-15 10:00', text: 'Late news: report concerns about modern slavery on 101.'}
"""
HELPLINE_16, HELPLINE_17 = "helpline@2027-03-16/demo-x", "helpline@2027-03-17/demo-x"


def schedule(store: Store, plan: Path) -> None:
    rendered = render_plan(plan)
    assert rendered.ok, [str(p) for p in rendered.errors]
    store.schedule(rendered, "author@force.example")


def move(store: Store, key: str, due: datetime, grace: timedelta = timedelta(minutes=10)) -> None:
    """Give *key* the time *due* (and its local time, as ``campaign retry --at`` does)."""
    local = due.astimezone(ZONE).replace(tzinfo=None)
    with store.engine.begin() as connection:
        connection.execute(update(Post).where(P.key == key).values(due_at=due, late_after=due + grace,
                                                                   local_time=local))


def day_of(due: datetime) -> str:
    return due.astimezone(ZONE).date().isoformat()


def clock_of(due: datetime) -> str:
    return f"{due.astimezone(ZONE):%H:%M}"


@dataclass
class Clock:
    """The runner's clock, which the test moves."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def drafts_store(tmp_path: Path) -> Iterator[tuple[Store, Path, list[Any]]]:
    """A store of the sandbox's X account with four drafts (e000, evening and the helpline's two days), none
    approved; the caller gives them their times."""
    with running(live_sandbox()) as sandbox:
        accounts = demo_plan_accounts(sandbox)[:1]
        plan = write_plan(tmp_path, sandbox, accounts, entries=1)
        plan.write_text(plan.read_text(encoding="utf-8") + EXTRA_POSTS, encoding="utf-8")
        store = Store.open(f"sqlite:///{tmp_path / 'campaign.db'}")
        try:
            schedule(store, plan)
            yield store, plan, accounts
        finally:
            store.close()


# -- waiting for sign-off --------------------------------------------------------------------------------------


def test_drafts_due_soon_are_alerted_once_per_change_by_email_and_webhook(tmp_path: Path) -> None:
    """Drafts falling due within the 24 h look-ahead, with a real SMTP server and a real webhook: exactly one
    email and one webhook POST for the waiting set, grouped by local day with each day's count, first time and
    /days/ link, and each post's key, local due time, state, way forward and /posts/ link (its key quoted, its
    campaign named); a draft due after the look-ahead is left out. Two more refreshes send nothing. A newly
    scheduled draft sends one more (the whole set, the newcomer marked new); an approval sends nothing; when a
    draft comes within the hour it gets an email and a POST of its own: "due at HH:MM and not signed off: it
    will not go out"."""
    clock = Clock()
    t0 = clock.now
    with drafts_store(tmp_path) as (store, plan, accounts), mail_server() as (port, mailbox), \
            webhook_server() as (url, received):
        store.approve(Selection(campaign=CAMPAIGN, posts=("e000/demo-x",)), "approver@force.example")
        move(store, "e000/demo-x", t0 + timedelta(days=3))
        due = {"evening/demo-x": t0 + timedelta(hours=3), HELPLINE_16: t0 + timedelta(hours=5),
               HELPLINE_17: t0 + timedelta(hours=30)}
        for key, when in due.items():
            move(store, key, when)
        hook, email = WebhookListener(url, timeout=2.0), email_to(port, store)
        seen: list[events.Event] = []
        bus = EventBus([hook, email, seen.append], desk=Desk(DESK + "/"))
        runner = Runner(store, RunnerSettings(campaign=CAMPAIGN, refresh=3600), bus, environ=environment(accounts),
                        clock=clock, name="alert-proof")
        with started(runner):
            # The first refresh (at start): one alert for the two drafts within 24 h.
            assert wait_until(lambda: len(mailbox.messages) == 1 and len(received) == 1, timeout=10)
            runner.refresh()
            runner.refresh()
            time.sleep(QUIET)
            assert (len(mailbox.messages), len(received)) == (1, 1), mailbox.bodies()

            # A draft newly scheduled into the look-ahead: one more alert, for the whole set.
            plan.write_text(plan.read_text(encoding="utf-8") + LATE_NEWS, encoding="utf-8")
            schedule(store, plan)
            due["late-news/demo-x"] = t0 + timedelta(hours=4)
            move(store, "late-news/demo-x", due["late-news/demo-x"])
            runner.refresh()
            assert wait_until(lambda: len(mailbox.messages) == 2 and len(received) == 2, timeout=10)

            # An approval shrinks the set: nothing to say.
            store.approve(Selection(campaign=CAMPAIGN, posts=(HELPLINE_16,)), "approver@force.example")
            runner.refresh()
            time.sleep(QUIET)
            assert (len(mailbox.messages), len(received)) == (2, 2)

            # 2 h 10 min later the evening post is due within the hour, still not signed off.
            clock.now = t0 + timedelta(hours=2, minutes=10)
            runner.refresh()
            assert wait_until(lambda: len(mailbox.messages) == 3 and len(received) == 3, timeout=10)
            runner.refresh()
            time.sleep(QUIET)
            assert (len(mailbox.messages), len(received)) == (3, 3)
        hook.close()
        email.close()

    quoted = {"evening/demo-x": "evening/demo-x", HELPLINE_16: "helpline%402027-03-16/demo-x",
              "late-news/demo-x": "late-news/demo-x"}

    def post_link(key: str) -> str:
        return f"{DESK}/posts/{quoted[key]}?campaign={CAMPAIGN}"

    def day_link(key: str) -> str:
        return f"{DESK}/days/{day_of(due[key])}?campaign={CAMPAIGN}"

    # The first alert, as the webhook received it.
    first = received[0][2]
    assert first["event"] == "awaiting_sign_off" and first["needs_a_person"] is True and first["campaign"] == CAMPAIGN
    assert (first["count"], first["new"], first["within"]) == (2, 2, "24 hours")
    assert first["post"] == "evening/demo-x" and first["desk"] == day_link("evening/demo-x")
    days = {day["day"]: day for day in first["days"]}
    expected_days: dict[str, list[str]] = {}
    for key in ("evening/demo-x", HELPLINE_16):
        expected_days.setdefault(day_of(due[key]), []).append(key)
    assert {day: d["count"] for day, d in days.items()} == {day: len(keys) for day, keys in expected_days.items()}
    for day, keys in expected_days.items():
        assert days[day]["desk"] == day_link(keys[0]) and days[day]["first_post"] == keys[0]
        assert days[day]["first_at"] == clock_of(due[keys[0]])
    assert [(p["key"], p["desk"], p["new"], p["approval_voided"]) for p in first["posts"]] == [
        ("evening/demo-x", post_link("evening/demo-x"), True, False),
        (HELPLINE_16, post_link(HELPLINE_16), True, False)]
    assert "2 posts due within the next 24 hours are not signed off" in first["text"] and first["text"].endswith(
        day_link("evening/demo-x"))

    # The first alert, as the email said it.
    message, body = mailbox.messages[0], mailbox.bodies()[0]
    assert mailbox.envelopes[0] == (SENDER, list(TO))
    assert message["From"] == SENDER and message["To"] == ", ".join(TO)
    assert message["Subject"] == "Runner proof: 2 posts to sign off"
    assert message.get_content_type() == "text/plain" and message["Auto-Submitted"] == "auto-generated"
    for key in ("evening/demo-x", HELPLINE_16):
        block = body[body.index(f"  {key} (new)\n"):]
        assert block.splitlines()[1:5] == [
            f"    due:          {due[key].astimezone(ZONE):%a %d %b %Y %H:%M %Z}",
            "    state:        draft (never approved)",
            (f"    way forward:  it has not been approved: preview it and approve it (on the desk, or `campaign "
             f"approve {key}`) before it is due, or it will not go out"),
            f"    desk:         {post_link(key)}",
        ]
        assert day_link(key) in body
    assert HELPLINE_17 not in body and "e000/demo-x" not in body

    # The newly scheduled draft: the set again, the newcomer marked.
    second = received[1][2]
    assert (second["event"], second["count"], second["new"]) == ("awaiting_sign_off", 3, 1)
    assert [(p["key"], p["new"]) for p in second["posts"]] == [
        ("evening/demo-x", False), ("late-news/demo-x", True), (HELPLINE_16, False)]
    assert mailbox.messages[1]["Subject"] == "Runner proof: 3 posts to sign off"
    assert "  late-news/demo-x (new)\n" in mailbox.bodies()[1] and "  evening/demo-x\n" in mailbox.bodies()[1]

    # The evening post within the hour: an alert of its own.
    urgent = received[2][2]
    assert urgent["event"] == "sign_off_urgent" and urgent["post"] == "evening/demo-x"
    assert urgent["reason"] == f"due at {clock_of(due['evening/demo-x'])} and not signed off: it will not go out"
    assert urgent["desk"] == post_link("evening/demo-x")
    assert mailbox.messages[2]["Subject"] == "Runner proof: 1 post due within the hour not signed off"
    third = mailbox.bodies()[2]
    assert urgent["reason"] in third and f"    desk:         {post_link('evening/demo-x')}" in third
    assert [e.name for e in seen] == ["awaiting_sign_off", "awaiting_sign_off", "sign_off_urgent"]


def test_a_draft_whose_approval_was_voided_is_alerted_as_such(tmp_path: Path) -> None:
    """An approved post whose words then change goes back to draft with its approval voided: the alert says
    so (``approval_voided``) and gives the store's way forward for it, not the one for a post never approved."""
    clock = Clock()
    with drafts_store(tmp_path) as (store, plan, accounts), mail_server() as (port, mailbox):
        store.approve(Selection(campaign=CAMPAIGN, everything=True), "approver@force.example")
        text = plan.read_text(encoding="utf-8")
        plan.write_text(text.replace("Evening: spot", "Tonight: spot"), encoding="utf-8")
        schedule(store, plan)
        for key in ("e000/demo-x", HELPLINE_16, HELPLINE_17):
            move(store, key, clock.now + timedelta(days=3))
        move(store, "evening/demo-x", clock.now + timedelta(hours=2))
        email = email_to(port, store)
        seen: list[events.Event] = []
        runner = Runner(store, RunnerSettings(campaign=CAMPAIGN), EventBus([email, seen.append], desk=Desk(DESK)),
                        environ=environment(accounts), clock=clock)
        runner.refresh()
        assert wait_until(lambda: len(mailbox.messages) == 1, timeout=10)
        runner.stop()
        email.close()
        post = store.post("evening/demo-x", CAMPAIGN)
    (alert,) = seen
    assert isinstance(alert, events.AwaitingSignOff) and [p.approval_voided for p in alert.posts] == [True]
    body = mailbox.bodies()[0]
    assert "    state:        draft (approved, then changed: the approval was voided)" in body
    assert f"    way forward:  {way_forward(post)}" in body and "approve it again" in body


# -- what needs a person -----------------------------------------------------------------------------------------


def test_a_failed_post_is_emailed_with_its_way_forward_and_desk_link(tmp_path: Path) -> None:
    """X refuses a post as a duplicate (for certain, after a lookup finds nothing): the post is ``failed``, and
    one email names the campaign and the failure in its subject and gives the post's key, local due time,
    state, the reason, the store's way forward (``campaign retry KEY``) and its desk link. Its webhook JSON
    carries the same link."""
    with mail_server() as (port, mailbox), webhook_server() as (url, received), \
            scene(tmp_path, entries=1, spacing=0.3, grace=20, first_in=1.0) as s:
        s.sandbox.add_fault("x:POST /2/tweets:duplicate")
        hook, email = WebhookListener(url, timeout=2.0), email_to(port, s.store)
        runner = s.runner(listeners=[hook, email])
        runner.bus.desk = Desk(DESK)
        with started(runner):
            assert wait_until(s.settled, timeout=25), states(s.store)
            assert wait_until(lambda: len(mailbox.messages) == 1, timeout=10)
        hook.close()
        email.close()
        (key,) = s.keys("x")
        post = posts(s.store)[key]
        (event,) = s.named("failed")
    assert post.state == PostState.FAILED and isinstance(event, events.Failed)
    link = f"{DESK}/posts/{key}?campaign={CAMPAIGN}"
    message, body = mailbox.messages[0], mailbox.bodies()[0]
    assert message["Subject"] == "Runner proof: 1 failed post"
    assert f"Failed: {key}\n" in body
    assert f"  {event.reason}\n" in body
    assert f"    due:          {aware(post.due_at).astimezone(ZONE):%a %d %b %Y %H:%M %Z}" in body
    assert "    state:        failed" in body
    assert f"    way forward:  {way_forward(post)}" in body and f"`campaign retry {key}`" in body
    assert f"    desk:         {link}" in body
    (failed,) = [body for _, _, body in received if body["event"] == "failed"]
    assert failed["desk"] == link and failed["text"].endswith(link)
    assert [body["event"] for _, _, body in received] == ["failed"]


# -- a mail server that is dead or hangs -------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["closed", "hung"])
def test_a_dead_or_hung_mail_server_never_delays_publishing(server: str, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """A post an hour past due is missed at the runner's first refresh, so an email is on its way as 4 posts on
    each account fall due 2–4 s later, 0.6 s apart (Instagram's post is three requests and a wait for its
    container: 0.3 s apart, its account's queue made its fourth post a second late, with or without mail) — to a
    port nobody listens on (refused at once), or to a server that
    takes the connection and never answers (the email thread waits its 4 s timeout, through all of the
    publishing). Every post is published once, and by the runner's own measure (each ``published`` event's
    first-try lateness, equal to its ``publish_attempt``'s) within a second of its time; the failure is one
    log line naming the server, and the listener counts it."""
    with contextmanager_for(server) as (port, accepted), \
            scene(tmp_path, entries=4, spacing=0.6, grace=30, first_in=2.0) as s:
        stale = s.keys("facebook")[0]
        with s.store.engine.begin() as connection:
            connection.execute(update(Post).where(P.key == stale).values(
                due_at=datetime.now(UTC) - timedelta(hours=1), late_after=datetime.now(UTC) - timedelta(minutes=50)))
        email = email_to(port, s.store, timeout=4.0)
        with caplog.at_level(logging.WARNING, logger="campaign.publishing.alerts"), \
                started(s.runner(listeners=[email])):
            assert wait_until(s.settled, timeout=25), states(s.store)
            settled_at = datetime.now(UTC)
            email.close(timeout=10)
        keys = [key for key in s.keys() if key != stale]  # noqa: SIM118 - Scene.keys()
        assert_published_exactly_once(s, keys)
        published = {e.post: e for e in s.named("published") if isinstance(e, events.Published)}
        for key in keys:
            (attempt,) = attempts(s.store)[key]
            late = (aware(attempt.started_at) - s.due[key]).total_seconds()
            assert published[key].first_try_late_by_seconds == pytest.approx(late, abs=1e-3)
            assert 0 <= late < 1.0, (key, late)
        assert [e.post for e in s.named("missed")] == [stale]

    records = [r for r in caplog.records if r.name == "campaign.publishing.alerts"]
    assert len(records) == 1, [r.getMessage() for r in records]
    line = records[0].getMessage()
    assert "\n" not in line and records[0].exc_info is None
    assert line.startswith(f"the alert email about 1 event (missed {stale}) was not sent through "
                           f"smtp://127.0.0.1:{port}: ")
    assert (email.sent, email.failures) == (0, 1)
    if server == "hung":
        assert "timed out" in line
        # The email was stuck before the first post fell due, and gave up only after the last was published.
        assert accepted and accepted[0] < min(s.due[key] for key in keys)
        assert datetime.fromtimestamp(records[0].created, UTC) > max(
            aware(a.finished_at) for key in keys for a in attempts(s.store)[key] if a.finished_at is not None)
        assert records[0].created > settled_at.timestamp() - 1.0
    else:
        assert "refused" in line.lower()


@contextmanager
def contextmanager_for(server: str) -> Iterator[tuple[int, list[datetime]]]:
    if server == "hung":
        with hung_mail_server() as found:
            yield found
    else:
        yield closed_port(), []


def test_a_full_queue_drops_an_alert_with_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    """With the email thread stuck on a server that never answers and its queue (2) full, each further alert is
    dropped at once with one log line naming it; ``dropped`` counts them, and emitting never waits."""
    with hung_mail_server() as (port, accepted), caplog.at_level(logging.WARNING, logger="campaign.publishing.alerts"):
        email = email_to(port, None, timeout=3.0, queue_size=2)
        email.batch = 0.0
        email(events.Failed(post="first/demo-x", campaign=CAMPAIGN, reason="refused"))
        assert wait_until(lambda: bool(accepted), timeout=5)
        started_at = time.monotonic()
        for n in range(4):
            email(events.Missed(post=f"p{n}/demo-x", campaign=CAMPAIGN))
        email(events.Published(post="out/demo-x", campaign=CAMPAIGN))  # not for a person: never queued
        assert time.monotonic() - started_at < 0.5
        email.close(timeout=0.1)
    drops = [r.getMessage() for r in caplog.records if "queue is full" in r.getMessage()]
    assert email.dropped == 2 and len(drops) == 2
    assert drops[0] == (f"the alert email queue is full (2 events wait for smtp://127.0.0.1:{port}): the missed "
                        "event for p2/demo-x is not emailed")


# -- the command line ---------------------------------------------------------------------------------------------


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    clean: dict[str, str | None] = {name: None for name in ("CAMPAIGN_SMTP", "CAMPAIGN_SMTP_PASSWORD",
                                                            "CAMPAIGN_ALERT_TO", "CAMPAIGN_ALERT_FROM",
                                                            "CAMPAIGN_DESK_URL", "CAMPAIGN_WEBHOOK")}
    return CliRunner().invoke(main, args, env={**clean, **(env or {})})


def error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(("args", "env", "words"), [
    (["--smtp", "http://relay.force.local", "--alert-to", TO[0]], {},
     ("Invalid value for '--smtp': 'http://relay.force.local' is not a mail server address: give one such as "
      "smtp://relay.force.local:25, smtps://USER@HOST:465 or smtp+starttls://USER@HOST:587")),
    (["--smtp", "smtp://relay.force.local:99999", "--alert-to", TO[0]], {}, "is not a mail server address"),
    (["--smtp", "smtp://relay.force.local:25"], {},
     "--smtp sends alerts by email, but to nobody: add --alert-to ADDRESS (or set CAMPAIGN_ALERT_TO)"),
    ([], {"CAMPAIGN_SMTP": "smtp://relay.force.local"}, "--smtp sends alerts by email, but to nobody"),
    (["--alert-to", TO[0]], {}, "--alert-to needs a mail server to send through: add --smtp URL"),
    (["--smtp", "smtp://relay.force.local", "--alert-to", "duty inspector"], {},
     "Invalid value for '--alert-to': 'duty inspector' is not one email address"),
    (["--smtp", "smtp://relay.force.local"], {"CAMPAIGN_ALERT_TO": f"{TO[0]}, nobody"},
     "'nobody' is not one email address"),
    (["--smtp", "smtps://alerts@relay.force.local:465", "--alert-to", TO[0]], {},
     "names the user 'alerts' but CAMPAIGN_SMTP_PASSWORD is not set: set it to that user's password"),
    (["--smtp", "smtps://alerts:hunter2@relay.force.local", "--alert-to", TO[0]], {},
     "'smtps://alerts:***@relay.force.local' holds a password"),
    (["--smtp", "smtp://alerts@relay.force.local", "--alert-to", TO[0]], {"CAMPAIGN_SMTP_PASSWORD": "hunter2"},
     "would send the password of 'alerts' unencrypted: use smtps://…:465 or smtp+starttls://…:587"),
    (["--desk-url", "desk.force.local"], {}, "Invalid value for '--desk-url': 'desk.force.local' is not a web address"),
    (["--sign-off-warning", "10m"], {}, "the warning '10m' is out of range: write a length of time from 1h to 14d"),
])
def test_wrong_alert_settings_are_one_line_before_anything_starts(args: list[str], env: dict[str, str | None],
                                                                  words: str, tmp_path: Path) -> None:
    """A bad --smtp address, --smtp without --alert-to (or the reverse), a bad address, a user without a
    password (or a password in the URL, or over plain SMTP), a bad --desk-url or look-ahead: exit 2 with one
    `Error:` line naming the option and the fix (never echoing a password), before the store is opened."""
    line = error_line(invoke(["run", "--db", str(tmp_path / "store.db"), *args], env))
    assert words in line, line
    assert "hunter2" not in line
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://relay.force.local", ("relay.force.local", 25, "plain", None)),
    ("smtps://alerts@relay.force.local:465", ("relay.force.local", 465, "tls", "alerts")),
    ("smtp+starttls://alerts%40force.example@relay.force.local", ("relay.force.local", 587, "starttls",
                                                                  "alerts@force.example")),
])
def test_smtp_addresses_are_read_whole(url: str, expected: tuple[Any, ...]) -> None:
    """Each scheme gives its protection and default port, a user written with %40 is read back, the password
    comes from CAMPAIGN_SMTP_PASSWORD, and the server's printed address never shows it. An unreachable host
    is no error here: it is said when sending."""
    environ = {"CAMPAIGN_SMTP_PASSWORD": "hunter2"} if expected[3] else {}
    found = smtp_server(url, environ)
    assert (found.host, found.port, found.security, found.user) == expected
    assert found.password == ("hunter2" if expected[3] else None)
    assert "hunter2" not in found.where and "hunter2" not in repr(found)


def test_campaign_run_emails_and_links_to_the_desk(tmp_path: Path) -> None:
    """``campaign run --smtp … --alert-from … --desk-url …`` in a real process, with drafts due in two hours: one
    email reaches the SMTP server, to both addresses of CAMPAIGN_ALERT_TO (comma-separated), from --alert-from,
    with the desk links; the console shows the alert and its link; SIGTERM stops it
    cleanly."""
    with drafts_store(tmp_path) as (store, _plan, accounts), mail_server() as (port, mailbox):
        now = datetime.now(UTC)
        for key in ("e000/demo-x", HELPLINE_16, HELPLINE_17):
            move(store, key, now + timedelta(days=3))
        move(store, "evening/demo-x", now + timedelta(hours=2))
        env = {**os.environ, **environment(accounts), "PYTHONUNBUFFERED": "1", "CAMPAIGN_ALERT_TO": ",".join(TO)}
        for name in ("CAMPAIGN_DB", "CAMPAIGN_SMTP", "CAMPAIGN_SMTP_PASSWORD", "CAMPAIGN_DESK_URL"):
            env.pop(name, None)
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("campaign")), "run", "--db", str(tmp_path / "campaign.db"),
             "--refresh", "0.5", "--smtp", f"smtp://127.0.0.1:{port}", "--alert-from", SENDER,
             "--desk-url", DESK],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            assert wait_until(lambda: len(mailbox.messages) == 1, timeout=30), "no email came"
            time.sleep(1.5)  # three more refreshes
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, (out, err)
    assert len(mailbox.messages) == 1
    assert mailbox.envelopes[0] == (SENDER, [TO[0], TO[1]])
    link = f"{DESK}/posts/evening/demo-x?campaign={CAMPAIGN}"
    assert f"    desk:         {link}" in mailbox.bodies()[0]
    assert mailbox.messages[0]["Subject"] == "Runner proof: 1 post to sign off"
    lines = out.splitlines()
    assert any("awaiting_sign_off evening/demo-x: 1 post due within the next 24 hours is not signed off" in line
               for line in lines), out
    assert f"          {DESK}/days/{day_of(now + timedelta(hours=2))}?campaign={CAMPAIGN}" in lines
    assert lines[-1] == "Stopped." and err == ""
