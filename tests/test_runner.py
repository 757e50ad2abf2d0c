"""The runner's proofs, end to end: a real Runner publishing through the real adapters, over real HTTP, to the
in-process sandbox, with posts falling due seconds apart on the real clock.

Every check compares what the runner claims with what could not lie about it: the sandbox's own record of what
was posted (``sandbox.posts()``, each (platform, account, text) exactly once), the requests the sandbox answered,
the store's states, the ``publish_attempt`` rows (lateness = ``started_at − due_at``) and the audit log.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from campaign.cli import main
from campaign.publishing import events
from campaign.publishing.events import Event, EventBus, WebhookListener
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.sandbox import RecordedPost, Sandbox
from campaign.sandbox.engagement import utc_now
from campaign.sandbox.proxy import FaultProxy
from campaign.sandbox.runner import SandboxServer
from campaign.store import PostState, Store
from campaign.store.models import AccountRow, Post, table_columns
from tests.conftest import served_over_https
from tests.plan_fixtures import write_campaign
from tests.runner_fixtures import (
    CAMPAIGN,
    CREATE_PATHS,
    P,
    PlanAccount,
    attempts,
    audit_trail,
    aware,
    created_ok,
    demo_plan_accounts,
    environment,
    live_sandbox,
    post_text,
    posts,
    put_on_real_time,
    sandbox_counts,
    schedule_and_approve,
    states,
    unplanned_create_refusals,
    wait_until,
    write_plan,
)

SETTLED = (PostState.PUBLISHED, PostState.FAILED, PostState.MISSED)
A = table_columns(AccountRow)
X_CREATE = "x:POST /2/tweets"


# -- a scene: a sandbox, a store with approved posts on the real clock, and runners -----------------------------


@dataclass
class Scene:
    sandbox: Sandbox
    server: SandboxServer
    store: Store
    accounts: list[PlanAccount]
    due: dict[str, datetime]
    """Post key -> when it falls due on the real clock."""
    grace: timedelta
    events: list[Event] = field(default_factory=list)

    def runner(self, listeners: Sequence[Callable[[Event], None]] = (), **settings: Any) -> Runner:
        """A runner on this scene's store whose events also land in ``self.events``."""
        defaults: dict[str, Any] = {"campaign": CAMPAIGN, "refresh": 0.5, "horizon": timedelta(minutes=5),
                                    "backoff": 0.1, "backoff_cap": 0.4, "timeout": 5.0, "read_lag": 0.0}
        bus = EventBus([*listeners, self.events.append])
        return Runner(self.store, RunnerSettings(**(defaults | settings)), bus, environ=environment(self.accounts),
                      name="proof-runner")

    def keys(self, platform: str | None = None) -> list[str]:
        """Post keys (of one platform's account), in due order."""
        return sorted((k for k in self.due if platform is None or k.endswith(f"/demo-{platform}")),
                      key=lambda k: (self.due[k], k))

    def settled(self) -> bool:
        return all(state in SETTLED for state in states(self.store).values())

    def named(self, name: str) -> list[Event]:
        return [e for e in list(self.events) if e.name == name]


@contextmanager
def scene(tmp_path: Path, entries: int, spacing: float, grace: float, first_in: float = 1.0,
          latency_ms: float = 0, ssl_context: ssl.SSLContext | None = None,
          without: tuple[str, ...] = ()) -> Iterator[Scene]:
    """*entries* entries on the sandbox's demo accounts (one per platform, but those *without*), approved, falling
    due *first_in* seconds from now and then every *spacing* seconds, each with *grace* seconds of grace; served
    over HTTPS with *ssl_context*."""
    sandbox = live_sandbox(latency_ms=latency_ms)
    with SandboxServer(sandbox, ssl_context=ssl_context) as server:
        accounts = [account for account in demo_plan_accounts(sandbox) if account.platform not in without]
        store = Store.open(f"sqlite:///{tmp_path / 'campaign.db'}")
        try:
            schedule_and_approve(store, write_plan(tmp_path, sandbox, accounts, entries))
            due = put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=first_in),
                                   timedelta(seconds=spacing), timedelta(seconds=grace))
            yield Scene(sandbox, server, store, accounts, due, timedelta(seconds=grace))
        finally:
            store.close()


@contextmanager
def started(runner: Runner) -> Iterator[Runner]:
    runner.start()
    try:
        yield runner
    finally:
        runner.stop(wait=True)


def assert_published_exactly_once(s: Scene, keys: Sequence[str]) -> None:
    """Each post is ``published`` in the store, is in the sandbox's own record exactly once (its platform, its
    account, its text), and the store's remote id is the sandbox's id for it."""
    recorded = sandbox_counts(s.sandbox)
    by_text = {(p.platform, p.account, p.text): p for p in s.sandbox.posts()}
    stored = posts(s.store)
    for key in keys:
        post = stored[key]
        assert post.state == PostState.PUBLISHED, (key, post.state, post.last_error)
        assert recorded[(post.platform, handle_of(s, post.account), post.text)] == 1, key
        assert post.remote_id == by_text[(post.platform, handle_of(s, post.account), post.text)].id, key


