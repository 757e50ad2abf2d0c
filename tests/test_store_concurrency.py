"""Several processes against one store: claims are exclusive, nothing is left behind, and a pause is final.

These are the issue's proofs that a claim is ONE conditional statement and that ``pause`` is a barrier. They
run real runner processes (``multiprocessing`` with the "spawn" context; each opens the store by its URL, as a
separate runner would) against a SQLite file and against a PostgreSQL database.

The processes are started once per module and then run one task per test (starting them costs ~3 s of the
2 shared cores each time). A task's runners open the store, then wait for an agreed instant on the system
clock, so that they really start together.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from campaign.store import Store
from campaign.store.models import Post, PostState, PublishAttempt, table_columns
from tests import store_fixtures
from tests.store_fixtures import (
    CAMPAIGN_ID,
    P,
    add_due_approved_posts,
    audit_entries,
    aware,
    opened,
    posts_by_key,
    retime_posts,
)

# On one pytest-xdist worker: the module's pool of runner processes is started once.
pytestmark = pytest.mark.xdist_group("store-processes")

store_url = store_fixtures.store_url  # a fixture: a new, empty database, on SQLite and on PostgreSQL
postgres_store_url = store_fixtures.postgres_store_url  # a fixture: a new, empty PostgreSQL database

SPAWN = multiprocessing.get_context("spawn")
RUNNERS = 8
TASK_TIMEOUT = 180.0


# -- runner processes ----------------------------------------------------------------------------------------


def serve(inbox: Any, results: Any) -> None:
    """A runner process: run each task it is sent, send back its result or its traceback."""
    while (task := inbox.get()) is not None:
        run_id, name, target, args = task
        try:
            results.put((run_id, name, target(name, *args), None))
        except BaseException:  # noqa: BLE001 - the traceback goes back to the test
            results.put((run_id, name, None, traceback.format_exc()))


def ready(name: str) -> str:
    return name


class Runners:
    """:data:`RUNNERS` processes, started once; :meth:`run` gives each one a task and collects the results."""

    def __init__(self) -> None:
        self.results = SPAWN.Queue()
        self.inboxes = [SPAWN.Queue() for _ in range(RUNNERS)]
        self.processes = [SPAWN.Process(target=serve, args=(inbox, self.results), name=f"runner-{n}", daemon=True)
                          for n, inbox in enumerate(self.inboxes)]
        for process in self.processes:
            process.start()
        self.runs = 0
        self.broken = False
        # Wait until every process has imported the store and answers, so that no test's timing pays for it.
        self.run([(f"runner-{n}", ready, ()) for n in range(RUNNERS)])

    def run(self, tasks: list[tuple[str, Callable[..., Any], tuple[Any, ...]]]) -> dict[str, Any]:
        """Run ``target(name, *args)`` for each task, one task per process; return {name: result}."""
        assert len(tasks) <= RUNNERS
        self.runs += 1
        for inbox, (name, target, args) in zip(self.inboxes, tasks, strict=False):
            inbox.put((self.runs, name, target, args))
        outcomes: dict[str, Any] = {}
        errors: list[str] = []
        deadline = time.monotonic() + TASK_TIMEOUT
        while len(outcomes) + len(errors) < len(tasks):
            try:
                run_id, name, value, error = self.results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.broken = True
                pytest.fail(f"runners did not finish within {TASK_TIMEOUT:.0f} s; finished: {sorted(outcomes)}")
            if run_id != self.runs:
                continue
            if error is not None:
                errors.append(f"{name}:\n{error}")
            else:
                outcomes[name] = value
        assert not errors, "\n".join(errors)
        return outcomes

    def close(self) -> None:
        # Idle runners hold nothing (each task closes its store): stop them at once rather than wait for each
        # interpreter to wind down.
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


@pytest.fixture(scope="module")
def runner_pool() -> Iterator[list[Runners]]:
    pool: list[Runners] = []
    yield pool
    for runners in pool:
        runners.close()


@pytest.fixture
def runners(runner_pool: list[Runners]) -> Runners:
    """The module's runner processes (started again if a test left them stuck)."""
    if runner_pool and runner_pool[-1].broken:
        runner_pool.pop().close()
    if not runner_pool:
        runner_pool.append(Runners())
    return runner_pool[-1]


