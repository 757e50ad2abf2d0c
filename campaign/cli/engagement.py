"""Commands for analysts: collect engagement now, export it, report on it."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from campaign.cli.store import acting, campaign_option, db_option, open_store
from campaign.cli.types import OUTPUT_FILE
from campaign.files import atomic_text, write_text
from campaign.platforms import PLATFORMS


@click.group()
def engagement() -> None:
    """Engagement collected from the platforms."""


@engagement.command()
@db_option
@campaign_option
def collect(db: str | None, campaign: str | None) -> None:
    """Collect engagement for every published post now (the runner also does this on its schedule).

    Exits 1 if any account's engagement could not be collected (a platform error, or a rate limit),
    naming the account and the platform's reason; every such failure is also in `campaign audit`.
    """
    from campaign.engagement import Collector
    from campaign.people import Action

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.COLLECT, campaign_id, None)
    collector = Collector(store)
    try:
        report = collector.collect_all(campaign_id)
    finally:
        collector.close()
    click.echo(f"Collected {report.snapshots} snapshots for {report.posts} posts.")
    for account, count in report.missing.items():
        click.secho(f"{account}: the platform did not return {count} of its posts (deleted there?)",
                    fg="yellow")
    for account, until in report.skipped.items():
        click.secho(f"{account}: not collected — rate-limited until {until:%Y-%m-%d %H:%M:%S} UTC; run this "
                    "again after that (the runner retries by itself)", fg="red")
    for account, reason in report.failures.items():
        click.secho(f"{account}: not collected — {reason}", fg="red")
    if not report.complete:
        failed = len(report.failures) + len(report.skipped)
        accounts = "account" if failed == 1 else "accounts"
        click.secho(f"{failed} {accounts} not collected: their figures are older than the others'.", fg="red")
        raise SystemExit(1)


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD", param_hint=name) from None


@click.command()
@click.option("--format", "output_format", type=click.Choice(["csv", "jsonl", "json"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to this file instead of standard output.")
@click.option("--latest", is_flag=True, help="One row per post, with its newest snapshot (default: every snapshot).")
@click.option("--platform", type=click.Choice(sorted(PLATFORMS)))
@click.option("--account", help="An account's id or handle.")
@click.option("--hashtag", help="Only posts with this hashtag (any case, with or without '#').")
@click.option("--since", help="First day (YYYY-MM-DD, local), inclusive.")
@click.option("--until", help="Last day (YYYY-MM-DD, local), inclusive.")
@click.option("--bom", is_flag=True, help="Start a CSV with the byte-order mark Excel uses to detect UTF-8.")
@db_option
@campaign_option
def export(output_format: str, output: Path | None, latest: bool, platform: str | None, account: str | None,
           hashtag: str | None, since: str | None, until: str | None, bom: bool, db: str | None,
           campaign: str | None) -> None:
    """Export engagement: one row per snapshot (or per post with --latest), streamed as it is read.

    Every published post appears, with empty measures if nothing has been collected yet. Times are
    ISO 8601, local and UTC; engagement_rate is (likes + reposts + replies + quotes) ÷ views, empty
    when views are unknown.
    """
    from campaign.export import ExportFilter, rows, write
    from campaign.people import Action

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.EXPORT, campaign_id, None if account is None else [account])
    wanted = ExportFilter(campaign_id, platform, account, hashtag, _day(since, "--since"),
                          _day(until, "--until"), latest)
    if output is None:
        count = write(rows(store, wanted), sys.stdout, output_format, bom)
    else:
        # Streamed into a temporary file beside OUTPUT, which replaces it only once the export is whole.
        with atomic_text(output, newline="") as handle:
            count = write(rows(store, wanted), handle, output_format, bom)
    click.echo(f"{count} row{'s' if count != 1 else ''} exported{f' to {output}' if output else ''}", err=True)


@click.command()
@click.option("-o", "--output", type=OUTPUT_FILE, required=True,
              help="The HTML file to write.")
@db_option
@campaign_option
def report(output: Path, db: str | None, campaign: str | None) -> None:
    """A self-contained HTML report with charts (totals and engagement rate by day, platform, account, language
    where there are several, and hashtag, and the top posts), and a summary here (by platform, day and
    language)."""
    from campaign.people import Action
    from campaign.report import build, html, summary_lines

    store = open_store(db)
    campaign_id = store.campaign_id(campaign)
    acting(store, None, Action.EXPORT, campaign_id, None)
    built = build(store, campaign_id)
    write_text(output, html(built))
    for line in summary_lines(built):
        click.echo(line)
    click.echo(f"Wrote the report to {output}")
