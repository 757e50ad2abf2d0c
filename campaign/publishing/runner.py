"""The runner: every approved post on time, exactly once, through faults, pauses and crashes.

APScheduler (3.x, in memory) is only the alarm clock: one date job per instant at which posts fall due soon (or
their retries or lookups do), carrying just those posts' ids. The store is the truth. An alarm queues each of its
posts on its account — at most one request stream per account, so a thread is never held by a waiting post — and
*claims* the posts whose accounts are free, all together, with one conditional update of the store that also
marks them as being sent (:meth:`Store.claim_and_arm`), so several runners, in one process or on many machines,
never both send a post. A few seconds before each instant its accounts open their connections
(``connect_ahead``), so that the requests leave at the instant without a handshake. Each account's requests then
go out from a sending thread of its own, and the outcomes
heard together are committed together (:class:`campaign.store.group_commit.GroupCommit`): a national 09:00 of
200 accounts costs two transactions at the due instant and a few after, not 800. The alarms are rebuilt from the store on start, every ``refresh`` seconds and
on :meth:`Runner.refresh` (SIGHUP), so approvals and pauses made elsewhere take effect without a restart. Each
refresh also looks for drafts that fall due soon without sign-off, and says so once
(:class:`campaign.publishing.alerts.SignOffWatch`).

What happens after each attempt is decided in one place (:mod:`campaign.publishing.sending`) for every
platform; in short:

- a request that certainly did not create the post (refused connection, 5xx before the post request, rate
  limit) gives the post back with a backoff: retried while its grace window lasts, never holding up the
  account's other posts;
- a request that may have created it (timeout, lost answer, 5xx, "duplicate") makes the post ``unknown``, and
  it is looked up on the platform before anything else (:mod:`campaign.publishing.reconcile`): never a blind
  re-send;
- the platform refusing it for certain makes it ``failed``; an account problem pauses that account.

A live runner renews its claims every ``watch`` seconds (a heartbeat); a runner that dies stops renewing them,
and within ``lease`` + ``watch`` seconds another runner (or the restarted one) takes its posts over: the
unsent ones straight back to the queue, the sent ones after a lookup.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor as SendingPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from campaign.engagement import Collector
from campaign.exceptions import CampaignError
from campaign.platforms.base import Adapter
from campaign.publishing import events
from campaign.publishing.accounts import account_adapter
from campaign.publishing.alerts import SignOffWatch
from campaign.publishing.sending import Sender
from campaign.store import Store
from campaign.store.group_commit import GroupCommit
from campaign.store.models import AccountRow, Post, PostState
from campaign.times import as_utc

log = logging.getLogger(__name__)
ALARMS_LOG = logging.getLogger("campaign.publishing.alarms")
"""APScheduler's own logger for this runner: its internals (a job skipped, a run missed) are not the user's
business, and only errors reach the terminal."""
ALARMS_LOG.setLevel(logging.ERROR)
WAITING_FOR_ANOTHER = timedelta(milliseconds=250)
"""How soon a post that waits for another (a reply for its parent, a paired post for its partner in the plan's
first language) is tried again: a paired English post goes this long at most after its Welsh one."""
Clock = Callable[[], datetime]
AdapterFactory = Callable[[AccountRow], Adapter]
Account = tuple[str, str]
"""(campaign, account key)."""


@dataclass(frozen=True)
class RunnerSettings:
    campaign: str | None = None
    refresh: float = 15.0
    """Seconds between re-reads of the store."""
    horizon: timedelta = timedelta(hours=1)
    """How far ahead alarms are set; later posts are picked up by later refreshes."""
    lease: timedelta = timedelta(seconds=12)
    """How long a claim lasts without being renewed: a dead runner's posts are taken over this soon."""
    watch: float = 2.0
    """Seconds between heartbeats (renewing this runner's claims) and looks for other runners' lapsed claims."""
    backoff: float = 2.0
    """Seconds before the first retry; doubled each time, with jitter, up to ``backoff_cap``."""
    backoff_cap: float = 60.0
    workers: int | None = None
    """Threads for publishing; default: one per account (at most one post in flight per account)."""
    timeout: float = 10.0
    """Seconds for every platform request."""
    connect_ahead: float = 3.0
    """Seconds before an instant at which each account with a post due then opens its connection (0: never), so
    that at the instant its request leaves at once, not after a TCP and TLS handshake. Servers close idle
    connections, so not much sooner; an opening still unanswered by halfway to the instant is given up."""
    read_lag: float | None = None
    """Seconds the platforms' reads may lag their writes, for every account; ``None``: each platform's own figure
    (``PlatformSpec.read_lag``). A sandbox's lag is known, so rehearsals and tests give it."""
    collect_every: float = 60.0
    """Seconds between engagement collection passes (0: never collect)."""
    collect_scale: float = 1.0
    """Divide the campaign's collection offsets by this (a rehearsal's speed)."""
    sign_off_warning: timedelta | None = timedelta(hours=24)
    """Alert (once) about drafts that fall due this soon and are not signed off; ``None``: never."""
    sign_off_urgent: timedelta = timedelta(hours=1)
    """A draft that falls due this soon without sign-off gets an alert of its own."""


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class AccountSlot:
    """One account's queue: at most one post in flight, the rest wait in order without holding a thread."""

    def __init__(self) -> None:
        self.busy = False
        self.waiting: deque[int] = deque()
        self.blocked_until: datetime | None = None
        """The account is rate-limited until then: its posts wait (in the store, as approved) until it ends."""
        self.adapter: Adapter | None = None