def assert_never_sent(s: Scene, keys: Sequence[str]) -> None:
    stored = posts(s.store)
    texts = {(p.platform, p.account, p.text) for p in s.sandbox.posts(include_deleted=True)}
    for key in keys:
        post = stored[key]
        assert (post.platform, handle_of(s, post.account), post.text) not in texts, key
        assert post.remote_id is None, key


def handle_of(s: Scene, account_key: str) -> str:
    return next(a.sandbox.handle for a in s.accounts if a.key == account_key)


def lateness(s: Scene, key: str) -> list[float]:
    """Seconds between the post's due time and the start of each of its publish attempts."""
    return [(aware(a.started_at) - s.due[key]).total_seconds() for a in attempts(s.store)[key]]


def outcomes(s: Scene, key: str) -> list[str | None]:
    return [a.outcome for a in attempts(s.store)[key]]


def others_unaffected(s: Scene) -> None:
    """Facebook, Mastodon and Bluesky: every post published once, each in one attempt, promptly."""
    for platform in ("facebook", "mastodon", "bluesky"):
        keys = s.keys(platform)
        assert_published_exactly_once(s, keys)
        for key in keys:
            assert outcomes(s, key) == ["published"], key
            (late,) = lateness(s, key)
            assert 0 <= late < 3.0, (key, late)


# -- on time, exactly once, lateness recorded -----------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "connect_ahead", "open_before", "open_after"),
                         [("https", 3.0, 7, 7), ("http", 3.0, 7, 7), ("http", 0.0, 1, 6)])
def test_accounts_open_their_connections_just_before_the_instant_and_their_posts_go_out_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str, connect_ahead: float, open_before: int,
    open_after: int
) -> None:
    """A post on each demo account, all due 6 s from now. With ``connect_ahead`` (the default 3 s), by a second
    before the instant every account has its connection open (seven: X one for posts and one for images, which
    the sandbox serves from one server, and one each for the others); the posts then go out on them, as the
    sandbox sees no new connection (over HTTPS too, where a connection that has carried no exchange would be
    taken for dropped), each exactly once, and the openings reached no platform endpoint. Without it, only
    Bluesky's login (made when the alarm is set) has a connection open before the instant, and the other five
    accounts open theirs at the instant."""
    context = served_over_https(tmp_path / "tls", monkeypatch) if scheme == "https" else None
    with scene(tmp_path, entries=1, spacing=0, grace=30, first_in=6.0, ssl_context=context) as s, \
            started(s.runner(connect_ahead=connect_ahead)):
        assert s.sandbox.base_url is not None and s.sandbox.base_url.startswith(f"{scheme}://")
        instant = min(s.due.values())
        time.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds() - 1.0))
        opened = s.server.open_connections()
        assert len(opened) == open_before
        assert all(r.method != "HEAD" for r in s.sandbox.requests())
        assert wait_until(s.settled, timeout=15), states(s.store)
        assert len(s.server.open_connections()) == open_after
        if connect_ahead:
            assert s.server.open_connections() == opened  # the very connections opened before the instant
    assert_published_exactly_once(s, s.keys())


def test_openings_that_hang_are_given_up_before_the_instant_and_hold_no_post_up(tmp_path: Path) -> None:
    """A proxy in front of the sandbox never answers the runner's openings (every ``HEAD /`` hangs) and passes
    everything else. With one sending thread per account, each hanging opening holds its account's only thread:
    it is given up by halfway to the instant, so the posts, due 6 s from now, still reach the platform within a
    second of it (the sandbox's own record), once each. (Held for the request timeout, 5 s here, instead, they
    reached it 2 s late.)"""
    with scene(tmp_path, entries=1, spacing=0, grace=30, first_in=6.0) as s, \
            FaultProxy(str(s.sandbox.base_url), ["*:HEAD /:hang"]) as proxy:
        with s.store.engine.begin() as connection:
            connection.execute(update(AccountRow).where(A.campaign_id == CAMPAIGN).values(api_base=proxy.base_url))
        with started(s.runner(workers=6)):
            assert wait_until(s.settled, timeout=20), states(s.store)
        hung = proxy.requests(method="HEAD", path="/")
    assert len(hung) >= 6 and all(r.fault == "hang" for r in hung)  # every account's opening reached it, and hung
    assert_published_exactly_once(s, s.keys())
    instant = min(s.due.values())
    # Instagram's post reaches it with its container (the publish follows once Instagram has fetched the picture).
    first_requests = CREATE_PATHS | {"instagram": ("POST", "/v*/*/media")}
    reached = [(record.at - instant).total_seconds() for platform, (method, path) in first_requests.items()
               for record in s.sandbox.requests(platform, method, path)]
    assert len(reached) == 6 and all(0 <= late < 1.0 for late in reached), reached


