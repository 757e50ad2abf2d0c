"""`campaign demo`: the whole toolkit on the built-in defaults, in about ten seconds."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import click

from campaign.cli.types import OUTPUT_FOLDER, Number
from campaign.example import example_plan
from campaign.files import atomic_text, write_text


@click.command()
@click.argument("plan", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=Number(min=1, max=1_000_000), default=10_080, show_default=True,
              help="How many times faster than real time each post plays (10080: an hour in a third of a second); "
                   "the quiet hours between posts are skipped, so the week takes under four seconds. Lower it to "
                   "watch more slowly.")
@click.option("-o", "--output", type=OUTPUT_FOLDER,
              help="Where to write the report and the export (default: a new temporary folder).")
def demo(plan: Path | None, speed: float, output: Path | None) -> None:
    """Validate the bundled week (or PLAN), schedule and approve it in a temporary store, rehearse it against the
    sandbox, collect engagement, and report — printing where the HTML report and CSV export are.

    The rehearsal plays each post at SPEED and skips the quiet hours between posts (nights, gaps), so the
    week keeps its order and its engagement curve in a few seconds. `campaign rehearse` plays a week evenly.
    The store is kept in the output folder: `campaign export --db FOLDER/rehearsal.db` and `campaign report`
    read it as they read a real one.
    """
    from campaign.cli.errors import command_args, one_line_logging
    from campaign.cli.rehearse import summary_lines as rehearsal_lines
    from campaign.engagement import Collector
    from campaign.export import ExportFilter, rows, write
    from campaign.plan.loader import BEFORE_EVERY_PLAN
    from campaign.publishing.rehearsal import QUIET, rehearsal
    from campaign.render import render_plan
    from campaign.report import build, html, summary_lines

    plan = plan or example_plan()
    rendered = render_plan(plan, now=BEFORE_EVERY_PLAN)  # the demo plays the week as if it started now
    click.echo(f"1. Validated {plan.name}: {len(rendered.drafts)} posts, {len(rendered.errors)} errors, "
               f"{len(rendered.warnings)} warnings.")
    folder = output or Path(tempfile.mkdtemp(prefix="campaign-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    with one_line_logging(command_args()), rehearsal(rendered, speed=speed, workdir=folder, actor="demo",
                                                     quiet=QUIET) as run:
        click.echo(f"2. Scheduled and approved every post (as \"demo\") in {folder / 'rehearsal.db'}.")
        hours, seconds = run.clock.plan_span.total_seconds() / 3600, run.clock.real_span.total_seconds()
        click.echo(f"3. Rehearsing the week against the sandbox: its {hours:.0f} hours in "
                   f"{seconds:.{1 if seconds >= 0.1 else 3}f} s, each post at {speed:g}× speed and the quiet hours "
                   "between them skipped…")
        with click.progressbar(length=len(rendered.drafts), label="   posts settled", show_pos=True) as bar:
            done = [0]

            def progress(settled: int, _total: int) -> None:
                bar.update(settled - done[0])
                done[0] = settled

            summary = run.run(progress=progress)
        for line in rehearsal_lines(summary):
            click.echo(f"   {line}")
        collector = Collector(run.store, run.environ)
        try:
            collected = collector.collect_all(run.campaign)
        finally:
            collector.close()
        run.to_plan_time()
        click.echo(f"4. Collected engagement: {collected.snapshots} more snapshots.")
        built = build(run.store, run.campaign)
        report_path, export_path = folder / "report.html", folder / "engagement.csv"
        write_text(report_path, html(built))
        with atomic_text(export_path, newline="") as handle:
            count = write(rows(run.store, ExportFilter(campaign=run.campaign)), handle, "csv")
    click.echo("5. Report:")
    for line in summary_lines(built):
        click.echo(f"   {line}")
    click.echo(f"HTML report: {report_path}")
    click.echo(f"CSV export ({count} rows, every snapshot): {export_path}")
    # The process ends here. Its last garbage collection would walk every object the client libraries, the store
    # and the charts made (a second or more on a busy machine) to free memory that ending frees anyway.
    gc.freeze()
    if not summary.all_published:
        raise click.ClickException("not every post of the bundled week was published (see the table under 3.); "
                                   "run the demo again, and if it happens again, report it with this output")
