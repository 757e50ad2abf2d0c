"""Lookups: settling a post whose fate is unknown by asking the platform, never by guessing.

After a request that may have created a post (a timeout, a lost answer, a 5xx, a "duplicate" refusal, a
runner that died while sending), the post is ``unknown`` and nothing sends it again until a lookup has
succeeded. A lookup adopts a platform post only when it is this post's:

- on the same account (the adapter reads that account's own posts, or, on Bluesky, the post's own record);
- created at or after this post's first request went out (less :data:`CLOCK_SKEW` between our clock and theirs);
- with the same text as the platform shows it (:func:`campaign.platforms.base.comparable_text`);
- with an id no other post in the store holds (a platform post is adopted once, by one post).

Finding nothing is trusted only once the platform's reads can show the post: ``spec.read_lag`` seconds after
the last request that may have created it. A lookup that fails, or that comes too early, decides nothing: the
post stays ``unknown`` and is looked up again with backoff, and once its grace window has ended a person is
alerted — it is never sent again on a guess. Found: ``published``, at the platform's own creation time. Not
found and still in time: ``approved`` (sent again; Mastodon's ``Idempotency-Key`` and Bluesky's fixed record
key stay as second lines of defence). Not found after a duplicate refusal: ``failed`` (another post on the
account has the words). Not found and too late: ``missed``.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from campaign.exceptions import CampaignError, StoreError
from campaign.platforms import PLATFORMS
from campaign.platforms.base import Adapter, Outgoing, RecentPost
from campaign.platforms.errors import PlatformError
from campaign.publishing.accounts import AdapterFactory, Adapters
from campaign.store import PostState, Selection, Store
from campaign.store.models import Post
from campaign.times import as_utc

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=5)
"""How far the platform's clock may be behind ours when it stamps a post's creation time."""
LOOKUP_BACKOFF = 2.0
"""Seconds before the second lookup; doubled after each failed one, with jitter."""
LOOKUP_CAP = 60.0
"""The longest wait between lookups while the post's grace window lasts."""
LOOKUP_CAP_LATE = 300.0
"""The longest wait between lookups once the grace window has ended (a person has been alerted by then)."""


class Verdict(enum.StrEnum):
    FOUND = "found"
    ABSENT = "absent"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Lookup:
    """What one lookup learned."""

    verdict: Verdict
    found: RecentPost | None = None
    reason: str = ""
    """Why the lookup could not decide."""
    not_before: datetime | None = None
    """The earliest moment a lookup can decide (the platform's reads catching up)."""


@dataclass(frozen=True)
class Settlement:
    """What a lookup did to a post."""

    post: Post
    lookup: Lookup
    state: PostState
    """The post's state afterwards (``unknown`` when the lookup decided nothing)."""
    reason: str = ""
    next_lookup: datetime | None = None
    """When the post is looked up again (still unknown), or may be sent again (found absent, in time)."""
    alert: bool = False
    """True once, when the post's grace window has ended while its fate is still unknown: tell a person."""
    url: str = ""
    """Where the post is, when it was found."""


def identity(post: Post, first_attempt_at: datetime | None = None) -> Outgoing:
    """The post as a lookup needs it: its words, language and the keys that identify it (no image bytes: a
    lookup must work even if an image changed since)."""
    first = first_attempt_at or post.first_sent_at
    return Outgoing(text=post.text, idempotency_key=idempotency_key(post), language=post.language,
                    first_attempt_at=as_utc(first) if first is not None else None)


def idempotency_key(post: Post) -> str:
    """Stable for a post and its content: the same on every attempt, from every runner."""
    return f"{post.campaign_id}:{post.key}:{post.content_hash[:16]}"


