"""The store's side of publishing: claims, leases, and the outcome of every attempt and every lookup.

Each transition is one conditional statement (with its audit entry, in one transaction), so the rules hold
whatever the runners do, however many there are::

    approved ──claim──▶ publishing ──arm──▶ (the request goes out) ──▶ published   (a receipt)
        ▲                  │                                       ├─▶ approved    (not sent: retry after not_before)
        │                  │                                       ├─▶ failed      (refused for certain)
        │                  └──lease expired, never armed───────────┤   approved
        │                                                          └─▶ unknown     (it may be out)
        │   unknown ──lookup found it──▶ published (at the platform's own time)
        └───────────lookup found nothing, trusted, in time (a re-send)
            unknown ──found nothing, too late──▶ missed;  after a duplicate refusal ──▶ failed
            unknown ──lookup failed──▶ unknown (looked up again later; a person is alerted once its time passed)

A post is sent again only from ``approved``, and an ``unknown`` post becomes ``approved`` only through
:meth:`PublishingTransitions.settle_unknown` after a lookup that succeeded. A claim on a post (to send it or to
look it up) lasts ``lease``; a live runner renews all of its claims with :meth:`heartbeat`, and a dead runner's
claims run out, so another runner takes its posts over: after a lookup, never blindly.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlmodel import Session

from campaign.exceptions import StoreError
from campaign.store.models import Post, PostState
from campaign.store.sql import (
    ATTEMPT_TABLE,
    AUDIT_TABLE,
    P,
    audit_insert,
    audit_row,
    held,
    paused_in_its_window,
    utcnow,
)
from campaign.times import as_utc, iso_utc

DEFAULT_LEASE = timedelta(seconds=12)


class PublishingTransitions:
    """The publishing half of :class:`campaign.store.Store` (which mixes it in)."""

    engine: Engine

    def read_session(self) -> Session:
        raise NotImplementedError

    # -- claims ------------------------------------------------------------------------------------

    def warm_up(self, runner: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE) -> None:
        """Compile the statements that run at a post's due instant (claim, arm) before anything is due: the first
        of each took 5–10 ms. Both are run for no post at all (id -1), so nothing changes and nothing is recorded.
        """
        now = now or utcnow()
        with self.engine.begin() as connection:
            connection.execute(_claim_one_statement(), {"claim_now": now, "claim_runner": runner,
                                                        "claim_lease_until": now + lease, "claim_post_id": -1})
            connection.execute(_arm_statement(), {"arm_now": now, "arm_runner": runner, "arm_lease_until": now + lease,
                                                  "arm_post_id": -1})

    def claim(self, post_id: int, runner: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE) -> bool:
        """Try to take one post for publishing: True for exactly one caller, however many try at once."""
        return self.claim_post(post_id, runner, now, lease) is not None

    def claim_post(self, post_id: int, runner: str, now: datetime | None = None,
                   lease: timedelta = DEFAULT_LEASE) -> Post | None:
        """:meth:`claim`, returning the post exactly as claimed (``None`` if not claimed): no second read."""
        now = now or utcnow()
        # The statement is built once, with bound parameters, outside any transaction: on SQLite the transaction
        # holds the only write lock, and building it inside took longer than running it (8 runners on 2 cores then
        # waited > 5 s: "database is locked"); building it afresh for every claim took most of a claim's time.
        parameters = {"claim_now": now, "claim_runner": runner, "claim_lease_until": now + lease,
                      "claim_post_id": post_id}
        with self.engine.begin() as connection:
            claimed = connection.execute(_claim_one_statement(), parameters).one_or_none()
            if claimed is not None:
                connection.execute(audit_insert(now, runner, "claimed", claimed.campaign_id, claimed.key,
                                                {"post_id": post_id}))
        return None if claimed is None else Post(**claimed._mapping)

    def claim_due(self, runner: str, now: datetime | None = None, limit: int = 50,
                  lease: timedelta = DEFAULT_LEASE) -> list[Post]:
        """Claim up to *limit* posts that are due now, earliest first."""
        now = now or utcnow()
        candidates = select(P.id).where(*_claimable(now)).order_by(P.due_at).limit(limit)
        picked: Any = P.id.in_(candidates.scalar_subquery())
        if self.engine.dialect.name == "postgresql":
            # = ANY(ARRAY(...)) picks once (an InitPlan). With IN (...) PostgreSQL may re-run the pick for every
            # row (nested-loop semi join), and SKIP LOCKED then skips the rows this statement has just updated
            # and picks the next ones: claim_due(limit=10) claimed all 1,000 due posts at once.
            picked = P.id == any_(func.array(candidates.with_for_update(skip_locked=True).scalar_subquery()))
        statement = (_claim_statement(now, runner, lease).where(picked)
                     .returning(P.id, P.key, P.campaign_id))  # built before BEGIN: see claim_post()
        with self.engine.begin() as connection:
            claimed = list(connection.execute(statement))
            for post_id, key, campaign_id in claimed:
                connection.execute(audit_insert(now, runner, "claimed", campaign_id, key, {"post_id": post_id}))
        if not claimed:
            return []
        with self.read_session() as session:
            return list(session.scalars(select(Post).where(P.id.in_([c[0] for c in claimed]))))

    def claim_and_arm(self, post_ids: Sequence[int], runner: str, now: datetime | None = None,
                      lease: timedelta = DEFAULT_LEASE) -> list[Post]:
        """:meth:`claim_post` then :meth:`arm`, in one statement, for every post of *post_ids* that may be sent
        now: the posts falling due together (200 accounts at 09:00) cost one transaction, not 400. Returns the
        posts claimed and armed, exactly as they now are; their requests go out next (``sending_at`` is *now*, and
        each has an open publish attempt started *now*). A post that may not be sent (no longer approved, changed
        since its approval, paused, a reply whose parent is not out yet) is left as it is, and not returned."""
        if not post_ids:
            return []
        now = now or utcnow()
        parameters = {"batch_now": now, "batch_runner": runner, "batch_lease_until": now + lease,
                      "batch_ids": list(post_ids)}
        statement = _claim_and_arm_statement(self.engine.dialect.name == "postgresql")  # built before BEGIN
        # The posts come back through the ORM's loading, not Post(**row): 200 SQLModel constructions took longer
        # than the statement.
        with Session(self.engine, expire_on_commit=False) as connection, connection.begin():
            claimed = list(connection.scalars(statement, parameters))
            if claimed:
                connection.execute(insert(AUDIT_TABLE), [
                    audit_row(now, runner, "claimed", post.campaign_id, post.key, {"post_id": post.id})
                    for post in claimed])
                connection.execute(insert(ATTEMPT_TABLE), [
                    {"post_id": post.id, "runner": runner, "started_at": now, "finished_at": None, "outcome": None,
                     "message": None} for post in claimed])
        return claimed

    def arm(self, post_id: int, runner: str, now: datetime | None = None,
            lease: timedelta = DEFAULT_LEASE) -> datetime | None:
        """The last check before a claimed post is sent: still ours, and no pause has begun since the claim.

        Marks the post as being sent (``sending_at``; ``first_sent_at`` too if this is its first request), renews
        its lease and opens its publish attempt (started *now*, no outcome yet; :meth:`record_attempt` finishes
        it). Returns the post's ``first_sent_at`` (from which Bluesky fixes its record key), or ``None``: do not
        send.
        """
        now = now or utcnow()
        parameters = {"arm_now": now, "arm_runner": runner, "arm_lease_until": now + lease, "arm_post_id": post_id}
        with self.engine.begin() as connection:
            first_sent_at = connection.execute(_arm_statement(), parameters).scalar_one_or_none()
            if first_sent_at is not None:
                connection.execute(insert(ATTEMPT_TABLE), {"post_id": post_id, "runner": runner, "started_at": now,
                                                           "finished_at": None, "outcome": None, "message": None})
        return first_sent_at

    def heartbeat(self, runner: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE,
                  letting_go: Collection[int] = ()) -> int:
        """Renew every claim *runner* holds (posts it is sending or looking up): a live runner's claims never run
        out, however long a send or a lookup takes. The posts of *letting_go* are not renewed: the runner lost
        track of them (their outcome could not be recorded), so their leases run out and a lookup settles them,
        as if their runner had died. Returns how many were renewed.

        On PostgreSQL the rows are locked in id order, and a row another transaction is writing right now is
        skipped (the next beat renews it, long before its lease runs out): locking them in whatever order the
        table gave them, the beat deadlocked with the runner's own outcomes being committed together."""
        now = now or utcnow()
        ours: list[Any] = [P.claimed_by == runner, P.state.in_([PostState.PUBLISHING, PostState.UNKNOWN])]
        if letting_go:
            ours.append(P.id.not_in(letting_go))
        if self.engine.dialect.name == "postgresql":
            ours = [P.id == any_(func.array(select(P.id).where(*ours).order_by(P.id)
                                            .with_for_update(skip_locked=True).scalar_subquery()))]
        with self.engine.begin() as connection:
            result = connection.execute(update(Post).where(*ours).values(lease_until=now + lease))
        return int(result.rowcount)

    # -- outcomes of an attempt --------------------------------------------------------------------

    def record_published(self, post_id: int, runner: str, remote_id: str, url: str,
                         published_at: datetime | None = None, now: datetime | None = None,
                         warnings: Sequence[str] = (), attempt_started: datetime | None = None,
                         connection: Connection | None = None) -> None:
        """The platform accepted the post (it answered with *remote_id*). *published_at* is the platform's own
        creation time where it gave one. With *attempt_started*, the publish attempt :meth:`arm` opened is
        finished too (:meth:`record_attempt`), in the same transaction. With *connection*, the writes join that
        connection's transaction (several runner threads' outcomes committed together) instead of one of their own.

        A receipt is proof: it is recorded even when this runner's claim was lost meanwhile (its lease ran out
        and the post became ``unknown``), so the lookups that would follow are not needed.
        """
        now = now or utcnow()
        parameters = {"done_post_id": post_id, "done_runner": runner, "done_remote_id": remote_id, "done_url": url,
                      "done_now": now, "done_at": published_at or now}
        with _joined(self.engine, connection) as writing:
            key = writing.execute(_published_statement(), parameters).one_or_none()
            if key is None:
                raise StoreError(f"post {post_id} is neither being published by {runner} nor unknown; its receipt "
                                 f"({remote_id}) was not recorded")
            details: dict[str, Any] = {"remote_id": remote_id, "url": url,
                                       "published_at": iso_utc(published_at or now, "milliseconds")}
            if warnings:
                details["warnings"] = list(warnings)
            writing.execute(insert(AUDIT_TABLE), audit_row(now, runner, "published", key[1], key[0], details))
            if attempt_started is not None:
                _finish_attempt(writing, post_id, runner, attempt_started,
                                {"finished_at": now, "outcome": "published", "message": url})

    def release(self, post_id: int, runner: str, reason: str, now: datetime | None = None,
                not_before: datetime | None = None) -> None:
        """Give a claimed post back (``publishing → approved``) known not to be out: paused, rate-limited, or a
        request that never reached the platform. It may be claimed again from *not_before* (a backoff)."""
        self._finish(post_id, runner, PostState.APPROVED, "released", {"reason": reason}, now, last_error=reason,
                     not_before=not_before)

    def record_missed(self, post_id: int, runner: str, reason: str, now: datetime | None = None) -> None:
        """A claimed post certainly not out, that cannot be tried again within its grace window (a rate limit
        lasts beyond it): ``missed`` now, said with *reason*, rather than ``approved`` until the window closes."""
        self._finish(post_id, runner, PostState.MISSED, "missed", {"reason": reason}, now, last_error=reason)

    def record_failed(self, post_id: int, runner: str, reason: str, now: datetime | None = None) -> None:
        """The platform refused the post for certain (or it could not be made: an image changed since approval).
        It waits for a person: ``campaign retry``."""
        self._finish(post_id, runner, PostState.FAILED, "failed", {"reason": reason}, now, last_error=reason)

    def record_unknown(self, post_id: int, runner: str, reason: str, now: datetime | None = None,
                       lease: timedelta = DEFAULT_LEASE) -> None:
        """Nobody knows whether the post went out: it is never sent again before a lookup. The runner keeps it
        claimed (for *lease*, renewed by its heartbeat) to look it up at once; ``sending_at`` stays, so that the
        lookup knows when the platform's reads can be trusted to show it."""
        now = now or utcnow()
        self._finish(post_id, runner, PostState.UNKNOWN, "unknown", {"reason": reason}, now, last_error=reason,
                     keep_claim=now + lease)

    def _finish(self, post_id: int, runner: str, state: PostState, action: str, details: dict[str, Any],
                now: datetime | None, last_error: str, not_before: datetime | None = None,
                keep_claim: datetime | None = None) -> None:
        now = now or utcnow()
        values: dict[str, Any] = {"state": state, "updated_at": now, "last_error": last_error,
                                  "not_before": not_before, "claimed_by": None, "lease_until": None}
        if keep_claim is not None:
            values.update(claimed_by=runner, lease_until=keep_claim, lookups=0)
        else:
            values["sending_at"] = None
        if not_before is not None:
            details = {**details, "not_before": iso_utc(not_before, "milliseconds")}
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.PUBLISHING, P.claimed_by == runner)
                .values(**values).returning(P.key, P.campaign_id)
            ).one_or_none()
            if row is None:
                raise StoreError(f"post {post_id} is not being published by {runner}; nothing was recorded")
            connection.execute(audit_insert(now, runner, action, row[1], row[0], {**details, "state": str(state)}))

    def record_attempt(self, post_id: int, runner: str, started_at: datetime, outcome: str, message: str | None,
                       finished_at: datetime | None = None) -> None:
        """Finish the attempt :meth:`arm` opened for this post and runner; add a finished one if none is open."""
        values = {"finished_at": finished_at or utcnow(), "outcome": outcome, "message": message}
        with self.engine.begin() as connection:
            _finish_attempt(connection, post_id, runner, started_at, values)

    def last_attempt(self, post_id: int) -> tuple[str, str] | None:
        """The outcome (``duplicate``, ``transient``...) and message of the post's latest finished attempt."""
        attempt = ATTEMPT_TABLE.c
        with self.read_session() as session:
            row = session.execute(
                select(attempt.outcome, attempt.message).where(attempt.post_id == post_id,
                                                               attempt.outcome.is_not(None))
                .order_by(attempt.id.desc()).limit(1)
            ).one_or_none()
        return None if row is None else (str(row[0]), str(row[1] or ""))

    # -- runners that stopped ----------------------------------------------------------------------

    def expire_leases(self, now: datetime | None = None, actor: str = "campaign") -> list[Post]:
        """Claims whose runner stopped renewing them run out. A post it claimed but had not sent goes back to
        ``approved`` (it is not out); a post it had sent becomes ``unknown``, to be looked up at once. Returns the
        posts this changed."""
        now = now or utcnow()
        expired = (P.state == PostState.PUBLISHING, P.lease_until < now)
        # The dead runner's claim is not counted as an attempt: the platform did nothing wrong, and a post orphaned
        # by a few crashes in a row must not wait out a backoff of a minute before it is sent (or sent again).
        uncounted = case((P.attempts > 0, P.attempts - 1), else_=0)
        with self.engine.begin() as connection:
            never_sent = list(connection.execute(
                update(Post).where(*expired, P.sending_at.is_(None))
                .values(state=PostState.APPROVED, claimed_by=None, lease_until=None, updated_at=now,
                        attempts=uncounted)
                .returning(P.id, P.key, P.campaign_id)
            ))
            sent = list(connection.execute(
                update(Post).where(*expired)
                .values(state=PostState.UNKNOWN, claimed_by=None, lease_until=None, not_before=now, lookups=0,
                        attempts=uncounted, updated_at=now,
                        last_error="the runner sending it stopped before it heard the platform's answer")
                .returning(P.id, P.key, P.campaign_id)
            ))
            for _, key, campaign_id in never_sent:
                connection.execute(audit_insert(now, actor, "released", campaign_id, key, {
                    "reason": "the runner that claimed it stopped before sending it", "state": "approved"}))
            for _, key, campaign_id in sent:
                connection.execute(audit_insert(now, actor, "unknown", campaign_id, key, {
                    "reason": "the runner sending it stopped before it heard the platform's answer",
                    "state": "unknown"}))
        return self.posts_by_id([row[0] for row in (*never_sent, *sent)])

    # -- lookups -----------------------------------------------------------------------------------

    def lookups_due(self, until: datetime, campaign: str | None = None, now: datetime | None = None) -> list[Post]:
        """Unknown posts that nobody is looking up and whose next lookup falls due before *until*."""
        now = now or utcnow()
        query = select(Post).where(P.state == PostState.UNKNOWN, _lookup_free(now),
                                   or_(P.not_before.is_(None), P.not_before <= until))
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.not_before)))

    def claim_lookup(self, post_id: int, runner: str, now: datetime | None = None,
                     lease: timedelta = DEFAULT_LEASE, now_or_later: bool = True) -> Post | None:
        """Take an unknown post to look it up: nobody else is, and its next lookup is due (or, with
        ``now_or_later=False``, whatever its backoff says: a person asked to look now)."""
        now = now or utcnow()
        due = or_(P.not_before.is_(None), P.not_before <= now) if now_or_later else true()
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.UNKNOWN, _lookup_free(now), due)
                .values(claimed_by=runner, lease_until=now + lease).returning(*P)
            ).one_or_none()
        return None if row is None else Post(**row._mapping)

    def remote_ids_held(self, platform: str, remote_ids: Iterable[str], excluding: int | None = None) -> set[str]:
        """Which of *remote_ids* another post in the store (of any campaign) already holds on *platform*."""
        wanted = list(remote_ids)
        if not wanted:
            return set()
        query = select(P.remote_id).where(P.platform == platform, P.remote_id.in_(wanted))
        if excluding is not None:
            query = query.where(P.id != excluding)
        with self.read_session() as session:
            return {str(remote_id) for remote_id in session.scalars(query)}

    def adopt(self, post_id: int, runner: str, remote_id: str, url: str, created_at: datetime,
              now: datetime | None = None) -> bool:
        """A lookup found the post: ``unknown → published``, at the platform's own creation time. False (nothing
        changed) when another post holds *remote_id* by now: a platform post is adopted by one post at most."""
        now = now or utcnow()
        other = P.id.table.alias("other")
        taken = exists().where(other.c.platform == P.platform, other.c.remote_id == remote_id, other.c.id != P.id)
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                # Two runners adopting the same remote post for two unknown posts: the second waits for the first
                # to commit, and its NOT EXISTS then sees the first. (SQLite serialises writers already.)
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"remote:{remote_id}"})
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.UNKNOWN, P.claimed_by == runner, ~taken)
                .values(state=PostState.PUBLISHED, remote_id=remote_id, remote_url=url, published_at=created_at,
                        lease_until=None, sending_at=None, not_before=None, last_error=None, updated_at=now)
                .returning(P.key, P.campaign_id)
            ).one_or_none()
            if row is not None:
                connection.execute(audit_insert(now, runner, "reconciled", row[1], row[0], {
                    "found": True, "remote_id": remote_id, "url": url, "state": "published",
                    "published_at": iso_utc(created_at, "milliseconds")}))
        return row is not None

    def settle_unknown(self, post_id: int, runner: str, state: PostState, reason: str,
                       now: datetime | None = None, not_before: datetime | None = None) -> None:
        """A lookup that succeeded found nothing: the post is not out. It goes back to ``approved`` (sent again
        while in time, from *not_before*), or to ``missed`` or ``failed`` (*reason* says why), on the record."""
        if state not in (PostState.APPROVED, PostState.MISSED, PostState.FAILED):
            raise ValueError(f"an unknown post found to be absent cannot become {state}")
        now = now or utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.UNKNOWN, P.claimed_by == runner)
                .values(state=state, claimed_by=None, lease_until=None, sending_at=None, not_before=not_before,
                        lookups=0, last_error=reason, updated_at=now)
                .returning(P.key, P.campaign_id)
            ).one_or_none()
            if row is None:
                raise StoreError(f"post {post_id} is not being looked up by {runner}; nothing was changed")
            connection.execute(audit_insert(now, runner, "reconciled", row[1], row[0], {
                "found": False, "reason": reason, "state": str(state)}))

    def lookup_failed(self, post_id: int, runner: str, reason: str, next_lookup: datetime,
                      now: datetime | None = None) -> bool:
        """The lookup could not tell (the platform did not answer, or its reads may not show the post yet): the
        post stays ``unknown`` and is looked up again from *next_lookup*. Returns True exactly once per post: when
        its grace window has ended and nobody has been alerted yet (the caller alerts a person)."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.UNKNOWN, P.claimed_by == runner)
                .values(claimed_by=None, lease_until=None, not_before=next_lookup, lookups=P.lookups + 1,
                        last_error=reason, updated_at=now)
                .returning(P.key, P.campaign_id, P.late_after, P.alerted_at)
            ).one_or_none()
            if row is None:
                raise StoreError(f"post {post_id} is not being looked up by {runner}; nothing was recorded")
            key, campaign_id, late_after, alerted_at = row
            # The post was ours until the update above: nobody else can have alerted in between.
            alert = alerted_at is None and as_utc(late_after) < now
            if alert:
                connection.execute(update(Post).where(P.id == post_id).values(alerted_at=now))
            details: dict[str, Any] = {"reason": reason, "next_lookup": iso_utc(next_lookup, "seconds")}
            if alert:
                details["alerted"] = True
            connection.execute(audit_insert(now, runner, "lookup_failed", campaign_id, key, details))
        return alert

    def release_lookups(self, runner: str, now: datetime | None = None) -> None:
        """A runner stopping hands its lookups back at once, for another runner to take."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            connection.execute(update(Post).where(P.claimed_by == runner, P.state == PostState.UNKNOWN)
                               .values(claimed_by=None, lease_until=None, updated_at=now))

    # -- the queue ---------------------------------------------------------------------------------

    def mark_missed(self, now: datetime | None = None, actor: str = "campaign") -> list[str]:
        """Approved posts whose grace window has passed become ``missed``: they wait for a person."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            missed = list(connection.execute(
                update(Post).where(P.state == PostState.APPROVED, P.late_after < now)
                .values(state=PostState.MISSED, updated_at=now, not_before=None,
                        last_error=func.coalesce(func.rtrim(P.last_error, ".") + "; ", "")
                        + case((paused_in_its_window(),
                                "its time passed beyond the grace window, during which it was paused"),
                               (_lead_not_out(), "its time passed beyond the grace window while it waited for "
                                + P.follows + ", its pair in the plan's first language, which was not published"),
                               else_="its time passed beyond the grace window"))
                .returning(P.key, P.campaign_id, P.due_at)
            ))
            for key, campaign_id, due_at in missed:
                connection.execute(audit_insert(now, actor, "missed", campaign_id, key,
                                                {"due_at": iso_utc(due_at, "seconds"), "state": "missed"}))
        return sorted(key for key, _, _ in missed)

    def due_soon(self, until: datetime, now: datetime | None = None, campaign: str | None = None) -> list[Post]:
        """Approved posts that may still go out, are not held by a pause, and fall due (or may be retried) before
        *until*, earliest first."""
        now = now or utcnow()
        query = select(Post).where(P.state == PostState.APPROVED, P.late_after >= now, P.due_at <= until,
                                   or_(P.not_before.is_(None), P.not_before <= until), ~held(now))
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.due_at)))

    def posts_by_id(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        with self.read_session() as session:
            return list(session.scalars(select(Post).where(P.id.in_(list(ids))).order_by(P.due_at)))


# -- SQL building blocks ---------------------------------------------------------------------------


@contextmanager
def _joined(engine: Engine, connection: Connection | None) -> Iterator[Connection]:
    """*connection* (its transaction is the caller's), or a transaction of its own."""
    if connection is not None:
        yield connection
        return
    with engine.begin() as own:
        yield own


def _finish_attempt(connection: Connection, post_id: int, runner: str, started_at: datetime,
                    values: dict[str, Any]) -> None:
    """Finish the attempt :meth:`PublishingTransitions.arm` opened for this post and runner; add a finished one if
    none is open."""
    finished = connection.execute(_finish_attempt_statement(), {"open_post_id": post_id, "open_runner": runner,
                                                                 **values})
    if not finished.rowcount:
        connection.execute(insert(ATTEMPT_TABLE), {"post_id": post_id, "runner": runner, "started_at": started_at,
                                                   **values})


def _lookup_free(now: datetime) -> Any:
    """Nobody is looking the post up: no claim, or a claim whose runner stopped renewing it."""
    return or_(P.claimed_by.is_(None), P.lease_until < now)


def _lead_not_out() -> Any:
    """True for a paired post whose partner in the plan's first language is not published."""
    lead = P.id.table.alias("lead")
    return and_(P.follows.is_not(None), ~exists().where(lead.c.campaign_id == P.campaign_id, lead.c.key == P.follows,
                                                       lead.c.state == PostState.PUBLISHED))


def _claimable(now: datetime) -> tuple[Any, ...]:
    """The conditions under which a post may be claimed, evaluated inside the claim statement itself."""
    parent = P.id.table.alias("parent")
    parent_out = exists().where(parent.c.campaign_id == P.campaign_id, parent.c.key == P.reply_to,
                                parent.c.state == PostState.PUBLISHED)
    return (
        P.state == PostState.APPROVED,
        P.approved_hash == P.content_hash,
        P.due_at <= now,
        P.late_after >= now,
        or_(P.not_before.is_(None), P.not_before <= now),
        ~held(now),
        or_(P.reply_to.is_(None), parent_out),
        ~_lead_not_out(),
    )


def _claim_statement(now: datetime, runner: str, lease: timedelta) -> Any:
    return update(Post).where(*_claimable(now)).values(
        state=PostState.PUBLISHING, claimed_by=runner, claimed_at=now, lease_until=now + lease,
        attempts=P.attempts + 1, updated_at=now,
    )


@functools.cache
def _published_statement() -> Any:
    """:meth:`PublishingTransitions.record_published`'s statement, its values bound as parameters: built once.
    Ours and publishing, or unknown (whoever is looking it up: a receipt settles it)."""
    now = bindparam("done_now", type_=P.updated_at.type)
    runner = bindparam("done_runner", type_=P.claimed_by.type)
    return (
        update(Post).where(P.id == bindparam("done_post_id", type_=P.id.type),
                           or_(and_(P.state == PostState.PUBLISHING, P.claimed_by == runner),
                               P.state == PostState.UNKNOWN))
        .values(state=PostState.PUBLISHED, remote_id=bindparam("done_remote_id", type_=P.remote_id.type),
                remote_url=bindparam("done_url", type_=P.remote_url.type),
                published_at=bindparam("done_at", type_=P.published_at.type), claimed_by=runner, lease_until=None,
                sending_at=None, not_before=None, updated_at=now, last_error=None)
        .returning(P.key, P.campaign_id)
    )


@functools.cache
def _arm_statement() -> Any:
    """:meth:`PublishingTransitions.arm`'s statement, its values bound as parameters (``arm_now``,
    ``arm_runner``, ``arm_lease_until``, ``arm_post_id``): built once, never inside the transaction."""
    now: Any = bindparam("arm_now", type_=P.due_at.type)  # where a datetime goes, bound when run
    return (
        update(Post).where(P.id == bindparam("arm_post_id", type_=P.id.type), P.state == PostState.PUBLISHING,
                           P.claimed_by == bindparam("arm_runner", type_=P.claimed_by.type), ~held(now))
        .values(sending_at=now, first_sent_at=func.coalesce(P.first_sent_at, now),
                lease_until=bindparam("arm_lease_until", type_=P.lease_until.type), updated_at=now)
        .returning(P.first_sent_at)
    )


@functools.cache
def _claim_one_statement() -> Any:
    """:func:`_claim_statement` for one post, its values bound as parameters (``claim_now``, ``claim_runner``,
    ``claim_lease_until``, ``claim_post_id``): the same SQL, built once."""
    now: Any = bindparam("claim_now", type_=P.due_at.type)  # where a datetime goes, bound when run
    return (
        update(Post).where(*_claimable(now), P.id == bindparam("claim_post_id", type_=P.id.type))
        .values(state=PostState.PUBLISHING, claimed_by=bindparam("claim_runner", type_=P.claimed_by.type),
                claimed_at=now, lease_until=bindparam("claim_lease_until", type_=P.lease_until.type),
                attempts=P.attempts + 1, updated_at=now)
        .returning(*P)
    )


@functools.cache
def _claim_and_arm_statement(postgresql: bool) -> Any:
    """:meth:`PublishingTransitions.claim_and_arm`'s statement: a claim (:func:`_claimable`) that also arms
    (``sending_at``, ``first_sent_at``), for the posts of the expanding parameter ``batch_ids``; built once."""
    now: Any = bindparam("batch_now", type_=P.due_at.type)
    wanted: Any = P.id.in_(bindparam("batch_ids", expanding=True))
    if postgresql:
        # Rows another runner is claiming right now are skipped, not waited for (it will have them), and rows are
        # locked in one order: two runners claiming overlapping batches never deadlock.
        wanted = P.id == any_(func.array(select(P.id).where(wanted, *_claimable(now)).order_by(P.id)
                                         .with_for_update(skip_locked=True).scalar_subquery()))
    return (
        update(Post).where(*_claimable(now), wanted)
        .values(state=PostState.PUBLISHING, claimed_by=bindparam("batch_runner", type_=P.claimed_by.type),
                claimed_at=now, lease_until=bindparam("batch_lease_until", type_=P.lease_until.type),
                attempts=P.attempts + 1, sending_at=now, first_sent_at=func.coalesce(P.first_sent_at, now),
                updated_at=now)
        .returning(Post).execution_options(synchronize_session=False)
    )


@functools.cache
def _finish_attempt_statement() -> Any:
    """:func:`_finish_attempt`'s statement, its values bound as parameters (``open_post_id``, ``open_runner``,
    ``finished_at``, ``outcome``, ``message``): built once."""
    attempt = ATTEMPT_TABLE.c
    return (update(ATTEMPT_TABLE)
            .where(attempt.post_id == bindparam("open_post_id"), attempt.runner == bindparam("open_runner"),
                   attempt.finished_at.is_(None))
            .values(finished_at=bindparam("finished_at"), outcome=bindparam("outcome"), message=bindparam("message")))
