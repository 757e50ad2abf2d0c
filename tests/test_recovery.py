"""Posts that wait for a person, and the ways forward: `campaign reconcile` and `campaign retry` through the CLI on
a real store, against the sandbox over HTTP; `approve` pointing to them; and what the runner refuses to send or
to say: an image changed since approval, held posts announced again and again, the scheduler's internals.

Unknown, failed and missed posts are made the way they happen in real life: a runner meets the sandbox's
faults (a lost reply, a refused duplicate, lookups that fail) and stops, and the person takes over.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.publishing import events
from campaign.publishing.events import Event, EventBus
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
    schedule_and_approve,
    states,
    wait_until,
    write_plan,
)

MASTODON_CREATE = "mastodon:POST /api/v1/statuses"
MASTODON_READS = "mastodon:GET /api/v1/accounts/*/statuses:error503"


@dataclass
class Desk:
    """A sandbox, a store with approved posts on the real clock, the environment a person's shell would have,
    and a way to run the runner for a while."""

    sandbox: Sandbox
    store: Store
    accounts: list[PlanAccount]
    env: dict[str, str]
    events: list[Event]

    def run(self, until: Any = None, timeout: float = 20, **settings: Any) -> None:
        """Run a runner until *until* holds (or, without one, for *timeout* seconds)."""
        defaults: dict[str, Any] = {"campaign": CAMPAIGN, "refresh": 0.3, "horizon": timedelta(minutes=10),
                                    "backoff": 0.2, "backoff_cap": 0.5, "timeout": 1.0, "read_lag": 0.0,
                                    "collect_every": 0}
        runner = Runner(self.store, RunnerSettings(**(defaults | settings)), EventBus([self.events.append]),
                        environ=environment(self.accounts), name="runner")
        runner.start()
        try:
            if until is None:
                time.sleep(timeout)
            else:
                assert wait_until(until, timeout), states(self.store)
        finally:
            runner.stop()

    def cli(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), env=self.env)
        assert "Traceback" not in result.output, result.output
        assert result.exit_code == code, result.output
        return result.output

    def key(self, platform: str, entry: int = 0) -> str:
        return f"e{entry:03d}/demo-{platform}"

    def state(self, key: str) -> str:
        return states(self.store)[key]


@pytest.fixture(autouse=True)
def the_duty_officer(login_as: Callable[[str], None]) -> None:
    """Commands here are typed by the login ``duty.officer`` (a store with no users acts for them)."""
    login_as("duty.officer")


@contextmanager
def desk(tmp_path: Path, platforms: tuple[str, ...] = ("mastodon",), entries: int = 1, grace: float = 120,
         images: bool = False) -> Iterator[Desk]:
    with running(Sandbox(seed=5, clock=utc_now)) as sandbox:
        accounts = [a for a in demo_plan_accounts(sandbox) if a.platform in platforms]
        db = tmp_path / "campaign.db"
        store = Store.open(f"sqlite:///{db}")
        try:
            plan = write_plan(tmp_path, sandbox, accounts, entries, images=images)
            schedule_and_approve(store, plan)
            put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=0.3), timedelta(seconds=0.5),
                             timedelta(seconds=grace))
            env = {**environment(accounts), "CAMPAIGN_DB": str(db)}
            yield Desk(sandbox, store, accounts, env, [])
        finally:
            store.close()


def lost_reply_and_no_lookups(d: Desk) -> str:
    """The Mastodon post is created but its reply is lost, and every lookup fails: the runner leaves it
    ``unknown`` (never re-sending it). Returns its key."""
    d.sandbox.set_faults(f"{MASTODON_CREATE}:lose_reply:times=1", MASTODON_READS)
    key = d.key("mastodon")
    d.run(lambda: any(e.action == "lookup_failed" for e in audit_trail(d.store, key)))
    assert d.state(key) == PostState.UNKNOWN and len(d.sandbox.posts("mastodon")) == 1
    d.sandbox.clear_faults()
    return key


# -- reconcile ---------------------------------------------------------------------------------------------------


def test_reconcile_with_nothing_unknown_says_so(tmp_path: Path) -> None:
    """`campaign reconcile` on a store where no post's fate is unknown says there is nothing to look up, exit 0."""
    with desk(tmp_path) as d:
        assert d.cli("reconcile") == "Nothing to look up: no post's fate is unknown.\n"


