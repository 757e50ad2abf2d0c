"""Commands that read plans: validate, preview, calendar, init."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import click

from campaign.cli.types import OUTPUT_FILE, OUTPUT_FOLDER
from campaign.example import example_plan, example_root
from campaign.files import atomic_folder, write_bytes, write_text
from campaign.grouping import grouped
from campaign.platforms import PLATFORMS
from campaign.preview import Selection, json_preview, parse_day, plural, text_preview
from campaign.problems import Problem, capped, total
from campaign.render import RenderedPlan, render_plan

PLAN_ARGUMENT = click.Path(dir_okay=False, path_type=Path)


def _render(path: Path | None) -> RenderedPlan:
    return render_plan(path or example_plan())


def reported(problems: Iterable[Problem]) -> list[Problem]:
    """*problems* as they are shown: one per problem (the accounts it affects named in it), in file and line
    order, capped with a count of the rest."""
    return capped(sorted(grouped(problems), key=lambda p: (p.file, p.line)))


def echo_problems(problems: Iterable[Problem], err: bool = False) -> None:
    for problem in reported(problems):
        colour = "red" if problem.is_error else "yellow"
        click.secho(str(problem), fg=colour, err=err)


@click.command()
@click.argument("plans", nargs=-1, type=PLAN_ARGUMENT)
def validate(plans: tuple[Path, ...]) -> None:
    """Check PLANS and every post they render; exit 1 on any error.

    With no PLAN, checks the bundled example week. Every problem is listed at once, as
    FILE:LINE: where: what is wrong — how to fix it.
    """
    failed = False
    for path in plans or (example_plan(),):
        rendered = _render(path)
        echo_problems(rendered.problems)
        posts = len(rendered.plan.posts) if rendered.plan else 0
        verdict = "ok" if rendered.ok else "not ready"
        entries = f"{posts} plan entr{'y' if posts == 1 else 'ies'}"
        # Counted as listed: one problem found in several posts is one problem.
        # (A "… and N more" line stands for its N.)
        errors, warnings = total(grouped(rendered.errors)), total(grouped(rendered.warnings))
        click.echo(f"{path}: {verdict}: {plural(errors, 'error')}, "
                   f"{plural(warnings, 'warning')} in {entries} "
                   f"({plural(len(rendered.drafts), 'post')} to publish)")
        failed = failed or not rendered.ok
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("plan", required=False, type=PLAN_ARGUMENT)
@click.option("--day", help="Only this day: a date (2027-03-15) or a weekday (mon, tuesday).")
@click.option("--platform", type=click.Choice(sorted(PLATFORMS)), help="Only this platform.")
@click.option("--account", help="Only this account (its id in the plan, or its handle).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--html", "html_file", type=OUTPUT_FILE,
              help="Also write a self-contained HTML page of the posts as each platform will show them.")
def preview(plan: Path | None, day: str | None, platform: str | None, account: str | None,
            output_format: str, html_file: Path | None) -> None:
    """Show every post of PLAN exactly as it will appear, in time order.

    With no PLAN, previews the bundled example week. Each post shows its local and UTC time, its
    account, its text, its length against the platform's limit, and any warnings or errors.
    Exits 1 if the plan has errors.
    """
    try:
        selection = Selection(parse_day(day) if day else None, platform, account)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--day") from None
    rendered = _render(plan)
    if account and rendered.plan and not any(account in (a.id, a.handle) for a in rendered.plan.accounts.values()):
        known = ", ".join(rendered.plan.accounts)
        raise click.BadParameter(f"the plan has no account {account!r}; its accounts are: {known}",
                                 param_hint="--account")
    drafts = selection.apply(rendered.drafts)
    if output_format == "json":
        click.echo(json_preview(rendered, drafts))
    else:
        for line in text_preview(rendered, drafts):
            click.echo(line)
        plan_problems = [p for p in rendered.problems if not any(p in d.problems for d in rendered.drafts)]
        echo_problems(plan_problems)
    if html_file is not None:
        from campaign.preview_html import html_preview

        write_text(html_file, html_preview(rendered, drafts))
        # Keep stdout pure JSON when --format json is asked for.
        click.echo(f"Wrote the HTML preview of {plural(len(drafts), 'post')} to {html_file}",
                   err=output_format == "json")
    if not rendered.ok:
        raise SystemExit(1)


@click.command()
@click.argument("plan", required=False, type=PLAN_ARGUMENT)
@click.option("-o", "--output", type=OUTPUT_FILE, required=True,
              help="The .ics file to write.")
def calendar(plan: Path | None, output: Path) -> None:
    """Write PLAN's posts as an iCalendar file: one event per post, for Outlook or any calendar.

    With no PLAN, uses the bundled example week. Exits 1 (after writing) if the plan has errors.
    """
    from campaign.calendar import calendar_bytes

    rendered = _render(plan)
    write_bytes(output, calendar_bytes(rendered, rendered.drafts))
    click.echo(f"Wrote {plural(len(rendered.drafts), 'post')} to {output}")
    if not rendered.ok:
        echo_problems(rendered.errors, err=True)
        raise SystemExit(1)


@click.command()
@click.argument("directory", type=OUTPUT_FOLDER)
def init(directory: Path) -> None:
    """Start a new campaign in DIRECTORY from the bundled example week.

    Creates DIRECTORY/schedules (the plan and its images) and DIRECTORY/posts (its templates), whole or
    not at all. Refuses to write into a folder that already has files in it.
    """
    source = example_root()
    with atomic_folder(directory) as building:
        for part in ("schedules", "posts"):
            shutil.copytree(source / part, building / part, ignore=shutil.ignore_patterns("__pycache__"))
    plan = directory / "schedules" / example_plan().name
    click.echo(f"Created {plan} and its templates in {directory / 'posts'}.")
    bilingual = sorted(p.name for p in (directory / "schedules").glob("*.yaml") if p.name != plan.name)
    if bilingual:
        click.echo(f"Also there: {', '.join(bilingual)}, a week in Welsh and English, to start from for a force in "
                   "Wales.")
    click.echo(f"Next: edit the plan, then run `campaign validate {plan}` and `campaign preview {plan}`.")
