"""The campaign store: scheduling a plan, sign-off, pauses, claims and the audit trail.

Every change to a post happens here, in one transaction with its audit entry. The rules that keep a
force out of trouble are in the SQL itself, not in the callers:

- a post is claimed for publishing by ONE conditional UPDATE (``approved → publishing``) that also
  checks the approval is for the current content, the post is due and not yet too late, its thread
  parent is out, and no active hold covers it — so two runners can never both win, and once ``pause``
  has returned nothing more is claimed;
- published posts are never touched by a re-schedule; posts removed from the plan are cancelled;
  a change of content sends a post back to draft and voids its approval, on the record.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, any_, bindparam, exists, func, insert, or_, select, text, update
from sqlmodel import Session

from campaign.exceptions import StoreError
from campaign.render import Draft, RenderedPlan
from campaign.store.database import READ_ONLY, create_store_engine, database_url, upgrade
from campaign.store.models import (
    IN_FLIGHT,
    NEEDS_A_PERSON,
    AccountRow,
    AuditEntry,
    CampaignRow,
    Hold,
    Post,
    PostState,
    PublishAttempt,
    table_columns,
)
from campaign.times import as_utc, iso_utc

DEFAULT_LEASE = timedelta(minutes=5)

# Typed handles on the tables' columns, for SQL expressions (SQLModel's class attributes type as plain values).
P = table_columns(Post)
H = table_columns(Hold)
A = table_columns(AuditEntry)
ACC = table_columns(AccountRow)
CAMP = table_columns(CampaignRow)
_AUDIT_TABLE: Any = AuditEntry.__table__  # type: ignore[attr-defined]
_ATTEMPT_TABLE: Any = PublishAttempt.__table__  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncReport:
    """What ``schedule`` changed, post key by post key."""

    campaign: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Content changed: back to draft, any approval voided."""
    rescheduled: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    """Published or in flight, and different in the plan now: never touched."""
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.rescheduled) + len(self.cancelled) + len(self.restored)


@dataclass(frozen=True)
class Selection:
    """Which posts of a campaign a command acts on."""

    campaign: str | None = None
    posts: tuple[str, ...] = ()
    """Post keys, or plan entry ids (every account and day of that entry)."""
    day: str | None = None
    platform: str | None = None
    account: str | None = None
    everything: bool = False

    @property
    def empty(self) -> bool:
        return not (self.posts or self.day or self.platform or self.account or self.everything)