def test_posts_go_out_at_their_times_exactly_once_and_lateness_is_recorded(tmp_path: Path) -> None:
    """60 posts on six accounts (X, Facebook, Mastodon, Bluesky, LinkedIn, Instagram) falling due every 0.3 s: each is published
    exactly once (the sandbox's own record, its create requests, the store's remote ids), never before its
    time and promptly after it, in due order per account; every post has one ``publish_attempt`` whose
    ``started_at − due_at`` is its first try's lateness and whose ``published_at − due_at`` is its lateness as
    the platform accepted it, the two numbers its ``published`` event reports; and each post's audit trail is
    exactly added → approved → claimed → published."""
    with scene(tmp_path, entries=10, spacing=0.3, grace=30, first_in=2.0) as s, started(s.runner()):
        assert wait_until(s.settled, timeout=30), states(s.store)
        finished = datetime.now(UTC)

    keys = s.keys()
    assert len(keys) == 60
    assert_published_exactly_once(s, keys)
    assert sum(sandbox_counts(s.sandbox).values()) == 60
    for platform in CREATE_PATHS:
        assert created_ok(s.sandbox, platform) == 10, platform
    assert unplanned_create_refusals(s.sandbox) == []

    published = {e.post: e for e in s.named("published") if isinstance(e, events.Published)}
    assert sorted(published) == keys and len(s.named("published")) == 60
    stored = posts(s.store)
    late_by: list[float] = []
    for key in keys:
        (attempt,) = attempts(s.store)[key]
        assert attempt.outcome == "published" and attempt.runner == "proof-runner"
        late = (aware(attempt.started_at) - s.due[key]).total_seconds()
        late_by.append(late)
        assert late >= 0, f"{key} started {-late:.3f} s before it was due"
        assert late < 5.0, f"{key} started {late:.3f} s late"
        assert published[key].first_try_late_by_seconds == pytest.approx(late, abs=1e-3)
        published_at = stored[key].published_at
        assert attempt.finished_at is not None and published_at is not None
        accepted = (aware(published_at) - s.due[key]).total_seconds()
        assert published[key].late_by_seconds == pytest.approx(accepted, abs=1e-3) and accepted > late - 0.002
        assert aware(attempt.started_at) <= aware(attempt.finished_at) <= finished
        assert s.due[key] <= aware(published_at) <= finished
        trail = [entry.action for entry in audit_trail(s.store, key)]
        assert trail == ["added", "approved", "claimed", "published"], (key, trail)
    assert median(late_by) < 1.0, sorted(late_by)
    # The sandbox's clock is real time: nothing reached a platform before it was due, and each account's
    # posts arrived in due order.
    for platform in CREATE_PATHS:
        recorded = sorted(s.sandbox.posts(platform), key=lambda p: (p.created_at, int(p.id) if p.id.isdigit() else 0))
        assert [p.text for p in recorded] == [post_text(n) for n in range(10)], platform
    for record in s.sandbox.posts():
        key = next(k for k in keys if stored[k].text == record.text and stored[k].platform == record.platform)
        assert record.created_at >= s.due[key], key
    print(f"\nlateness over 40 posts: median {median(late_by):.3f} s, max {max(late_by):.3f} s")


def test_a_post_orphaned_by_runners_that_died_is_sent_without_waiting_out_a_backoff(tmp_path: Path) -> None:
    """Six runners in a row claimed the X post, marked it as being sent and died before sending it (their
    leases ran out: ``unknown``, and each lookup found nothing). The claims of dead runners are not the
    platform's trouble: a live runner with the default backoff (2 s, doubled per attempt up to 60 s) looks the
    post up and sends it within seconds, not after the minute six counted attempts would give. (Counted, the
    crash test's survivor once waited past its 60 s.)"""
    # Due 13 s ago: the six deaths below (2 s apart on the store's clock) are over by the time the runner starts.
    with scene(tmp_path, entries=1, spacing=0.3, grace=120, first_in=-13.0) as s:
        (key,) = s.keys("x")
        post_id = posts(s.store)[key].id
        assert post_id is not None
        now = s.due[key] + timedelta(seconds=0.1)
        for dead in range(6):
            assert s.store.claim_post(post_id, f"dead-{dead}", now, timedelta(seconds=1)) is not None
            assert s.store.arm(post_id, f"dead-{dead}", now, timedelta(seconds=1)) is not None
            now += timedelta(seconds=2)
            assert [p.id for p in s.store.expire_leases(now, actor="proof")] == [post_id]
            if dead < 5:  # the sixth stays unknown: the live runner looks it up
                assert s.store.claim_lookup(post_id, "looker", now) is not None
                s.store.settle_unknown(post_id, "looker", PostState.APPROVED, "not found", now)
        assert posts(s.store)[key].state == PostState.UNKNOWN
        with started(s.runner(backoff=2.0, backoff_cap=60.0)):
            assert wait_until(s.settled, timeout=15), states(s.store)
        assert_published_exactly_once(s, s.keys())


