"""The campaign store: scheduling a plan, sign-off, pauses, retries and the audit trail.

Every change to a post happens in one transaction with its audit entry. The rules that keep a force out of
trouble are in the SQL itself, not in the callers:

- published posts are never touched by a re-schedule; posts removed from the plan are cancelled;
  a change of content sends a post back to draft and voids its approval, on the record;
- a pause takes effect in the claim statement itself (:mod:`campaign.store.publishing`, the publishing half
  of :class:`Store`): once ``pause`` has returned nothing more is claimed;
- a failed, missed or unknown post goes back into the queue only when a person says so (:meth:`Store.retry`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, String, and_, exists, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from campaign.exceptions import StoreError
from campaign.people import Action, Actor
from campaign.problems import one_line
from campaign.render import Draft, RenderedPlan
from campaign.store.database import READ_ONLY, create_store_engine, database_url, upgrade
from campaign.store.models import (
    IN_FLIGHT,
    NEEDS_A_PERSON,
    RETRYABLE,
    AccountRow,
    AuditEntry,
    CampaignRow,
    Hold,
    Post,
    PostState,
)
from campaign.store.next_steps import way_forward
from campaign.store.pairs import Pairs
from campaign.store.people import People
from campaign.store.publishing import PublishingTransitions
from campaign.store.sql import ACC, CAMP, A, H, P, active_hold, audit, held, utcnow
from campaign.times import as_utc, iso_utc


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
    with_pair: list[str] = field(default_factory=list)
    """Unchanged, but paired with a post whose content changed: back to draft with it, its approval voided (a pair
    is one sign-off)."""
    past: list[str] = field(default_factory=list)
    """Added or changed by this schedule, and already beyond their grace window: they will be missed."""
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
    stalled: list[Post]
    """Posts nothing is moving although something should: due and not sent, held by a runner that stopped
    renewing its claim, or unknown with nobody looking them up. Usually: no `campaign run` is running."""
    pairs: dict[str, list[str]] = field(default_factory=dict)
    """For each rejected post of ``needs_a_person`` that is paired: the keys of its pair (approved with it)."""


class Store(People, PublishingTransitions, Pairs):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = engine.execution_options(**{READ_ONLY: True})
        """The same database, for reading only (see :meth:`read_session`)."""

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating or upgrading) the store at *url*, ``$CAMPAIGN_DB``, or the default file."""
        engine = create_store_engine(database_url(url))
        try:
            upgrade(engine)
        except (SQLAlchemyError, ModuleNotFoundError) as error:
            engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise StoreError(f"cannot open the store {where}: {detail} — check --db (or $CAMPAIGN_DB) and that the "
                             "database server is running") from None
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

    def campaign_ids(self) -> list[str]:
        """Every campaign in the store, by id."""
        with self.read_session() as session:
            return list(session.scalars(select(CAMP.id).order_by(CAMP.id)))

    def campaign_id(self, wanted: str | None) -> str:
        """*wanted*, checked; or the only campaign in the store."""
        ids = self.campaign_ids()
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

    def schedule(self, rendered: RenderedPlan, actor: Actor, now: datetime | None = None) -> SyncReport:
        """Sync a rendered plan into the store. Refuses a plan with errors; running it twice changes nothing."""
        if rendered.plan is None or rendered.errors:
            raise StoreError(f"{rendered.path} has {len(rendered.errors)} error(s); fix them (see `campaign "
                             "validate`) before scheduling — nothing was changed")
        now = now or utcnow()
        plan = rendered.plan
        campaign = plan.campaign
        entered_by = self.entered_by(actor)
        actor = self.acting(actor, Action.SCHEDULE, campaign.id, plan.accounts)
        report = SyncReport(campaign.id)
        with self.session() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                # Two schedules of one campaign at once: the second waits for the first, then finds its work done.
                # (SQLite serialises writers already.)
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"schedule:{campaign.id}"})
            row = session.get(CampaignRow, campaign.id)
            if row is None:
                row = CampaignRow(id=campaign.id, name=campaign.name, zone=campaign.zone, plan_path="",
                                  grace_seconds=0, created_at=now, updated_at=now)
            # Absolute: a runner, a bundle or a lookup may start in any folder.
            row.name, row.zone, row.plan_path = campaign.name, campaign.zone, os.path.abspath(rendered.path)
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
            self._void_pairs_of_changed(session, rendered, actor, now, report)
            for post in existing.values():
                if post.state in (PostState.PUBLISHED, PostState.CANCELLED):
                    continue
                if post.state in IN_FLIGHT:
                    report.left_alone.append(post.key)
                    continue
                voided = post.approved_by
                _void_approval(post)
                self._set_state(session, post, PostState.CANCELLED, actor, now, "cancelled",
                                {"reason": "removed from the plan", "was": post.state, "approval_voided_of": voided})
                report.cancelled.append(post.key)
            touched = {*report.added, *report.changed, *report.rescheduled, *report.restored}
            report.past = sorted(d.key for d in rendered.drafts if d.key in touched and d.when.utc + campaign.grace < now)
            if report.changes:
                audit(session, now, actor, "schedule", campaign.id, None,
                       {"plan": str(rendered.path), "added": len(report.added), "changed": len(report.changed),
                        "rescheduled": len(report.rescheduled), "cancelled": len(report.cancelled),
                        "restored": len(report.restored), **entered_by})
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
            row.media_host = account.media_host.to_json() if account.media_host else None
            session.add(row)

    def _sync_post(self, session: Session, post: Post | None, draft: Draft, grace: timedelta, actor: str,
                   now: datetime, report: SyncReport) -> None:
        fields = _post_fields(draft)
        timing = _time_fields(draft, grace)
        if post is None:
            # The author is who put these words in the store (a login): "the approver must differ" compares people.
            session.add(Post(**fields, **timing, state=PostState.DRAFT, author=actor, created_at=now,
                             updated_at=now))
            audit(session, now, actor, "added", draft.campaign, draft.key,
                   {"content_hash": draft.content_hash, "due_at": iso_utc(draft.when.utc, "seconds")})
            report.added.append(draft.key)
            return
        same_content = post.content_hash == draft.content_hash
        # The plan's time is unchanged: a time a person gave with `retry --at` stands until the plan moves it.
        same_time = as_utc(post.planned_at) == draft.when.utc
        if post.state == PostState.PUBLISHED or post.state in IN_FLIGHT:
            if not (same_content and same_time):
                report.left_alone.append(post.key)
            else:
                report.unchanged += 1
            return
        if post.state == PostState.CANCELLED:
            _update(post, {**fields, **timing}, now)
            post.author = actor
            self._set_state(session, post, PostState.DRAFT, actor, now, "restored",
                            {"reason": "back in the plan", "content_hash": draft.content_hash})
            report.restored.append(post.key)
            return
        if not same_content:
            was = post.state
            _update(post, fields if same_time else {**fields, **timing}, now)
            post.author = actor  # the new words are whoever scheduled them
            voided = post.approved_by
            _void_approval(post)
            # A rejection stands through a change of words (they may even be changed back): only someone approving
            # the post by its own key lifts it.
            new_state = PostState.REJECTED if was == PostState.REJECTED else PostState.DRAFT
            self._set_state(session, post, new_state, actor, now, "content_changed",
                            {"was": was, "content_hash": draft.content_hash, "approval_voided_of": voided})
            report.changed.append(post.key)
            return
        if not same_time:
            before = iso_utc(post.due_at, "seconds")
            _update(post, {**fields, **timing}, now)
            details: dict[str, Any] = {"from": before, "to": iso_utc(draft.when.utc, "seconds")}
            if post.state in (PostState.MISSED, PostState.FAILED):
                # A person moved a missed or failed post to a new time: it may go out then, if still approved.
                post.not_before = post.alerted_at = None
                approved = post.approved_hash == post.content_hash and post.approved_by is not None
                new_state = PostState.APPROVED if approved else PostState.DRAFT
                self._set_state(session, post, new_state, actor, now, "rescheduled", details)
            else:
                session.add(post)
                audit(session, now, actor, "rescheduled", post.campaign_id, post.key, details)
            report.rescheduled.append(post.key)
            return
        report.unchanged += 1

    def _void_pairs_of_changed(self, session: Session, rendered: RenderedPlan, actor: str, now: datetime,
                               report: SyncReport) -> None:
        """Void the approval of each approved post paired with a post whose content changed: the two were approved
        as one, and one of them is not what was approved any more."""
        changed = set(report.changed)
        if not changed:
            return
        # lead -> its changed follower: an English post that changed voids its Welsh partner's approval too.
        follower_of = {d.follows: d.key for d in rendered.drafts if d.key in changed and d.follows}
        leads = follower_of.keys() - changed
        partners = session.scalars(select(Post).where(
            P.campaign_id == rendered.drafts[0].campaign, P.state == PostState.APPROVED,
            or_(P.follows.in_(changed), P.key.in_(leads))))
        for post in partners:
            if post.key in changed:
                continue
            pair = post.follows if post.follows in changed else follower_of[post.key]
            voided = post.approved_by
            _void_approval(post)
            self._set_state(session, post, PostState.DRAFT, actor, now, "content_changed",
                            {"was": PostState.APPROVED, "pair_changed": pair, "approval_voided_of": voided})
            report.with_pair.append(post.key)

    def _set_state(self, session: Session, post: Post, state: PostState, actor: str, now: datetime, action: str,
                   details: Mapping[str, Any]) -> None:
        post.state = state
        post.updated_at = now
        session.add(post)
        audit(session, now, actor, action, post.campaign_id, post.key, {**details, "state": str(state)})

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
                                 "`campaign preview PLAN` shows every post's key, such as 'launch/lancs-x'")
            posts = chosen
        return posts

    # -- sign-off ----------------------------------------------------------------------------------

    def approve(self, selection: Selection, actor: Actor, previewed: Mapping[str, str] | None = None,
                now: datetime | None = None) -> list[Post]:
        """Approve the selected drafts as *actor*, binding each approval to its current content hash.

        Only drafts are approved in bulk. A rejected post is approved again only when named by its own full key,
        and the record says the approval reverses the rejection. Missed, failed and unknown posts are never
        approved: they are retried (:meth:`retry`), which never replaces a passed time by "now".

        *previewed* maps post keys (or hash prefixes under the key ``"*"`` for a single post) to the content
        hash the approver saw; any mismatch refuses the whole approval and changes nothing.
        """
        if selection.empty:
            raise StoreError("say what to approve: post keys, --day, --platform, --account or --all")
        now = now or utcnow()
        posts = self.select_posts(selection)
        named = set(selection.posts) if _per_post(selection) else set()
        approvable = [p for p in posts if p.state == PostState.DRAFT
                      or (p.state == PostState.REJECTED and p.key in named)]
        if not approvable:
            waiting = [p for p in posts if p.state in (*RETRYABLE, PostState.REJECTED)]
            if waiting:
                first = waiting[0]
                why = f" ({one_line(first.last_error)})" if first.state == PostState.REJECTED and first.last_error else ""
                raise StoreError(f"nothing to approve: {first.key} is {first.state}{why} — "
                                 f"{way_forward(first, now, self.pair_keys(first))}")
            states = ", ".join(sorted({f"{p.key} is {p.state}" for p in posts})[:3]) or "no posts matched"
            raise StoreError(f"nothing to approve: {states}")
        partners = self._partners_to_approve(approvable)
        approvable += partners
        self._check_previewed(approvable, previewed, {p.key for p in partners})
        campaign = self.campaign_row(approvable[0].campaign_id)
        entered_by = self.entered_by(actor)
        approver = self._names_of_person(actor) if campaign.approver_must_differ else set()
        actor = self.acting(actor, Action.APPROVE, campaign.id, {p.account for p in approvable})
        if campaign.approver_must_differ:
            authors = {author: self._names_of_person(author) for author in {p.author or "" for p in approvable}}
            own = [p.key for p in approvable if authors[p.author or ""] & approver]
            if own:
                raise StoreError(f"{actor} wrote {own[0]}{' and others' if len(own) > 1 else ''}, and this campaign "
                                 "requires the approver not to be the author; ask a colleague to approve")
        with self.session() as session, session.begin():
            for post in approvable:
                current = session.get(Post, post.id)
                assert current is not None
                if current.content_hash != post.content_hash or current.state != post.state:
                    raise StoreError(f"{post.key} changed while it was being approved; preview it again")
                details: dict[str, Any] = {"content_hash": current.content_hash, **entered_by}
                if current.state == PostState.REJECTED:
                    details["reverses_rejection"] = current.last_error
                current.approved_by, current.approved_at, current.approved_hash = actor, now, current.content_hash
                current.last_error = None
                self._set_state(session, current, PostState.APPROVED, actor, now, "approved", details)
        return self.select_posts(Selection(campaign=campaign.id, posts=tuple(p.key for p in approvable)))

    def retry(self, selection: Selection, actor: Actor, at: datetime | None = None,
              now: datetime | None = None) -> list[Post]:
        """Put failed or missed posts back in the queue, as *actor* decides, on the record.

        Without *at* a post goes out at once, which it may only while its grace window lasts: a time that has
        passed is never silently replaced by "now". With *at* (aware) the post gets that new time, its local
        time too. The approval must still stand (same content as approved). An ``unknown`` post must be looked up
        first (:func:`campaign.publishing.reconcile.retry` does that); nothing changes if any post cannot be
        retried.
        """
        if not selection.posts:
            raise StoreError("say which posts to retry, by key (e.g. 'launch/lancs-x') or plan entry")
        now = now or utcnow()
        if at is not None and at < now - timedelta(minutes=1):
            raise StoreError(f"--at {_local(at, self._zone_of(selection))} is in the past; give a time to come")
        posts = self.select_posts(selection)
        # A pair goes out together: its partner, failed or missed too, is retried with it.
        posts += [p for p in self.partners(posts) if p.state in (PostState.FAILED, PostState.MISSED)]
        for post in posts:
            if post.state == PostState.UNKNOWN:
                raise StoreError(f"{post.key}'s fate is unknown: it must be looked up on the platform before it is "
                                 f"sent again — `campaign reconcile {post.key}`")
            if post.state not in (PostState.FAILED, PostState.MISSED):
                raise StoreError(f"{post.key} is {post.state}; only failed, missed or unknown posts are retried")
            if post.approved_hash != post.content_hash or post.approved_by is None:
                raise StoreError(f"{post.key}'s approval no longer stands (its content changed); approve it again")
            if at is None and as_utc(post.late_after) < now:
                raise StoreError(
                    f"{post.key} was due {_local(post.due_at, post.zone)} and its grace window ended "
                    f"{_local(post.late_after, post.zone)}: its words may no longer fit the day, so it is not sent "
                    f"now by itself; give it a new time with `campaign retry {post.key} --at 'YYYY-MM-DD HH:MM'`"
                )
        campaign = self.campaign_row(posts[0].campaign_id)
        entered_by = self.entered_by(actor)
        actor = self.acting(actor, Action.RETRY, campaign.id, {p.account for p in posts})
        with self.session() as session, session.begin():
            for post in posts:
                current = session.get(Post, post.id)
                assert current is not None
                if current.state != post.state or current.content_hash != post.content_hash:
                    raise StoreError(f"{post.key} changed while it was being retried; look at it again")
                details: dict[str, Any] = {"was": current.state, "reason": current.last_error, **entered_by}
                if at is not None:
                    details.update(due_at_was=iso_utc(current.due_at, "seconds"), due_at=iso_utc(at, "seconds"))
                    current.due_at = at
                    current.local_time = as_utc(at).astimezone(ZoneInfo(current.zone)).replace(tzinfo=None)
                    current.late_after = at + timedelta(seconds=campaign.grace_seconds)
                current.not_before = current.alerted_at = None
                current.lookups = 0
                current.last_error = None
                self._set_state(session, current, PostState.APPROVED, actor, now, "retried", details)
        return self.select_posts(Selection(campaign=campaign.id, posts=tuple(p.key for p in posts)))

    def _check_previewed(self, posts: Sequence[Post], previewed: Mapping[str, str] | None,
                         partners: Collection[str] = ()) -> None:
        """Refuse unless every one of *posts* was previewed as it is now (*partners*: those approved only as the
        pair of another)."""
        if previewed is None:
            return
        for post in posts:
            seen = previewed.get(post.key) or (previewed.get("*") if len(posts) == 1 else None)
            if seen is None and post.key in partners:
                raise StoreError(f"{post.key} goes out as a pair with a post you are approving, so it is approved "
                                 "with it, and it was not in the preview you approved from; preview both, then "
                                 "approve — nothing was approved")
            if seen is None:
                raise StoreError(f"{post.key} was not in the preview you approved from; preview it, then approve")
            if not post.content_hash.startswith(seen.lower()) or len(seen) < 8:
                raise StoreError(
                    f"{post.key} has changed since it was previewed (previewed {seen[:12]}, now "
                    f"{post.content_hash[:12]}); preview it again and approve what you see — nothing was approved"
                )

    def reject(self, key: str, actor: Actor, reason: str, campaign: str | None = None,
               now: datetime | None = None, previewed_hash: str | None = None) -> Post:
        """Reject one post, with a reason: it is not published unless approved again by its own key.
        *previewed_hash*: the content the person saw; refused if the post has changed since."""
        now = now or utcnow()
        reason = plain_reason(reason)
        post = self.post(key, campaign)
        entered_by = self.entered_by(actor)
        # A pair is signed off together: its partner, not yet out, is rejected with it.
        partners = [p for p in self.partners([post]) if p.state in REJECTABLE]
        actor = self.acting(actor, Action.REJECT, post.campaign_id, [post.account, *(p.account for p in partners)])
        if post.state not in REJECTABLE:
            raise StoreError(f"{post.key} is {post.state}; only draft, approved, missed or failed posts can be rejected")
        if previewed_hash is not None:
            self._check_previewed([post], {post.key: previewed_hash})
        with self.session() as session, session.begin():
            current = session.get(Post, post.id)
            assert current is not None
            if current.state != post.state or current.content_hash != post.content_hash:
                raise StoreError(f"{post.key} changed while it was being rejected; look at it again")
            with_pair = f"{reason} (rejected with its pair, {post.key})"
            rejections = [(current, reason)] + [(session.get(Post, p.id), with_pair) for p in partners]
            for rejected, why in rejections:
                if rejected is None or rejected.state not in REJECTABLE:
                    continue  # the partner went out, or was settled, since it was read
                voided = rejected.approved_by
                _void_approval(rejected)
                rejected.last_error = f"rejected by {actor}: {why}"
                self._set_state(session, rejected, PostState.REJECTED, actor, now, "rejected",
                                {"reason": why, "approval_voided_of": voided, **entered_by})
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

    def _zone_of(self, selection: Selection) -> str:
        return self.campaign_row(self.campaign_id(selection.campaign)).zone

    def campaign_row(self, campaign_id: str) -> CampaignRow:
        with self.read_session() as session:
            row = session.get(CampaignRow, campaign_id)
        assert row is not None
        return row

    # -- pause and resume --------------------------------------------------------------------------

    def pause(self, reason: str, actor: Actor, campaign: str | None = None, account: str | None = None,
              until: datetime | None = None, now: datetime | None = None) -> Hold:
        """Stop every claim the hold covers. When this returns, no claim it covers can succeed."""
        now = now or utcnow()
        campaign_id = self.campaign_id(campaign)
        entered_by = self.entered_by(actor)
        actor = self.acting(actor, Action.PAUSE, campaign_id, None if account is None else [account])
        reason = plain_reason(reason, "say why: --reason is recorded in the audit log")
        if until is not None and until <= now:
            raise StoreError("--until is in the past; give a later time, or leave it out to pause until resumed")
        # An account's partner (its posts in the other language) is paused with it: a pair goes together. Whoever
        # may pause the account pauses its partner too (stopping is never refused for want of scope).
        accounts: list[str | None] = [account]
        if account is not None:
            self._check_account(campaign_id, account)
            accounts += self.paired_accounts(campaign_id, account)
        with self.session() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                # Wait for claims in flight to commit, and make later claims wait for this hold: the claim
                # statement then sees it. (SQLite serialises writers already.)
                session.execute(text("LOCK TABLE post IN SHARE ROW EXCLUSIVE MODE"))
            holds = [Hold(campaign_id=campaign_id, account=held_account, reason=reason, created_by=actor,
                          created_at=now, until=until) for held_account in accounts]
            session.add_all(holds)
            session.flush()
            for hold in holds:
                details = {"paired_with": account} if hold.account != account else {}
                audit(session, now, actor, "paused", campaign_id, None,
                      {"hold": hold.id, "account": hold.account, "reason": reason,
                       "until": iso_utc(until, "seconds") if until else None, **details, **entered_by})
        return holds[0]

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

    def resume(self, actor: Actor, campaign: str | None = None, account: str | None = None,
               now: datetime | None = None) -> tuple[list[Hold], list[str]]:
        """Release the active holds matching *account* (or all of the campaign's); return them and the posts
        missed during the pause (their grace window ended while it held them), which wait for a person."""
        now = now or utcnow()
        campaign_id = self.campaign_id(campaign)
        entered_by = self.entered_by(actor)
        actor = self.acting(actor, Action.RESUME, campaign_id, None if account is None else [account])
        with self.session() as session, session.begin():
            query = select(Hold).where(H.campaign_id == campaign_id, *active_hold(now))
            if account is not None:  # with its partner's, paused with it
                query = query.where(H.account.in_([account, *self.paired_accounts(campaign_id, account)]))
            holds = list(session.scalars(query))
            if not holds:
                what = f"account {account!r} of " if account else ""
                raise StoreError(f"there is no active pause on {what}campaign {campaign_id!r}; nothing was changed")
            for hold in holds:
                hold.released_at, hold.released_by = now, actor
                session.add(hold)
                audit(session, now, actor, "resumed", campaign_id, None,
                      {"hold": hold.id, "account": hold.account, **entered_by})
        self.mark_missed(now, actor)
        return holds, self.missed_during(holds, now)

    def missed_during(self, holds: Sequence[Hold], until: datetime) -> list[str]:
        """Keys of the posts still missed whose grace window ended while one of *holds* covered them."""
        if not holds:
            return []
        covered = [and_(P.campaign_id == hold.campaign_id if hold.campaign_id else P.campaign_id.is_not(None),
                        P.account == hold.account if hold.account else P.account.is_not(None),
                        P.late_after >= hold.created_at, P.late_after <= until) for hold in holds]
        with self.read_session() as session:
            return list(session.scalars(select(P.key).where(P.state == PostState.MISSED, or_(*covered))
                                        .order_by(P.key)))

    def active_holds(self, campaign: str | None = None, now: datetime | None = None) -> list[Hold]:
        now = now or utcnow()
        with self.read_session() as session:
            query = select(Hold).where(*active_hold(now))
            if campaign is not None:
                query = query.where(or_(H.campaign_id.is_(None), H.campaign_id == campaign))
            return list(session.scalars(query.order_by(H.created_at)))

    def posts_in(self, states: Sequence[PostState], campaign: str | None = None) -> list[Post]:
        query = select(Post).where(P.state.in_([str(s) for s in states]))
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.due_at)))

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
                select(Post).where(P.campaign_id == campaign_id,
                                   or_(P.state.in_(list(NEEDS_A_PERSON)), _approval_voided(),
                                       and_(P.state.in_([PostState.APPROVED, PostState.DRAFT]), P.late_after < now)))
                .order_by(P.due_at)
            ))
            stalled = list(session.scalars(
                select(Post).where(P.campaign_id == campaign_id, _stalled(now)).order_by(P.due_at)
            ))
        pairs = {p.key: keys for p in needs if p.state == PostState.REJECTED and (keys := self.pair_keys(p))}
        return Status(row, counts, next_due, self.active_holds(campaign_id, now), needs, stalled, pairs)

    def drafts_due(self, until: datetime, now: datetime, campaign: str | None = None) -> list[Post]:
        """Drafts that fall due by *until* and may still go out if approved now (their grace window lasts),
        earliest first."""
        query = select(Post).where(P.state == PostState.DRAFT, P.due_at <= until, P.late_after >= now)
        if campaign is not None:
            query = query.where(P.campaign_id == campaign)
        with self.read_session() as session:
            return list(session.scalars(query.order_by(P.due_at, P.key)))

    def voided_drafts(self, campaign: str) -> set[str]:
        """Keys of the campaign's drafts whose approval a change voided (they wait to be approved again)."""
        with self.read_session() as session:
            return set(session.scalars(select(P.key).where(P.campaign_id == campaign, _approval_voided())))

    def audit(self, campaign: str | None = None, post: str | None = None,
              people: bool = False) -> Iterator[AuditEntry]:
        """The trail, oldest first, streamed: a campaign's (or every campaign's), or with *people* the store's own
        entries about people (users added, disabled, passwords set, desk logins).

        Read 500 entries at a time, each page in its own short read-only transaction, so a trail streamed to a
        slow reader (`campaign audit | less`) never holds anything a runner waits for.
        """
        query = select(AuditEntry)
        if people:
            query = query.where(A.campaign_id.is_(None), A.post_key.is_(None))
        elif campaign is not None:
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


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
"""What a reason may not hold: NUL, escapes and other controls (PostgreSQL refuses NUL; a terminal obeys escapes)."""


