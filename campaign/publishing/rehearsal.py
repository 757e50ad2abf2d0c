"""Rehearsals: a whole plan played against the sandbox with time compressed, on a store of its own.

A week at the default speed (10,080×) takes about a minute. The plan's posts keep their order and
spacing, scaled; the sandbox's clock runs at the same speed, so engagement grows as it would over the
real week. Given a *quiet* time (as ``campaign demo`` does, :data:`QUIET`), the clock also skips the quiet
stretches between posts: each post still plays at the speed, and the nights and gaps go by in a blink, so
the bundled week takes under four seconds (see :class:`CompressedClock`).

Nothing slow happens on the compressed clock: the adapters are made and signed in before it starts, so
the week's first posts are not hours late in plan time. Nothing here touches the real store, the real
platforms or the process's environment: the rehearsal makes its own accounts on the sandbox and hands the
runner their credentials directly.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, func, select, update

from campaign.exceptions import CampaignError
from campaign.plan.loader import BEFORE_EVERY_PLAN
from campaign.platforms import PLATFORMS
from campaign.platforms.base import Adapter
from campaign.platforms.media_host import MediaHostSettings
from campaign.publishing.accounts import account_adapter
from campaign.publishing.events import EventBus, Listener
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.render import RenderedPlan, render_plan
from campaign.sandbox import Sandbox, SandboxAccount, demo_accounts, running
from campaign.store import PostState, Selection, Store
from campaign.store.models import AccountRow, EngagementSnapshot, Post, table_columns
from campaign.times import as_utc

DEFAULT_SPEED = 10_080.0
"""A week (10,080 minutes) in a minute, played evenly; with :data:`QUIET`, the speed each post plays at."""
QUIET = timedelta(minutes=6)
"""How ``campaign demo`` skips the quiet stretches: each post due at an instant keeps the clock near its speed
for this much more plan time before it hurries on. At 10,080× that is 36 ms of real time per post, about
what sending one takes: the bundled week takes under four seconds and its posts go out minutes late in plan
time, where the same week played evenly in four seconds (at 150,000×) has them hours late."""
ACTOR = "rehearsal"
TIMEOUT = 5.0
"""Seconds for every request to the sandbox."""
POLL = 0.1
"""Seconds between looks at how many posts are settled."""
ON_THE_CLOCK = ("due_at", "late_after")
"""The post times :meth:`Rehearsal.to_plan_time` moves back onto the plan's week by the clock."""
PLAYED = ("published_at", "claimed_at")
"""The post times it moves back by how long after the post's due instant they came (:meth:`CompressedClock.played`)."""
SETTLED = (PostState.PUBLISHED, PostState.FAILED, PostState.MISSED, PostState.CANCELLED, PostState.REJECTED)
P = table_columns(Post)
ACC = table_columns(AccountRow)
S = table_columns(EngagementSnapshot)
log = logging.getLogger(__name__)


