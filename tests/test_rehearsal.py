"""Rehearsals on a compressed clock: the clock that skips the quiet hours keeps every post's instant, order and
speed, and the demo's week, played on it, is still a week (posts in order, replies after their parents,
engagement growing over the days)."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign.cli.rehearse import summary_lines
from campaign.example import example_plan
from campaign.plan.loader import BEFORE_EVERY_PLAN
from campaign.publishing.rehearsal import DEFAULT_SPEED, QUIET, CompressedClock, Summary
from campaign.render import render_plan
from tests.conftest import DemoRun

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MONDAY = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
DUE = [MONDAY, MONDAY, MONDAY + timedelta(minutes=5), MONDAY + timedelta(hours=3),
       MONDAY + timedelta(days=1), MONDAY + timedelta(days=1), MONDAY + timedelta(days=1), MONDAY + timedelta(days=1),
       MONDAY + timedelta(days=6, hours=9)]
"""Due times, one per post: two posts at once, a reply five minutes on, a gap, a night, four at once, a long
quiet stretch."""
MEASURES = ("views", "likes", "reposts", "replies", "link_clicks")


def skipping(speed: float = DEFAULT_SPEED) -> CompressedClock:
    return CompressedClock(MONDAY, START, speed, DUE, QUIET)


def test_without_quiet_time_the_clock_plays_the_plan_evenly() -> None:
    """With no quiet time the clock is the plain compressed one: every plan hour takes 1/speed of an hour."""
    clock = CompressedClock(MONDAY, START, 3600.0, DUE)
    assert clock.real(MONDAY + timedelta(hours=1)) == START + timedelta(seconds=1)
    assert clock.virtual(START + timedelta(seconds=30)) == MONDAY + timedelta(hours=30)
    assert clock.virtual(START - timedelta(seconds=1)) == MONDAY - timedelta(hours=1)


def test_every_due_instant_keeps_its_place_and_its_order() -> None:
    """Each due time maps to a real time and back exactly (so the report reads the plan's times), and later
    instants come later in real time."""
    clock = skipping()
    reals = [clock.real(due) for due in sorted(set(DUE))]
    assert reals == sorted(reals) and len(set(reals)) == len(reals)
    assert [clock.virtual(real) for real in reals] == sorted(set(DUE))
    assert reals[0] == START


def test_plan_time_never_runs_backwards() -> None:
    """Read every millisecond of real time across the week: plan time only ever moves forward."""
    clock = skipping()
    seen = [clock.virtual(START + timedelta(milliseconds=ms)) for ms in range(-100, 3000)]
    assert seen == sorted(seen)


def test_each_post_plays_at_the_speed_and_a_quiet_stretch_takes_a_blink() -> None:
    """Just after an instant plan time runs at the speed (what a post sets off happens at the pace it would);
    a quiet stretch takes at most (posts at its start) × quiet / speed of real time, however long it is (the
    night after a one-post instant as much as its five-minute gap after a two-post one, nearly)."""
    clock = skipping()
    for due in sorted(set(DUE))[:-1]:
        step = timedelta(microseconds=100)
        assert clock.virtual(clock.real(due) + step) - due == pytest.approx(step * DEFAULT_SPEED, rel=0.01)
    counts = Counter(DUE)
    instants = sorted(counts)
    for before, after in itertools.pairwise(instants):
        most = counts[before] * QUIET / DEFAULT_SPEED
        assert clock.real(after) - clock.real(before) <= most + timedelta(microseconds=1)
    after_last = clock.real(instants[-1]) + timedelta(seconds=1)
    assert clock.virtual(after_last) - instants[-1] == timedelta(seconds=DEFAULT_SPEED)


def test_a_post_out_50_ms_after_its_instant_reads_as_minutes_late_not_hours() -> None:
    """A post's own times (when it went out, when it was claimed) are put back into the plan's week by how long
    after its due instant they came, at the speed each post plays at: 50 ms is 8.4 minutes at 10,080x. The clock
    itself, hurrying through the quiet stretch after an instant, would put the same post hours on (before, the
    demo's 09:00 posts read as out at noon), and a time before the instant stays at the instant."""
    clock = skipping()
    due = MONDAY + timedelta(hours=3)  # one post, then a night
    real_due = clock.real(due)
    out = real_due + timedelta(milliseconds=50)
    assert clock.played(real_due, out) - due == timedelta(milliseconds=50) * DEFAULT_SPEED
    assert clock.virtual(out) - due > timedelta(hours=3)  # what the clock alone would say
    assert clock.played(real_due, real_due - timedelta(milliseconds=5)) == due


def test_a_slower_speed_plays_the_week_more_slowly() -> None:
    """`--speed` still slows the week down for whoever wants to watch: a tenth of the speed, ten times the time."""
    assert skipping(DEFAULT_SPEED / 10).real_span == pytest.approx(skipping().real_span * 10, rel=1e-4)


def test_the_bundled_week_takes_seconds_and_averages_more_than_the_speed() -> None:
    """The bundled week (108 posts over six days and nine hours) plays in under four seconds of real time, on
    average far faster than the speed each post plays at (what the runner's collection offsets are scaled by)."""
    rendered = render_plan(example_plan(), now=BEFORE_EVERY_PLAN)
    due = [draft.when.utc for draft in rendered.drafts]
    clock = CompressedClock(min(due), START, DEFAULT_SPEED, due, QUIET)
    assert clock.plan_span == timedelta(days=6, hours=9)
    assert timedelta(seconds=2) < clock.real_span < timedelta(seconds=4)
    assert clock.average_speed > 10 * DEFAULT_SPEED


def test_a_summary_says_what_did_not_settle() -> None:
    """Posts a rehearsal left neither published, failed nor missed (it ran out of time) are said under the
    table, and the rehearsal does not count as all published."""
    summary = Summary()
    for state in ("published", "published", "approved", "unknown"):
        summary.add("2027-03-15", "x", state)
    assert not summary.all_published
    assert summary_lines(summary)[-1] == "not published either: 1 approved, 1 unknown when the rehearsal ended"
    done = Summary()
    done.add("2027-03-15", "x", "published")
    assert done.all_published and summary_lines(done)[-1].startswith("total")


@pytest.mark.slow
@pytest.mark.xdist_group("demo-run")  # one pytest-xdist worker runs the shared demo, once
def test_the_demo_week_plays_out_as_a_week(demo_run: DemoRun) -> None:
    """In the demo's store (moved back onto the plan's week), every post went out at or after its time, each
    account's posts in the order they were due, each reply after the post it answers (a reply waits for it,
    and may let a later post of its account go first); engagement was collected over the week, most posts
    more than once, growing from their first snapshot to their last and never going down in between."""
    assert demo_run.result.returncode == 0, demo_run.result.stdout + demo_run.result.stderr
    database = sqlite3.connect(demo_run.folder / "rehearsal.db")
    posts = {key: (account, datetime.fromisoformat(due), datetime.fromisoformat(published), reply_to)
             for key, account, due, published, state, reply_to in database.execute(
                 "SELECT key, account, due_at, published_at, state, reply_to FROM post")
             if state == "published"}
    assert len(posts) == 108
    assert all(published >= due for _, due, published, _ in posts.values())
    by_account: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for account, due, published, reply_to in posts.values():
        if reply_to is None:  # a reply waits for the post it answers: other posts of the account may go first
            by_account[account].append((due, published))
    for account, times in by_account.items():
        times.sort()
        for (due, published), (next_due, next_published) in itertools.pairwise(times):
            assert next_due == due or next_published > published, account
    replies = [(key, reply_to) for key, (_, _, _, reply_to) in posts.items() if reply_to]
    assert replies
    for key, parent in replies:
        assert posts[key][2] > posts[parent][2], key
    snapshots: dict[int, list[tuple[str, tuple[int | None, ...]]]] = defaultdict(list)
    for post_id, collected_at, *measures in database.execute(
            f"SELECT post_id, collected_at, {', '.join(MEASURES)} FROM engagement_snapshot ORDER BY collected_at"):
        snapshots[post_id].append((collected_at, tuple(measures)))
    assert len(snapshots) == 108
    collected = sorted(datetime.fromisoformat(at) for history in snapshots.values() for at, _ in history)
    assert collected[-1] - collected[0] > timedelta(days=4)
    for history in snapshots.values():
        for column in range(len(MEASURES)):
            counts = [measures[column] for _, measures in history if measures[column] is not None]
            assert counts == sorted(counts), history
    grown = [history for history in snapshots.values() if len(history) > 1]
    assert len(grown) > 108 / 2
    views = MEASURES.index("views")
    assert sum(h[-1][1][views] or 0 for h in grown) > sum(h[0][1][views] or 0 for h in grown)
    assert Path(demo_run.folder / "report.html").is_file()