REJECTABLE = (PostState.DRAFT, PostState.APPROVED, PostState.MISSED, PostState.FAILED)


def plain_reason(reason: str, blank: str = "say why: the reason is for the author and the record") -> str:
    """*reason*, stripped, if it is plain text that says something; refused otherwise."""
    if not reason.strip():
        raise StoreError(blank)
    if CONTROL_CHARACTERS.search(reason):
        raise StoreError("the reason holds a control character (such as NUL or an escape): write it as plain text")
    return reason.strip()


def _post_fields(draft: Draft) -> dict[str, Any]:
    return {
        "campaign_id": draft.campaign,
        "key": draft.key,
        "entry": draft.post_id,
        "account": draft.account,
        "platform": draft.platform,
        "handle": draft.handle,
        "zone": draft.when.zone,
        "text": draft.text,
        "media": json.dumps([{"path": os.path.abspath(i.path), "alt": i.alt, "mime_type": i.mime_type,
                              "sha256": i.sha256}
                             for i in draft.images]),
        "content_hash": draft.content_hash,
        "reply_to": draft.reply_to,
        "follows": draft.follows,
        "without": json.dumps(dict(draft.without), ensure_ascii=False) if draft.without else None,
        "event": draft.event,
        "language": draft.language,
    }


def _time_fields(draft: Draft, grace: timedelta) -> dict[str, Any]:
    """When the plan says the post goes out: applied to a new post, and to one whose time the plan moved."""
    return {"planned_at": draft.when.utc, "due_at": draft.when.utc, "local_time": draft.when.local,
            "late_after": draft.when.utc + grace}