def platform_time(said: datetime | None, earliest: datetime, latest: datetime, otherwise: datetime) -> datetime:
    """When the platform says it made a post, if that can be true: between *earliest* (the request that made it
    went out) and *latest* (we heard of it), give or take :data:`CLOCK_SKEW`; else *otherwise*. (A sandbox on a
    rehearsal's compressed clock says days ahead; a platform's clock, barely off.)"""
    if said is not None and earliest - CLOCK_SKEW <= said <= latest + CLOCK_SKEW:
        return max(said, earliest)  # a clock a little behind ours, or whole seconds: not before the request
    return otherwise


def look_up(store: Store, adapter: Adapter, post: Post, now: datetime, read_lag: float | None = None) -> Lookup:
    """Ask the platform whether *post* is out (see the module docstring for what counts as this post).
    *read_lag*: seconds its reads may lag its writes, if not the platform's own figure (a sandbox's is known)."""
    first = post.first_sent_at or post.claimed_at or post.due_at
    try:
        candidates = adapter.find(identity(post), as_utc(first) - CLOCK_SKEW)
    except PlatformError as error:
        return Lookup(Verdict.UNDECIDED, reason=f"the lookup failed: {error}")
    taken = store.remote_ids_held(post.platform, [c.remote_id for c in candidates], excluding=post.id)
    mine = sorted((c for c in candidates if c.remote_id not in taken), key=lambda c: c.created_at)
    if mine:
        return Lookup(Verdict.FOUND, found=mine[0])
    last_request = as_utc(post.sending_at or first)
    lag = PLATFORMS[post.platform].read_lag if read_lag is None else read_lag
    trusted_from = last_request + timedelta(seconds=lag)
    if now < trusted_from:
        return Lookup(Verdict.UNDECIDED, not_before=trusted_from,
                      reason=f"not found yet, but {adapter.spec.label}'s reads may lag until "
                             f"{trusted_from:%H:%M:%S} UTC: only a lookup after that can tell")
    if taken:
        log.info("%s: the platform posts with its words are other posts' (%s)", post.key, ", ".join(sorted(taken)))
    return Lookup(Verdict.ABSENT)


def settle(store: Store, adapter: Adapter, post: Post, actor: str, now: datetime,
           read_lag: float | None = None, resend_after: float = 0.0, new_time_follows: bool = False) -> Settlement:
    """Look *post* up (it must be ``unknown`` and claimed by *actor*: :meth:`Store.claim_lookup`) and record
    what that proves. A post found absent and still in time may be sent again *resend_after* seconds from now
    (the sender's backoff) — unless a person is about to give it a new time (*new_time_follows*): then it has
    missed its own, and ``retry`` moves it."""
    assert post.id is not None
    lookup = look_up(store, adapter, post, now, read_lag)
    if lookup.verdict == Verdict.FOUND:
        found = lookup.found
        assert found is not None
        url = found.url or adapter.post_url(found.remote_id)
        first = as_utc(post.first_sent_at or post.due_at)
        created = platform_time(found.created_at, first, now, as_utc(post.sending_at or first))
        if store.adopt(post.id, actor, found.remote_id, url, created, now):
            return Settlement(post, Lookup(Verdict.FOUND, replace(found, created_at=created)), PostState.PUBLISHED,
                              url=url)
        lookup = Lookup(Verdict.UNDECIDED, reason=f"{found.remote_id} was taken by another post meanwhile")
    if lookup.verdict == Verdict.ABSENT:
        label = adapter.spec.label
        outcome, message = store.last_attempt(post.id) or ("", "")
        cause = f" ({message.rstrip('.')})" if message else ""
        if outcome == "duplicate":
            state, reason = PostState.FAILED, (
                f"{label} refused it as a duplicate, but no post of this one is on the account: another post there "
                "has the same words. Change the words, schedule and approve it again")
        elif new_time_follows:
            state, reason = PostState.MISSED, f"not on {label} after an unknown outcome{cause}: given a new time"
        elif now <= as_utc(post.late_after):
            state, reason = PostState.APPROVED, f"not on {label} after an unknown outcome{cause}: sending it again"
        else:
            state, reason = PostState.MISSED, (
                f"not on {label} after an unknown outcome{cause}, and its grace window has ended")
        again = now + timedelta(seconds=resend_after) if state == PostState.APPROVED else None
        store.settle_unknown(post.id, actor, state, reason, now, not_before=again)
        return Settlement(post, lookup, state, reason, next_lookup=again)
    next_lookup = max(lookup.not_before or now, now + timedelta(seconds=lookup_delay(post, now)))
    alert = store.lookup_failed(post.id, actor, lookup.reason, next_lookup, now)
    return Settlement(post, lookup, PostState.UNKNOWN, lookup.reason, next_lookup, alert)


