"""Exactly once against servers as they really behave: the chaos proof.

Runner processes (two at a time, on one SQLite store, with the production lease and heartbeat) publish to a
sandbox whose fault layer plays what real servers do — create requests that succeed but whose reply is lost,
servers that die after creating a post and refuse connections for a while, replies slower than the client's
timeout, 503s after the post request, Mastodon ignoring ``Idempotency-Key``, reads that fail, and reads that
lag the writes — while runners are SIGKILLed at random moments and restarted. The sandbox runs in the test
process, so its own record of what was posted survives every kill and is the judge.

And the proof that the judge can see: a runner with the no-blind-re-send rule broken on purpose (a failed
lookup taken for "not there") publishes a post twice under the same faults, and the same checks catch it.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign.publishing import reconcile
from campaign.publishing.events import EventBus
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.sandbox import Sandbox, running
from campaign.sandbox.engagement import utc_now
from campaign.store import PostState, Store
from tests.runner_fixtures import (
    CAMPAIGN,
    PlanAccount,
    audit_trail,
    aware,
    demo_plan_accounts,
    environment,
    posts,
    put_on_real_time,
    runner_command,
    runner_environment,
    sandbox_counts,
    schedule_and_approve,
    states,
    wait_until,
    write_plan,
)

# On one pytest-xdist worker: runner processes on the real clock, never two of these tests at once.
pytestmark = pytest.mark.xdist_group("runner-processes")

READ_LAG = 1.0
"""Seconds the sandbox hides a new post from reads (eventual consistency)."""
CREATE = {
    "x": "x:POST /2/tweets",
    "facebook": "facebook:POST /v*/*/feed",
    "mastodon": "mastodon:POST /api/v1/statuses",
    "bluesky": "bluesky:POST /xrpc/com.atproto.repo.createRecord",
    "linkedin": "linkedin:POST /rest/posts",
    "instagram": "instagram:POST /v*/*/media_publish",
}
CHAOS = [
    *(f"{create}:lose_reply:probability=0.15,down=2" for create in CREATE.values()),
    *(f"{create}:slow_reply:probability=0.1,seconds=3" for create in CREATE.values()),
    *(f"{create}:error503:probability=0.08" for create in CREATE.values()),
    "*:GET *:error503:probability=0.15",
    "mastodon:POST /api/v1/statuses:ignore_idempotency",
]
"""The faults, first rule that fires wins: a create request's reply is lost (and the server is then down for
2 s), comes after the client's 1.5 s timeout, or is a 503; one read in seven fails; Mastodon ignores
``Idempotency-Key`` on every create that gets through."""

RUNNER_SETTINGS = {"campaign": CAMPAIGN, "refresh": 0.5, "horizon": 600, "timeout": 1.5, "backoff": 0.3,
                   "backoff_cap": 2.0, "read_lag": READ_LAG + 0.5, "collect_every": 0}
"""The production lease and heartbeat; short timeouts and backoff so the test is quick; the sandbox's read lag
known to the runner with a margin, as a platform's is."""


@dataclass
class Kill:
    runner: str
    at: datetime
    orphans: list[str]
    """Posts the killed runner held (sending them, or looking them up) at the moment it died."""


@dataclass
class Fleet:
    """Runner subprocesses on one store, started and SIGKILLed at will."""

    folder: Path
    url: str
    accounts: list[PlanAccount]
    alive: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    dead: list[subprocess.Popen[str]] = field(default_factory=list)
    started: int = 0

    def start(self) -> str:
        name = f"chaos-{self.started:02d}"
        self.started += 1
        process = subprocess.Popen(runner_command(self.folder, self.url, name, RUNNER_SETTINGS),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   env=runner_environment(self.accounts))
        assert process.stdout is not None and process.stdout.readline().strip() == "ready", process.poll()
        self.alive[name] = process
        return name

    def kill(self, name: str, store: Store) -> Kill:
        process = self.alive.pop(name)
        process.kill()
        process.wait()
        self.dead.append(process)
        held = [p.key for p in posts(store).values()
                if p.claimed_by == name and p.state in (PostState.PUBLISHING, PostState.UNKNOWN)]
        return Kill(name, datetime.now(UTC), held)

    def stop_all(self) -> None:
        for process in [*self.alive.values(), *self.dead]:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.alive.clear()


@contextmanager
def fleet(folder: Path, url: str, accounts: list[PlanAccount]) -> Iterator[Fleet]:
    runners = Fleet(folder, url, accounts)
    try:
        yield runners
    finally:
        runners.stop_all()


