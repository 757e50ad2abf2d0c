"""The runner: every approved post on time, exactly once, through faults, pauses and crashes.

APScheduler (3.x, in memory) is only the alarm clock: one date job per post falling due soon, carrying
just the post's id. The store is the truth. Each job *claims* its post with the store's conditional
update — so several runners, in one process or on many machines, never both send a post — then checks
once more for a pause, sends it through the account's adapter outside any transaction, and records the
result. The schedule of alarms is rebuilt from the store on start, every ``refresh`` seconds and on
:meth:`Runner.refresh` (SIGHUP), so approvals and pauses made elsewhere take effect without a restart.

Faults are handled here, in one place, for every platform:

- transient errors are retried with exponential backoff and jitter, a bounded number of times and never
  past the post's grace window; then the post is ``failed`` with the reason;
- a rate limit blocks only that account until the platform's reset time;
- an expired token pauses that account (a hold, on the record) and raises an alert;
- "duplicate" and timeouts after sending are checked against the platform before anything else: found
  means published;
- a post left ``publishing`` by a runner that died becomes ``unknown`` when its lease runs out, and is
  reconciled by looking for it on the platform — found: published; not found: approved again (Mastodon
  then re-sends with the same idempotency key). Nothing is ever re-sent blindly.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from campaign.publishing import events
from campaign.engagement import Collector
from campaign.exceptions import CampaignError
from campaign.platforms import PLATFORMS, adapter_class
from campaign.platforms.base import AccountConfig, Adapter, MediaItem, Outgoing
from campaign.platforms.credentials import resolve_credentials
from campaign.platforms.errors import AuthExpired, Duplicate, PlatformError, RateLimited, Transient
from campaign.store import Store
from campaign.store.models import AccountRow, Post, PostState
from campaign.times import as_utc

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
AdapterFactory = Callable[[AccountRow], Adapter]


@dataclass(frozen=True)
class RunnerSettings:
    campaign: str | None = None
    refresh: float = 15.0
    """Seconds between re-reads of the store."""
    horizon: timedelta = timedelta(hours=1)
    """How far ahead alarms are set; later posts are picked up by later refreshes."""
    lease: timedelta = timedelta(minutes=2)
    """How long a claim lasts without being renewed; after it, a dead runner's post becomes unknown."""
    max_attempts: int = 5
    backoff: float = 2.0
    """Seconds before the first retry; doubled each time, with jitter, up to ``backoff_cap``."""
    backoff_cap: float = 60.0
    reconcile_window: timedelta = timedelta(hours=2)
    """How far back to look on the platform for a post whose fate is unknown."""
    workers: int | None = None
    """Threads for publishing; default: one per account (at most one post in flight per account)."""
    timeout: float = 10.0
    """Seconds for every platform request."""
    collect_every: float = 60.0
    """Seconds between engagement collection passes (0: never collect)."""
    collect_scale: float = 1.0
    """Divide the campaign's collection offsets by this (a rehearsal's speed)."""


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class AccountSlot:
    """One account's queue: at most one post in flight, the rest wait in due order without holding a thread."""

    def __init__(self) -> None:
        self.busy = False
        self.waiting: deque[int] = deque()
        self.blocked_until: datetime | None = None
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
        self._alarms: dict[int, datetime] = {}
        self._alarm_accounts: dict[int, tuple[str, str]] = {}
        """(campaign, account) of each post with an alarm set: the alarm needs no read to find its queue."""
        self._queued: set[int] = set()
        """Posts whose alarm has gone off and that wait in, or are being sent from, their account's queue."""
        self.collector = Collector(store, self.environ, clock=self.clock, scale=self.settings.collect_scale,
                                   timeout=self.settings.timeout)
        workers = self.settings.workers or min(256, max(8, len(store.accounts(self.settings.campaign))))
        self.scheduler = BackgroundScheduler(
            # Engagement collection has a thread of its own: it never takes a publishing thread.
            executors={"default": ThreadPoolExecutor(workers), "collector": ThreadPoolExecutor(1)},
            # No silent drops (APScheduler's default misfire grace of 1 s drops queued jobs) and no merging:
            # lateness is judged by the store's grace window, in the claim itself.
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
            timezone=UTC,
        )

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.lease.total_seconds() < 3 * self.settings.timeout:
            # A send (uploads, then the post) can take several timeouts; if it outlives the lease, another runner
            # may take this live runner for a dead one and reconcile too early.
            log.warning("the lease (%s s) is shorter than three request timeouts (%s s each): a slow send may be "
                        "taken for a dead runner's", self.settings.lease.total_seconds(), self.settings.timeout)
        self.scheduler.start()
        try:
            self.store.warm_up(self.name, self.clock(), self.settings.lease)
        except Exception:  # noqa: BLE001 - only an optimisation: the first post compiles them instead
            log.debug("could not prepare the publishing statements ahead of time", exc_info=True)
        self.refresh()
        self.scheduler.add_job(self.refresh, "interval", seconds=self.settings.refresh, id="refresh",
                               max_instances=1)
        if self.settings.collect_every > 0:
            self.scheduler.add_job(self.collect, "interval", seconds=self.settings.collect_every, id="collect",
                                   executor="collector", max_instances=1)

    def stop(self, wait: bool = True) -> None:
        """Stop claiming; let posts in flight finish (``wait``), then close the adapters."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        for slot in self._slots.values():
            if slot.adapter is not None:
                slot.adapter.close()
        self.collector.close()

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

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def refresh(self) -> None:
        """Re-read the store: settle interrupted posts, mark missed ones, and set alarms for what falls due."""
        if self.stopping:
            return
        now = self.clock()
        try:
            self._settle_unknown(now)
            for key in self.store.mark_missed(now, actor=self.name):
                self.bus.emit(events.Missed(post=key, campaign=self.settings.campaign or ""))
            self._set_alarms(now)
        except Exception:  # noqa: BLE001 - the next refresh tries again; the runner must not die
            log.exception("refreshing from the store failed; trying again in %s s", self.settings.refresh)

    def _set_alarms(self, now: datetime) -> None:
        due = self.store.due_soon(now + self.settings.horizon, now, self.settings.campaign)
        wanted = {post.id: post.due_at for post in due if post.id is not None}
        for post_id in set(self._alarms) - set(wanted):
            self._alarms.pop(post_id, None)
            self._alarm_accounts.pop(post_id, None)
            if self.scheduler.get_job(f"post-{post_id}"):
                self.scheduler.remove_job(f"post-{post_id}")
        for post in due:
            assert post.id is not None
            if self._alarms.get(post.id) == post.due_at or post.id in self._queued:
                continue
            self._alarms[post.id] = post.due_at
            self._alarm_accounts[post.id] = (post.campaign_id, post.account)
            self.scheduler.add_job(self._fire, "date", run_date=max(post.due_at, now), args=[post.id],
                                   id=f"post-{post.id}", replace_existing=True)
            self.bus.emit(events.Scheduled(post=post.key, campaign=post.campaign_id, due_at=post.due_at))
        self._warm_adapters({(post.campaign_id, post.account) for post in due})

    def _warm_adapters(self, accounts: set[tuple[str, str]]) -> None:
        """Build the adapters of accounts with posts falling due, ahead of time, so that a post's due instant
        pays nothing for reading the account, resolving its credentials, importing the client library or
        building the client (with 200 posts due at once, that was most of their lateness). An adapter that
        cannot be built is left to the post's own attempt, which reports it exactly as before."""
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
            self._keep_adapter(self._slot_of(key), adapter)

    # -- one post ----------------------------------------------------------------------------------

    def _fire(self, post_id: int) -> None:
        """The alarm for one post: queue it on its account; publish it now if the account is free."""
        self._alarms.pop(post_id, None)
        account = self._alarm_accounts.pop(post_id, None)
        if self.stopping:
            return
        if account is None:  # e.g. a reply tried again: not an alarm set from the store's posts
            post = self._post(post_id)
            if post is None or post.state != PostState.APPROVED:
                return
            account = (post.campaign_id, post.account)
        # A post that is no longer approved is queued all the same: its claim fails, and nothing is sent.
        slot = self._slot_of(account)
        with self._lock:
            if post_id in self._queued:
                return
            self._queued.add(post_id)
            slot.waiting.append(post_id)
            if slot.busy:
                return
            slot.busy = True
        self._drain(slot)

    def _drain(self, slot: AccountSlot) -> None:
        while True:
            with self._lock:
                if self.stopping:
                    self._queued.difference_update(slot.waiting)
                    slot.waiting.clear()
                if not slot.waiting:
                    slot.busy = False
                    return
                post_id = slot.waiting.popleft()
            try:
                self._publish(post_id, slot)
            except Exception:  # noqa: BLE001 - one post's trouble must not stop the account's queue
                log.exception("publishing post %s failed unexpectedly", post_id)
            finally:
                with self._lock:
                    self._queued.discard(post_id)

    def _publish(self, post_id: int, slot: AccountSlot) -> None:
        post = self.store.claim_post(post_id, self.name, self.clock(), self.settings.lease)
        if post is None:
            self._retry_claim_later(post_id)
            return
        self.bus.emit(events.Claimed(post=post.key, campaign=post.campaign_id, runner=self.name))
        try:
            adapter = self._adapter(slot, post)
        except CampaignError as exc:
            self._account_problem(post, str(exc))
            return
        outgoing = self._outgoing(post)
        attempts = 0
        relogged = False
        while True:
            # Stopping first: a rate-limit wait ends early when stopping, and must not be waited for again.
            if self.stopping:
                self._release(post, "the runner is stopping")
                return
            now = self.clock()
            if slot.blocked_until and slot.blocked_until > now:
                if slot.blocked_until > as_utc(post.late_after):
                    self._release(post, "the account is rate-limited beyond the post's grace window")
                    return
                self._sleep_until(slot.blocked_until, holding=post_id)
                continue
            started = self.clock()
            if not self.store.arm(post_id, self.name, started, self.settings.lease):
                self._release(post, "paused before sending", emit=events.Held)
                return
            try:
                receipt = adapter.publish(outgoing)
            except RateLimited as exc:
                slot.blocked_until = exc.retry_at or started + timedelta(seconds=self._backoff(attempts))
                self._note_attempt(post, started, "rate_limited", str(exc))
                self.bus.emit(events.Retrying(post=post.key, campaign=post.campaign_id, reason=str(exc),
                                              retry_at=slot.blocked_until))
                continue
            except Transient as exc:
                self._note_attempt(post, started, "transient", str(exc))
                if exc.outcome_unknown and self._found(adapter, post, started):
                    return
                attempts += 1
                delay = self._backoff(attempts)
                retry_at = self.clock() + timedelta(seconds=delay)
                if attempts >= self.settings.max_attempts or retry_at > as_utc(post.late_after):
                    self._fail(post, f"{exc} (gave up after {attempts} attempt{'s' * (attempts != 1)})")
                    return
                self.bus.emit(events.Retrying(post=post.key, campaign=post.campaign_id, reason=str(exc),
                                              retry_at=retry_at))
                self._sleep_until(retry_at, holding=post_id)
                continue
            except Duplicate as exc:
                self._note_attempt(post, started, "duplicate", str(exc))
                if not self._found(adapter, post, started):
                    self._fail(post, f"{exc} — but no such post was found on the account; check it by hand")
                return
            except AuthExpired as exc:
                self._note_attempt(post, started, "auth_expired", str(exc))
                if exc.relogin and not relogged:
                    relogged = True
                    continue
                self._account_problem(post, str(exc))
                return
            except PlatformError as exc:
                self._note_attempt(post, started, exc.kind, str(exc))
                self._fail(post, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - we cannot know whether it went out
                self._note_attempt(post, started, "unknown", repr(exc))
                self.store.record_unknown(post_id, self.name, f"unexpected error while sending: {exc!r}")
                self.bus.emit(events.Unknown(post=post.key, campaign=post.campaign_id, reason=repr(exc)))
                return
            self._note_attempt(post, started, "published", receipt.url)
            self.store.record_published(post_id, self.name, receipt.remote_id, receipt.url)
            late = (started - as_utc(post.due_at)).total_seconds()
            self.bus.emit(events.Published(post=post.key, campaign=post.campaign_id, url=receipt.url,
                                           late_by_seconds=late))
            return

    def _retry_claim_later(self, post_id: int) -> None:
        """A reply whose thread parent is not out yet is tried again shortly, while it is still in time."""
        post = self._post(post_id)
        if post is None or post.state != PostState.APPROVED or post.reply_to is None or self.stopping:
            return
        now = self.clock()
        if now < as_utc(post.late_after):
            # A job of its own: the alarm's job may still be running (it drains the account's queue).
            self.scheduler.add_job(self._fire, "date", run_date=now + timedelta(seconds=1), args=[post_id])

    def _found(self, adapter: Adapter, post: Post, started: datetime) -> bool:
        """Look for the post on the platform; if it is there, record it as published."""
        try:
            found = adapter.find(self._outgoing(post), since=started - timedelta(minutes=10))
            remote_id = found[0].remote_id if found else None
        except PlatformError as exc:
            log.warning("could not look for %s on the platform: %s", post.key, exc)
            remote_id = None
        if remote_id is None:
            return False
        url = adapter.post_url(remote_id)
        assert post.id is not None
        self.store.record_published(post.id, self.name, remote_id, url)
        self.bus.emit(events.Published(post=post.key, campaign=post.campaign_id, url=url,
                                       late_by_seconds=(started - as_utc(post.due_at)).total_seconds()))
        return True

    # -- outcomes ----------------------------------------------------------------------------------

    def _release(self, post: Post, reason: str, emit: type[events.Held] | None = None) -> None:
        assert post.id is not None
        self.store.release(post.id, self.name, reason)
        if emit is not None:
            self.bus.emit(emit(post=post.key, campaign=post.campaign_id, reason=reason))

    def _fail(self, post: Post, reason: str) -> None:
        assert post.id is not None
        self.store.record_failed(post.id, self.name, reason)
        self.bus.emit(events.Failed(post=post.key, campaign=post.campaign_id, reason=reason))

    def _account_problem(self, post: Post, reason: str) -> None:
        """The account cannot post (expired token, missing credentials): hold it on the record, give the post
        back, and alert a person."""
        self._release(post, reason)
        already = any(h.account == post.account for h in self.store.active_holds(post.campaign_id))
        if not already:
            self.store.pause(f"{post.platform} account {post.account} cannot post: {reason}", self.name,
                             post.campaign_id, post.account)
        self.bus.emit(events.AuthExpired(post=post.key, campaign=post.campaign_id, account=post.account,
                                         reason=reason))

    def _note_attempt(self, post: Post, started: datetime, outcome: str, message: str | None) -> None:
        assert post.id is not None
        try:
            self.store.record_attempt(post.id, self.name, started, outcome, message, self.clock())
        except Exception:  # noqa: BLE001 - the attempt log must not stop the result being recorded
            log.exception("could not record an attempt for %s", post.key)

    # -- interrupted posts -------------------------------------------------------------------------

    def _settle_unknown(self, now: datetime) -> None:
        for post in self.store.expire_leases(now, actor=self.name):
            self.bus.emit(events.Unknown(post=post.key, campaign=post.campaign_id, reason="lease expired"))
        for post in self.store.posts_in([PostState.UNKNOWN], self.settings.campaign):
            self._reconcile(post, now)

    def _reconcile(self, post: Post, now: datetime) -> None:
        assert post.id is not None
        try:
            adapter = self._adapter(self._slot(post), post)
            since = (as_utc(post.claimed_at) if post.claimed_at else now) - timedelta(minutes=10)
            found = adapter.find(self._outgoing(post), since=max(since, now - self.settings.reconcile_window))
            remote_id = found[0].remote_id if found else None
        except (CampaignError, PlatformError) as exc:
            log.warning("could not reconcile %s yet: %s", post.key, exc)
            return
        url = adapter.post_url(remote_id) if remote_id else None
        try:
            self.store.resolve_unknown(post.id, remote_id, url, self.name, now)
        except CampaignError:
            return  # another runner settled it first
        self.bus.emit(events.Reconciled(post=post.key, campaign=post.campaign_id, found=remote_id is not None))

    # -- helpers -----------------------------------------------------------------------------------

    def _post(self, post_id: int) -> Post | None:
        found = self.store.posts_by_id([post_id])
        return found[0] if found else None

    def _slot(self, post: Post) -> AccountSlot:
        return self._slot_of((post.campaign_id, post.account))

    def _slot_of(self, account: tuple[str, str]) -> AccountSlot:
        with self._lock:
            return self._slots.setdefault(account, AccountSlot())

    def _adapter(self, slot: AccountSlot, post: Post) -> Adapter:
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
        spec = PLATFORMS[row.platform]
        credentials = resolve_credentials(spec, json.loads(row.credentials), self.environ)
        config = AccountConfig(platform=row.platform, handle=row.handle, credentials=credentials,
                               api_base=row.api_base, timeout=self.settings.timeout)
        return adapter_class(row.platform)(config)

    def _outgoing(self, post: Post) -> Outgoing:
        images = tuple(MediaItem.from_file(Path(m["path"]), m["alt"], m["mime_type"], m.get("sha256"))
                       for m in json.loads(post.media))
        reply_to = None
        if post.reply_to:  # the claim only succeeds once the parent is published: it has its platform id
            reply_to = self.store.post(post.reply_to, post.campaign_id).remote_id
        return Outgoing(text=post.text, images=images, reply_to=reply_to,
                        idempotency_key=f"{post.campaign_id}:{post.key}:{post.content_hash[:16]}")

    def _backoff(self, attempts: int) -> float:
        delay = min(self.settings.backoff_cap, self.settings.backoff * 2.0 ** max(0, attempts - 1))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security

    def _sleep_until(self, moment: datetime, holding: int | None = None) -> None:
        """Wait until *moment* (or until stopping). While waiting with post *holding* claimed, keep renewing its
        lease: a live runner waiting out a rate limit or a backoff must not be taken for a dead one."""
        while (seconds := (moment - self.clock()).total_seconds()) > 0 and not self.stopping:
            if holding is not None:
                try:
                    self.store.renew(holding, self.name, self.clock(), self.settings.lease)
                except Exception:  # noqa: BLE001 - the next renewal tries again
                    log.warning("could not renew the lease of post %s", holding, exc_info=True)
                seconds = min(seconds, self.settings.lease.total_seconds() / 3)
            self._stopping.wait(seconds)


