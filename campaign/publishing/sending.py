"""One post's turn on its account's queue: send it, or look it up, and record exactly what is known.

The rules, for every platform (the adapters only say which kind of error they met):

==============================================  ==================================================================
what happened                                   what the post becomes
==============================================  ==================================================================
the platform answered with the new post         ``published``, at the platform's own time where it gives one
a rate limit                                    ``approved`` again, from the reset time; the account waits
the request certainly did not create it         ``approved`` again after a backoff, while its grace window lasts
(refused connection, failure before the post)
the request may have created it (timeout,       ``unknown``, then looked up at once (:mod:`.reconcile`)
lost answer, 5xx, "duplicate", anything odd)
the platform refused it for certain             ``failed``, for a person (``campaign retry``)
its images are not the approved bytes           ``failed``, before anything is sent, and a person is alerted
the account cannot post (token, permissions)    ``approved`` again, the account paused, and a person alerted
==============================================  ==================================================================
"""

from __future__ import annotations

import functools
import json
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.exceptions import CampaignError
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.platforms.base import Adapter, ImageNotApproved, MediaItem, Outgoing, Receipt
from campaign.platforms.errors import (
    AccountProblem,
    AuthExpired,
    Duplicate,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.publishing import events
from campaign.publishing.reconcile import Settlement, identity, platform_time, settle
from campaign.store.models import Post, PostState
from campaign.times import as_utc

if TYPE_CHECKING:
    from campaign.publishing.runner import AccountSlot, Runner

log = logging.getLogger(__name__)


class Sender:
    """The part of the runner that deals with one post at a time (see the module docstring)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.store = runner.store
        self._roots: dict[str, Path] = {}
        """Each campaign's folder: images are read from inside it only."""

    def begin(self, starting: list[tuple[int, AccountSlot]]) -> list[tuple[int, AccountSlot, Callable[[], None]]]:
        """Posts whose alarm went off together, each first in its free account's queue: claim and arm those that
        may be sent now, in one statement (:meth:`Store.claim_and_arm`). Returns each post's turn on its
        account's sending thread: the claimed ones are sent; the others are handled one by one (:meth:`handle`:
        a lookup, a wait for a rate limit or a reply's parent, or nothing)."""
        runner = self.runner
        now = runner.clock()
        free = [post_id for post_id, slot in starting if slot.blocked_until is None or slot.blocked_until <= now]
        armed = {post.id: post for post in self.store.claim_and_arm(free, runner.name, now, runner.settings.lease)}
        turns: list[tuple[int, AccountSlot, Callable[[], None]]] = []
        for post_id, slot in starting:
            post = armed.get(post_id)
            if post is None:
                turns.append((post_id, slot, functools.partial(self.handle, post_id, slot)))
                continue
            runner.bus.emit(events.Claimed(post=post.key, campaign=post.campaign_id, runner=runner.name))
            turns.append((post_id, slot, functools.partial(self._send, post, slot, now)))
        return turns

    def handle(self, post_id: int, slot: AccountSlot) -> None:
        """The post's alarm went off and its account is free: send it if it is due, or look it up if its fate
        is unknown."""
        runner = self.runner
        now = runner.clock()
        if slot.blocked_until is not None and slot.blocked_until > now:
            post = runner.post(post_id)
            if post is not None and post.state == PostState.APPROVED:
                if slot.blocked_until <= as_utc(post.late_after):
                    runner.alarm(post, slot.blocked_until)
                elif (claimed := self.store.claim_post(post_id, runner.name, now, runner.settings.lease)) is not None:
                    self._miss(claimed, f"its account is rate-limited until {slot.blocked_until:%Y-%m-%d %H:%M:%S} "
                                        "UTC, after its grace window ends, so it is not sent late")
            return
        post = self.store.claim_post(post_id, runner.name, now, runner.settings.lease)
        if post is not None:
            runner.bus.emit(events.Claimed(post=post.key, campaign=post.campaign_id, runner=runner.name))
            self._send(post, slot)
            return
        post = self.store.claim_lookup(post_id, runner.name, now, runner.settings.lease)
        if post is not None:
            self._look_up(post, slot)
            return
        runner.retry_claim_later(post_id)

    # -- sending -----------------------------------------------------------------------------------

    def _send(self, post: Post, slot: AccountSlot, armed_at: datetime | None = None) -> None:
        """Send a claimed post; *armed_at*: it was armed then, with its claim (:meth:`begin`), and its attempt is
        open."""
        runner = self.runner
        try:
            adapter = runner.adapter(slot, post)
        except CampaignError as exc:
            self._not_sent(post, armed_at, str(exc))
            self._account_problem(post, str(exc))
            return
        try:
            outgoing = self._outgoing(post)
        except ImageNotApproved as exc:
            self._not_sent(post, armed_at, str(exc))
            self._fail(post, str(exc))
            return
        assert post.id is not None
        relogged = False
        while True:
            if armed_at is not None:
                # Armed with its claim: it is on its way, as a post armed just before its request always was. A
                # stop lets it finish, and a pause waits for it to land.
                started, first_sent_at, armed_at = armed_at, post.first_sent_at, None
            elif runner.stopping:
                self._release(post, "the runner is stopping")
                return
            else:
                started = runner.clock()
                first_sent_at = self.store.arm(post.id, runner.name, started, runner.settings.lease)
                if first_sent_at is None:
                    self._release(post, "paused before sending", held=True)
                    return
            assert first_sent_at is not None
            try:
                receipt = adapter.publish(replace(outgoing, first_attempt_at=as_utc(first_sent_at)))
            except RateLimited as exc:
                slot.blocked_until = exc.retry_at or started + timedelta(seconds=self._backoff(post))
                self._note(post, started, "rate_limited", exc.summary)
                self._retry_from(post, slot.blocked_until, exc.summary)
                return
            except Transient as exc:
                self._note(post, started, "transient", exc.summary)
                if exc.outcome_unknown:
                    self._unknown(post, adapter, f"{exc.summary} It may be out: looking for it before anything else")
                else:
                    self._retry_from(post, runner.clock() + timedelta(seconds=self._backoff(post)),
                                     f"{exc.summary} It was not sent: trying again")
                return
            except Duplicate as exc:
                self._note(post, started, "duplicate", exc.summary)
                self._unknown(post, adapter, f"{exc.label} refused it as a duplicate ({exc.message}); looking for it")
                return
            except AccountProblem as exc:
                self._note(post, started, exc.kind, exc.summary)
                if isinstance(exc, AuthExpired) and exc.relogin and not relogged:
                    relogged = True
                    continue
                self._account_problem(post, str(exc))
                return
            except PlatformError as exc:
                self._note(post, started, exc.kind, exc.summary)
                self._fail(post, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - we cannot know whether it went out
                self._note(post, started, "unknown", repr(exc))
                self._unknown(post, adapter, f"unexpected error while sending: {exc!r}")
                return
            self._published(post, receipt, started, as_utc(first_sent_at))
            return

    def _not_sent(self, post: Post, armed_at: datetime | None, reason: str) -> None:
        """A post armed with its claim is not sent after all: its open attempt says so."""
        if armed_at is not None:
            self._note(post, armed_at, "not_sent", reason)

    def _published(self, post: Post, receipt: Receipt, started: datetime, first_sent_at: datetime) -> None:
        """The platform answered with the new post: recorded, with its attempt, in a transaction shared with the
        other outcomes heard at the same moment (and committed before anything else happens to this post)."""
        runner = self.runner
        post_id = post.id
        assert post_id is not None
        heard = runner.clock()
        accepted = platform_time(receipt.created_at, started, heard, heard)
        try:
            runner.outcomes.run(lambda connection: self.store.record_published(
                post_id, runner.name, receipt.remote_id, receipt.url, accepted, heard, warnings=receipt.warnings,
                attempt_started=started, connection=connection))
        except CampaignError as exc:
            self._note(post, started, "published", receipt.url)
            log.error("%s was published as %s but could not be recorded: %s", post.key, receipt.remote_id, exc)
            return
        due = as_utc(post.due_at)
        # A post given a new time (`retry --at`) was first tried before it: its first try is this time's.
        first = first_sent_at if first_sent_at >= due else started
        runner.bus.emit(events.Published(
            post=post.key, campaign=post.campaign_id, url=receipt.url,
            late_by_seconds=(accepted - due).total_seconds(),
            first_try_late_by_seconds=(first - due).total_seconds(), warnings=receipt.warnings))

    def _outgoing(self, post: Post) -> Outgoing:
        root = self._campaign_folder(post.campaign_id)
        images = tuple(MediaItem.from_file(confined(Path(m["path"]), root), m["alt"], m["mime_type"], m.get("sha256"))
                       for m in json.loads(post.media))
        reply_to = None
        if post.reply_to:  # the claim only succeeds once the parent is published: it has its platform id
            reply_to = self.store.post(post.reply_to, post.campaign_id).remote_id
        return replace(identity(post), images=images, reply_to=reply_to)

    def _campaign_folder(self, campaign_id: str) -> Path:
        if campaign_id not in self._roots:
            self._roots[campaign_id] = campaign_folder(self.store.campaign_row(campaign_id).plan_path)
        return self._roots[campaign_id]

    # -- lookups -----------------------------------------------------------------------------------

    def _unknown(self, post: Post, adapter: Adapter, reason: str) -> None:
        """The request may have created the post: record that, then look it up at once."""
        runner = self.runner
        assert post.id is not None
        self.store.record_unknown(post.id, runner.name, reason, runner.clock(), runner.settings.lease)
        runner.bus.emit(events.Unknown(post=post.key, campaign=post.campaign_id, reason=reason))
        current = runner.post(post.id)
        if current is not None and current.state == PostState.UNKNOWN and current.claimed_by == runner.name:
            self._settle(current, adapter)

    def _look_up(self, post: Post, slot: AccountSlot) -> None:
        runner = self.runner
        assert post.id is not None
        try:
            adapter = runner.adapter(slot, post)
        except CampaignError as exc:
            now = runner.clock()
            self.store.lookup_failed(post.id, runner.name, f"the lookup could not start: {exc}",
                                     now + timedelta(seconds=runner.settings.backoff_cap), now)
            return
        self._settle(post, adapter)

    def _settle(self, post: Post, adapter: Adapter) -> None:
        runner = self.runner
        try:
            settlement = settle(self.store, adapter, post, runner.name, runner.clock(), runner.settings.read_lag,
                                resend_after=self._backoff(post))
        except CampaignError as exc:
            log.warning("%s could not be settled: %s", post.key, exc)
            return
        self._announce(settlement)

    def _announce(self, settlement: Settlement) -> None:
        runner, post = self.runner, settlement.post
        bus = runner.bus
        if settlement.state == PostState.PUBLISHED:
            found = settlement.lookup.found
            assert found is not None
            due = as_utc(post.due_at)
            first = as_utc(post.first_sent_at) if post.first_sent_at and as_utc(post.first_sent_at) >= due else None
            bus.emit(events.Published(
                post=post.key, campaign=post.campaign_id, url=settlement.url,
                late_by_seconds=(found.created_at - due).total_seconds(),
                first_try_late_by_seconds=(first - due).total_seconds() if first else None, found_by_lookup=True))
        elif settlement.state == PostState.UNKNOWN:
            if settlement.alert:
                bus.emit(events.Unresolved(post=post.key, campaign=post.campaign_id, reason=settlement.reason))
            if settlement.next_lookup is not None:
                runner.alarm(post, settlement.next_lookup)
        else:
            bus.emit(events.Reconciled(post=post.key, campaign=post.campaign_id, found=False,
                                       state=str(settlement.state), reason=settlement.reason))
            if settlement.state == PostState.APPROVED and settlement.next_lookup is not None:
                runner.alarm(post, settlement.next_lookup)
            elif settlement.state == PostState.FAILED:
                bus.emit(events.Failed(post=post.key, campaign=post.campaign_id, reason=settlement.reason))
            else:
                bus.emit(events.Missed(post=post.key, campaign=post.campaign_id))

    # -- outcomes ----------------------------------------------------------------------------------

    def _retry_from(self, post: Post, when: datetime, reason: str) -> None:
        """The post is certainly not out: back to the queue, to be tried again from *when*; or, when *when* is
        after its grace window, missed now (never sent late)."""
        runner = self.runner
        assert post.id is not None
        if when > as_utc(post.late_after):
            self._miss(post, f"{reason.rstrip('.')}; the next try ({when:%Y-%m-%d %H:%M:%S} UTC) would be after its "
                             "grace window ends, so it is not sent late")
            return
        self.store.release(post.id, runner.name, reason, runner.clock(), not_before=when)
        runner.bus.emit(events.Retrying(post=post.key, campaign=post.campaign_id, reason=reason, retry_at=when))
        runner.alarm(post, when)

    def _miss(self, post: Post, reason: str) -> None:
        """The claimed post *post* cannot go out within its grace window: missed now, for a person."""
        assert post.id is not None
        self.store.record_missed(post.id, self.runner.name, reason, self.runner.clock())
        self.runner.bus.emit(events.Missed(post=post.key, campaign=post.campaign_id))

    def _release(self, post: Post, reason: str, held: bool = False) -> None:
        assert post.id is not None
        self.store.release(post.id, self.runner.name, reason, self.runner.clock())
        if held:
            self.runner.bus.emit(events.Held(post=post.key, campaign=post.campaign_id, reason=reason))

    def _fail(self, post: Post, reason: str) -> None:
        assert post.id is not None
        self.store.record_failed(post.id, self.runner.name, reason, self.runner.clock())
        self.runner.bus.emit(events.Failed(post=post.key, campaign=post.campaign_id, reason=reason))

    def _account_problem(self, post: Post, reason: str) -> None:
        """The account cannot post (refused token, missing permission, missing credentials): hold it on the
        record, give the post back, and alert a person. Other accounts are untouched."""
        runner = self.runner
        self._release(post, reason)
        already = any(h.account == post.account for h in self.store.active_holds(post.campaign_id))
        if not already:
            self.store.pause(f"{post.platform} account {post.account} cannot post: {reason} Once it is fixed: "
                             f"`campaign resume --account {post.account}`", runner.name, post.campaign_id, post.account)
        runner.bus.emit(events.AuthExpired(post=post.key, campaign=post.campaign_id, account=post.account,
                                           reason=reason))

    def _note(self, post: Post, started: datetime, outcome: str, message: str | None) -> None:
        assert post.id is not None
        try:
            self.store.record_attempt(post.id, self.runner.name, started, outcome, message, self.runner.clock())
        except Exception:  # noqa: BLE001 - the attempt log must not stop the result being recorded
            log.exception("could not record an attempt for %s", post.key)

    def _backoff(self, post: Post) -> float:
        settings = self.runner.settings
        delay = min(settings.backoff_cap, settings.backoff * 2.0 ** max(0, post.attempts - 1))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def confined(path: Path, root: Path) -> Path:
    """*path*, symlinks followed, if it is inside the campaign folder *root*; else :class:`ImageNotApproved`: an
    image moved or replaced by a link leading out since it was approved is never read, let alone sent."""
    try:
        return inside(path, root)
    except FileNotFoundError:
        return path  # reading it says it is gone, in the words every missing image gets
    except (OutsideCampaign, UnusablePath) as problem:
        raise ImageNotApproved(f"{problem.message}; put the approved file back inside the campaign folder") from None