class CompressedClock:
    """Plan time running *speed* times faster than real time, from *plan_start* at *real_start*.

    Given the plan's due times (*due*, one per post) and a *quiet* time, it also skips the quiet stretches
    between them. From each instant where *n* posts fall due, plan time runs at *speed*, then ever faster
    (``speed × e^(t / (n × quiet))`` at *t* after the instant), so that the stretch until the next instant
    takes at most ``n × quiet / speed`` of real time however long it is, a whole night included: each post,
    and what it sets off, plays at about *speed*, and the hours with nothing due go by in a blink. The
    instants keep their order; before the first and after the last, plan time runs at *speed*.
    """

    def __init__(self, plan_start: datetime, real_start: datetime, speed: float,
                 due: Sequence[datetime] = (), quiet: timedelta | None = None) -> None:
        self.plan_start, self.real_start, self.speed = plan_start, real_start, speed
        posts = Counter(due) if quiet else Counter()
        marks = sorted({plan_start, *posts})
        if marks[0] != plan_start:
            raise ValueError("the clock starts at the plan's first instant: no post may fall due before it")
        self._plan = marks
        self._ramp = [(quiet * max(posts[mark], 1)).total_seconds() if quiet else 0.0 for mark in marks]
        """Plan seconds over which the speed grows e-fold after each instant."""
        self._real = [timedelta(0)]
        """Real time after *real_start* at which each instant happens."""
        for index, (before, after) in enumerate(itertools.pairwise(marks)):
            self._real.append(self._real[-1] + timedelta(seconds=self._within(index, after - before)))

    def start(self, real_start: datetime) -> None:
        """Make *plan_start* happen at *real_start* (the rehearsal starts its clock when the runner is ready)."""
        self.real_start = real_start

    @property
    def plan_span(self) -> timedelta:
        """From the first instant to the last, in plan time."""
        return self._plan[-1] - self._plan[0]

    @property
    def real_span(self) -> timedelta:
        """From the first instant to the last, in real time."""
        return self._real[-1]

    @property
    def average_speed(self) -> float:
        """How many times faster than real time the plan's instants go by, taken over all of them."""
        real = self.real_span.total_seconds()
        return self.plan_span.total_seconds() / real if real > 0 else self.speed

    def __call__(self) -> datetime:
        return self.virtual(datetime.now(UTC))

    def real(self, plan_time: datetime) -> datetime:
        index = bisect.bisect_right(self._plan, plan_time) - 1
        if index < 0 or index == len(self._plan) - 1:  # before the first instant or after the last: linear
            index = max(index, 0)
            return self.real_start + self._real[index] + (plan_time - self._plan[index]) / self.speed
        within = self._within(index, plan_time - self._plan[index])
        return self.real_start + self._real[index] + timedelta(seconds=within)

    def virtual(self, real_time: datetime) -> datetime:
        elapsed = as_utc(real_time) - self.real_start
        index = bisect.bisect_right(self._real, elapsed) - 1
        if index < 0 or index == len(self._real) - 1:
            index = max(index, 0)
            return self._plan[index] + (elapsed - self._real[index]) * self.speed
        ramp = self._ramp[index]
        share = min((elapsed - self._real[index]).total_seconds() * self.speed / ramp, 1.0)
        within = -ramp * math.log1p(-share) if share < 1 else math.inf
        return min(self._plan[index] + timedelta(seconds=min(within, 1e9)), self._plan[index + 1])

    def played(self, due: datetime, real_time: datetime) -> datetime:
        """Where *real_time*, which came after a post's real *due* instant, falls in the plan's week: as long after
        its plan due time as it came after *due*, at the speed each post plays at. Not :meth:`virtual`: after an
        instant the clock hurries through the quiet stretch that follows, so the tens of milliseconds a request
        takes would put a post hours on, into a skipped night, and a 09:00 post would read as out at noon."""
        return self.virtual(due) + max(as_utc(real_time) - as_utc(due), timedelta(0)) * self.speed

    def _within(self, index: int, plan_time: timedelta) -> float:
        """Real seconds from instant *index* to *plan_time* after it (before the next instant)."""
        ramp = self._ramp[index]
        return -math.expm1(-plan_time.total_seconds() / ramp) * ramp / self.speed


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

    @property
    def all_published(self) -> bool:
        """Every post was published (none failed, was missed, or was still on its way when the run ended)."""
        return set(self.totals) <= {PostState.PUBLISHED}


class WarmAdapters:
    """Each account's adapter, made and signed in before the clock starts, handed to the runner when it asks.

    Making an adapter imports its client library (Bluesky's takes most of a second) and its first request
    signs in: on a compressed clock, paid at the first post's due instant, that made the week's first posts
    hours late in plan time. An adapter that cannot be made is left for the runner to make (and report); one
    that cannot sign in is handed over all the same, and its posts say why.
    """

    def __init__(self, store: Store, campaign: str, environ: dict[str, str], timeout: float) -> None:
        self.environ, self.timeout = environ, timeout
        self._made: dict[tuple[str, str], Adapter] = {}
        for row in store.accounts(campaign):
            try:
                adapter = account_adapter(row, environ, timeout)
            except Exception as exc:  # noqa: BLE001 - only a head start: the runner makes it and says what is wrong
                log.debug("could not prepare the adapter of %s/%s: %s", row.campaign_id, row.key, exc)
                continue
            try:
                adapter.check()
            except Exception as exc:  # noqa: BLE001 - as above
                log.debug("could not sign %s/%s in ahead of time: %s", row.campaign_id, row.key, exc)
            self._made[(row.campaign_id, row.key)] = adapter

    def take(self, row: AccountRow) -> Adapter:
        """The adapter of *row*: the one made ahead, once; then a new one (the runner closes what it takes)."""
        made = self._made.pop((row.campaign_id, row.key), None)
        return made if made is not None else account_adapter(row, self.environ, self.timeout)

    def close(self) -> None:
        for adapter in self._made.values():
            adapter.close()
        self._made.clear()