@dataclass(frozen=True)
class Status:
    campaign: CampaignRow
    counts: dict[str, dict[str, int]]
    """state -> local day (YYYY-MM-DD) -> count."""
    next_due: list[Post]
    holds: list[Hold]
    needs_a_person: list[Post]


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = engine.execution_options(**{READ_ONLY: True})
        """The same database, for reading only (see :meth:`read_session`)."""

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating or upgrading) the store at *url*, ``$CAMPAIGN_DB``, or the default file."""
        engine = create_store_engine(database_url(url))
        upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        """A session for changing the store (on SQLite its transactions take the write lock at once)."""
        return Session(self.engine, expire_on_commit=False)

    def read_session(self) -> Session:
        """A session for reading only: on SQLite it holds no lock that a writer (a runner) would wait for."""
        return Session(self.reader, expire_on_commit=False)

    # -- campaigns ---------------------------------------------------------------------------------

    def campaign_id(self, wanted: str | None) -> str:
        """*wanted*, checked; or the only campaign in the store."""
        with self.read_session() as session:
            ids = list(session.scalars(select(CAMP.id).order_by(CAMP.id)))
        if wanted is not None:
            if wanted not in ids:
                known = ", ".join(ids) or "none yet (run `campaign schedule PLAN`)"
                raise StoreError(f"there is no campaign {wanted!r} in the store; its campaigns are: {known}")
            return wanted
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise StoreError("the store has no campaigns yet; run `campaign schedule PLAN` first")
        raise StoreError(f"the store has several campaigns ({', '.join(ids)}); choose one with --campaign")

    # -- schedule ----------------------------------------------------------------------------------

    def schedule(self, rendered: RenderedPlan, actor: str, now: datetime | None = None) -> SyncReport:
        """Sync a rendered plan into the store. Refuses a plan with errors; running it twice changes nothing."""
        if rendered.plan is None or rendered.errors:
            raise StoreError(f"{rendered.path} has {len(rendered.errors)} error(s); fix them (see `campaign "
                             "validate`) before scheduling — nothing was changed")
        now = now or utcnow()
        plan = rendered.plan
        campaign = plan.campaign
        report = SyncReport(campaign.id)
        with self.session() as session, session.begin():
            row = session.get(CampaignRow, campaign.id)
            if row is None:
                row = CampaignRow(id=campaign.id, name=campaign.name, zone=campaign.zone, plan_path="",
                                  grace_seconds=0, created_at=now, updated_at=now)
            row.name, row.zone, row.plan_path = campaign.name, campaign.zone, str(rendered.path)
            row.grace_seconds = int(campaign.grace.total_seconds())
            row.collect_after = json.dumps([int(o.total_seconds()) for o in campaign.collect_after])
            row.approver_must_differ = campaign.approver_must_differ
            row.updated_at = now
            session.add(row)
            session.flush()
            self._sync_accounts(session, rendered)
            existing = {p.key: p for p in session.scalars(select(Post).where(P.campaign_id == campaign.id))}
            for draft in rendered.drafts:
                self._sync_post(session, existing.pop(draft.key, None), draft, campaign.grace, actor, now, report)
            for post in existing.values():
                if post.state in (PostState.PUBLISHED, PostState.CANCELLED):
                    continue
                if post.state in IN_FLIGHT:
                    report.left_alone.append(post.key)
                    continue
                self._set_state(session, post, PostState.CANCELLED, actor, now, "cancelled",
                                {"reason": "removed from the plan", "was": post.state})
                report.cancelled.append(post.key)
            if report.changes:
                _audit(session, now, actor, "schedule", campaign.id, None,
                       {"plan": str(rendered.path), "added": len(report.added), "changed": len(report.changed),
                        "rescheduled": len(report.rescheduled), "cancelled": len(report.cancelled),
                        "restored": len(report.restored)})
        return report

    def _sync_accounts(self, session: Session, rendered: RenderedPlan) -> None:
        assert rendered.plan is not None
        campaign_id = rendered.plan.campaign.id
        rows = {a.key: a for a in session.scalars(select(AccountRow).where(ACC.campaign_id == campaign_id))}
        for account in rendered.plan.accounts.values():
            row = rows.get(account.id) or AccountRow(campaign_id=campaign_id, key=account.id, platform="",
                                                     handle="", credentials="{}")
            row.platform, row.handle, row.api_base = account.platform, account.handle, account.api_base
            row.credentials = json.dumps(dict(account.credentials), sort_keys=True)
            session.add(row)

    def _sync_post(self, session: Session, post: Post | None, draft: Draft, grace: timedelta, actor: str,
                   now: datetime, report: SyncReport) -> None:
        fields = _post_fields(draft, grace)
        if post is None:
            session.add(Post(**fields, state=PostState.DRAFT, author=draft.author or actor, created_at=now,
                             updated_at=now))
            _audit(session, now, actor, "added", draft.campaign, draft.key,
                   {"content_hash": draft.content_hash, "due_at": iso_utc(draft.when.utc, "seconds")})
            report.added.append(draft.key)
            return
        same_content = post.content_hash == draft.content_hash
        same_time = as_utc(post.due_at) == draft.when.utc
        if post.state == PostState.PUBLISHED or post.state in IN_FLIGHT:
            if not (same_content and same_time):
                report.left_alone.append(post.key)
            else:
                report.unchanged += 1
            return
        if post.state == PostState.CANCELLED:
            _update(post, fields, now)
            self._set_state(session, post, PostState.DRAFT, actor, now, "restored",
                            {"reason": "back in the plan", "content_hash": draft.content_hash})
            _void_approval(post)
            report.restored.append(post.key)
            return
        if not same_content:
            was = post.state
            _update(post, fields, now)
            voided = post.approved_by
            _void_approval(post)
            self._set_state(session, post, PostState.DRAFT, actor, now, "content_changed",
                            {"was": was, "content_hash": draft.content_hash, "approval_voided_of": voided})
            report.changed.append(post.key)
            return
        if not same_time:
            before = iso_utc(post.due_at, "seconds")
            _update(post, fields, now)
            details: dict[str, Any] = {"from": before, "to": iso_utc(draft.when.utc, "seconds")}
            if post.state == PostState.MISSED:
                # A person moved a missed post to a new time: it may go out then, if still approved.
                approved = post.approved_hash == post.content_hash and post.approved_by is not None
                new_state = PostState.APPROVED if approved else PostState.DRAFT
                self._set_state(session, post, new_state, actor, now, "rescheduled", details)
            else:
                session.add(post)
                _audit(session, now, actor, "rescheduled", post.campaign_id, post.key, details)
            report.rescheduled.append(post.key)
            return
        report.unchanged += 1

    def _set_state(self, session: Session, post: Post, state: PostState, actor: str, now: datetime, action: str,
                   details: Mapping[str, Any]) -> None:
        post.state = state
        post.updated_at = now
        session.add(post)
        _audit(session, now, actor, action, post.campaign_id, post.key, {**details, "state": str(state)})

    # -- selecting ---------------------------------------------------------------------------------

    def select_posts(self, selection: Selection) -> list[Post]:
        campaign_id = self.campaign_id(selection.campaign)
        with self.read_session() as session:
            query = select(Post).where(P.campaign_id == campaign_id)
            if selection.platform:
                query = query.where(P.platform == selection.platform)
            if selection.account:
                query = query.where(or_(P.account == selection.account, P.handle == selection.account))
            posts = list(session.scalars(query.order_by(P.due_at, P.key)))
        if selection.day:
            from campaign.preview import day_matches

            posts = [p for p in posts if day_matches(selection.day, p.local_time.date())]
        if selection.posts:
            # What each key answers to (see _names_of), so that matching is one set lookup per post, not a
            # comparison with every wanted key: approving 10,000 posts by key took minutes.
            wanted = set(selection.posts)
            answers = {p.key: _names_of(p.key) for p in posts}
            chosen = [p for p in posts if not wanted.isdisjoint(answers[p.key])]
            matched = set().union(*answers.values())
            unknown = [w for w in selection.posts if w not in matched]
            if unknown:
                raise StoreError(f"there is no post {unknown[0]!r} in campaign {campaign_id!r}; "
                                 "`campaign status` lists the posts, by key such as 'launch/lancs-x'")
            posts = chosen
        return posts

    # -- sign-off ----------------------------------------------------------------------------------

    def approve(self, selection: Selection, actor: str, previewed: Mapping[str, str] | None = None,
                now: datetime | None = None) -> list[Post]:
        """Approve the selected drafts as *actor*, binding each approval to its current content hash.

        *previewed* maps post keys (or hash prefixes under the key ``"*"`` for a single post) to the content
        hash the approver saw; any mismatch refuses the whole approval and changes nothing.
        """
        if selection.empty:
            raise StoreError("say what to approve: post keys, --day, --platform, --account or --all")
        now = now or utcnow()
        posts = self.select_posts(selection)
        approvable = [p for p in posts if p.state in (PostState.DRAFT, PostState.REJECTED, PostState.MISSED)]
        if not approvable:
            states = ", ".join(sorted({f"{p.key} is {p.state}" for p in posts})[:3]) or "no posts matched"
            raise StoreError(f"nothing to approve: {states}")
        self._check_previewed(approvable, previewed)
        campaign = self._campaign_row(approvable[0].campaign_id)
        if campaign.approver_must_differ:
            own = [p.key for p in approvable if (p.author or "").casefold() == actor.casefold()]
            if own:
                raise StoreError(f"{actor} wrote {own[0]}{' and others' if len(own) > 1 else ''}, and this campaign "
                                 "requires the approver not to be the author; ask a colleague to approve")
        with self.session() as session, session.begin():
            for post in approvable:
                current = session.get(Post, post.id)
                assert current is not None
                if current.content_hash != post.content_hash or current.state != post.state:
                    raise StoreError(f"{post.key} changed while it was being approved; preview it again")
                details: dict[str, Any] = {"content_hash": current.content_hash}
                if current.state == PostState.MISSED:
                    # Re-approving a missed post is a person saying "send it now".
                    details["due_at_was"] = iso_utc(current.due_at, "seconds")
                    current.due_at = now
                    current.late_after = now + timedelta(seconds=campaign.grace_seconds)
                current.approved_by, current.approved_at, current.approved_hash = actor, now, current.content_hash
                current.last_error = None
                self._set_state(session, current, PostState.APPROVED, actor, now, "approved", details)
        return self.select_posts(Selection(campaign=campaign.id, posts=tuple(p.key for p in approvable)))

    def _check_previewed(self, posts: Sequence[Post], previewed: Mapping[str, str] | None) -> None:
        if previewed is None:
            return
        for post in posts:
            seen = previewed.get(post.key) or (previewed.get("*") if len(posts) == 1 else None)
            if seen is None:
                raise StoreError(f"{post.key} was not in the preview you approved from; preview it, then approve")
            if not post.content_hash.startswith(seen.lower()) or len(seen) < 8:
                raise StoreError(
                    f"{post.key} has changed since it was previewed (previewed {seen[:12]}, now "
                    f"{post.content_hash[:12]}); preview it again and approve what you see — nothing was approved"
                )

    def reject(self, key: str, actor: str, reason: str, campaign: str | None = None,
               now: datetime | None = None) -> Post:
        now = now or utcnow()
        post = self.post(key, campaign)
        if post.state not in (PostState.DRAFT, PostState.APPROVED, PostState.MISSED, PostState.FAILED):
            raise StoreError(f"{post.key} is {post.state}; only draft, approved, missed or failed posts can be rejected")
        with self.session() as session, session.begin():
            current = session.get(Post, post.id)
            assert current is not None
            _void_approval(current)
            current.last_error = f"rejected by {actor}: {reason}"
            self._set_state(session, current, PostState.REJECTED, actor, now, "rejected", {"reason": reason})
        return current

    def post(self, key: str, campaign: str | None = None) -> Post:
        """The post with exactly this key, read with one indexed lookup."""
        campaign_id = self.campaign_id(campaign)
        with self.read_session() as session:
            found = session.scalars(select(Post).where(P.campaign_id == campaign_id, P.key == key)).one_or_none()
        if found is not None:
            return found
        self.select_posts(Selection(campaign=campaign_id, posts=(key,)))  # says so if nothing matches at all
        raise StoreError(f"{key!r} is not one post's key; give the full key, such as 'launch/lancs-x'")

    def _campaign_row(self, campaign_id: str) -> CampaignRow:
        with self.read_session() as session:
            row = session.get(CampaignRow, campaign_id)
        assert row is not None
        return row

    # -- pause and resume --------------------------------------------------------------------------

    def pause(self, reason: str, actor: str, campaign: str | None = None, account: str | None = None,
              until: datetime | None = None, now: datetime | None = None) -> Hold:
        """Stop every claim the hold covers. When this returns, no claim it covers can succeed."""
        now = now or utcnow()
        campaign_id = self.campaign_id(campaign)
        if not reason.strip():
            raise StoreError("say why: --reason is recorded in the audit log")
        if until is not None and until <= now:
            raise StoreError("--until is in the past; give a later time, or leave it out to pause until resumed")
        if account is not None:
            self._check_account(campaign_id, account)
        with self.session() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                # Wait for claims in flight to commit, and make later claims wait for this hold: the claim
                # statement then sees it. (SQLite serialises writers already.)
                session.execute(text("LOCK TABLE post IN SHARE ROW EXCLUSIVE MODE"))
            hold = Hold(campaign_id=campaign_id, account=account, reason=reason, created_by=actor, created_at=now,
                        until=until)
            session.add(hold)
            session.flush()
            _audit(session, now, actor, "paused", campaign_id, None,
                   {"hold": hold.id, "account": account, "reason": reason,
                    "until": iso_utc(until, "seconds") if until else None})
        return hold

    def wait_for_sending(self, campaign: str, account: str | None = None, timeout: float = 30.0) -> list[Post]:
        """After a pause: wait until no covered post is on its way to a platform (checked before the pause, sent
        after it). Returns the posts still on their way when *timeout* ran out (usually none)."""
        deadline = time.monotonic() + timeout
        while (sending := self.being_sent(campaign, account)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return sending

    def _check_account(self, campaign_id: str, account: str) -> None:
        with self.read_session() as session:
            keys = list(session.scalars(select(ACC.key).where(ACC.campaign_id == campaign_id)))
        if account not in keys:
            raise StoreError(f"campaign {campaign_id!r} has no account {account!r}; its accounts are: {', '.join(keys)}")

    def resume(self, actor: str, campaign: str | None = None, account: str | None = None,
               now: datetime | None = None) -> tuple[list[Hold], list[str]]:
        """Release the active holds matching *account* (or all of the campaign's); return them and the posts
        that became missed because their time passed beyond the grace window while paused."""
        now = now or utcnow()
        campaign_id = self.campaign_id(campaign)
        with self.session() as session, session.begin():
            query = select(Hold).where(H.campaign_id == campaign_id, *_active_hold(now))
            if account is not None:
                query = query.where(H.account == account)
            holds = list(session.scalars(query))
            if not holds:
                what = f"account {account!r} of " if account else ""
                raise StoreError(f"there is no active pause on {what}campaign {campaign_id!r}; nothing was changed")
            for hold in holds:
                hold.released_at, hold.released_by = now, actor
                session.add(hold)
                _audit(session, now, actor, "resumed", campaign_id, None, {"hold": hold.id, "account": hold.account})
        return holds, self.mark_missed(now, actor)

    def active_holds(self, campaign: str | None = None, now: datetime | None = None) -> list[Hold]:
        now = now or utcnow()
        with self.read_session() as session:
            query = select(Hold).where(*_active_hold(now))
            if campaign is not None:
                query = query.where(or_(H.campaign_id.is_(None), H.campaign_id == campaign))
            return list(session.scalars(query.order_by(H.created_at)))

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
                connection.execute(_audit_insert(now, runner, "claimed", claimed.campaign_id, claimed.key,
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
                     .returning(P.id, P.key, P.campaign_id))  # built before BEGIN: see claim()
        with self.engine.begin() as connection:
            claimed = list(connection.execute(statement))
            for post_id, key, campaign_id in claimed:
                connection.execute(_audit_insert(now, runner, "claimed", campaign_id, key, {"post_id": post_id}))
        if not claimed:
            return []
        with self.read_session() as session:
            return list(session.scalars(select(Post).where(P.id.in_([c[0] for c in claimed]))))

    def record_published(self, post_id: int, runner: str, remote_id: str, url: str,
                         now: datetime | None = None) -> None:
        now = now or utcnow()
        parameters = {"done_post_id": post_id, "done_runner": runner, "done_remote_id": remote_id, "done_url": url,
                      "done_now": now}
        with self.engine.begin() as connection:
            key = connection.execute(_published_statement(), parameters).one_or_none()
            if key is None:
                raise StoreError(f"post {post_id} is not being published by {runner}; its result was not recorded")
            connection.execute(_audit_insert(now, runner, "published", key[1], key[0],
                                             {"remote_id": remote_id, "url": url}))

    def mark_missed(self, now: datetime | None = None, actor: str = "campaign") -> list[str]:
        """Approved posts whose grace window has passed become ``missed``: they wait for a person."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            missed = list(connection.execute(
                update(Post).where(P.state == PostState.APPROVED, P.late_after < now)
                .values(state=PostState.MISSED, updated_at=now,
                        last_error="its time passed beyond the grace window; reschedule or re-approve it")
                .returning(P.key, P.campaign_id, P.due_at)
            ))
            for key, campaign_id, due_at in missed:
                connection.execute(_audit_insert(now, actor, "missed", campaign_id, key,
                                                 {"due_at": iso_utc(due_at, "seconds"), "state": "missed"}))
        return sorted(key for key, _, _ in missed)

    def arm(self, post_id: int, runner: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE) -> bool:
        """The last check before a claimed post is sent: still ours, and no pause has begun since the claim.

        Marks the post as being sent, renews its lease and opens its publish attempt (started *now*, no outcome
        yet; :meth:`record_attempt` finishes it). A runner that dies before hearing back leaves the attempt open:
        the record of when the post was sent, so its lateness is known whatever happens. False means: do not send.
        """
        now = now or utcnow()
        parameters = {"arm_now": now, "arm_runner": runner, "arm_lease_until": now + lease, "arm_post_id": post_id}
        with self.engine.begin() as connection:
            result = connection.execute(_arm_statement(), parameters)
            if result.rowcount:
                connection.execute(insert(_ATTEMPT_TABLE), {"post_id": post_id, "runner": runner, "started_at": now,
                                                            "finished_at": None, "outcome": None, "message": None})
        return bool(result.rowcount)

    def renew(self, post_id: int, runner: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE) -> bool:
        """Extend the lease on a post this runner has claimed and is still holding (waiting out a rate limit or a
        backoff), so it is not taken for a dead runner's post. False: it is no longer ours."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            result = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.PUBLISHING, P.claimed_by == runner)
                .values(lease_until=now + lease, updated_at=now)
            )
        return bool(result.rowcount)

    def release(self, post_id: int, runner: str, reason: str, now: datetime | None = None) -> None:
        """Give a claimed post back (``publishing → approved``) without sending it, e.g. because of a pause."""
        self._finish(post_id, runner, PostState.APPROVED, "released", {"reason": reason}, now, last_error=reason)

    def record_failed(self, post_id: int, runner: str, reason: str, now: datetime | None = None) -> None:
        """The platform refused the post for good, or retries ran out: it waits for a person."""
        self._finish(post_id, runner, PostState.FAILED, "failed", {"reason": reason}, now, last_error=reason)

    def record_unknown(self, post_id: int, runner: str, reason: str, now: datetime | None = None) -> None:
        """Nobody knows whether the post went out: it must be reconciled before anything else happens."""
        self._finish(post_id, runner, PostState.UNKNOWN, "unknown", {"reason": reason}, now, last_error=reason)

    def _finish(self, post_id: int, runner: str, state: PostState, action: str, details: Mapping[str, Any],
                now: datetime | None, last_error: str) -> None:
        now = now or utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.PUBLISHING, P.claimed_by == runner)
                .values(state=state, claimed_by=None, lease_until=None, sending_at=None, updated_at=now,
                        last_error=last_error)
                .returning(P.key, P.campaign_id)
            ).one_or_none()
            if row is None:
                raise StoreError(f"post {post_id} is not being published by {runner}; nothing was recorded")
            connection.execute(_audit_insert(now, runner, action, row[1], row[0], {**details, "state": str(state)}))

    def record_attempt(self, post_id: int, runner: str, started_at: datetime, outcome: str, message: str | None,
                       finished_at: datetime | None = None) -> None:
        """Finish the attempt :meth:`arm` opened for this post and runner; add a finished one if none is open."""
        values = {"finished_at": finished_at or utcnow(), "outcome": outcome, "message": message}
        attempt = _ATTEMPT_TABLE.c
        with self.engine.begin() as connection:
            finished = connection.execute(
                update(_ATTEMPT_TABLE).where(attempt.post_id == post_id, attempt.runner == runner,
                                             attempt.finished_at.is_(None)).values(**values))
            if not finished.rowcount:
                connection.execute(insert(_ATTEMPT_TABLE), {"post_id": post_id, "runner": runner,
                                                            "started_at": started_at, **values})

    def expire_leases(self, now: datetime | None = None, actor: str = "campaign") -> list[Post]:
        """Posts whose runner stopped answering mid-publish become ``unknown``, to be reconciled."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            expired = list(connection.execute(
                update(Post).where(P.state == PostState.PUBLISHING, P.lease_until < now)
                .values(state=PostState.UNKNOWN, updated_at=now,
                        last_error="the runner publishing it stopped before recording the result")
                .returning(P.id, P.key, P.campaign_id, P.claimed_by)
            ))
            for _, key, campaign_id, runner in expired:
                connection.execute(_audit_insert(now, actor, "unknown", campaign_id, key,
                                                 {"runner": runner, "reason": "lease expired", "state": "unknown"}))
        return self.posts_by_id([row[0] for row in expired])

    def resolve_unknown(self, post_id: int, remote_id: str | None, url: str | None, actor: str,
                        now: datetime | None = None) -> str:
        """Settle an ``unknown`` post from what the platform says: found → published, not found → approved."""
        now = now or utcnow()
        found = remote_id is not None
        values: dict[str, Any] = {"updated_at": now, "claimed_by": None, "lease_until": None, "sending_at": None}
        if found:
            values.update(state=PostState.PUBLISHED, remote_id=remote_id, remote_url=url, published_at=now,
                          last_error=None)
        else:
            values.update(state=PostState.APPROVED, last_error="not found on the platform after an interruption")
        with self.engine.begin() as connection:
            row = connection.execute(
                update(Post).where(P.id == post_id, P.state == PostState.UNKNOWN).values(**values)
                .returning(P.key, P.campaign_id)
            ).one_or_none()
            if row is None:
                raise StoreError(f"post {post_id} is not unknown; nothing was changed")
            connection.execute(_audit_insert(now, actor, "reconciled", row[1], row[0],
                                             {"found": found, "remote_id": remote_id, "state": str(values["state"])}))
        return str(values["state"])

    def due_soon(self, until: datetime, now: datetime | None = None, campaign: str | None = None) -> list[Post]:
        """Approved posts that may still go out and fall due before *until*, earliest first."""
        now = now or utcnow()
        query = select(Post).where(P.state == PostState.APPROVED, P.late_after >= now, P.due_at <= until)
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.due_at)))

    def posts_in(self, states: Sequence[PostState], campaign: str | None = None) -> list[Post]:
        query = select(Post).where(P.state.in_([str(s) for s in states]))
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.due_at)))

    def posts_by_id(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        with self.read_session() as session:
            return list(session.scalars(select(Post).where(P.id.in_(list(ids))).order_by(P.due_at)))

    def being_sent(self, campaign: str, account: str | None = None) -> list[Post]:
        """Posts whose request is on its way to the platform right now (a pause cannot stop those)."""
        query = select(Post).where(P.campaign_id == campaign, P.state == PostState.PUBLISHING,
                                   P.sending_at.is_not(None))
        if account is not None:
            query = query.where(P.account == account)
        with self.read_session() as session:
            return list(session.scalars(query))

    def accounts(self, campaign: str | None = None) -> list[AccountRow]:
        query = select(AccountRow)
        if campaign is not None:
            query = query.where(ACC.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(ACC.campaign_id, ACC.key)))

    # -- reading -----------------------------------------------------------------------------------

    def status(self, campaign: str | None = None, now: datetime | None = None, upcoming: int = 10) -> Status:
        now = now or utcnow()
        campaign_id = self.campaign_id(campaign)
        with self.read_session() as session:
            row = session.get(CampaignRow, campaign_id)
            assert row is not None
            counts: dict[str, dict[str, int]] = {}
            day = func.substr(func.cast(P.local_time, String()), 1, 10)
            for state, local_day, count in session.execute(
                select(P.state, day, func.count()).where(P.campaign_id == campaign_id)
                .group_by(P.state, day)
            ):
                counts.setdefault(state, {})[str(local_day)] = int(count)
            next_due = list(session.scalars(
                select(Post).where(P.campaign_id == campaign_id, P.state == PostState.APPROVED,
                                   P.late_after >= now).order_by(P.due_at).limit(upcoming)
            ))
            needs = list(session.scalars(
                select(Post).where(P.campaign_id == campaign_id, P.state.in_(list(NEEDS_A_PERSON)))
                .order_by(P.due_at)
            ))
        return Status(row, counts, next_due, self.active_holds(campaign_id, now), needs)

    def audit(self, campaign: str | None = None, post: str | None = None) -> Iterator[AuditEntry]:
        """The trail, oldest first, streamed.

        Read 500 entries at a time, each page in its own short read-only transaction, so a trail streamed to a
        slow reader (`campaign audit | less`) never holds anything a runner waits for.
        """
        query = select(AuditEntry)
        if campaign is not None:
            query = query.where(A.campaign_id == campaign)
        if post is not None:
            query = query.where(or_(A.post_key == post, A.post_key.like(f"{post}/%"), A.post_key.like(f"{post}@%")))
        after = 0
        while True:
            with self.read_session() as session:
                page = list(session.scalars(query.where(A.id > after).order_by(A.id).limit(500)))
            yield from page
            if len(page) < 500:
                return
            after = page[-1].id or after


