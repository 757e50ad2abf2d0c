"""Commands over the store: schedule, approve, reject, pause, resume, status, audit, bundle, db."""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from campaign.cli.types import OUTPUT_FOLDER
from campaign.example import example_plan
from campaign.platforms import PLATFORMS

if TYPE_CHECKING:
    from campaign.people import Action, Person
    from campaign.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def db_option(function: F) -> F:
    return click.option("--db", "db", envvar="CAMPAIGN_DB", metavar="URL|PATH",
                        help="The store: a SQLite file or an SQLAlchemy URL. Default: $CAMPAIGN_DB, else "
                             "~/.local/share/campaign/campaign.db.")(function)


def campaign_option(function: F) -> F:
    return click.option("--campaign", "campaign", metavar="ID",
                        help="The campaign's id; needed only when the store holds several.")(function)


def _not_blank(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("is blank: give the name to record, e.g. --as 'Insp. Jo Reviewer' (admins only), "
                                 "or leave it out to act as yourself", param_hint="--as")
    return value


def actor_option(function: F) -> F:
    return click.option("--as", "actor", metavar="NAME", callback=_not_blank,
                        help="Admins only: record this as done by NAME (who gave the decision in person or by "
                             "phone); the record names you beside them. Default: you, by your login.")(function)


def acting(store: Store, actor: str | None, action: Action, campaign: str | None = None,
           accounts: Iterable[str] | None = ()) -> Person:
    """Who is acting: this login's user in the store (``--as NAME``: an admin recording for NAME), checked for
    *action* on *campaign*'s *accounts* (None: the whole campaign)."""
    person = store.command_line_person(actor)
    person.require(action, campaign, accounts)
    return person


def required_text(value: str, option: str, why: str) -> str:
    """*value*, refused if blank: *why* says what it is for."""
    if not value.strip():
        raise click.BadParameter(f"is blank: {why}", param_hint=option)
    return value


def open_store(db: str | None) -> Store:
    """The store, named in the context for a one-line error if it fails later (:mod:`campaign.cli.errors`)."""
    from campaign.cli import STORE_META
    from campaign.store import Store
    from campaign.store.database import describe

    store = Store.open(db)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[STORE_META] = describe(store.engine)
    return store


@click.command()
@click.argument("plan", required=False, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@actor_option
def schedule(plan: Path | None, db: str | None, actor: str | None) -> None:
    """Render and check PLAN, then sync it into the store (refusing on any error).

    Running it twice changes nothing. A post whose content changed goes back to draft and its
    approval is voided; a post removed from the plan is cancelled; published posts are never touched.
    """
    from campaign.cli.plans import echo_problems
    from campaign.render import render_plan

    rendered = render_plan(plan or example_plan())
    if not rendered.ok:
        echo_problems(rendered.errors, err=True)
    store = open_store(db)
    report = store.schedule(rendered, store.command_line_person(actor))
    click.echo(f"{report.campaign}: {len(report.added)} added, {len(report.changed)} changed (back to draft, "
               f"approval voided), {len(report.rescheduled)} rescheduled, {len(report.cancelled)} cancelled, "
               f"{len(report.restored)} restored, {report.unchanged} unchanged")
    for label, keys in (("changed", report.changed),
                        ("back to draft with its pair, which changed", report.with_pair),
                        ("cancelled", report.cancelled),
                        ("left alone (published or in flight)", report.left_alone)):
        for key in keys:
            click.echo(f"  {label}: {key}")
    if report.past:
        several = len(report.past) != 1
        click.secho(f"{len(report.past)} of them {'are' if several else 'is'} already past "
                    f"{'their' if several else 'its'} time and grace window: approved, "
                    f"{'they become' if several else 'it becomes'} missed, never sent late. Give "
                    f"{'them times' if several else 'it a time'} to come in the plan:", fg="yellow")
        for key in report.past[:10]:
            click.secho(f"  past: {key}", fg="yellow")
        if len(report.past) > 10:
            click.secho(f"  … and {len(report.past) - 10} more", fg="yellow")


def _selection(campaign: str | None, posts: tuple[str, ...], day: str | None, platform: str | None,
               account: str | None, everything: bool) -> Any:
    from campaign.preview import parse_day
    from campaign.store import Selection

    try:
        parsed_day = parse_day(day) if day else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--day") from None
    return Selection(campaign, posts, parsed_day, platform, account, everything)


def _previewed(hash_prefix: str | None, preview_file: Path | None) -> dict[str, str] | None:
    """What the approver saw: ``{"*": hash}`` for --hash, else each post's content hash in the preview file,
    read from its content (JSON or the HTML page, whatever the file is called)."""
    if hash_prefix and preview_file:
        raise click.UsageError("give --hash (one post) or --preview (a preview file), not both")
    if hash_prefix:
        if not re.fullmatch(r"[0-9a-fA-F]{8,64}", hash_prefix):
            raise click.BadParameter("give at least the first 8 characters of the content hash shown by preview",
                                     param_hint="--hash")
        return {"*": hash_prefix}
    if not preview_file:
        return None
    from campaign.preview_html import NotAPreview, previewed_hashes

    not_a_preview = (f"{preview_file} is not a preview written by `campaign preview --format json > FILE` or "
                     "`campaign preview --html FILE`")
    try:
        content = preview_file.read_text(encoding="utf-8-sig")
        if content.lstrip().startswith("<"):
            return previewed_hashes(content)
        document = json.loads(content)
        return {post["key"]: post["content_hash"] for post in document["posts"]}
    except NotAPreview as exc:
        raise click.BadParameter(f"{not_a_preview}: {exc}", param_hint="--preview") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise click.BadParameter(not_a_preview, param_hint="--preview") from None


@click.command()
@click.argument("posts", nargs=-1)
@click.option("--day", help="Every post of this day: a date (2027-03-15) or a weekday (tue).")
@click.option("--platform", type=click.Choice(sorted(PLATFORMS)), help="Every post on this platform.")
@click.option("--account", help="Every post of this account (its id or handle).")
@click.option("--all", "everything", is_flag=True, help="Every draft of the campaign.")
@click.option("--hash", "hash_prefix", metavar="HASH",
              help="For one post: the content hash you saw in preview. Refused if the post has changed since.")
@click.option("--preview", "preview_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The preview you reviewed: JSON (`campaign preview --format json > FILE`) or the HTML page "
                   "(`campaign preview --html FILE`). Every post approved must still have the content it had there.")
@db_option
@campaign_option
@actor_option
def approve(posts: tuple[str, ...], day: str | None, platform: str | None, account: str | None, everything: bool,
            hash_prefix: str | None, preview_file: Path | None, db: str | None, campaign: str | None,
            actor: str | None) -> None:
    """Sign off drafts: by key (launch/lancs-x), by plan entry (launch), by day, platform, account, or --all.

    The approval is recorded with who gave it and is bound to the content each post has now; if the
    content changes afterwards, the approval is voided. A rejected post is approved again only by its own
    key (the record says the rejection was reversed). Failed and missed posts are not approved again:
    `campaign retry` puts them back in the queue, at a new time once theirs has passed.
    """
    from campaign.problems import one_line
    from campaign.store import PostState
    from campaign.store.sql import utcnow
    from campaign.times import as_utc

    selection = _selection(campaign, posts, day, platform, account, everything)
    store = open_store(db)
    person = store.command_line_person(actor)
    approved = store.approve(selection, person, _previewed(hash_prefix, preview_file))
    for post in approved:
        click.echo(f"approved {post.key}  content {post.content_hash[:12]}  due {post.local_time:%a %d %b %H:%M}")
    click.echo(f"{len(approved)} post{'s' if len(approved) != 1 else ''} approved by {person.recorded_name}")
    now = utcnow()
    for post in approved:
        if as_utc(post.late_after) < now:
            click.secho(f"past: {post.key} was due {post.local_time:%a %d %b %H:%M} and its grace window has ended: "
                        "it will be missed, not sent — give it a time to come in the plan and schedule again",
                        fg="yellow")
    for post in store.select_posts(selection):
        if post.state == PostState.REJECTED:
            pair = " ".join(store.pair_keys(post))
            again = f"`campaign approve {post.key} {pair}`, with its pair" if pair else f"`campaign approve {post.key}`"
            click.secho(f"left rejected: {post.key} ({one_line(post.last_error or '')}) — only its own key approves it "
                        f"again ({again})", fg="yellow")


@click.command()
@click.argument("post")
@click.option("--reason", required=True, help="Why, for the author and the record.")
@db_option
@campaign_option
@actor_option
def reject(post: str, reason: str, db: str | None, campaign: str | None, actor: str | None) -> None:
    """Reject one post (by its full key), with a reason. It will not be published unless approved again."""
    from campaign.problems import one_line

    required_text(reason, "--reason", "say why, for the author and the record")
    store = open_store(db)
    rejected = store.reject(post, store.command_line_person(actor), reason, campaign)
    click.echo(f"rejected {rejected.key}: {one_line(reason)}")


MAX_PAUSE = timedelta(days=366)
"""The longest --until: a longer pause is one without --until, lifted by `campaign resume`."""


def _until(value: str | None, zone: str) -> datetime | None:
    if value is None:
        return None
    from campaign.store.sql import utcnow
    from campaign.times import TimeProblem, parse_local

    longest = (f"at most a year ahead ({MAX_PAUSE.days * 24:,}h); for longer, leave --until out and lift the "
               "pause with `campaign resume`")
    now = utcnow()
    match = re.fullmatch(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?", value.strip())
    if match and any(match.groups()):
        hours, minutes = match[1] or "0", match[2] or "0"
        if len(hours) > 6 or len(minutes) > 8 or timedelta(hours=int(hours), minutes=int(minutes)) > MAX_PAUSE:
            raise click.BadParameter(f"{value!r} is too long: a pause can end {longest}", param_hint="--until")
        if int(hours) == int(minutes) == 0:
            raise click.BadParameter(f"{value!r} is no time at all: give a duration such as '2h' or '30m'",
                                     param_hint="--until")
        return now + timedelta(hours=int(hours), minutes=int(minutes))
    try:
        until = parse_local(value, ZoneInfo(zone)).utc
    except TimeProblem as problem:
        raise click.BadParameter(f"{problem.message} — {problem.fix}, or a duration such as '2h'",
                                 param_hint="--until") from None
    except (OverflowError, ValueError):
        raise click.BadParameter(f"{value!r} is not a time a pause can end at: give a local time such as "
                                 "'2027-03-16 18:00', or a duration such as '2h'", param_hint="--until") from None
    if until <= now:
        raise click.BadParameter(f"{value!r} has already passed: give a time to come, or a duration such as '2h'",
                                 param_hint="--until")
    if until - now > MAX_PAUSE:
        raise click.BadParameter(f"{value!r} is too far ahead: a pause can end {longest}", param_hint="--until")
    return until


@click.command()
@click.option("--account", help="Pause only this account (its id in the plan). Default: the whole campaign.")
@click.option("--reason", required=True, help="Why: recorded in the audit log (e.g. a critical incident).")
@click.option("--until", "until", metavar="TIME",
              help="Resume by itself at this local time ('2027-03-16 18:00') or after a duration ('2h').")
@db_option
@campaign_option
@actor_option
def pause(account: str | None, reason: str, until: str | None, db: str | None, campaign: str | None,
          actor: str | None) -> None:
    """Stop publishing now. When this returns, nothing more is claimed for publishing.

    Posts whose time passes beyond the campaign's grace window while paused become `missed`: they
    go out only when a person gives them a new time (`campaign retry --at`). Nothing fires late by itself.
    """
    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    row = store.status(campaign_id).campaign
    hold = store.pause(reason, store.command_line_person(actor), campaign_id, account, _until(until, row.zone))
    pairs = store.paired_accounts(campaign_id, account) if account else []
    still_sending = [post for held in [account, *pairs] for post in store.wait_for_sending(campaign_id, held)]
    for post in still_sending:
        click.secho(f"{post.key} was already on its way to {post.platform} and may still appear; check it with "
                    f"`campaign status`", fg="yellow")
    scope = f"account {account}" if account else "every account"
    if pairs:
        scope += f" and its pair, {', '.join(pairs)} (a pair is paused together)"
    ends = f" until {hold.until.astimezone(ZoneInfo(row.zone)):%Y-%m-%d %H:%M %Z}" if hold.until else \
        " until `campaign resume`"
    source = f"from {', '.join([account, *pairs])}" if account else "by this campaign"
    click.echo(f"Paused {scope} of {campaign_id}{ends}. Nothing more will be published {source} until then.")


@click.command()
@click.option("--account", help="Resume only this account's pause.")
@db_option
@campaign_option
@actor_option
def resume(account: str | None, db: str | None, campaign: str | None, actor: str | None) -> None:
    """Lift the campaign's pause (or one account's), and list the posts missed during it."""
    store = open_store(db)
    holds, missed = store.resume(store.command_line_person(actor), campaign, account)
    click.echo(f"Resumed: released {len(holds)} pause{'s' if len(holds) != 1 else ''}:")
    for hold in holds:
        click.echo(f"  {'account ' + hold.account if hold.account else 'every account'} — paused by "
                   f"{hold.created_by}: {hold.reason}")
    if missed:
        several = len(missed) != 1
        click.echo(f"{len(missed)} post{'s were' if several else ' was'} missed during the pause (past the grace "
                   f"window) and wait{'' if several else 's'} for a person: give each a new time with `campaign "
                   "retry POST --at 'YYYY-MM-DD HH:MM'` (or move it in the plan and schedule again):")
        for key in missed:
            click.echo(f"  missed: {key}")
    else:
        click.echo("No post was missed during the pause.")


@click.command()
@db_option
@campaign_option
def status(db: str | None, campaign: str | None) -> None:
    """Counts by state and day, the next posts due, active pauses, and posts that need a person."""
    from campaign.cli.store_views import status_lines
    from campaign.people import Action

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.VIEW, campaign_id)
    for line in status_lines(store.status(campaign_id)):
        click.echo(line)


@click.command()
@click.option("--post", help="Only this post (its key, or a plan entry id).")
@click.option("--people", is_flag=True,
              help="Instead: the store's record of people — users added, disabled, passwords set, desk logins "
                   "(admins only).")
@click.option("--format", "output_format", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True)
@db_option
@campaign_option
def audit(post: str | None, people: bool, output_format: str, db: str | None, campaign: str | None) -> None:
    """The audit trail, oldest first: every change to every post, by whom and when."""
    from campaign.people import Action
    from campaign.store import Selection
    from campaign.store.records import write_audit_csv, write_audit_json, write_audit_text

    store = open_store(db)
    writer = {"csv": write_audit_csv, "json": write_audit_json, "text": write_audit_text}[output_format]
    if people:
        acting(store, None, Action.MANAGE_USERS)
        writer(store.audit(people=True), sys.stdout)
        return
    campaign_id = store.campaign_id(campaign)
    person = acting(store, None, Action.VIEW, campaign_id)
    entries = store.audit(campaign=campaign_id, post=post)
    if person.accounts is not None:  # their accounts' posts, and what concerns the whole campaign
        theirs = {p.key for p in store.select_posts(Selection(campaign=campaign_id, everything=True))
                  if p.account in person.accounts}
        entries = (entry for entry in entries if entry.post_key is None or entry.post_key in theirs)
    if post is not None:
        first = next(entries, None)
        if first is None:
            raise click.ClickException(
                f"there is no post {post!r} in campaign {campaign_id!r}: nothing in the audit trail is about it — "
                "give a post's key such as 'week-launch/lancs-x', or a plan entry such as 'week-launch' "
                "(`campaign preview PLAN` shows every post's key)")
        entries = itertools.chain([first], entries)
    writer(entries, sys.stdout)


@click.command()
@click.argument("post")
@click.option("-o", "--output", type=OUTPUT_FOLDER, required=True,
              help="The folder to write the bundle into (new or empty).")
@db_option
@campaign_option
def bundle(post: str, output: Path, db: str | None, campaign: str | None) -> None:
    """Write an FOI/records bundle for one post: exact text, media and alt text, approvals, times, links."""
    from campaign.people import Action
    from campaign.store.records import write_bundle

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.VIEW, campaign_id, [store.post(post, campaign_id).account])
    manifest = write_bundle(store, post, output, campaign)
    click.echo(f"Wrote the records bundle for {post} to {output} (manifest: {manifest.name})")


@click.group()
def db() -> None:
    """The store's database."""


@db.command()
@click.option("--db", "url", envvar="CAMPAIGN_DB", metavar="URL|PATH", help="The store (default as for other commands).")
def upgrade(url: str | None) -> None:
    """Create the store, or upgrade it to this version's schema."""
    from campaign.cli import STORE_META
    from campaign.store.database import create_store_engine, database_url, describe
    from campaign.store.database import upgrade as upgrade_schema

    engine = create_store_engine(database_url(url))
    click.get_current_context().meta[STORE_META] = describe(engine)
    before, after = upgrade_schema(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{where} is up to date (schema {after}).")
    else:
        click.echo(f"{where}: schema {before or 'empty'} → {after}.")
    engine.dispose()