class Rehearsal:
    """One rehearsal; use :func:`rehearsal` to get one with its sandbox and store set up."""

    def __init__(self, rendered: RenderedPlan, store: Store, sandbox: Sandbox, clock: CompressedClock,
                 environ: dict[str, str], speed: float, start_in: float = 0.25,
                 adapters: WarmAdapters | None = None) -> None:
        self.rendered, self.store, self.sandbox, self.clock = rendered, store, sandbox, clock
        self.environ, self.speed, self.start_in, self.adapters = environ, speed, start_in, adapters
        assert rendered.plan is not None
        self.campaign = rendered.plan.campaign.id
        self.grace = rendered.plan.campaign.grace

    def settings(self) -> RunnerSettings:
        """The runner's settings for this speed: re-read the store, retry and collect often enough that
        nothing waits a long stretch of the compressed week for a timer meant for real time."""
        return RunnerSettings(campaign=self.campaign, refresh=0.5, horizon=timedelta(minutes=10),
                              backoff=0.2, backoff_cap=2.0, timeout=TIMEOUT, read_lag=self.sandbox.read_lag,
                              collect_every=collect_every(self.clock.average_speed),
                              collect_scale=self.clock.average_speed)

    def run(self, listeners: list[Listener] | None = None, progress: Callable[[int, int], None] | None = None,
            timeout: float | None = None) -> Summary:
        """Start the clock, publish the whole plan; return when every post is settled (or *timeout* seconds
        pass).

        The plan's first post falls due *start_in* seconds after this is called: everything slow (making the
        adapters, signing in) is done before, so the week's first posts go out on time.
        """
        self.clock.start(datetime.now(UTC) + timedelta(seconds=self.start_in))
        _point_at(self.store, self.campaign, self.clock, self.grace)
        posts = self.store.posts_in(list(PostState), self.campaign)
        last_due = max(as_utc(p.due_at) for p in posts)
        limit = timeout if timeout is not None else (last_due - datetime.now(UTC)).total_seconds() + 60
        factory = self.adapters.take if self.adapters is not None else None
        runner = Runner(self.store, self.settings(), EventBus(listeners), environ=self.environ, name="rehearsal",
                        adapter_factory=factory)
        deadline = datetime.now(UTC) + timedelta(seconds=limit)
        runner.start()
        try:
            while True:
                settled = self._settled()
                if progress is not None:
                    progress(settled, len(posts))
                if settled >= len(posts) or datetime.now(UTC) > deadline:
                    break
                time.sleep(POLL)
        finally:
            runner.stop(wait=True)
        return self.summary()

    def _settled(self) -> int:
        """How many of the rehearsal's posts are settled (a count: this is asked ten times a second)."""
        with self.store.reader.connect() as connection:  # takes no lock a runner's write would wait for
            return connection.execute(select(func.count()).select_from(Post).where(
                P.campaign_id == self.campaign, P.state.in_(SETTLED))).scalar_one()

    def to_plan_time(self) -> None:
        """Move the store's times back from the compressed real clock onto the plan's own week.

        After this, exports and reports of the rehearsal read as if the week had happened at the plan's
        times: posts at their planned instants, engagement collected over the week. (The audit log keeps
        the real times: it is append-only.)
        """
        virtual = self.clock.virtual
        posts = self.store.posts_in(list(PostState), self.campaign)  # read before the write transaction begins
        played = self.clock.played
        moved = [{"pid": post.id,
                  **{f"new_{name}": virtual(getattr(post, name)) for name in ON_THE_CLOCK},
                  **{f"new_{name}": played(post.due_at, value) if (value := getattr(post, name)) else None
                     for name in PLAYED}} for post in posts]
        with self.store.engine.begin() as connection:
            if moved:
                connection.execute(update(Post).where(P.id == bindparam("pid"))
                                   .values({name: bindparam(f"new_{name}") for name in (*ON_THE_CLOCK, *PLAYED)}),
                                   moved)
            snapshots = [{"sid": snapshot_id, "new_at": virtual(collected_at)} for snapshot_id, collected_at
                         in connection.execute(select(S.id, S.collected_at).join(Post, P.id == S.post_id)
                                               .where(P.campaign_id == self.campaign))]
            if snapshots:
                connection.execute(update(EngagementSnapshot).where(S.id == bindparam("sid"))
                                   .values(collected_at=bindparam("new_at")), snapshots)

    def summary(self) -> Summary:
        summary = Summary()
        for post in self.store.posts_in(list(PostState), self.campaign):
            summary.add(post.local_time.date().isoformat(), post.platform, post.state)
        return summary


def collect_every(speed: float) -> float:
    """Seconds between the runner's engagement passes: an hour of the compressed week, between a quarter and
    a half second (each pass reads every published post: more often, it takes the time the posts need)."""
    return min(0.5, max(0.25, 3600 / speed))