class Runner:
    def __init__(self, store: Store, settings: RunnerSettings | None = None, bus: events.EventBus | None = None,
                 environ: Mapping[str, str] | None = None, clock: Clock | None = None,
                 adapter_factory: AdapterFactory | None = None, name: str | None = None) -> None:
        self.store = store
        self.settings = settings or RunnerSettings()
        self.bus = bus or events.EventBus()
        self.environ = environ if environ is not None else os.environ
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.name = name or runner_name()
        self._adapter_factory = adapter_factory or self._default_adapter
        self._slots: dict[tuple[str, str], AccountSlot] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._alarms: dict[int, tuple[datetime, int]] = {}
        """Each post with an alarm set: when, and the alarm (one per instant) it is part of."""
        self._rings: dict[int, tuple[datetime, dict[int, Account]]] = {}
        """Each alarm still to go off: its instant, and its posts with their accounts (no read to find their
        queues)."""
        self._ring_at: dict[datetime, int] = {}
        """The alarm still to go off at each instant: posts falling due together share it."""
        self._numbers = itertools.count(1)
        self._announced: dict[int, datetime] = {}
        """The due time each post was last announced as scheduled for: announced once, not at every refresh."""
        self._queued: set[int] = set()
        """Posts whose alarm has gone off and that wait in, or are being handled from, their account's queue."""
        self._letting_go: set[int] = set()
        """Posts whose handling failed unexpectedly (e.g. the store refused their outcome): the heartbeat no
        longer renews their claims, so their leases run out and a lookup settles them, as if this runner had
        died. Renewed, a post sent but not recorded would stay ``publishing`` for as long as this runner lives."""
        self.sender = Sender(self)
        self.outcomes = GroupCommit(store.engine)
        """Where the sending threads' outcomes are committed, together when they come together."""
        self.sign_off = (SignOffWatch(store, self.settings.campaign, self.settings.sign_off_warning,
                                      self.settings.sign_off_urgent)
                         if self.settings.sign_off_warning is not None else None)
        self.collector = Collector(store, self.environ, clock=self.clock, scale=self.settings.collect_scale,
                                   timeout=self.settings.timeout)
        workers = self.settings.workers or min(256, max(8, len(store.accounts(self.settings.campaign))))
        self._sending = SendingPool(workers, thread_name_prefix="campaign-send")
        """One thread per account with posts to send (up to ``workers``): each account's requests in turn."""
        self.scheduler = BackgroundScheduler(
            # Alarms only claim and hand over, so a few threads ring them all. Engagement collection and the watch
            # have threads of their own: never an alarm's or a sending thread.
            executors={"default": ThreadPoolExecutor(4), "collector": ThreadPoolExecutor(1),
                       "watch": ThreadPoolExecutor(1)},
            # No silent drops (APScheduler's default misfire grace of 1 s drops queued jobs) and no merging:
            # lateness is judged by the store's grace window, in the claim itself.
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
            timezone=UTC,
            logger=ALARMS_LOG,
        )

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.start()
        try:
            self.store.warm_up(self.name, self.clock(), self.settings.lease)
        except Exception:  # noqa: BLE001 - only an optimisation: the first post compiles them instead
            log.debug("could not prepare the publishing statements ahead of time", exc_info=True)
        self.refresh()
        # At least three beats per lease, however the two are set: a live runner's claims must never lapse.
        beat = min(self.settings.watch, self.settings.lease.total_seconds() / 3)
        self.scheduler.add_job(self.watch, "interval", seconds=beat, id="watch", executor="watch")
        self.scheduler.add_job(self.refresh, "interval", seconds=self.settings.refresh, id="refresh",
                               executor="watch")
        if self.settings.collect_every > 0:
            self.scheduler.add_job(self.collect, "interval", seconds=self.settings.collect_every, id="collect",
                                   executor="collector")

    def stop(self, wait: bool = True) -> None:
        """Stop claiming; let posts in flight finish (``wait``), hand lookups back, then close the adapters."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self._sending.shutdown(wait=wait)
        self.outcomes.close()
        try:
            self.store.release_lookups(self.name, self.clock())
        except Exception:  # noqa: BLE001 - their claims run out by themselves
            log.warning("could not hand this runner's lookups back; they are taken over when their claims run out")
        for slot in self._slots.values():
            if slot.adapter is not None:
                slot.adapter.close()
        self.collector.close()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def collect(self) -> None:
        """One engagement pass: every published post whose next collection is due."""
        if self.stopping:
            return
        try:
            report = self.collector.collect_due(self.settings.campaign)
        except Exception:  # noqa: BLE001 - collection must never stop the runner
            log.exception("collecting engagement failed; trying again in %s s", self.settings.collect_every)
            return
        for account, reason in report.failures.items():
            log.warning("engagement for %s was not collected (it will be retried): %s", account, reason)

    def refresh(self) -> None:
        """Re-read the store: mark missed posts, set alarms for what falls due, and alert about drafts that fall
        due soon without sign-off."""
        if self.stopping:
            return
        now = self.clock()
        try:
            for key in self.store.mark_missed(now, actor=self.name):
                self.bus.emit(events.Missed(post=key, campaign=self.settings.campaign or ""))
            self._set_alarms(now)
        except Exception:  # noqa: BLE001 - the next refresh tries again; the runner must not die
            log.exception("refreshing from the store failed; trying again in %s s", self.settings.refresh)
        if self.sign_off is not None:
            try:
                alerts = self.sign_off.check(now)
            except Exception:  # noqa: BLE001 - publishing goes on; the next refresh looks again
                log.exception("looking for drafts not signed off failed; trying again in %s s", self.settings.refresh)
                return
            for alert in alerts:
                self.bus.emit(alert)

    def watch(self) -> None:
        """The heartbeat: renew this runner's claims, take over posts whose runner stopped renewing theirs, and
        set alarms for lookups that fall due."""
        if self.stopping:
            return
        now = self.clock()
        try:
            with self._lock:
                letting_go = set(self._letting_go)
            self.store.heartbeat(self.name, now, self.settings.lease, letting_go)
            for post in self.store.expire_leases(now, actor=self.name):
                if post.state == PostState.UNKNOWN:
                    self.bus.emit(events.Unknown(post=post.key, campaign=post.campaign_id,
                                                 reason="the runner sending it stopped; looking it up"))
                self.alarm(post, now)
            for post in self.store.lookups_due(now + timedelta(seconds=self.settings.watch), self.settings.campaign,
                                               now):
                self.alarm(post, as_utc(post.not_before) if post.not_before else now)
        except Exception:  # noqa: BLE001 - the next beat tries again; the runner must not die
            log.exception("the runner's heartbeat failed; trying again in %s s", self.settings.watch)

    # -- alarms ------------------------------------------------------------------------------------

    def _set_alarms(self, now: datetime) -> None:
        due = self.store.due_soon(now + self.settings.horizon, now, self.settings.campaign)
        lookups = self.store.lookups_due(now + self.settings.horizon, self.settings.campaign, now)
        wanted = {post.id for post in (*due, *lookups)}
        with self._lock:
            stale = set(self._alarms) - wanted
        for post_id in stale:
            self._cancel_alarm(post_id)
        for post in due:
            self.alarm(post, max(as_utc(post.due_at), as_utc(post.not_before or post.due_at)))
            assert post.id is not None
            if self._announced.get(post.id) != post.due_at:
                self._announced[post.id] = post.due_at
                self.bus.emit(events.Scheduled(post=post.key, campaign=post.campaign_id, due_at=post.due_at))
        for post in lookups:
            self.alarm(post, as_utc(post.not_before) if post.not_before else now)
        self._warm_adapters({(post.campaign_id, post.account) for post in due})

    def alarm(self, post: Post, when: datetime) -> None:
        """Set (or move) the alarm of *post* to *when*: then it is claimed, to send it or to look it up."""
        assert post.id is not None
        if self.stopping or post.id in self._queued:
            return
        self._set_alarm(post.id, (post.campaign_id, post.account), when)

    def _set_alarm(self, post_id: int, account: Account, when: datetime) -> None:
        with self._lock:
            current = self._alarms.get(post_id)
            if current is not None and current[0] == when:
                return
            if current is not None:
                self._leave_ring(post_id, current[1])
            number = self._ring_at.get(when)
            if number is None:
                number = self._ring_at[when] = next(self._numbers)
                self._rings[number] = (when, {})
                # A job id never reused: a ring still running (its posts being claimed) cannot swallow a new one.
                self.scheduler.add_job(self._ring, "date", run_date=max(when, self.clock()), args=[number],
                                       id=f"ring-{number}")
                ahead = when - timedelta(seconds=self.settings.connect_ahead)
                if self.settings.connect_ahead > 0 and ahead > self.clock():
                    self.scheduler.add_job(self._connect_ahead, "date", run_date=ahead, args=[number],
                                           id=f"connect-{number}")
            self._rings[number][1][post_id] = account
            self._alarms[post_id] = (when, number)

    def _cancel_alarm(self, post_id: int) -> None:
        with self._lock:
            current = self._alarms.get(post_id)
            if current is not None:
                self._leave_ring(post_id, current[1])

    def _leave_ring(self, post_id: int, number: int) -> None:
        """Take *post_id* out of alarm *number* (the lock held); an alarm left with no post is removed."""
        del self._alarms[post_id]
        if number not in self._rings:
            return
        when, ring = self._rings[number]
        ring.pop(post_id, None)
        if not ring:
            del self._rings[number]
            del self._ring_at[when]
            for job in (f"ring-{number}", f"connect-{number}"):
                try:
                    self.scheduler.remove_job(job)
                except JobLookupError:
                    pass  # gone off, going off right now (it finds no post), or never set

    def _warm_adapters(self, accounts: set[tuple[str, str]]) -> None:
        """Build the adapters of accounts with posts falling due, ahead of time, so that a post's due instant
        pays nothing for reading the account, resolving its credentials, importing the client library or
        building the client (with 200 posts due at once, that was most of their lateness), and have each log in
        (on a sending thread: never holding up the heartbeat). An adapter that cannot be built, or log in, is left
        to the post's own attempt, which reports it."""
        with self._lock:
            cold = {key for key in accounts if (slot := self._slots.get(key)) is None or slot.adapter is None}
        if not cold:
            return
        for row in self.store.accounts(self.settings.campaign):
            key = (row.campaign_id, row.key)
            if key not in cold:
                continue
            try:
                adapter = self._adapter_factory(row)
            except Exception as exc:  # noqa: BLE001 - reported when a post of the account is sent
                log.debug("the adapter of %s/%s is not ready yet: %s", row.campaign_id, row.key, exc)
                continue
            slot = self._slot_of(key)
            self._keep_adapter(slot, adapter)
            try:
                self._sending.submit(self._prepare, slot)
            except RuntimeError:  # stopping
                return

    @staticmethod
    def _prepare(slot: AccountSlot) -> None:
        if slot.adapter is None:
            return
        try:
            slot.adapter.prepare()
        except Exception as exc:  # noqa: BLE001 - the account's first post meets it and reports it
            log.debug("the adapter could not prepare ahead of time: %s", exc)

    def _connect_ahead(self, number: int) -> None:
        """A few seconds before alarm *number* goes off, have each of its accounts that is not sending open its
        connection, on a sending thread (one per account: at the instant they are free again)."""
        with self._lock:
            if number not in self._rings or self.stopping:
                return
            when, ring = self._rings[number]
            idle = {slot for account in ring.values()
                    if (slot := self._slots.get(account)) is not None and slot.adapter is not None and not slot.busy}
        give_up_at = when - timedelta(seconds=self.settings.connect_ahead / 2)
        for slot in idle:
            try:
                self._sending.submit(self._open_connection, slot, give_up_at)
            except RuntimeError:  # stopping
                return

    def _open_connection(self, slot: AccountSlot, give_up_at: datetime) -> None:
        """Open *slot*'s connection, unless it is too late to: by *give_up_at* this thread is free again (each of
        the request's phases, connecting and waiting for the answer, gets a third of the time left)."""
        left = (give_up_at - self.clock()).total_seconds()
        if slot.adapter is None or left <= 0:
            return
        try:
            slot.adapter.connect_ahead(timeout=left / 3)
        except Exception as exc:  # noqa: BLE001 - the post opens its connection itself, as it would have anyway
            log.debug("could not open a connection ahead of time: %s", exc)

    # -- the account queues ------------------------------------------------------------------------

    def _ring(self, number: int) -> None:
        """An alarm goes off: queue each of its posts on its account, and start those whose account is free,
        claimed all together."""
        with self._lock:
            if number not in self._rings:
                return
            when, ring = self._rings.pop(number)
            del self._ring_at[when]
            for post_id in ring:
                self._alarms.pop(post_id, None)
            if self.stopping:
                return
            # A post that is no longer approved is queued all the same: its claim fails, and nothing is sent.
            starting: list[tuple[int, AccountSlot]] = []
            for post_id, account in ring.items():
                if post_id in self._queued:
                    continue
                self._queued.add(post_id)
                slot = self._slots.setdefault(account, AccountSlot())
                if slot.busy:
                    slot.waiting.append(post_id)
                else:
                    slot.busy = True
                    starting.append((post_id, slot))
        if not starting:
            return
        try:
            turns = self.sender.begin(starting)
        except Exception:  # noqa: BLE001 - e.g. the store was busy: each post then tries on its own
            log.exception("claiming %d posts together failed; each is tried on its own", len(starting))
            turns = [(post_id, slot, functools.partial(self.sender.handle, post_id, slot))
                     for post_id, slot in starting]
        for post_id, slot, turn in turns:
            try:
                self._sending.submit(self._take_turns, post_id, slot, turn)
            except RuntimeError:  # stopping: the pool takes no more; a claimed post's lease runs out
                with self._lock:
                    self._queued.discard(post_id)
                    slot.busy = False

    def _take_turns(self, post_id: int, slot: AccountSlot, turn: Callable[[], None]) -> None:
        """An account's sending thread: this post's turn, then the turns of the posts queued behind it."""
        while True:
            with self._lock:
                self._letting_go.discard(post_id)  # a fresh turn: a claim it makes now is renewed
            try:
                turn()
            except Exception:  # noqa: BLE001 - one post's trouble must not stop the account's queue
                log.exception("handling post %s failed unexpectedly; if this runner holds its claim, it is let go: "
                              "when the claim's lease runs out, a lookup settles the post", post_id)
                with self._lock:
                    self._letting_go.add(post_id)
            with self._lock:
                self._queued.discard(post_id)
                if self.stopping:
                    self._queued.difference_update(slot.waiting)
                    slot.waiting.clear()
                if not slot.waiting:
                    slot.busy = False
                    return
                post_id = slot.waiting.popleft()
            turn = functools.partial(self.sender.handle, post_id, slot)

    def retry_claim_later(self, post_id: int) -> None:
        """A reply whose thread parent is not out yet, or a paired post whose partner in the plan's first language
        is not, is tried again shortly, while it is still in time."""
        post = self.post(post_id)
        if post is None or post.state != PostState.APPROVED or self.stopping:
            return
        if post.reply_to is None and post.follows is None:
            return
        now = self.clock()
        if now < as_utc(post.late_after):
            # Not alarm(): the post is still queued (this is its turn), and alarm() leaves queued posts alone.
            self._set_alarm(post_id, (post.campaign_id, post.account), now + WAITING_FOR_ANOTHER)

    # -- helpers -----------------------------------------------------------------------------------

    def post(self, post_id: int) -> Post | None:
        found = self.store.posts_by_id([post_id])
        return found[0] if found else None

    def _slot_of(self, account: tuple[str, str]) -> AccountSlot:
        with self._lock:
            return self._slots.setdefault(account, AccountSlot())

    def adapter(self, slot: AccountSlot, post: Post) -> Adapter:
        if slot.adapter is None:
            rows = [a for a in self.store.accounts(post.campaign_id) if a.key == post.account]
            if not rows:
                raise CampaignError(f"the store has no account {post.account!r} for {post.key}")
            self._keep_adapter(slot, self._adapter_factory(rows[0]))
        assert slot.adapter is not None
        return slot.adapter

    def _keep_adapter(self, slot: AccountSlot, adapter: Adapter) -> None:
        """Give *slot* this adapter, unless another thread has given it one meanwhile (then close this one)."""
        with self._lock:
            kept = slot.adapter is None
            if kept:
                slot.adapter = adapter
        if not kept:
            adapter.close()

    def _default_adapter(self, row: AccountRow) -> Adapter:
        return account_adapter(row, self.environ, self.settings.timeout)