def test_a_post_sent_whose_receipt_the_store_refused_is_let_go_and_settled_by_a_lookup(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The X post goes out, but the store refuses to record its receipt (a trigger on the real SQLite file
    raises, as a failing disk or a database gone away would). The runner stops renewing that claim, so its
    2 s lease runs out (``publishing → unknown``), and once the store takes writes again a lookup finds the
    post and records it: published once, never sent twice. (Renewed by a live runner's heartbeat, the post
    stayed ``publishing`` for as long as that runner lived.)"""
    with scene(tmp_path, entries=1, spacing=0.3, grace=120, first_in=0.5) as s:
        (key,) = s.keys("x")
        with s.store.engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TRIGGER receipt_refused BEFORE UPDATE OF state ON post "
                "WHEN NEW.state = 'published' AND OLD.platform = 'x' "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        with started(s.runner(lease=timedelta(seconds=2), watch=0.3)):
            assert wait_until(lambda: "failed unexpectedly" in caplog.text, timeout=15)  # the receipt, refused
            assert [p.platform for p in s.sandbox.posts()].count("x") == 1
            assert posts(s.store)[key].state == PostState.PUBLISHING
            with s.store.engine.begin() as connection:
                connection.exec_driver_sql("DROP TRIGGER receipt_refused")
            assert wait_until(s.settled, timeout=15), states(s.store)
        assert_published_exactly_once(s, s.keys())
        assert [e.action for e in audit_trail(s.store, key)][-2:] == ["unknown", "reconciled"]


# -- the fault matrix -----------------------------------------------------------------------------------------


def x_rate_limited_then_on(s: Scene) -> None:
    """429 with a reset 1–2 s ahead: the X account waits until the reset (no X request in between), then all
    three X posts go out, once each."""
    x = s.keys("x")
    assert_published_exactly_once(s, x)
    assert outcomes(s, x[0]) == ["rate_limited", "published"]
    assert [outcomes(s, k) for k in x[1:]] == [["published"], ["published"]]
    (retrying,) = [e for e in s.named("retrying") if e.post == x[0]]
    requests = s.sandbox.requests("x", "POST", "/2/tweets")
    assert [r.status for r in requests] == [429, 201, 201, 201]
    assert isinstance(retrying, events.Retrying) and retrying.retry_at is not None
    retry_at = retrying.retry_at
    assert requests[0].at < retry_at <= requests[0].at + timedelta(seconds=3.01)
    assert requests[1].at >= retry_at, "an X request was made before the platform's reset time"


def x_rate_limited_longer_than_the_lease(s: Scene) -> None:
    """A rate-limit wait (2–3 s) longer than the claim's lease (1 s): the post is given back to the queue until
    the reset (certainly not out: nothing to look up), so no ``unknown``, no lookup and no alert — and it goes out
    once when the limit resets."""
    x_rate_limited_then_on(s)
    assert [e.post for e in s.named("unknown")] == []
    assert [e.action for e in audit_trail(s.store) if e.action in ("unknown", "reconciled", "lookup_failed")] == []
    released = [json.loads(e.details)["reason"] for e in audit_trail(s.store, s.keys("x")[0])
                if e.action == "released"]
    assert len(released) == 1 and "rate limit" in released[0]


def x_rate_limited_beyond_grace(s: Scene) -> None:
    """429 whose reset is ten minutes away, beyond every post's grace: the X posts are never sent late, and each
    is ``missed`` as soon as it is known that it cannot go out in time (the first when its 429 comes back, the
    others when their turn comes and the account is still blocked), not when its grace window closes: until
    then `status` showed them as waiting to go. Each says why; after the first 429 no other X request is made."""
    x = s.keys("x")
    assert_never_sent(s, x)
    assert {states(s.store)[k] for k in x} == {PostState.MISSED}
    assert len(s.sandbox.requests("x", "POST", "/2/tweets")) == 1
    reasons = []
    for key in x:
        (missed,) = [e for e in audit_trail(s.store, key) if e.action == "missed"]
        assert aware(missed.at) < aware(posts(s.store)[key].late_after), key
        reasons.append(json.loads(missed.details)["reason"])
    assert "rate limit" in reasons[0] and "after its grace window ends, so it is not sent late" in reasons[0]
    assert all("rate-limited until" in reason and "after its grace window ends" in reason for reason in reasons[1:])
    assert all("grace window" in (posts(s.store)[k].last_error or "") for k in x)


def looked_up_before_every_resend(s: Scene, key: str) -> None:
    """Between each attempt of *key* whose outcome was unknown and the next attempt, the runner read the X
    account's timeline: nothing was sent again without looking first."""
    tries = attempts(s.store)[key]
    reads = [r.at for r in s.sandbox.requests("x", "GET") if "/tweets" in r.path]
    for earlier, later in zip(tries, tries[1:], strict=False):
        assert earlier.finished_at is not None
        assert any(aware(earlier.finished_at) - timedelta(seconds=1) < at < aware(later.started_at) for at in reads), \
            f"{key} was sent again without a lookup"


def x_500_twice_then_on(s: Scene) -> None:
    """Two 500s on X's create requests (a 500 may come after the post was made: unknown, looked up first): the
    failing posts are looked up (not there), given back with backoff, and published once each; the other X
    posts are not held up by them."""
    x = s.keys("x")
    assert_published_exactly_once(s, x)
    tries = {key: outcomes(s, key) for key in x}
    assert sum(o.count("transient") for o in tries.values()) == 2, tries
    assert all(o[-1] == "published" for o in tries.values()), tries
    for key in x:
        looked_up_before_every_resend(s, key)
    failures = [a for key in x for a in attempts(s.store)[key] if a.outcome == "transient"]
    assert all("500" in (a.message or "") for a in failures)
    assert len(s.named("unknown")) == 2
    assert [e.state for e in s.named("reconciled") if isinstance(e, events.Reconciled)] == ["approved"] * 2


def x_503_always(s: Scene) -> None:
    """503 on every X create request: nothing reaches X, so nothing is ``failed`` (X never refused a post for
    certain). Each post is looked up after every 503 (never re-sent blindly), tried again with backoff while its
    grace window lasts, and then ``missed`` — waiting for a person, with the 503 in its reason."""
    x = s.keys("x")
    assert_never_sent(s, x)
    stored = posts(s.store)
    for key in x:
        assert stored[key].state == PostState.MISSED, (key, stored[key].state)
        assert "503" in (stored[key].last_error or ""), stored[key].last_error
        assert set(outcomes(s, key)) == {"transient"} and len(outcomes(s, key)) >= 2, outcomes(s, key)
        looked_up_before_every_resend(s, key)
    assert s.named("failed") == []
    assert sorted(e.post for e in s.named("missed")) == x


def x_hung_once_then_on(s: Scene) -> None:
    """A hung connection (no answer within the 1 s timeout): the runner looks for the post on X first (not
    there), then re-sends it; published once."""
    x = s.keys("x")
    assert_published_exactly_once(s, x)
    assert outcomes(s, x[0]) == ["transient", "published"]
    assert "did not answer within 1 second" in (attempts(s.store)[x[0]][0].message or "")
    # The look-up on the account's timeline happened between the two sends.
    reads = [r for r in s.sandbox.requests("x", "GET") if "/tweets" in r.path]
    sends = s.sandbox.requests("x", "POST", "/2/tweets")
    assert any(sends[0].at < r.at < sends[1].at for r in reads), "the post was re-sent without looking for it"


def x_token_expired(s: Scene) -> None:
    """An expired token: the first X post is given back (never sent), the X account is held on the record
    with a reason a person can act on, an ``auth_expired`` event is raised, no further X request is made,
    and the X posts end ``missed`` (not sent late) when their grace runs out."""
    x = s.keys("x")
    assert_never_sent(s, x)
    assert {states(s.store)[k] for k in x} == {PostState.MISSED}
    assert len(s.sandbox.requests("x", "POST", "/2/tweets")) == 1
    assert outcomes(s, x[0]) == ["auth_expired"] and outcomes(s, x[1]) == outcomes(s, x[2]) == []
    holds = s.store.active_holds(CAMPAIGN)
    assert [h.account for h in holds] == ["demo-x"]
    assert "refused the credentials" in holds[0].reason and "demo-x" in holds[0].reason
    (alert,) = s.named("auth_expired")
    assert isinstance(alert, events.AuthExpired) and alert.post == x[0] and alert.account == "demo-x"


def x_duplicate(s: Scene) -> None:
    """"Duplicate" is not proof that this post is out: look on the platform before anything else, and adopt
    only a post made after this one's first request. Entry 0 was posted by hand a minute earlier: X refuses the
    copy, and the runner does NOT take the hand-made post for its own — it is ``failed`` (the words are already
    on the account). Entry 1 gets a duplicate error although X has no such post: ``failed`` too, not re-sent.
    Entry 2 goes out normally."""
    x = s.keys("x")
    assert_published_exactly_once(s, [x[2]])
    assert outcomes(s, x[2]) == ["published"]
    stored = posts(s.store)
    for key in x[:2]:
        assert stored[key].state == PostState.FAILED and outcomes(s, key) == ["duplicate"], key
        assert stored[key].remote_id is None, key
        assert "another post there has the same words" in (stored[key].last_error or ""), stored[key].last_error
    assert [p.text for p in s.sandbox.posts("x") if p.text == post_text(0)] == [post_text(0)]  # the hand-made one
    assert_never_sent(s, [x[1]])


FAULT_CASES: dict[str, tuple[list[str], dict[str, Any], Callable[[Scene], None]]] = {
    # name: (fault rules on X's create endpoint, runner settings, what must be true of X's posts)
    "rate_limit_with_reset": ([f"{X_CREATE}:rate_limit:times=1,reset=2"], {}, x_rate_limited_then_on),
    "rate_limit_longer_than_lease": ([f"{X_CREATE}:rate_limit:times=1,reset=3"], {"lease": timedelta(seconds=1)},
                                     x_rate_limited_longer_than_the_lease),
    "rate_limit_beyond_grace": ([f"{X_CREATE}:rate_limit:reset=600"], {}, x_rate_limited_beyond_grace),
    "error500": ([f"{X_CREATE}:error500:times=2"], {}, x_500_twice_then_on),
    "error503": ([f"{X_CREATE}:error503"], {}, x_503_always),
    "hang": ([f"{X_CREATE}:hang:times=1"], {"timeout": 1.0}, x_hung_once_then_on),
    "expired_token": ([f"{X_CREATE}:expired_token"], {}, x_token_expired),
    "duplicate": ([f"{X_CREATE}:duplicate:after=1,times=1"], {}, x_duplicate),
}


@pytest.mark.parametrize("case", list(FAULT_CASES))
def test_fault_matrix_on_one_account(case: str, tmp_path: Path) -> None:
    """One fault on the X account (see each case's checker): every X post ends in the right state with a
    clear reason; the other three accounts publish every post once, in one attempt, promptly; nothing is
    published twice, and nothing is re-sent that X refused as a duplicate."""
    faults, settings, check = FAULT_CASES[case]
    # These wait for the grace window to pass:
    grace = 2.0 if check in (x_rate_limited_beyond_grace, x_token_expired, x_503_always) else 3.5
    with scene(tmp_path, entries=3, spacing=0.5, grace=grace) as s:
        if case == "duplicate":
            account = s.sandbox.account("x")
            s.sandbox.record_post(RecordedPost(platform="x", account=account.handle, id=s.sandbox.snowflake(0),
                                               text=post_text(0), created_at=utc_now() - timedelta(minutes=1),
                                               url="https://x.com/by-hand"))
        for rule in faults:
            s.sandbox.add_fault(rule)
        with started(s.runner(**settings)):
            assert wait_until(s.settled, timeout=25), {k: v for k, v in states(s.store).items()}
        assert not [k for k, v in states(s.store).items() if v in (PostState.PUBLISHING, PostState.UNKNOWN)]
        check(s)
        others_unaffected(s)
        assert all(count == 1 for count in sandbox_counts(s.sandbox).values())
        refused = unplanned_create_refusals(s.sandbox)
        assert refused == ([("x", 403)] if case == "duplicate" else []), refused


def test_stopping_while_an_account_waits_out_a_rate_limit_is_prompt(tmp_path: Path) -> None:
    """X answers 429 with a reset 30 s ahead (within the post's grace, so the runner waits for it). The waiting
    X post is given back to the queue at once (``approved`` until the reset, released with the rate limit as
    its reason), not held ``publishing``; ``stop`` returns within a few seconds and nothing was sent."""
    with scene(tmp_path, entries=2, spacing=0.3, grace=120) as s:
        s.sandbox.add_fault(f"{X_CREATE}:rate_limit:times=1,reset=30")
        runner = s.runner()
        runner.start()
        try:
            first = s.keys("x")[0]
            assert wait_until(lambda: outcomes(s, first) == ["rate_limited"], 20), outcomes(s, first)
            assert wait_until(lambda: states(s.store)[s.keys("bluesky")[-1]] == PostState.PUBLISHED, 20)
        finally:
            stopping = time.monotonic()
            runner.stop(wait=True)
            took = time.monotonic() - stopping
        assert took < 5.0, f"stop took {took:.1f} s: it waited for the rate limit to reset"
        assert states(s.store)[first] == PostState.APPROVED
        assert_never_sent(s, s.keys("x"))
        released = [json.loads(e.details)["reason"] for e in audit_trail(s.store, first) if e.action == "released"]
        assert len(released) == 1 and released[0].startswith("X: rate limit reached"), released


# -- pause --------------------------------------------------------------------------------------------------


def test_pause_during_a_run_stops_publishing_and_late_posts_become_missed(tmp_path: Path) -> None:
    """Pause while a post is on its way to a platform (every request takes 150 ms): once ``pause`` and
    ``wait_for_sending`` have returned, the post on its way has been recorded and the sandbox receives nothing
    more while paused — checked against its own record and its request log. On resume, the posts whose grace
    ran out while paused become ``missed`` and are never sent; posts falling due after the resume are
    published once. (Not on Instagram: its container flow is six requests, at 150 ms each longer than the 0.4 s
    between posts, so its posts would be missed for lateness before any pause.)"""
    with scene(tmp_path, entries=12, spacing=0.4, grace=1.0, latency_ms=150, without=("instagram",)) as s, \
            started(s.runner()):
        def in_flight() -> list[str]:
            return [k for k, p in posts(s.store).items() if p.sending_at is not None]

        assert wait_until(lambda: sum(v == PostState.PUBLISHED for v in states(s.store).values()) >= 8, 20)
        assert wait_until(lambda: bool(in_flight()), 10, 0.01), "no post was on its way to pause in front of"
        on_its_way = in_flight()
        s.store.pause("a major incident: stop everything", "duty-officer", CAMPAIGN)
        still_sending = s.store.wait_for_sending(CAMPAIGN)
        paused_at = datetime.now(UTC)
        assert still_sending == []
        assert in_flight() == []
        out_before = {k for k, v in states(s.store).items() if v == PostState.PUBLISHED}
        assert set(on_its_way) <= out_before
        seen = len(s.sandbox.posts())
        creates = sum(len(s.sandbox.requests(p, *CREATE_PATHS[p])) for p in CREATE_PATHS)
        time.sleep(2.2)  # several posts fall due, and pass their 1 s of grace, while paused
        assert len(s.sandbox.posts()) == seen, "a post appeared on a platform after pause returned"
        assert sum(len(s.sandbox.requests(p, *CREATE_PATHS[p])) for p in CREATE_PATHS) == creates
        _, missed = s.store.resume("duty-officer", CAMPAIGN)
        resumed_at = datetime.now(UTC)
        # The runner's refresh marks them as their grace runs out, or resume does: either way, some were.
        assert set(missed) | {k for k, v in states(s.store).items() if v == PostState.MISSED}, \
            "no post fell due while paused: the test did not test anything"
        assert wait_until(s.settled, timeout=15), states(s.store)
        time.sleep(0.6)  # a further refresh: missed posts must stay missed

    stored = posts(s.store)
    missed_now = sorted(k for k, p in stored.items() if p.state == PostState.MISSED)
    assert set(missed) <= set(missed_now)
    assert_never_sent(s, missed_now)
    # Every post whose grace ran out while paused is missed, not sent late; none was missed before its time.
    assert {k for k in s.due if k not in out_before and s.due[k] + s.grace < resumed_at} <= set(missed_now)
    for key in missed_now:
        (marked,) = [e for e in audit_trail(s.store, key) if e.action == "missed"]
        assert aware(marked.at) > s.due[key] + s.grace, key
        # A person reading it learns why: the pause, not a runner that was late (a post whose grace ended before
        # the pause, on a machine too busy to send it in time, was missed for that).
        if s.due[key] + s.grace >= paused_at:
            assert (stored[key].last_error or "").endswith("beyond the grace window, during which it was paused")
    published = [k for k, p in stored.items() if p.state == PostState.PUBLISHED]
    assert_published_exactly_once(s, published)
    assert set(published) | set(missed_now) == set(s.due)
    assert any(s.due[k] > resumed_at for k in published), "nothing was published after the resume"
    for record in s.sandbox.posts():
        assert not paused_at <= record.created_at <= resumed_at, record.text
    actions = Counter(e.action for e in audit_trail(s.store))
    assert actions["paused"] == 1 and actions["resumed"] == 1 and actions["missed"] == len(missed_now)
    assert unplanned_create_refusals(s.sandbox) == []


# -- listeners -------------------------------------------------------------------------------------------------


def test_a_failing_listener_never_stops_publishing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A listener that raises on every event, placed first: every post is still published once, the listener
    after it still receives every event, and the failure is logged."""
    calls: list[str] = []

    def broken(event: Event) -> None:
        calls.append(event.name)
        raise RuntimeError("the dashboard is down")

    with caplog.at_level(logging.ERROR, logger="campaign.publishing.events"):
        with scene(tmp_path, entries=3, spacing=0.3, grace=30) as s, started(s.runner(listeners=[broken])):
            assert wait_until(s.settled, timeout=20), states(s.store)
        assert_published_exactly_once(s, s.keys())
    assert calls.count("published") == 18
    assert Counter(calls) == Counter(e.name for e in s.events)
    assert sum("listener failed" in r.getMessage() for r in caplog.records) >= len(calls)


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def webhook_server() -> Iterator[tuple[str, list[tuple[str, str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/comms", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_webhook_posts_json_for_what_needs_a_person(tmp_path: Path) -> None:
    """A real HTTP server receives, as JSON POSTs, exactly the events that need a person — the X account's
    expired token and a post already past its grace (missed) — and nothing else (no ``published``); each body
    names the event, the post, the campaign and a readable reason. A second webhook that refuses connections
    holds nothing up: the other accounts' posts are all published."""
    with webhook_server() as (url, received), scene(tmp_path, entries=3, spacing=0.3, grace=3.0) as s:
        late = s.keys("facebook")[0]
        with s.store.engine.begin() as connection:  # this one was due an hour ago: it can only be missed
            connection.execute(update(Post).where(P.key == late).values(
                due_at=datetime.now(UTC) - timedelta(hours=1), late_after=datetime.now(UTC) - timedelta(minutes=50)))
        s.sandbox.add_fault(f"{X_CREATE}:expired_token")
        good, dead = WebhookListener(url, timeout=2.0), WebhookListener(f"http://127.0.0.1:{closed_port()}/x", 1.0)
        with started(s.runner(listeners=[dead, good])):
            assert wait_until(s.settled, timeout=25), states(s.store)
        good.close()
        dead.close()
        for platform in ("mastodon", "bluesky"):
            assert_published_exactly_once(s, s.keys(platform))
        assert_published_exactly_once(s, s.keys("facebook")[1:])

    names = Counter(body["event"] for _, _, body in received)
    assert names["auth_expired"] == 1 and names["missed"] == 1 + 3  # the stale Facebook post and the three X posts
    assert set(names) == {"auth_expired", "missed"}, names
    for path, content_type, body in received:
        assert path == "/hooks/comms" and content_type == "application/json"
        assert body["needs_a_person"] is True and body["campaign"] == CAMPAIGN
        assert body["post"] in s.due and body["text"].startswith(f"campaign: {body['event']} — {body['post']}")
        assert datetime.fromisoformat(body["at"]).tzinfo is not None
    (alert,) = [body for _, _, body in received if body["event"] == "auth_expired"]
    assert alert["account"] == "demo-x" and "refused the credentials" in alert["reason"]
    assert "refused the credentials" in alert["text"]
    assert any(body["post"] == late for _, _, body in received if body["event"] == "missed")


# -- the CLI ---------------------------------------------------------------------------------------------------

REHEARSAL_POSTS = """\
- {id: launch, accounts: all, at: '2027-03-15 09:00', text: 'Our week of action starts today. Report concerns on {{ phones.police }}.'}
- {id: helpline, accounts: all, at: '2027-03-15 09:30', text: 'Worried about someone? Call {{ phones.helpline }}.'}
- {id: evening, accounts: [lancs-x], at: '2027-03-15 10:00', text: 'Thank you for sharing today.'}
"""


@pytest.mark.parametrize(("faults", "exit_code", "total"), [
    ([], 0, (9, 0, 0)),
    ([f"{X_CREATE}:error503:times=1"], 0, (9, 0, 0)),
    ([f"{X_CREATE}:duplicate"], 1, (6, 3, 0)),
])
def test_campaign_rehearse_plays_a_small_plan_in_seconds(tmp_path: Path, faults: list[str], exit_code: int,
                                                          total: tuple[int, int, int]) -> None:
    """``campaign rehearse PLAN --speed 3600`` plays an hour of posts (9, on four platforms) in a few seconds
    and prints the summary table by day, by platform and in total; exit 0 when everything was published. A
    503 that goes away is retried (still all published); X refusing every post as a duplicate that is not
    there leaves those three failed, shown in the table and explained under it in X's words, with exit 1."""
    plan = write_campaign(tmp_path, REHEARSAL_POSTS)
    arguments = ["rehearse", str(plan), "--speed", "3600"] + [a for f in faults for a in ("--fault", f)]
    started_at = time.monotonic()
    result = CliRunner().invoke(main, arguments)
    took = time.monotonic() - started_at
    assert result.exit_code == exit_code, result.output
    assert took < 30, took
    lines = result.output.splitlines()
    assert lines[0] == "Rehearsing Test week: 9 posts at 3600× speed"
    table = lines[lines.index(next(line for line in lines if line.split() == ["published", "failed", "missed"])):]
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in table[1:]
            if line.split()[1:] and all(n.isdigit() for n in line.split()[1:])}
    assert rows["total"] == list(total)
    assert rows["2027-03-15"] == list(total)
    published_x = 3 - total[1]
    assert rows["x"] == [published_x, total[1], 0]
    assert rows["facebook"] == rows["mastodon"] == rows["bluesky"] == [2, 0, 0]
    assert "by day" in table and "by platform" in table
    why = [line for line in lines if line.startswith(f"{total[1]} failed (")]
    assert bool(why) is bool(total[1])  # every post not published is explained, with its platform's words
    assert all("X" in line and "duplicate" in line for line in why), why


