"""`campaign run`: the long-running publisher."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from campaign.cli.store import acting, campaign_option, db_option, open_store
from campaign.cli.types import Number

if TYPE_CHECKING:
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


@click.command()
@db_option
@campaign_option
@click.option("--webhook", metavar="URL", envvar="CAMPAIGN_WEBHOOK", callback=_checked_webhook,
              help="POST JSON here for anything that needs a person (e.g. a Teams or Slack incoming webhook).")
@click.option("--refresh", type=Number(min=0.5, max=3600), default=15.0, show_default=True,
              help="Seconds between re-reads of the store (SIGHUP re-reads at once).")
def run(db: str | None, campaign: str | None, webhook: str | None, refresh: float) -> None:
    """Publish every approved post at its time, exactly once, until stopped.

    Approvals, pauses and new schedules made from another terminal take effect at the next re-read.
    Ctrl-C or SIGTERM stops claiming, lets posts in flight finish, and exits.
    """
    from campaign.cli.errors import command_args, one_line_logging
    from campaign.store.database import check_writable

    from campaign.people import Action

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.RUN, campaign_id, None)
    check_writable(store.engine)  # said once, now, not on every try of a runner that cannot record anything
    with one_line_logging(command_args()):
        _run(store, campaign_id, webhook, refresh)


def _run(store: Store, campaign_id: str, webhook: str | None, refresh: float) -> None:
    from campaign.publishing.events import EventBus, WebhookListener
    from campaign.publishing.runner import Runner, RunnerSettings

    bus = EventBus([console_listener])
    hook = WebhookListener(webhook) if webhook else None
    if hook is not None:
        bus.add(hook)
    runner = Runner(store, RunnerSettings(campaign=campaign_id, refresh=refresh), bus)
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
    click.echo("Stopped.")