def start_instant(seconds: float = 0.6) -> datetime:
    """An instant for runners to start at together: time for each to open the store first."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


def sleep_until(instant: datetime) -> None:
    if (wait := (instant - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(wait)


# -- one runner: the limit --------------------------------------------------------------------------------------


def test_claim_due_takes_at_most_limit_posts_earliest_first(store_url: str) -> None:
    """``claim_due(limit=n)`` claims at most n posts per call, the earliest due first, until none is left:
    a runner asks for no more posts than it can publish within the lease."""
    with opened(store_url) as store:
        due = add_due_approved_posts(store, 60)
        later = sorted(posts_by_key(store))[:15]
        with store.engine.begin() as connection:  # 15 of them fall due a minute after the rest
            connection.execute(update(Post).where(P.key.in_(later)).values(due_at=due.claim_time))
        batches = []
        while batch := store.claim_due("runner", now=due.claim_time, limit=7):
            batches.append(batch)
        assert [len(b) for b in batches] == [7] * 8 + [4]
        order = [post.key for batch in batches for post in sorted(batch, key=lambda p: (aware(p.due_at), p.key))]
        assert set(order[-15:]) == set(later)
        assert Counter(p.state for p in posts_by_key(store).values()) == {PostState.PUBLISHING: 60}


# -- readers do not stop runners -------------------------------------------------------------------------------


def test_reading_the_audit_trail_slowly_does_not_stop_claims(store_url: str) -> None:
    """An officer reading the audit trail slowly (``campaign audit | less``, stopped at the first screen) does
    not stop the runners: a claim from another connection goes through at once, and the trail, read on
    afterwards, is complete and in order. (On SQLite every store transaction takes the write lock, so a
    trail streamed inside one transaction made every claim wait 5 s and fail with "database is locked".)"""
    with opened(store_url) as reader, opened(store_url) as runner:
        due = add_due_approved_posts(reader, 260)  # 521 audit entries: more than one page of 500
        trail = reader.audit()
        first = next(trail)
        started = time.monotonic()
        claimed = runner.claim_due("runner", now=due.claim_time, limit=5)
        waited = time.monotonic() - started
        rest = list(trail)
    assert len(claimed) == 5 and waited < 2.0, f"the claim waited {waited:.1f} s for the reader"
    ids = [entry.id or 0 for entry in [first, *rest]]
    assert ids == sorted(set(ids)) and len(ids) >= 521


# -- 8 processes, 1,000 due posts ----------------------------------------------------------------------------------


def claim_due_until_none_left(name: str, url: str, now: datetime, limit: int, start: datetime) -> list[int]:
    """A runner: open the store, wait for the start, then ``claim_due`` until nothing is left."""
    with opened(url) as store:
        sleep_until(start)
        claimed: list[int] = []
        while batch := store.claim_due(name, now=now, limit=limit):
            assert len(batch) <= limit, f"claim_due(limit={limit}) claimed {len(batch)} posts"
            claimed += [post.id for post in batch if post.id is not None]
        return claimed


def claim_each_post(name: str, url: str, post_ids: list[int], now: datetime, start: datetime) -> list[int]:
    """A runner that tries ``claim(post_id)`` on every post, in its own order; returns the ones it won."""
    import random

    order = list(post_ids)
    random.Random(name).shuffle(order)
    with opened(url) as store:
        sleep_until(start)
        return [post_id for post_id in order if store.claim(post_id, name, now=now)]


def claim_and_arm_in_batches(name: str, url: str, post_ids: list[int], now: datetime, start: datetime) -> list[int]:
    """A runner that claims and arms the posts in batches of 20 overlapping every other runner's (its own
    shuffled order), one every 2 ms, as alarms of several runners ring for the same instants; returns the ones it
    won."""
    import random

    order = list(post_ids)
    random.Random(name).shuffle(order)
    with opened(url) as store:
        sleep_until(start)
        won: list[int] = []
        for first in range(0, len(order), 20):
            won += [post.id for post in store.claim_and_arm(order[first:first + 20], name, now)
                    if post.id is not None]
            time.sleep(0.002)
        return won


def race_for_each_post(store: Store, url: str, runners: Runners, count: int,
                       worker: Callable[..., list[int]]) -> tuple[Any, dict[str, list[int]]]:
    """*count* due approved posts, and every runner process racing for all of them with *worker* (given the
    store's URL, every post id, the claim time and the common start); returns the posts and each runner's wins."""
    due = add_due_approved_posts(store, count)
    post_ids = sorted(p.id for p in posts_by_key(store).values() if p.id is not None)
    start = start_instant()
    return due, runners.run([(f"runner-{n}", worker, (url, post_ids, due.claim_time, start)) for n in range(RUNNERS)])


def assert_each_claimed_exactly_once(store: Store, wins: dict[str, list[int]], expected: frozenset[str]) -> None:
    """Every post was won by one runner: in the runners' own results, the posts table and the audit log."""
    posts = posts_by_key(store)
    assert set(posts) == expected
    by_id = {post.id: post for post in posts.values()}
    won = [post_id for ids in wins.values() for post_id in ids]
    assert len(won) == len(set(won)), f"{len(won) - len(set(won))} posts were returned to two runners"
    assert set(won) == set(by_id), f"{len(set(by_id) - set(won))} posts were never returned to any runner"
    for runner, ids in wins.items():
        assert all(by_id[post_id].claimed_by == runner for post_id in ids)
    # None left behind, none claimed twice: every post is being published, by one runner, after one claim.
    assert Counter(post.state for post in posts.values()) == {PostState.PUBLISHING: len(expected)}
    assert all(post.attempts == 1 and post.claimed_by is not None for post in posts.values())
    claims = audit_entries(store, "claimed")
    assert Counter(entry.post_key for entry in claims) == dict.fromkeys(expected, 1)
    assert all(entry.actor == posts[entry.post_key or ""].claimed_by for entry in claims)
    # They really contended: the work was shared out, not done by whichever process happened to start first.
    assert sum(1 for ids in wins.values() if ids) >= 2, {name: len(ids) for name, ids in wins.items()}


@pytest.mark.slow
def test_eight_processes_claim_a_thousand_due_posts_each_exactly_once(store_url: str, runners: Runners) -> None:
    """8 runner processes, starting together, call ``claim_due`` (10 at a time) on 1,000 posts due at the same
    instant until none is left: each post is claimed by exactly one runner (in the runners' own results, in
    ``post.claimed_by`` and ``attempts``, and in exactly one ``claimed`` audit entry), no call returns more
    than its limit, and none is left approved."""
    with opened(store_url) as store:
        due = add_due_approved_posts(store, 1000)
        start = start_instant()
        wins = runners.run([(f"runner-{n}", claim_due_until_none_left, (store_url, due.claim_time, 10, start))
                            for n in range(RUNNERS)])
        assert_each_claimed_exactly_once(store, wins, due.keys)


@pytest.mark.slow
def test_eight_processes_racing_for_each_post_one_winner(store_url: str, runners: Runners) -> None:
    """8 runner processes each try ``claim(post_id)`` on every one of 200 due posts, in their own random
    orders (1,600 attempts, every post contended by all 8, as runners with one timer per post would):
    ``claim`` returns True to exactly one of them per post, and the table and audit log agree with the
    winners."""
    with opened(store_url) as store:
        due, wins = race_for_each_post(store, store_url, runners, 200, claim_each_post)
        assert_each_claimed_exactly_once(store, wins, due.keys)


@pytest.mark.slow
def test_eight_processes_claiming_and_arming_overlapping_batches_one_winner(store_url: str, runners: Runners) -> None:
    """8 runner processes each claim and arm every one of 600 due posts in batches of 20, in their own random
    orders (``claim_and_arm``: one statement per batch, every post contended by all 8): each post is won by
    exactly one of them, armed once (one open publish attempt, ``sending_at`` set), and the table and audit log
    agree with the winners. On PostgreSQL, overlapping batches neither deadlock nor wait for each other."""
    with opened(store_url) as store:
        due, wins = race_for_each_post(store, store_url, runners, 600, claim_and_arm_in_batches)
        assert_each_claimed_exactly_once(store, wins, due.keys)
        posts = posts_by_key(store).values()
        assert all(post.sending_at is not None and post.first_sent_at == post.sending_at for post in posts)
        with store.session() as session:
            open_attempts = Counter(session.scalars(select(PublishAttempt.post_id)  # type: ignore[arg-type]
                                                    .where(table_columns(PublishAttempt).finished_at.is_(None))))
        assert open_attempts == {post.id: 1 for post in posts}


# -- pause under load -----------------------------------------------------------------------------------------


def claim_as_due(name: str, url: str, stop_at: datetime) -> list[tuple[datetime, int]]:
    """A runner on the real clock: claim whatever is due, every millisecond or so, until *stop_at*.

    Returns (when the call started, how many it claimed) for every call."""
    calls: list[tuple[datetime, int]] = []
    with opened(url) as store:
        while (started := datetime.now(UTC)) < stop_at:
            calls.append((started, len(store.claim_due(name, limit=5))))
            time.sleep(0.001)
    return calls


def pause_at(name: str, url: str, at: datetime, claimed_first: int = 0, latest: datetime | None = None
             ) -> dict[str, Any]:
    """The duty inspector: at *at*, once *claimed_first* posts are claimed (or at *latest*), pause the campaign;
    note when ``pause`` returned. (The runners start as processes: on a machine busy with other work they may
    begin claiming late, and a pause before any claim would prove nothing.)

    On PostgreSQL, also take a snapshot right after it returned (``pg_current_snapshot()``): a transaction
    is visible in it only if it had committed by then.
    """
    with opened(url) as store:
        sleep_until(at)
        while len(audit_entries(store, "claimed")) < claimed_first and datetime.now(UTC) < (latest or at):
            time.sleep(0.005)
        hold = store.pause("suspect in custody: stop all posts", name, CAMPAIGN_ID)
        returned = datetime.now(UTC)
        snapshot = None
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as connection:
                snapshot = connection.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
    return {"returned": returned, "hold": hold.id, "snapshot": snapshot}


@pytest.mark.slow
def test_no_claim_after_pause_returns_while_posts_fall_due_every_five_ms(store_url: str, runners: Runners) -> None:
    """Pause under load: 400 approved posts fall due 5 ms apart on the real clock; 3 runner processes claim
    them as they fall due (``now=None``); a 4th process pauses the campaign half-way through. No claim
    happens after ``pause`` returned — by the claims' own timestamps, by the audit log's order, and (on
    PostgreSQL) by commit visibility.

    What exactly is proven:

    1. No ``claimed`` audit entry, no ``post.claimed_at`` and no successful ``claim_due`` call is later than
       the instant ``pause`` returned. A claim's timestamp is its ``now``, read before its statement runs, so
       this proves that no claim *began* after ``pause`` returned (all processes read the same system clock).
       It cannot see a claim that began before and committed after; (2) and (3) are about that.
    2. Every ``claimed`` audit entry has a smaller id than the ``paused`` entry.
       SQLite: every write transaction is ``BEGIN IMMEDIATE`` (writers are serialised) and ``audit_log.id`` is
       a rowid, assigned as max + 1 when the row is inserted, so ids are in commit order: this proves that
       every claim committed before the pause did — exactly "nothing is claimed once the pause is in".
       PostgreSQL: ids come from a sequence when the row is inserted, not at commit, so this proves only that
       no claim wrote its audit entry after the pause wrote its own — no claim's statement ran after the hold
       was written. (The store's ``LOCK TABLE post IN SHARE ROW EXCLUSIVE MODE`` makes a claim either finish
       before the pause gets the lock, or wait for the pause to commit and then see the hold.)
    3. PostgreSQL only: every claim's transaction (the ``xmin`` of its audit row, which is never updated) is
       visible in a snapshot the pausing process took right after ``pause`` returned: it had committed by
       then. With (2), what is left unobserved is a claim that inserted its audit row before the pause
       inserted its own yet committed in the sub-millisecond gap between ``pause`` returning and that
       snapshot; PostgreSQL keeps no commit times unless ``track_commit_timestamp`` is on.

    And the test has teeth: posts were claimed before the pause, every runner kept calling ``claim_due``
    after it, and the posts that fell due after it are all still approved."""
    count, spacing = 400, timedelta(milliseconds=5)
    with opened(store_url) as store:
        add_due_approved_posts(store, count)
        first_due = start_instant()
        times = retime_posts(store, first_due, spacing, grace=timedelta(minutes=10))
        stop_at = times[-1] + timedelta(milliseconds=500)
        claimers = [f"runner-{n}" for n in range(3)]
        outcomes = runners.run([(name, claim_as_due, (store_url, stop_at)) for name in claimers]
                               + [("duty-inspector", pause_at, (store_url, times[count // 2], 20,
                                                                times[3 * count // 4]))])
        paused = outcomes["duty-inspector"]
        returned: datetime = paused["returned"]

        claims = audit_entries(store, "claimed")
        (pause_entry,) = audit_entries(store, "paused")
        posts = posts_by_key(store)

        # The hold is the one the pause wrote, in force, and recorded before pause returned.
        hold = store.active_holds(CAMPAIGN_ID)
        assert [h.id for h in hold] == [paused["hold"]] and aware(hold[0].created_at) <= returned
        assert json.loads(pause_entry.details)["hold"] == paused["hold"]

        # The test had teeth: claims before the pause, calls after it, due posts left unclaimed.
        assert len(claims) >= 20, f"only {len(claims)} posts were claimed before the pause"
        for name in claimers:
            assert sum(1 for started, _ in outcomes[name] if started > returned) >= 5, name
        due_after = [p for p in posts.values() if aware(p.due_at) > returned]
        assert due_after, "pause returned after the last post fell due: the machine was too busy to tell"
        assert all(p.state == PostState.APPROVED for p in due_after)

        # (1) No claim began after pause returned.
        late = [e for e in claims if aware(e.at) > returned]
        assert late == [], f"{len(late)} claims after pause returned at {returned.isoformat()}"
        claimed_at = [aware(p.claimed_at) for p in posts.values() if p.claimed_at is not None]
        assert len(claimed_at) == len(claims) and max(claimed_at) <= returned
        assert [(name, started) for name in claimers for started, n in outcomes[name]
                if n and started > returned] == []
        # (2) No claim comes after the pause in the audit log's order.
        assert pause_entry.id is not None
        assert max(e.id or 0 for e in claims) < pause_entry.id
        # (3) PostgreSQL: every claim had committed when pause returned (up to the snapshot's delay).
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as connection:
                epoch = connection.execute(text("SELECT pg_current_xact_id()::text::bigint >> 32")).scalar_one()
                invisible = connection.execute(text(
                    "SELECT count(*) FROM audit_log WHERE action = 'claimed' AND NOT "
                    "pg_visible_in_snapshot(xmin::text::xid8, CAST(:snapshot AS pg_snapshot))"
                ), {"snapshot": paused["snapshot"]}).scalar_one()
            assert epoch == 0, "xmin::text::xid8 assumes the server has not yet wrapped its transaction ids"
            assert invisible == 0, f"{invisible} claims committed after pause returned"


def test_an_open_read_never_blocks_a_writer(tmp_path: Path) -> None:
    """On SQLite, reads begin plain transactions: an export left half-read (a slow analyst's pipe) and an open
    read session do not stop a runner's claims or a pause, which take the write lock at once."""
    from campaign.export import ExportFilter, rows

    with opened(store_fixtures.sqlite_url(tmp_path)) as store:
        due = add_due_approved_posts(store, 3)
        exporting = iter(rows(store, ExportFilter()))
        next(exporting, None)
        with store.read_session() as reading:
            ids = list(reading.scalars(select(P.id).order_by(P.id)))  # the read transaction stays open
            started = time.monotonic()
            assert store.claim(ids[0], "runner-1", now=due.claim_time)
            store.pause("incident", "duty inspector", CAMPAIGN_ID)
            assert time.monotonic() - started < 1.0


# -- the heartbeat beside the runner's own outcome writes ---------------------------------------------------


def leases_until(store: Store) -> dict[int | None, datetime]:
    """Post id -> when its claim's lease runs out, for every claimed post."""
    return {p.id: aware(p.lease_until) for p in posts_by_key(store).values() if p.lease_until}


def test_the_heartbeat_renews_every_claim_but_those_let_go(store_url: str) -> None:
    """``heartbeat`` renews the leases of the runner's claims (and no one else's), except the posts it lets
    go: their leases run out as they were."""
    with opened(store_url) as store:
        due = add_due_approved_posts(store, 4)
        ours = sorted(p.id or 0 for p in store.claim_due("runner", now=due.claim_time, limit=3))
        theirs = store.claim_due("other", now=due.claim_time, limit=1)
        later = due.claim_time + timedelta(minutes=5)  # every claim's own lease has run out by then
        assert store.heartbeat("runner", later, timedelta(seconds=30), letting_go={ours[1]}) == 2
        leases = leases_until(store)
    renewed = {post_id: leases[post_id] > later for post_id in ours}
    assert renewed == {ours[0]: True, ours[1]: False, ours[2]: True}
    assert leases[theirs[0].id] < later


@pytest.mark.postgres
def test_the_heartbeat_never_deadlocks_with_outcomes_committed_together(postgres_store_url: str) -> None:
    """The runner's outcome writer records the receipts of posts 2 and then 1 in one transaction (in the order
    their answers came) while its heartbeat renews its claims on PostgreSQL: the beat locks rows in id order
    and skips the one being written (the next beat renews it), so it is done at once, and the writer gets post
    1 without waiting. Neither is aborted. (Locking rows in the table's order, the beat held post 1 and waited
    for post 2, the writer then waited for post 1, and PostgreSQL aborted one of them: "deadlock detected".
    When the writer was the one, the receipts were not recorded.)"""
    with opened(postgres_store_url) as store:
        due = add_due_approved_posts(store, 3)
        claimed = store.claim_due("runner", now=due.claim_time, limit=3)
        first, second, third = sorted(p.id or 0 for p in claimed)
        renewed: queue.Queue[int | BaseException] = queue.Queue()

        def beat() -> None:
            try:
                renewed.put(store.heartbeat("runner", due.claim_time + timedelta(seconds=5), timedelta(seconds=30)))
            except BaseException as error:  # noqa: BLE001 - handed to the test
                renewed.put(error)

        with store.engine.connect() as writer, writer.begin():
            writer.execute(update(Post).where(P.id == second).values(last_error="the second answer"))
            heartbeat = threading.Thread(target=beat)
            heartbeat.start()
            heartbeat.join(timeout=10)  # it waits here for the writer, if it waits for post 2
            writer.execute(update(Post).where(P.id == first).values(last_error="the first answer"))
        heartbeat.join()
        assert renewed.get_nowait() == 2  # the first and the third; the second was being written
        leases = leases_until(store)
        assert leases[first] == leases[third] > leases[second]
