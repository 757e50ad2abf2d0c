"""`campaign rehearse`: watch a whole plan play out against the sandbox, a week in about a minute."""

from __future__ import annotations

from pathlib import Path

import click

from campaign.cli.types import Number
from campaign.example import example_plan


def summary_lines(summary: object) -> list[str]:
    from campaign.publishing.rehearsal import Summary

    assert isinstance(summary, Summary)
    states = ["published", "failed", "missed"]
    lines = [f"{'':<14}" + "".join(f"{s:>11}" for s in states)]
    for label, table in (("by day", summary.by_day), ("by platform", summary.by_platform)):
        lines.append(label)
        for key in sorted(table):
            lines.append(f"  {key:<12}" + "".join(f"{table[key].get(s, 0):>11}" for s in states))
    lines.append(f"{'total':<14}" + "".join(f"{summary.totals.get(s, 0):>11}" for s in states))
    others = sorted((state, count) for state, count in summary.totals.items() if state not in states)
    if others:
        lines.append("not published either: " + ", ".join(f"{count} {state}" for state, count in others)
                     + " when the rehearsal ended")
    return lines


@click.command()
@click.argument("plan", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=Number(min=1, max=1_000_000), default=10_080, show_default=True,
              help="How many times faster than real time (10080: a week in a minute).")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Make the sandbox misbehave, e.g. 'x:POST /2/tweets:error503:every=5' (see `campaign "
                   "sandbox serve --help`).")
def rehearse(plan: Path | None, speed: float, faults: tuple[str, ...]) -> None:
    """Play PLAN against the sandbox with time compressed, on a temporary store, and summarise.

    Every post is approved (as "rehearsal") and published to an in-process sandbox at its scaled
    time; nothing touches your store or the real platforms. With no PLAN, rehearses the bundled week.
    """
    from campaign.cli.errors import command_args, one_line_logging
    from campaign.publishing.rehearsal import rehearsal

    with one_line_logging(command_args()), rehearsal(plan or example_plan(), speed=speed) as run:
        for fault in faults:
            run.sandbox.add_fault(fault)
        total = len(run.rendered.drafts)
        click.echo(f"Rehearsing {run.rendered.plan.campaign.name if run.rendered.plan else plan}: {total} posts "
                   f"at {speed:g}× speed")
        with click.progressbar(length=total, label="Posts settled", show_pos=True) as bar:
            done = [0]

            def progress(settled: int, _total: int) -> None:
                bar.update(settled - done[0])
                done[0] = settled

            summary = run.run(progress=progress)
    for line in summary_lines(summary):
        click.echo(line)
    if not summary.all_published:
        raise SystemExit(1)
