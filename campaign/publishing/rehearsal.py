"""Rehearsals: a whole plan played against the sandbox with time compressed, on a store of its own.

A week at the default speed (10,080×) takes about a minute. The plan's posts keep their order and
spacing, scaled; the sandbox's clock runs at the same speed, so engagement grows as it would over the
real week. Nothing here touches the real store, the real platforms or the process's environment: the
rehearsal makes its own accounts on the sandbox and hands the runner their credentials directly.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from campaign.exceptions import CampaignError
from campaign.plan.loader import BEFORE_EVERY_PLAN
from campaign.platforms import PLATFORMS
from campaign.publishing.events import EventBus, Listener
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.render import RenderedPlan, render_plan
from campaign.sandbox import Sandbox, SandboxAccount, demo_accounts, running
from campaign.store import PostState, Selection, Store
from campaign.store.models import AccountRow, EngagementSnapshot, Post, table_columns

DEFAULT_SPEED = 10_080.0
"""A week (10,080 minutes) in a minute."""
ACTOR = "rehearsal"
SETTLED = (PostState.PUBLISHED, PostState.FAILED, PostState.MISSED, PostState.CANCELLED, PostState.REJECTED)
P = table_columns(Post)
ACC = table_columns(AccountRow)
S = table_columns(EngagementSnapshot)


class CompressedClock:
    """Plan time running *speed* times faster than real time, from *plan_start* at *real_start*."""

    def __init__(self, plan_start: datetime, real_start: datetime, speed: float) -> None:
        self.plan_start, self.real_start, self.speed = plan_start, real_start, speed

    def __call__(self) -> datetime:
        return self.plan_start + (datetime.now(UTC) - self.real_start) * self.speed

    def real(self, plan_time: datetime) -> datetime:
        return self.real_start + (plan_time - self.plan_start) / self.speed

    def virtual(self, real_time: datetime) -> datetime:
        real_time = real_time if real_time.tzinfo else real_time.replace(tzinfo=UTC)
        return self.plan_start + (real_time - self.real_start) * self.speed


@dataclass
class Summary:
    """How the rehearsal ended: post counts by state, per day and per platform."""

    by_day: dict[str, Counter[str]] = field(default_factory=dict)
    by_platform: dict[str, Counter[str]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)

    def add(self, day: str, platform: str, state: str) -> None:
        self.by_day.setdefault(day, Counter())[state] += 1
        self.by_platform.setdefault(platform, Counter())[state] += 1
        self.totals[state] += 1


class Rehearsal:
    """One rehearsal; use :func:`rehearsal` to get one with its sandbox and store set up."""

    def __init__(self, rendered: RenderedPlan, store: Store, sandbox: Sandbox, clock: CompressedClock,
                 environ: dict[str, str], speed: float) -> None:
        self.rendered, self.store, self.sandbox, self.clock = rendered, store, sandbox, clock
        self.environ, self.speed = environ, speed
        assert rendered.plan is not None
        self.campaign = rendered.plan.campaign.id

    def run(self, listeners: list[Listener] | None = None, progress: Callable[[int, int], None] | None = None,
            timeout: float | None = None) -> Summary:
        """Publish the whole plan; return when every post is settled (or *timeout* seconds pass)."""
        posts = self.store.posts_in(list(PostState), self.campaign)
        last_due = max(p.due_at for p in posts)
        limit = timeout if timeout is not None else (last_due - datetime.now(UTC)).total_seconds() + 60
        settings = RunnerSettings(campaign=self.campaign, refresh=0.5, horizon=timedelta(minutes=10),
                                  backoff=0.2, backoff_cap=2.0, timeout=5.0, read_lag=self.sandbox.read_lag,
                                  collect_every=0.5, collect_scale=self.speed)
        runner = Runner(self.store, settings, EventBus(listeners), environ=self.environ, name="rehearsal")
        deadline = datetime.now(UTC) + timedelta(seconds=limit)
        runner.start()
        try:
            while True:
                settled = len(self.store.posts_in(list(SETTLED), self.campaign))
                if progress is not None:
                    progress(settled, len(posts))
                if settled >= len(posts) or datetime.now(UTC) > deadline:
                    break
                time.sleep(0.25)
        finally:
            runner.stop(wait=True)
        return self.summary()

    def to_plan_time(self) -> None:
        """Move the store's times back from the compressed real clock onto the plan's own week.

        After this, exports and reports of the rehearsal read as if the week had happened at the plan's
        times: posts at their planned instants, engagement collected over the week. (The audit log keeps
        the real times: it is append-only.)
        """
        virtual = self.clock.virtual
        posts = self.store.posts_in(list(PostState), self.campaign)  # read before the write transaction begins
        with self.store.engine.begin() as connection:
            for post in posts:
                values = {name: virtual(getattr(post, name)) for name in ("due_at", "late_after", "published_at",
                                                                          "claimed_at") if getattr(post, name)}
                connection.execute(update(Post).where(P.id == post.id).values(**values))
            snapshots = connection.execute(select(S.id, S.collected_at).join(Post, P.id == S.post_id)
                                           .where(P.campaign_id == self.campaign)).all()
            for snapshot_id, collected_at in snapshots:
                connection.execute(update(EngagementSnapshot).where(S.id == snapshot_id)
                                   .values(collected_at=virtual(collected_at)))

    def summary(self) -> Summary:
        summary = Summary()
        for post in self.store.posts_in(list(PostState), self.campaign):
            summary.add(post.local_time.date().isoformat(), post.platform, post.state)
        return summary


@contextmanager
def rehearsal(plan_path: Path, speed: float = DEFAULT_SPEED, seed: int = 7, start_in: float = 2.0,
              workdir: Path | None = None, actor: str = ACTOR) -> Iterator[Rehearsal]:
    """Set up a rehearsal of *plan_path*: its own store, an in-process sandbox, every post approved."""
    if speed <= 0:
        raise CampaignError("the speed must be more than 0 (1 is real time; 10080 plays a week in a minute)")
    rendered = render_plan(plan_path, now=BEFORE_EVERY_PLAN)  # played as if the week started now
    if not rendered.ok or rendered.plan is None:
        raise CampaignError(f"{plan_path} has {len(rendered.errors)} error(s); run `campaign validate` and fix "
                            "them first")
    with ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-rehearsal-")))
        store = Store.open(str(folder / "rehearsal.db"))
        stack.callback(store.close)
        # Scheduled and approved under two names: a plan may require the approver not to be the author.
        store.schedule(rendered, f"{actor} (author)")
        store.approve(Selection(campaign=rendered.plan.campaign.id, everything=True), actor)
        first_due = min(d.when.utc for d in rendered.drafts)
        clock = CompressedClock(first_due, datetime.now(UTC) + timedelta(seconds=start_in), speed)
        sandbox = Sandbox(seed=seed, clock=clock, accounts=[])
        environ = _sandbox_accounts(rendered, sandbox)
        stack.enter_context(running(sandbox))
        _point_at(store, rendered.plan.campaign.id, sandbox, clock, rendered.plan.campaign.grace)
        yield Rehearsal(rendered, store, sandbox, clock, environ, speed)


def _sandbox_accounts(rendered: RenderedPlan, sandbox: Sandbox) -> dict[str, str]:
    """One sandbox account per plan account, with fresh credentials; return the environment the runner
    should see (the plan's variable names, holding those credentials)."""
    assert rendered.plan is not None
    environ: dict[str, str] = {}
    for number, account in enumerate(rendered.plan.accounts.values(), start=1):
        spec = PLATFORMS[account.platform]
        credentials = {name: f"rehearsal-{account.platform}-{name}-{secrets.token_hex(6)}"
                       for name in account.credentials}
        if account.platform == "facebook":
            credentials["page_id"] = f"1000{number:011d}"
        if account.platform == "x":
            credentials["access_token"] = f"{7000 + number}-{credentials['access_token']}"
        user_id = {"x": str(7000 + number), "facebook": credentials.get("page_id", ""),
                   "mastodon": str(9000 + number), "bluesky": f"did:plc:rehearsal{number:04d}"}[account.platform]
        handle = account.handle if account.platform != "facebook" else account.handle.replace(" ", "")
        sandbox.add_account(SandboxAccount(platform=account.platform, handle=handle, user_id=user_id,
                                           display_name=account.handle, credentials=credentials,
                                           scopes=_scopes(spec.name)))
        for name, variable in account.credentials.items():
            environ[variable] = credentials[name]
    return environ


def _scopes(platform: str) -> tuple[str, ...]:
    """What a working token may do on *platform*: as the sandbox's own demo account for it."""
    return next(account.scopes for account in demo_accounts() if account.platform == platform)


def _point_at(store: Store, campaign: str, sandbox: Sandbox, clock: CompressedClock, grace: timedelta) -> None:
    """Send every account to the sandbox and move every post onto the compressed clock."""
    real_grace = max(grace / clock.speed, timedelta(seconds=10))
    posts = store.posts_in([PostState.APPROVED], campaign)
    with store.engine.begin() as connection:
        connection.execute(update(AccountRow).where(ACC.campaign_id == campaign).values(api_base=sandbox.base_url))
        for post in posts:
            due = clock.real(post.due_at if post.due_at.tzinfo else post.due_at.replace(tzinfo=UTC))
            connection.execute(update(Post).where(P.id == post.id).values(due_at=due, late_after=due + real_grace))