# -- SQL building blocks ---------------------------------------------------------------------------


def _active_hold(now: datetime) -> tuple[Any, ...]:
    return (H.released_at.is_(None), or_(H.until.is_(None), H.until > now))


def _held(now: datetime) -> Any:
    """True for a post that an active hold covers."""
    return exists().where(
        *_active_hold(now),
        or_(H.campaign_id.is_(None), H.campaign_id == P.campaign_id),
        or_(H.account.is_(None), H.account == P.account),
    )


def _claimable(now: datetime) -> tuple[Any, ...]:
    """The conditions under which a post may be claimed, evaluated inside the claim statement itself."""
    parent = P.id.table.alias("parent")
    held = _held(now)
    parent_out = exists().where(parent.c.campaign_id == P.campaign_id, parent.c.key == P.reply_to,
                                parent.c.state == PostState.PUBLISHED)
    return (
        P.state == PostState.APPROVED,
        P.approved_hash == P.content_hash,
        P.due_at <= now,
        P.late_after >= now,
        ~held,
        or_(P.reply_to.is_(None), parent_out),
    )


def _claim_statement(now: datetime, runner: str, lease: timedelta) -> Any:
    return update(Post).where(*_claimable(now)).values(
        state=PostState.PUBLISHING, claimed_by=runner, claimed_at=now, lease_until=now + lease,
        attempts=P.attempts + 1, updated_at=now,
    )