def judge(sandbox: Sandbox, store: Store, accounts: list[PlanAccount]) -> None:
    """The sandbox's own record against the store's: no post twice, none lost, every post in a true state."""
    handles = {a.key: a.sandbox.handle for a in accounts}
    twice = {what: n for what, n in sandbox_counts(sandbox).items() if n > 1}
    assert twice == {}, f"published more than once: {twice}"
    out = {(p.platform, p.account, p.text): p for p in sandbox.posts()}
    stored = posts(store)
    for key, post in stored.items():
        on_platform = out.get((post.platform, handles[post.account], post.text))
        assert post.state not in (PostState.PUBLISHING, PostState.UNKNOWN), (key, post.state, post.last_error)
        if post.state == PostState.PUBLISHED:
            assert on_platform is not None, f"{key} is published in the store but not on {post.platform}"
            assert post.remote_id == on_platform.id, (key, post.remote_id, on_platform.id)
        else:
            assert on_platform is None, f"{key} is {post.state} in the store but is on {post.platform}"
    assert len(out) == sum(p.state == PostState.PUBLISHED for p in stored.values()), "a post nobody knows of"


def takeover_seconds(store: Store, kills: list[Kill]) -> list[float]:
    """For each post a killed runner held: seconds from the kill until another runner had taken it over — put it
    back in the queue (it had not been sent), looked it up (found, not found, or the lookup failed), or was
    holding it when it was killed in turn (its own takeover is then counted from that kill)."""
    trail = audit_trail(store)
    taken: list[float] = []
    for number, kill in enumerate(kills):
        for key in kill.orphans:
            moments = [aware(e.at) for e in trail if e.post_key == key and aware(e.at) >= kill.at
                       and e.actor != kill.runner and e.action in ("released", "reconciled", "lookup_failed",
                                                                   "published")]
            moments += [later.at for later in kills[number + 1:] if key in later.orphans]
            assert moments, f"{key}, held by {kill.runner} when it was killed, was never taken over"
            taken.append((min(moments) - kill.at).total_seconds())
    return taken


def unsettled(store: Store) -> dict[str, list[str]]:
    """Each post not yet published, with its last audit entries (for a failure message)."""
    trail = audit_trail(store)
    return {key: [f"{e.at:%H:%M:%S.%f} {e.actor} {e.action} {e.details[:160]}" for e in trail
                  if e.post_key == key][-6:]
            for key, state in states(store).items() if state != PostState.PUBLISHED}


@pytest.mark.slow
def test_chaos_no_post_twice_none_lost_every_state_true_and_takeover_within_20_seconds(tmp_path: Path) -> None:
    """84 posts (14 entries × X, Facebook, Mastodon, Bluesky, LinkedIn, Instagram, due over ~17 s, 3 minutes' grace) under
    :data:`CHAOS`, a 1 s read lag and 150 ms answers, published by two runner processes at a time that are
    SIGKILLed every few seconds (two kills in three aimed at a runner holding a post) and replaced, with the
    production lease (12 s)
    and heartbeat (2 s). At the end: no post on any platform twice, none lost (every post published, each
    with the sandbox's id), every post in a true state; every kind of fault fired and lookups both found
    posts and failed; and every post a killed runner held was taken over by another — after a lookup where
    it may have been sent — with p99 within 20 s of the kill."""
    rng = random.Random(20261125)
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    sandbox = Sandbox(seed=11, clock=utc_now, read_lag=READ_LAG, latency_ms=150)  # answers take a platform's time
    with running(sandbox):
        accounts = demo_plan_accounts(sandbox)
        store = Store.open(url)
        schedule_and_approve(store, write_plan(tmp_path, sandbox, accounts, entries=14, grace="3m"))
        due = put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=3), timedelta(seconds=1.2),
                               timedelta(minutes=3))
        last_due = max(due.values())
        sandbox.set_faults(*CHAOS)
        kills: list[Kill] = []
        with fleet(tmp_path, url, accounts) as runners:
            runners.start()
            runners.start()
            # Until the last post is due, and at least until three kills have caught posts in flight (a loaded
            # machine starts a runner process in 5 s, and the posts' 17 s then saw a single kill).
            while (datetime.now(UTC) < last_due + timedelta(seconds=3)
                   or sum(len(k.orphans) for k in kills) < 3) and len(kills) < 12:
                victim = rng.choice(sorted(runners.alive))
                if len(kills) % 3:  # aimed: the moment the victim holds a post (sending it, or looking it up)
                    wait_until(lambda: any(p.claimed_by == victim and p.state in (  # noqa: B023
                        PostState.PUBLISHING, PostState.UNKNOWN) for p in posts(store).values()), 5, 0.01)
                else:
                    time.sleep(rng.uniform(1.0, 2.5))
                kills.append(runners.kill(victim, store))
                runners.start()
            sandbox.clear_faults()  # the platforms recover; lookups backing off (up to a minute) then settle all
            settled = wait_until(lambda: all(s == PostState.PUBLISHED for s in states(store).values()), 150, 0.5)
        assert settled, unsettled(store)
        judge(sandbox, store, accounts)

        fired = Counter(r.fault for r in sandbox.requests() if r.fault)
        trail = audit_trail(store)
        found = [e for e in trail if e.action == "reconciled" and '"found": true' in e.details]
        failed_lookups = [e for e in trail if e.action == "lookup_failed"]
        # (every lost reply also took the server down for 2 s: its rule has down=2)
        assert {"lose_reply", "slow_reply", "error503", "ignore_idempotency"} <= set(fired), fired
        assert found and failed_lookups, "lookups never found a lost post, or never failed: a case went untested"
        taken = takeover_seconds(store, kills)
        assert sum(len(k.orphans) for k in kills) >= 3, [(k.runner, k.orphans) for k in kills]
        p99 = sorted(taken)[max(0, int(len(taken) * 0.99) - 1)] if len(taken) > 1 else taken[0]
        assert p99 <= 20.0, sorted(taken)
        print(f"\n{len(kills)} kills, {len(taken)} posts taken over (p99 {p99:.1f} s, max {max(taken):.1f} s); "
              f"faults fired: {dict(fired)}; {len(found)} lost posts found by lookups, {len(failed_lookups)} "
              f"lookups failed")
        store.close()