@contextmanager
def rehearsal(plan: Path | RenderedPlan, speed: float = DEFAULT_SPEED, seed: int = 7, start_in: float = 0.25,
              workdir: Path | None = None, actor: str = ACTOR, quiet: timedelta | None = None) -> Iterator[Rehearsal]:
    """Set up a rehearsal of *plan* (a plan file, or one already rendered as if the week started now): its
    own store, an in-process sandbox, every post approved, every account's adapter made and signed in.

    The clock starts with :meth:`Rehearsal.run`, the first post *start_in* seconds later, and runs *speed*
    times faster than real time; with *quiet*, it also skips the quiet stretches between posts (see
    :class:`CompressedClock`)."""
    if speed <= 0:
        raise CampaignError("the speed must be more than 0 (1 is real time; 10080 plays a week in a minute)")
    rendered = plan if isinstance(plan, RenderedPlan) else render_plan(plan, now=BEFORE_EVERY_PLAN)
    if not rendered.ok or rendered.plan is None:
        raise CampaignError(f"{rendered.path} has {len(rendered.errors)} error(s); run "
                            "`campaign validate` and fix them first")
    with ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-rehearsal-")))
        store = Store.open(str(folder / "rehearsal.db"))
        stack.callback(store.close)
        # Scheduled and approved under two names: a plan may require the approver not to be the author.
        store.schedule(rendered, f"{actor} (author)")
        store.approve(Selection(campaign=rendered.plan.campaign.id, everything=True), actor)
        due = [d.when.utc for d in rendered.drafts]
        clock = CompressedClock(min(due), datetime.now(UTC) + timedelta(seconds=start_in), speed, due, quiet)
        # As with latency (none here), processing an uploaded image takes no time in a rehearsal: in real seconds
        # on a compressed clock, its fraction of a second would make each image post half an hour late.
        sandbox = Sandbox(seed=seed, clock=clock, accounts=[], media_processing=0.0)
        environ = _sandbox_accounts(rendered, sandbox)
        stack.enter_context(running(sandbox))
        campaign = rendered.plan.campaign.id
        with store.engine.begin() as connection:
            connection.execute(update(AccountRow).where(ACC.campaign_id == campaign)
                               .values(api_base=sandbox.base_url))
        _host_images(rendered, sandbox, store)
        adapters = WarmAdapters(store, campaign, environ, TIMEOUT)
        stack.callback(adapters.close)
        yield Rehearsal(rendered, store, sandbox, clock, environ, speed, start_in, adapters)


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
        if account.platform == "linkedin":
            credentials["organization_id"] = str(2400000 + number)
        if account.platform == "instagram":
            credentials["ig_user_id"] = f"178414{number:011d}"  # an Instagram id: 17 digits, starting 17
        user_id = {"x": str(7000 + number), "facebook": credentials.get("page_id", ""),
                   "mastodon": str(9000 + number), "bluesky": f"did:plc:rehearsal{number:04d}",
                   "linkedin": credentials.get("organization_id", ""),
                   "instagram": credentials.get("ig_user_id", "")}[account.platform]
        handle = account.handle if account.platform != "facebook" else account.handle.replace(" ", "")
        sandbox.add_account(SandboxAccount(platform=account.platform, handle=handle, user_id=user_id,
                                           display_name=account.handle, credentials=credentials,
                                           scopes=_scopes(spec.name)))
        for name, variable in account.credentials.items():
            environ[variable] = credentials[name]
    return environ


def _host_images(rendered: RenderedPlan, sandbox: Sandbox, store: Store) -> None:
    """Accounts whose platform fetches images itself (Instagram) get the sandbox as their media host: it serves
    each approved image by its file name, as a force's own web server would (a plain ``base_url`` host, checked
    against the approved bytes before each container), since a rehearsal has no bucket. Two different images
    with one name cannot both be served: the second's posts then fail the check, saying so."""
    assert rendered.plan is not None
    hosted = [a.id for a in rendered.plan.accounts.values() if PLATFORMS[a.platform].media_host]
    if not hosted:
        return
    for draft in rendered.drafts:
        for image in draft.images if draft.account in hosted else ():
            sandbox.serve_file(image.path.name, image.path.read_bytes())
    host = MediaHostSettings(base_url=f"{sandbox.base_url}/_sandbox/media/").to_json()
    with store.engine.begin() as connection:
        connection.execute(update(AccountRow).where(ACC.campaign_id == rendered.plan.campaign.id,
                                                    ACC.key.in_(hosted)).values(media_host=host))


def _scopes(platform: str) -> tuple[str, ...]:
    """What a working token may do on *platform*: as the sandbox's own demo account for it."""
    return next(account.scopes for account in demo_accounts() if account.platform == platform)


def _point_at(store: Store, campaign: str, clock: CompressedClock, grace: timedelta) -> None:
    """Move every approved post from its plan time onto the compressed clock; its grace window compresses
    too, but never below ten seconds of real time."""
    real_grace = max(grace / clock.speed, timedelta(seconds=10))
    moved = [{"pid": post.id, "new_due": (due := clock.real(as_utc(post.due_at))), "new_late": due + real_grace}
             for post in store.posts_in([PostState.APPROVED], campaign)]
    if moved:
        with store.engine.begin() as connection:
            connection.execute(update(Post).where(P.id == bindparam("pid"))
                               .values(due_at=bindparam("new_due"), late_after=bindparam("new_late")), moved)