@functools.cache
def _published_statement() -> Any:
    """:meth:`Store.record_published`'s statement, its values bound as parameters: built once."""
    now = bindparam("done_now", type_=P.published_at.type)
    return (
        update(Post).where(P.id == bindparam("done_post_id", type_=P.id.type), P.state == PostState.PUBLISHING,
                           P.claimed_by == bindparam("done_runner", type_=P.claimed_by.type))
        .values(state=PostState.PUBLISHED, remote_id=bindparam("done_remote_id", type_=P.remote_id.type),
                remote_url=bindparam("done_url", type_=P.remote_url.type), published_at=now, lease_until=None,
                sending_at=None, updated_at=now, last_error=None)
        .returning(P.key, P.campaign_id)
    )


@functools.cache
def _arm_statement() -> Any:
    """:meth:`Store.arm`'s statement, its values bound as parameters (``arm_now``, ``arm_runner``,
    ``arm_lease_until``, ``arm_post_id``): built once, never inside the transaction."""
    now: Any = bindparam("arm_now", type_=P.due_at.type)  # where a datetime goes, bound when run
    return (
        update(Post).where(P.id == bindparam("arm_post_id", type_=P.id.type), P.state == PostState.PUBLISHING,
                           P.claimed_by == bindparam("arm_runner", type_=P.claimed_by.type), ~_held(now))
        .values(sending_at=now, lease_until=bindparam("arm_lease_until", type_=P.lease_until.type), updated_at=now)
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


def _audit(session: Session, at: datetime, actor: str, action: str, campaign_id: str | None, post_key: str | None,
           details: Mapping[str, Any]) -> None:
    session.add(AuditEntry(at=at, actor=actor, action=action, campaign_id=campaign_id, post_key=post_key,
                           details=json.dumps(details, sort_keys=True, default=str)))


def _audit_insert(at: datetime, actor: str, action: str, campaign_id: str | None, post_key: str,
                  details: Mapping[str, Any]) -> Any:
    # On the table, not the ORM class: the same INSERT, without the ORM's per-statement bookkeeping.
    return insert(_AUDIT_TABLE).values(at=at, actor=actor, action=action, campaign_id=campaign_id, post_key=post_key,
                                     details=json.dumps(details, sort_keys=True, default=str))


def _post_fields(draft: Draft, grace: timedelta) -> dict[str, Any]:
    return {
        "campaign_id": draft.campaign,
        "key": draft.key,
        "entry": draft.post_id,
        "account": draft.account,
        "platform": draft.platform,
        "handle": draft.handle,
        "local_time": draft.when.local,
        "zone": draft.when.zone,
        "due_at": draft.when.utc,
        "late_after": draft.when.utc + grace,
        "text": draft.text,
        "media": json.dumps([{"path": str(i.path), "alt": i.alt, "mime_type": i.mime_type, "sha256": i.sha256}
                             for i in draft.images]),
        "content_hash": draft.content_hash,
        "reply_to": draft.reply_to,
        "event": draft.event,
        "language": draft.language,
    }


def _update(post: Post, fields: Mapping[str, Any], now: datetime) -> None:
    for name, value in fields.items():
        setattr(post, name, value)
    post.updated_at = now


def _void_approval(post: Post) -> None:
    post.approved_by = post.approved_at = post.approved_hash = None


def _names_of(key: str) -> set[str]:
    """What a post key answers to when selecting posts: the key itself, and each part of it that ends just
    before a ``/`` or an ``@`` (``launch`` and ``launch@2027-03-15`` both name ``launch@2027-03-15/lancs-x``)."""
    return {key, *(key[:index] for index, char in enumerate(key) if char in "/@")}