def test_reconcile_finds_a_post_whose_reply_was_lost_and_keeps_the_platforms_time(tmp_path: Path) -> None:
    """A post out on Mastodon whose reply was lost, and which the runner could not look up: `campaign reconcile`
    finds it, records it published with Mastodon's id and Mastodon's own creation time (not the time it was
    found), on the record as the person who ran it; nothing is sent again."""
    with desk(tmp_path) as d:
        key = lost_reply_and_no_lookups(d)
        time.sleep(1.0)  # so that "found at" and "created at" differ
        (status,) = d.sandbox.posts("mastodon")
        output = d.cli("reconcile")
        assert output.startswith(f"found {key}: it is out, ")
        post = posts(d.store)[key]
        assert post.state == PostState.PUBLISHED and post.remote_id == status.id
        assert post.published_at is not None
        assert abs((aware(post.published_at) - status.created_at).total_seconds()) < 0.002
        (entry,) = [e for e in audit_trail(d.store, key) if e.action == "reconciled"]
        assert entry.actor == "duty.officer" and json.loads(entry.details)["found"] is True
        assert len(d.sandbox.posts("mastodon")) == 1


def test_reconcile_changes_nothing_and_exits_1_while_lookups_fail(tmp_path: Path) -> None:
    """While the platform's reads still fail, `campaign reconcile POST` says the post is still unknown and why,
    exits 1, and the post stays unknown (its lookup recorded as failed): a failed lookup is never "not there"."""
    with desk(tmp_path) as d:
        key = lost_reply_and_no_lookups(d)
        d.sandbox.set_faults(MASTODON_READS)
        output = d.cli("reconcile", key, code=1)
        assert f"still unknown {key}: the lookup failed" in output
        assert "1 post is still unknown and will not be sent again until a lookup can tell" in output
        assert d.state(key) == PostState.UNKNOWN
        assert [e.actor for e in audit_trail(d.store, key) if e.action == "lookup_failed"][-1] == "duty.officer"


def test_reconcile_puts_a_post_not_there_back_in_time_and_marks_it_missed_when_too_late(tmp_path: Path) -> None:
    """Two posts whose create requests got a 503 (after which nobody knows) and whose lookups failed. Looked up
    once the platform reads again: too soon after the request, "not found" proves nothing (Mastodon's reads may
    lag 5 s) and the post stays unknown; after that, the one still in its grace window goes back in the queue
    (approved, and the runner then sends it once) and the one whose window has ended becomes missed, with a
    reason saying to give it a new time."""
    with desk(tmp_path, entries=2, grace=10) as d:
        d.sandbox.set_faults(f"{MASTODON_CREATE}:error503", MASTODON_READS)
        first, second = d.key("mastodon", 0), d.key("mastodon", 1)
        d.run(lambda: all(any(e.action == "lookup_failed" for e in audit_trail(d.store, k)) for k in (first, second)))
        d.sandbox.clear_faults()
        sent = aware(posts(d.store)[first].sending_at)  # type: ignore[arg-type]
        if datetime.now(UTC) < sent + timedelta(seconds=4):
            assert "only a lookup after that can tell" in d.cli("reconcile", first, code=1)
        assert wait_until(lambda: datetime.now(UTC) > sent + timedelta(seconds=5.1), 10)
        assert d.cli("reconcile", first).startswith(f"not found {first}: now approved — not on Mastodon")
        d.sandbox.set_faults(MASTODON_READS)  # the second post's lookups still fail while the runner sends the first
        d.run(lambda: d.state(first) == PostState.PUBLISHED)
        d.sandbox.clear_faults()
        assert [p.text for p in d.sandbox.posts("mastodon")] == [posts(d.store)[first].text]
        assert d.state(second) == PostState.UNKNOWN
        assert wait_until(lambda: datetime.now(UTC) > aware(posts(d.store)[second].late_after), 10)
        output = d.cli("reconcile", second)
        assert output.startswith(f"not found {second}: now missed") and f"campaign retry {second} --at" in output


# -- retry ---------------------------------------------------------------------------------------------------------