def _update(post: Post, fields: Mapping[str, Any], now: datetime) -> None:
    for name, value in fields.items():
        setattr(post, name, value)
    post.updated_at = now


def _void_approval(post: Post) -> None:
    post.approved_by = post.approved_at = post.approved_hash = None


STALL = timedelta(minutes=1)
"""How long a due post, a lapsed claim or a due lookup may wait before ``status`` says nothing is moving it (a
runner moves each within seconds)."""


def _stalled(now: datetime) -> Any:
    """Posts a running runner would have moved by now (see :attr:`Status.stalled`)."""
    waited = now - STALL
    return or_(
        and_(P.state == PostState.APPROVED, P.due_at < waited, or_(P.not_before.is_(None), P.not_before < waited),
             ~held(now)),
        and_(P.state == PostState.PUBLISHING, P.lease_until < waited),
        and_(P.state == PostState.UNKNOWN, or_(P.claimed_by.is_(None), P.lease_until < waited),
             or_(P.not_before.is_(None), P.not_before < waited)),
    )


def _approval_voided() -> Any:
    """True for a draft that was approved, then changed (its approval voided): it waits to be approved again."""
    return and_(P.state == PostState.DRAFT, exists().where(
        A.campaign_id == P.campaign_id, A.post_key == P.key, A.action == "content_changed",
        A.details.like('%"approval_voided_of": "%')))


def _local(moment: datetime, zone: str) -> str:
    """*moment* as the campaign's people read it: ``Mon 15 Mar 2027 09:00 GMT``."""
    return f"{as_utc(moment).astimezone(ZoneInfo(zone)):%a %d %b %Y %H:%M %Z}"


def _per_post(selection: Selection) -> bool:
    """True when *selection* names posts by key and nothing else: the only way to approve a rejected post."""
    return bool(selection.posts) and not (selection.day or selection.platform or selection.account
                                          or selection.everything)


def _names_of(key: str) -> set[str]:
    """What a post key answers to when selecting posts: the key itself, and each part of it that ends just
    before a ``/`` or an ``@`` (``launch`` and ``launch@2027-03-15`` both name ``launch@2027-03-15/lancs-x``)."""
    return {key, *(key[:index] for index, char in enumerate(key) if char in "/@")}