def test_sigterm_stops_campaign_run_cleanly(tmp_path: Path) -> None:
    """``campaign run`` in a subprocess, sent SIGTERM while a post is on its way to a platform (every request
    takes 400 ms): it stops claiming, lets that post finish (recorded ``published``, on the platform once),
    prints "Stopped." and exits 0; nothing is left ``publishing``, and posts not yet due stay ``approved``."""
    with scene(tmp_path, entries=8, spacing=1.0, grace=60, first_in=4.0, latency_ms=400) as s:
        env = {**os.environ, **environment(s.accounts), "PYTHONUNBUFFERED": "1"}
        env.pop("CAMPAIGN_DB", None)
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("campaign")), "run", "--db", str(tmp_path / "campaign.db"), "--refresh", "0.5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        try:
            def sending() -> bool:
                return any(p.sending_at is not None for p in posts(s.store).values())

            assert wait_until(sending, timeout=30, interval=0.02), "no post was ever on its way"
            in_flight = [k for k, p in posts(s.store).items() if p.sending_at is not None]
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, (out, err)
        lines = out.splitlines()
        assert any(line.startswith(f"Running {CAMPAIGN} as ") for line in lines), out
        assert "Stopping (SIGTERM): no more claims; finishing posts in flight…" in lines
        assert lines[-1] == "Stopped."
        stored = posts(s.store)
        assert not [k for k, p in stored.items() if p.state in (PostState.PUBLISHING, PostState.UNKNOWN)]
        assert_published_exactly_once(s, in_flight)
        published = [k for k, p in stored.items() if p.state == PostState.PUBLISHED]
        assert_published_exactly_once(s, published)
        assert sum(sandbox_counts(s.sandbox).values()) == len(published)
        assert {p.state for k, p in stored.items() if k not in published} <= {PostState.APPROVED}
        assert len(published) < len(stored), "everything was published before the signal: nothing was stopped"