def test_retry_puts_a_failed_post_back_in_the_queue_and_the_runner_sends_it_once(tmp_path: Path) -> None:
    """X refuses a post as a duplicate and no such post of ours is there: it is failed, and `approve` says to use
    `campaign retry`. Retried within its grace window, it is approved again (on the record, by the person) and
    the runner sends it once."""
    with desk(tmp_path, platforms=("x",)) as d:
        d.sandbox.set_faults("x:POST /2/tweets:duplicate:times=1")
        key = d.key("x")
        d.run(lambda: d.state(key) == PostState.FAILED)
        d.sandbox.clear_faults()
        refused = d.cli("approve", key, code=1)
        assert f"{key} is failed" in refused and f"`campaign retry {key}`" in refused
        assert f"queued {key}" in d.cli("retry", key)
        (entry,) = [e for e in audit_trail(d.store, key) if e.action == "retried"]
        assert entry.actor == "duty.officer" and json.loads(entry.details)["was"] == "failed"
        d.run(lambda: d.state(key) == PostState.PUBLISHED)
        assert len(d.sandbox.posts("x")) == 1


def test_retry_of_a_missed_post_needs_a_new_time_and_moves_its_local_time_too(tmp_path: Path) -> None:
    """A post missed while its account was paused: `approve` and a plain `retry` both refuse it (a time that has
    passed is never quietly replaced by now), saying to give `--at`; `retry --at` gives it that new time — UTC
    and local wall time alike, in the campaign's zone — and it is approved again."""
    with desk(tmp_path, grace=1) as d:
        key = d.key("mastodon")
        d.cli("pause", "--reason", "Critical incident")
        assert wait_until(lambda: bool(d.store.mark_missed()), 10)
        d.cli("resume")
        assert d.state(key) == PostState.MISSED
        assert "campaign retry" in d.cli("approve", key, code=1)
        refused = d.cli("retry", key, code=1)
        assert "its grace window ended" in refused and f"campaign retry {key} --at" in refused
        london = ZoneInfo("Europe/London")
        new_time = (datetime.now(london) + timedelta(hours=2)).replace(second=0, microsecond=0)
        output = d.cli("retry", key, "--at", f"{new_time:%Y-%m-%d %H:%M}")
        assert f"queued {key}  due {new_time:%a %d %b %Y %H:%M} Europe/London" in output
        post = posts(d.store)[key]
        assert post.state == PostState.APPROVED
        assert aware(post.due_at) == new_time.astimezone(UTC) and post.local_time == new_time.replace(tzinfo=None)


def test_retry_of_an_unknown_post_looks_it_up_first_and_never_resends_one_that_is_out(tmp_path: Path) -> None:
    """`campaign retry` on an unknown post that is in fact out: it is looked up first, found and recorded as
    published, and not put back in the queue; Mastodon still has one copy."""
    with desk(tmp_path) as d:
        key = lost_reply_and_no_lookups(d)
        output = d.cli("retry", key)
        assert f"found {key}: it is out" in output and "0 posts back in the queue" in output
        assert d.state(key) == PostState.PUBLISHED and len(d.sandbox.posts("mastodon")) == 1


# -- what the runner will not send, or say ---------------------------------------------------------------------------


def test_an_image_replaced_after_approval_is_not_sent_and_a_person_is_alerted(tmp_path: Path) -> None:
    """The approved image file is replaced after sign-off: the runner sends nothing (not even the upload), the
    post is failed with a reason naming the image and the checksums, and a ``failed`` event (which needs a
    person) is raised."""
    with desk(tmp_path, images=True) as d:
        key = d.key("mastodon")
        image = Path(json.loads(posts(d.store)[key].media)[0]["path"])
        image.write_bytes(image.read_bytes() + b"a different picture")
        d.run(lambda: d.state(key) == PostState.FAILED)
        assert d.sandbox.requests("mastodon", "POST") == []
        assert "has changed since the post was approved" in (posts(d.store)[key].last_error or "")
        (failed,) = [e for e in d.events if isinstance(e, events.Failed)]
        assert failed.needs_a_person and failed.post == key


def test_an_image_replaced_by_a_link_out_of_the_campaign_is_never_read_or_sent(tmp_path: Path) -> None:
    """After sign-off the approved image is swapped for a symlink to a file outside the campaign folder (with the
    same bytes, so even its checksum would pass): the runner refuses to read it, the post fails with a reason
    saying it leads outside the campaign folder, and nothing reaches the platform."""
    with desk(tmp_path, images=True) as d:
        key = d.key("mastodon")
        image = Path(json.loads(posts(d.store)[key].media)[0]["path"])
        assert image.is_absolute(), "stored image paths are absolute: a runner may start in any folder"
        outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
        outside.write_bytes(image.read_bytes())
        image.unlink()
        image.symlink_to(outside)
        d.run(lambda: d.state(key) == PostState.FAILED)
        assert d.sandbox.requests("mastodon", "POST") == []
        assert "leads outside the campaign folder" in (posts(d.store)[key].last_error or "")