def test_the_chaos_checks_catch_a_runner_that_re_sends_without_a_successful_lookup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule broken on purpose, to show the proof can fail: Mastodon ignores ``Idempotency-Key``; a status is
    created, its reply lost, and the server is down for 2 s, so the lookup that follows fails. A correct runner
    keeps the post ``unknown`` until a lookup succeeds and finds it: one status. A runner that takes a failed
    lookup for "not there" sends it again as soon as the server is back: two statuses — and :func:`judge`,
    the chaos test's check, fails on it."""
    def one_post(blind: bool) -> AssertionError | None:
        folder = tmp_path / ("blind" if blind else "correct")
        folder.mkdir()
        sandbox = Sandbox(seed=3, clock=utc_now)
        with running(sandbox):
            accounts = [a for a in demo_plan_accounts(sandbox) if a.platform == "mastodon"]
            store = Store.open(f"sqlite:///{folder / 'campaign.db'}")
            schedule_and_approve(store, write_plan(folder, sandbox, accounts, entries=1, grace="1m"))
            put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=0.5), timedelta(seconds=1),
                             timedelta(minutes=1))
            sandbox.set_faults(f"{CREATE['mastodon']}:lose_reply:times=1,down=2",
                               "mastodon:POST /api/v1/statuses:ignore_idempotency")
            if blind:
                looked_up = reconcile.look_up

                def take_failure_for_absence(*args: object, **kwargs: object) -> reconcile.Lookup:
                    lookup = looked_up(*args, **kwargs)  # type: ignore[arg-type]
                    return reconcile.Lookup(reconcile.Verdict.ABSENT) \
                        if lookup.verdict == reconcile.Verdict.UNDECIDED else lookup

                monkeypatch.setattr(reconcile, "look_up", take_failure_for_absence)
            settings = RunnerSettings(campaign=CAMPAIGN, refresh=0.3, timeout=1.0, backoff=0.2, backoff_cap=0.5,
                                      read_lag=0.0, collect_every=0)
            runner = Runner(store, settings, EventBus(), environ=environment(accounts), name="one")
            runner.start()
            try:
                assert wait_until(lambda: set(states(store).values()) == {PostState.PUBLISHED}, 20), states(store)
            finally:
                runner.stop()
                monkeypatch.undo()
            try:
                judge(sandbox, store, accounts)
                return None
            except AssertionError as caught:
                return caught
            finally:
                assert len(sandbox.posts("mastodon")) == (2 if blind else 1)
                store.close()

    assert one_post(blind=False) is None
    caught = one_post(blind=True)
    assert caught is not None and "published more than once" in str(caught)

