"""How the store's state is shown in the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

import click

from campaign.problems import one_line
from campaign.store import PostState, Status
from campaign.store.next_steps import way_forward

STATE_ORDER = [state.value for state in PostState]


def status_lines(status: Status) -> Iterator[str]:
    campaign = status.campaign
    zone = ZoneInfo(campaign.zone)
    yield click.style(campaign.name, bold=True) + f" ({campaign.id}) · {campaign.zone} · plan {campaign.plan_path}"
    days = sorted({day for per_day in status.counts.values() for day in per_day})
    header = f"{'':<12}" + "".join(f"{date.fromisoformat(d):%a %d}".rjust(8) for d in days) + "   total"
    yield ""
    yield header
    for state in sorted(status.counts, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 99):
        per_day = status.counts[state]
        cells = "".join(str(per_day.get(d, "·")).rjust(8) for d in days)
        yield f"{state:<12}{cells}{sum(per_day.values()):>8}"
    yield ""
    if status.holds:
        for hold in status.holds:
            scope = f"account {hold.account}" if hold.account else "every account"
            until = f", until {hold.until.astimezone(zone):%Y-%m-%d %H:%M %Z}" if hold.until else ""
            yield click.style(f"PAUSED: {scope} since {hold.created_at.astimezone(zone):%Y-%m-%d %H:%M %Z} by "
                              f"{one_line(hold.created_by)}: {one_line(hold.reason)}{until}", fg="red", bold=True)
    else:
        yield "Pauses: none"
    yield ""
    if status.next_due:
        yield "Next due:"
        for post in status.next_due:
            yield f"  {post.local_time:%a %d %b %H:%M}  {post.platform:<9} {post.handle:<28} {post.key}"
    else:
        yield "Next due: nothing approved is waiting"
    yield ""
    if status.stalled:
        oldest = status.stalled[0]
        yield click.style(
            f"Nothing is moving {len(status.stalled)} post{'s' if len(status.stalled) != 1 else ''} that should be "
            f"(the oldest, {oldest.key}, {oldest.state}, due {oldest.local_time:%a %d %b %H:%M}): is `campaign run` "
            "running? Start it; it sends what is still in time, looks up what may be out, and marks the rest missed.",
            fg="red", bold=True)
        yield ""
    if status.needs_a_person:
        yield click.style(f"Needs a person ({len(status.needs_a_person)}):", fg="yellow", bold=True)
        for post in status.needs_a_person:
            reason = f"  — {one_line(post.last_error)}" if post.last_error else ""
            yield f"  {post.state:<8} {post.key}{reason}"
            yield f"           {way_forward(post, pair=status.pairs.get(post.key, ()))}"
    else:
        yield "Needs a person: nothing"