def lookup_delay(post: Post, now: datetime) -> float:
    """Seconds to the next lookup after *post*'s ``lookups`` failed ones: exponential, jittered, capped."""
    cap = LOOKUP_CAP if now <= as_utc(post.late_after) else LOOKUP_CAP_LATE
    delay = min(cap, LOOKUP_BACKOFF * 2.0 ** post.lookups)
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


# -- for people: campaign reconcile, campaign retry ------------------------------------------------------


def reconcile(store: Store, selection: Selection, actor: str, factory: AdapterFactory,
              now: Callable[[], datetime] = lambda: datetime.now(UTC), new_time_follows: bool = False
              ) -> list[Settlement]:
    """Look the selected unknown posts up now (every unknown post of the campaign when none is named), whatever
    their backoff says. A post another runner is looking up at this moment is left to it."""
    if selection.posts:
        chosen = store.select_posts(selection)
        wanted = [p for p in chosen if p.state == PostState.UNKNOWN]
        if not wanted:
            raise StoreError(f"{chosen[0].key} is {chosen[0].state}, not unknown: there is nothing to look up")
    else:
        wanted = store.posts_in([PostState.UNKNOWN], store.campaign_id(selection.campaign))
    adapters = Adapters(store, factory)
    settled: list[Settlement] = []
    try:
        for post in wanted:
            assert post.id is not None
            claimed = store.claim_lookup(post.id, actor, now(), now_or_later=False)
            if claimed is None:
                continue
            try:
                adapter = adapters.of(claimed)
            except CampaignError as error:
                store.lookup_failed(post.id, actor, f"the lookup could not start: {error}", now(), now())
                settled.append(Settlement(claimed, Lookup(Verdict.UNDECIDED, reason=str(error)), PostState.UNKNOWN,
                                          str(error)))
                continue
            settled.append(settle(store, adapter, claimed, actor, now(), new_time_follows=new_time_follows))
    finally:
        adapters.close()
    return settled


def retry(store: Store, selection: Selection, actor: str, factory: AdapterFactory, at: datetime | None = None,
          now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> tuple[list[Post], list[Settlement]]:
    """Put failed, missed and unknown posts back in the queue (``campaign retry``). Unknown posts are looked up
    first: found ones are recorded as published and not sent again; one whose lookup fails stops the retry, with
    nothing sent. With *at*, every post goes out at that time, a post just found absent included."""
    posts = store.select_posts(selection)
    unknown = tuple(p.key for p in posts if p.state == PostState.UNKNOWN)
    settlements: Sequence[Settlement] = []
    if unknown:
        settlements = reconcile(store, Selection(campaign=selection.campaign, posts=unknown), actor, factory, now,
                                new_time_follows=at is not None)
        undecided = [s for s in settlements if s.state == PostState.UNKNOWN]
        if undecided or len(settlements) < len(unknown):
            which = undecided[0].post.key if undecided else "a post"
            why = undecided[0].reason if undecided else "another runner is looking it up right now"
            raise StoreError(f"{which} could not be looked up ({why}); nothing was sent again — try again later")
    out = {s.post.key for s in settlements if s.state in (PostState.PUBLISHED, PostState.APPROVED)}
    rest = tuple(p.key for p in posts if p.key not in out)
    retried = store.retry(Selection(campaign=selection.campaign, posts=rest), actor, at, now()) if rest else []
    return retried, list(settlements)
