"""`campaign run`: the long-running publisher."""

from __future__ import annotations

import os
import signal
import socket
import threading
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from campaign.cli.store import acting, campaign_option, db_option, open_store
from campaign.cli.types import Number

if TYPE_CHECKING:
    from campaign.publishing.alerts import SmtpServer
    from campaign.publishing.events import Desk
    from campaign.store import Store


def console_listener(event: object) -> None:
    """The live view: one line per thing that happens, with what needs a person in colour."""
    from campaign.publishing import events

    assert isinstance(event, events.Event)
    when = event.at.astimezone().strftime("%H:%M:%S")
    details = ""
    if isinstance(event, events.Published):
        first = (f", first try {event.first_try_late_by_seconds:+.2f} s" if event.first_try_late_by_seconds is not None
                 else "")
        found = ", found by a lookup" if event.found_by_lookup else ""
        details = f" (accepted {event.late_by_seconds:+.2f} s from its time{first}{found}) {event.url}"
        details += "".join(f"\n          warning: {warning}" for warning in event.warnings)
    elif isinstance(event, events.Scheduled) and event.due_at is not None:
        details = f" for {event.due_at.astimezone():%a %d %b %H:%M:%S}"
    elif hasattr(event, "reason") and getattr(event, "reason"):
        details = f": {getattr(event, 'reason')}"
    if event.desk:
        details += f"\n          {event.desk}"
    colour = "red" if event.needs_a_person else ("green" if isinstance(event, events.Published) else None)
    click.secho(f"{when}  {event.name:<12} {event.post}{details}", fg=colour)


def _checked_webhook(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse a webhook that could never be reached before anything starts, not at the first alert."""
    if value is None:
        return None
    from campaign.publishing.events import webhook_problem

    problem = webhook_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _checked_desk(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Desk | None:
    if value is None:
        return None
    from campaign.publishing.events import Desk

    try:
        return Desk(value)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from None


def _checked_warning(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    from campaign.times import TimeProblem, bounded_duration

    try:
        return bounded_duration(value, timedelta(hours=1), timedelta(days=14), "the warning")
    except TimeProblem as problem:
        raise click.BadParameter(f"{problem.message}: {problem.fix}") from None


def _checked_smtp(_ctx: click.Context, _param: click.Parameter, value: str | None) -> SmtpServer | None:
    """The mail server, checked now (its address and password); whether it answers is said when sending."""
    if value is None:
        return None
    from campaign.publishing.alerts import smtp_server

    try:
        return smtp_server(value, os.environ)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from None


def _checked_addresses(_ctx: click.Context, _param: click.Parameter, value: Any) -> tuple[str, ...]:
    """Each address, checked; a value (or $CAMPAIGN_ALERT_TO, which Click splits at spaces) may hold several
    separated by commas."""
    from campaign.publishing.alerts import email_addresses

    values = (value,) if isinstance(value, str) else tuple(value or ())
    try:
        return email_addresses(values)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from None


@click.command()
@db_option
@campaign_option
@click.option("--webhook", metavar="URL", envvar="CAMPAIGN_WEBHOOK", callback=_checked_webhook,
              help="POST JSON here for anything that needs a person (e.g. a Teams or Slack incoming webhook).")
@click.option("--refresh", type=Number(min=0.5, max=3600), default=15.0, show_default=True,
              help="Seconds between re-reads of the store (SIGHUP re-reads at once).")
@click.option("--desk-url", "desk", metavar="URL", envvar="CAMPAIGN_DESK_URL", callback=_checked_desk,
              help="The sign-off desk (`campaign serve`): alerts link to the post, or day, there.")
@click.option("--sign-off-warning", "warning", metavar="DURATION", default="24h", show_default=True,
              callback=_checked_warning,
              help="Alert about drafts that fall due this soon and are not signed off (e.g. 12h, 2d).")
@click.option("--smtp", metavar="URL", envvar="CAMPAIGN_SMTP", callback=_checked_smtp,
              help="Also email alerts through this server: smtp://HOST[:25], smtps://USER@HOST:465 or "
                   "smtp+starttls://USER@HOST:587 (the password in $CAMPAIGN_SMTP_PASSWORD).")
@click.option("--alert-to", metavar="ADDRESS", multiple=True, envvar="CAMPAIGN_ALERT_TO",
              callback=_checked_addresses,
              help="Who gets alert emails (repeat it; comma-separated in $CAMPAIGN_ALERT_TO).")
@click.option("--alert-from", metavar="ADDRESS", envvar="CAMPAIGN_ALERT_FROM", callback=_checked_addresses,
              help="The alert emails' sender  [default: campaign@THIS-HOST]")
def run(db: str | None, campaign: str | None, webhook: str | None, refresh: float, desk: Desk | None,
        warning: timedelta, smtp: SmtpServer | None, alert_to: tuple[str, ...], alert_from: tuple[str, ...]) -> None:
    """Publish every approved post at its time, exactly once, until stopped.

    Approvals, pauses and new schedules made from another terminal take effect at the next re-read.
    Ctrl-C or SIGTERM stops claiming, lets posts in flight finish, and exits. What needs a person (and
    drafts falling due without sign-off) is shown, POSTed to --webhook and emailed through --smtp.
    """
    from campaign.cli.errors import command_args, one_line_logging
    from campaign.people import Action
    from campaign.store.database import check_writable

    if smtp is not None and not alert_to:
        raise click.UsageError("--smtp sends alerts by email, but to nobody: add --alert-to ADDRESS (or set "
                               "CAMPAIGN_ALERT_TO)")
    if smtp is None and (alert_to or alert_from):
        option = "--alert-to" if alert_to else "--alert-from"
        raise click.UsageError(f"{option} needs a mail server to send through: add --smtp URL (or set CAMPAIGN_SMTP)")
    if len(alert_from) > 1:
        raise click.BadParameter("give one sender address", param_hint="'--alert-from'")
    sender = alert_from[0] if alert_from else f"campaign@{socket.gethostname()}"
    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.RUN, campaign_id, None)
    check_writable(store.engine)  # said once, now, not on every try of a runner that cannot record anything
    with one_line_logging(command_args()):
        _run(store, campaign_id, webhook, refresh, desk, warning, (smtp, alert_to, sender) if smtp else None)


def _run(store: Store, campaign_id: str, webhook: str | None, refresh: float, desk: Desk | None,
         warning: timedelta, mail: tuple[SmtpServer, tuple[str, ...], str] | None) -> None:
    from campaign.publishing.alerts import EmailListener
    from campaign.publishing.events import EventBus, WebhookListener
    from campaign.publishing.runner import Runner, RunnerSettings

    bus = EventBus([console_listener], desk=desk)
    hook = WebhookListener(webhook) if webhook else None
    if hook is not None:
        bus.add(hook)
    email = EmailListener(*mail, store=store) if mail is not None else None
    if email is not None:
        bus.add(email)
    runner = Runner(store, RunnerSettings(campaign=campaign_id, refresh=refresh, sign_off_warning=warning), bus)
    finished = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"Stopping ({signal.Signals(signum).name}): no more claims; finishing posts in flight…")
        finished.set()

    def reread(_signum: int, _frame: FrameType | None) -> None:
        runner.refresh()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reread)
    runner.start()
    click.echo(f"Running {campaign_id} as {runner.name}; Ctrl-C to stop.")
    while not finished.wait(1.0):
        pass
    runner.stop(wait=True)
    if hook is not None:
        hook.close()
    if email is not None:
        email.close()
    click.echo("Stopped.")