def test_held_posts_are_not_announced_again_at_every_refresh(tmp_path: Path) -> None:
    """While the campaign is paused, its due posts are neither claimed nor announced as scheduled at each of
    the runner's refreshes; resumed, each is announced once and published."""
    with desk(tmp_path, platforms=("mastodon", "bluesky"), entries=2, grace=60) as d:
        d.cli("pause", "--reason", "Critical incident")
        d.run(timeout=2.0)  # about seven refreshes
        assert [e.name for e in d.events] == []
        d.cli("resume")
        d.events.clear()
        d.run(lambda: set(states(d.store).values()) == {PostState.PUBLISHED})
        scheduled = [e.post for e in d.events if e.name == "scheduled"]
        assert sorted(scheduled) == sorted(states(d.store))


def test_the_schedulers_internals_never_reach_the_terminal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A refresh slower than its interval makes APScheduler skip runs ("maximum number of running instances
    reached"): that is the runner's business, not the user's — nothing from the scheduler is logged at warning
    level or above, and the posts go out."""
    with desk(tmp_path) as d, caplog.at_level(logging.WARNING):
        slow_due_soon = d.store.due_soon

        def due_soon(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.5)
            return slow_due_soon(*args, **kwargs)

        d.store.due_soon = due_soon  # type: ignore[method-assign]
        d.run(lambda: set(states(d.store).values()) == {PostState.PUBLISHED}, refresh=0.1)
    noisy = [r for r in caplog.records if "apscheduler" in r.name or "alarms" in r.name or
             "maximum number of running instances" in r.getMessage()]
    assert noisy == []


def test_retry_at_a_new_time_holds_for_an_unknown_post_still_in_its_grace_window(tmp_path: Path) -> None:
    """An unknown post, not on the platform and still within its grace window, retried with `--at`: it takes the
    new time (it is not sent at once), and a later `schedule` of the unchanged plan leaves that time alone."""
    with desk(tmp_path) as d:
        d.sandbox.set_faults(f"{MASTODON_CREATE}:error503:times=1", MASTODON_READS)
        key = d.key("mastodon")
        d.run(lambda: any(e.action == "lookup_failed" for e in audit_trail(d.store, key)))
        d.sandbox.clear_faults()
        assert wait_until(lambda: datetime.now(UTC) > aware(posts(d.store)[key].sending_at)  # type: ignore[arg-type]
                          + timedelta(seconds=5.1), 10)  # Mastodon's reads can then be trusted
        new_time = (datetime.now(ZoneInfo("Europe/London")) + timedelta(hours=3)).replace(second=0, microsecond=0)
        output = d.cli("retry", key, "--at", f"{new_time:%Y-%m-%d %H:%M}")
        assert f"not found {key}: now missed — not on Mastodon" in output and f"queued {key}" in output
        d.cli("schedule", str(tmp_path / "schedules" / "plan.yaml"))
        post = posts(d.store)[key]
        assert post.state == PostState.APPROVED and aware(post.due_at) == new_time.astimezone(UTC)
        assert d.sandbox.posts("mastodon") == []


def test_status_says_when_nothing_is_moving_posts_that_should_be(tmp_path: Path) -> None:
    """Approved posts two minutes past their time and no runner: `campaign status` says in red that nothing is
    moving them, names the oldest, and asks whether `campaign run` is running."""
    with desk(tmp_path, platforms=("mastodon", "bluesky")) as d:
        put_on_real_time(d.store, datetime.now(UTC) - timedelta(minutes=2), timedelta(seconds=1),
                         timedelta(minutes=10))
        output = d.cli("status")
        assert "Nothing is moving 2 posts that should be (the oldest, e000/demo-" in output
        assert "is `campaign run` running?" in output


def test_a_store_that_cannot_be_opened_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A PostgreSQL server that refuses the connection, a database campaign cannot use, and a URL of nothing:
    each is one line naming the store and what to check, exit 1."""
    for url, words in (("postgresql+psycopg://someone@127.0.0.1:1/db", "cannot be reached"),
                       ("mysql://x@y/z", "names a database campaign cannot use"),
                       ("notaurl://", "names a database campaign cannot use")):
        result = CliRunner().invoke(main, ["status", "--db", url])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.startswith("Error: ") and words in result.output and result.output.count("\n") == 1
