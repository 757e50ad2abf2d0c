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


def why_lines(posts: list[tuple[str, str, str | None]]) -> list[str]:
    """Why the posts that were not published were not: one line per state and reason, with how many posts and
    which (the first three). *posts*: (key, state, last error) of each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for key, state, reason in posts:
        groups.setdefault((state, reason or "no reason was recorded"), []).append(key)
    lines = []
    for (state, reason), keys in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        named = ", ".join(sorted(keys)[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        lines.append(f"{len(keys)} {state} ({named}): {reason}")
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
    from campaign.store import PostState

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
        left = [(post.key, str(post.state), post.last_error)
                for post in run.store.posts_in([state for state in PostState if state != PostState.PUBLISHED],
                                               run.campaign)]
    for line in summary_lines(summary) + why_lines(left):
        click.echo(line)
    if not summary.all_published:
        raise SystemExit(1)
