"""Commands for posts that wait for a person: reconcile (look unknown posts up) and retry (queue them again)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from campaign.cli.store import (
    acting,
    actor_option,
    campaign_option,
    db_option,
    open_store,
)
from campaign.cli.types import Number

if TYPE_CHECKING:
    from campaign.platforms.base import Adapter
    from campaign.store.models import AccountRow


def _factory(timeout: float) -> Callable[[AccountRow], Adapter]:
    from campaign.publishing.accounts import account_adapter

    return lambda row: account_adapter(row, os.environ, timeout)


def _settlement_line(settlement: object) -> str:
    from campaign.publishing.reconcile import Settlement
    from campaign.store import PostState

    assert isinstance(settlement, Settlement)
    key = settlement.post.key
    if settlement.state == PostState.PUBLISHED:
        return f"found {key}: it is out, {settlement.url}"
    if settlement.state == PostState.UNKNOWN:
        return f"still unknown {key}: {settlement.reason}"
    line = f"not found {key}: now {settlement.state} — {settlement.reason}"
    if settlement.state in (PostState.MISSED, PostState.FAILED):
        from campaign.store.next_steps import way_forward

        line += f"; {way_forward(settlement.post.model_copy(update={'state': settlement.state}))}"
    return line


@click.command()
@click.argument("posts", nargs=-1)
@click.option("--timeout", type=Number(min=1, max=600), default=10.0, show_default=True,
              help="Seconds for each request to a platform.")
@db_option
@campaign_option
@actor_option
def reconcile(posts: tuple[str, ...], timeout: float, db: str | None, campaign: str | None,
              actor: str | None) -> None:
    """Look unknown posts up on their platforms now (all of them, or the POSTS named).

    A post found is recorded as published, at the platform's own time; one not found goes back to the queue
    if it is still in time, else becomes missed. A lookup that fails changes nothing. Exits 1 if any post is
    still unknown.
    """
    from campaign.people import Action
    from campaign.publishing.reconcile import reconcile as reconcile_posts
    from campaign.store import PostState, Selection

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    selection = Selection(campaign=campaign_id, posts=posts)
    accounts = {p.account for p in store.select_posts(selection)} if posts else None
    person = acting(store, actor, Action.RECONCILE, campaign_id, accounts)
    settled = reconcile_posts(store, selection, person.recorded_name, _factory(timeout))
    if not settled:
        click.echo("Nothing to look up: no post's fate is unknown.")
        return
    for settlement in settled:
        click.echo(_settlement_line(settlement))
    still = sum(s.state == PostState.UNKNOWN for s in settled)
    if still:
        raise click.ClickException(f"{still} post{'s are' if still != 1 else ' is'} still unknown and will not be sent "
                                   "again until a lookup can tell; try again later, or check the account on the "
                                   "platform by hand")


@click.command()
@click.argument("posts", nargs=-1, required=True)
@click.option("--at", "at", metavar="TIME",
              help="A new local time for the posts ('2027-03-16 18:00', in the campaign's time zone). Needed once "
                   "a post's grace window has ended.")
@click.option("--timeout", type=Number(min=1, max=600), default=10.0, show_default=True,
              help="Seconds for each request to a platform (unknown posts are looked up first).")
@db_option
@campaign_option
@actor_option
def retry(posts: tuple[str, ...], at: str | None, timeout: float, db: str | None, campaign: str | None,
          actor: str | None) -> None:
    """Put failed, missed or unknown POSTS back in the queue, on the record.

    An unknown post is looked up first and sent again only if it is not on the platform. Without --at a
    post goes out at once, which it may only within its grace window: a time that has passed is never
    quietly replaced by now.
    """
    from campaign.people import Action
    from campaign.publishing.reconcile import retry as retry_posts
    from campaign.store import Selection

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    selection = Selection(campaign=campaign_id, posts=posts)
    person = acting(store, actor, Action.RETRY, campaign_id, {p.account for p in store.select_posts(selection)})
    when = _local_time(at, store.campaign_row(campaign_id).zone) if at else None
    retried, settled = retry_posts(store, selection, person.recorded_name, _factory(timeout), when)
    for settlement in settled:
        click.echo(_settlement_line(settlement))
    for post in retried:
        click.echo(f"queued {post.key}  due {post.local_time:%a %d %b %Y %H:%M} {post.zone}")
    click.echo(f"{len(retried)} post{'s' if len(retried) != 1 else ''} back in the queue; `campaign run` sends them.")
    held = {hold.account or "every account" for hold in store.active_holds(campaign_id)
            if any(hold.account in (None, post.account) for post in retried)}
    if held:
        click.secho(f"The campaign is paused ({', '.join(sorted(held))}): nothing goes out until `campaign resume`.",
                    fg="yellow")


def _local_time(value: str, zone: str) -> datetime:
    from campaign.times import TimeProblem, parse_local

    try:
        return parse_local(value, ZoneInfo(zone)).utc
    except TimeProblem as problem:
        raise click.BadParameter(f"{problem.message} — {problem.fix}", param_hint="--at") from None
