"""Property-based proof of the store's safety rules, over random sequences of everything people and runners do.

A hypothesis state machine edits a plan (texts, times, which entries are in it), schedules it, approves
(sometimes from a stale preview), rejects, pauses and resumes (the whole campaign or one account, with or
without an end time), moves the clock, claims (one post, or whatever is due) as several runners, and plays
the runners' side: the last pause check before sending (``arm``), then published, given back, failed or
unknown, and reconciliation of unknown posts. After every step the invariants are checked against the
database itself — the posts table, the holds and the audit trail replayed from the start — never against a
model kept by the test:

- a post is claimed only while it is approved with ``approved_hash`` equal to its current content hash;
- no post is claimed twice: a second claim needs the post back in approved in between — given back unsent
  (``release``), found absent by a lookup that succeeded (``settle_unknown``), or retried by a person — and
  ``attempts`` always equals the claims on record, but for those whose runner died holding them; an ``unknown`` post never goes back to approved without a
  lookup;
- no post is claimed while a hold covering it (its campaign, or its account) is active, and ``arm`` refuses
  a claimed post that a hold has covered since;
- published (and in-flight) posts are never changed by ``schedule``; nothing at all follows ``published``;
- every change to a post is on the record, filed under its campaign, and is a transition the life cycle
  allows: replaying the audit trail gives each post's current state and content;
- a refused command (stale preview, nothing to approve, nothing paused, a plan with errors, someone else's
  claim) changes nothing.

The claim rule is also checked from the other side: ``claim`` and ``claim_due`` must take exactly what the
rule, evaluated on the rows just read, allows (``claim_due``: up to its limit, earliest first).

Each example uses a SQLite file in its own temporary folder (hypothesis runs many examples per test
function, so pytest's ``tmp_path`` cannot be used).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select
from sqlmodel import SQLModel

from campaign.exceptions import StoreError
from campaign.render import render_plan
from campaign.store import Selection, Store
from campaign.store.models import AccountRow, AuditEntry, CampaignRow, Hold, Post, PostState
from tests.plan_fixtures import BASE_PLAN, write_campaign
from tests.store_fixtures import CAMPAIGN_ID, A, aware

ACCOUNTS = ("lancs-x", "lancs-facebook")
ENTRIES = ("launch", "thread", "helpline", "signs")
"""``thread`` replies to ``launch``; the others stand alone."""
BASE_MINUTE = {"launch": 0, "thread": 5, "helpline": 10, "signs": 20}
RUNNERS = ("runner-a", "runner-b", "runner-c")
RUNNER_DIED = "the runner that claimed it stopped before sending it", "the runner sending it stopped before"
"""How the audit trail gives the reason when a claim ran out because its runner died (``expire_leases``)."""
START = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
"""Europe/London is on GMT until 28 March 2027: local wall time equals UTC here."""
PEOPLE = ("author@lancs", "approver@lancs", "inspector@lancs")
PLAN_BASE = BASE_PLAN.replace("  timezone: Europe/London\n", "  timezone: Europe/London\n  grace: 20m\n", 1)
"""A grace window of 20 minutes: posts stay claimable for a few clock moves."""

APPROVED_IN_BULK = {PostState.DRAFT}
APPROVED_BY_OWN_KEY = {PostState.DRAFT, PostState.REJECTED}
"""A rejected post is approved again only when named by its own key, never by an entry, an account or --all."""
REJECTABLE = {PostState.DRAFT, PostState.APPROVED, PostState.MISSED, PostState.FAILED}
TABLES = (CampaignRow, AccountRow, Post, Hold, AuditEntry)


def key_for(pick: int) -> str:
    """One of the 8 post keys (4 entries × 2 accounts)."""
    return f"{ENTRIES[pick % len(ENTRIES)]}/{ACCOUNTS[pick // len(ENTRIES) % len(ACCOUNTS)]}"


def plan_yaml(versions: dict[str, int], offsets: dict[str, int], included: dict[str, bool]) -> str:
    lines: list[str] = []
    for entry in ENTRIES:
        if not included[entry]:
            continue
        minute = BASE_MINUTE[entry] + offsets[entry]
        lines += [
            f"- id: {entry}",
            f"  accounts: [{', '.join(ACCOUNTS)}]",
            f"  at: '2027-03-15 {9 + minute // 60:02d}:{minute % 60:02d}'",
            f"  text: '{entry.title()}, version {versions[entry]} - call {{{{ phones.police }}}}.'",
        ]
        if entry == "thread":
            lines.append("  reply_to: launch")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Replayed:
    """One post's life, as the audit trail tells it."""

    state: str
    content: str | None
    approved: str | None
    claims: int
    """Each needs the post approved again since the one before: by a person, or given back unsent."""


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="campaign-props-"))
        self.store = Store.open(f"sqlite:///{self.root / 'campaign.db'}")
        self.now = START
        self.versions = dict.fromkeys(ENTRIES, 0)
        self.offsets = dict.fromkeys(ENTRIES, 0)
        self.included = dict.fromkeys(ENTRIES, True)
        self.hashes_seen: dict[str, set[str]] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading the database ------------------------------------------------------------------------------

    def posts(self) -> dict[str, Post]:
        with self.store.session() as session:
            return {p.key: p for p in session.scalars(select(Post))}

    def holds(self) -> dict[int, Hold]:
        with self.store.session() as session:
            return {h.id: h for h in session.scalars(select(Hold)) if h.id is not None}

    def trail(self) -> list[AuditEntry]:
        with self.store.session() as session:
            return list(session.scalars(select(AuditEntry).order_by(A.id)))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to prove that a refused command changed nothing."""
        tables = [SQLModel.metadata.tables[str(model.__tablename__)] for model in TABLES]
        with self.store.engine.connect() as connection:
            return {table.name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
                    for table in tables}

    def refused(self, action: Any, why: str) -> StoreError:
        """Run *action*, which must raise StoreError, and prove it changed nothing."""
        before = self.snapshot()
        try:
            action()
        except StoreError as error:
            assert self.snapshot() == before, f"{why}: refused, but the database changed"
            event(f"refused: {why}")
            return error
        raise AssertionError(f"{why}: expected a StoreError, and the command went through")

    def remember_hashes(self) -> None:
        for key, post in self.posts().items():
            self.hashes_seen.setdefault(key, set()).add(post.content_hash)

    def held(self, post: Post, holds: dict[int, Hold]) -> bool:
        """Whether an active hold covers *post* at ``self.now``: its campaign's, or its account's."""
        return any(h.released_at is None and (h.until is None or aware(h.until) > self.now)
                   and h.campaign_id in (None, post.campaign_id) and h.account in (None, post.account)
                   for h in holds.values())

    def claimable(self, post: Post, posts: dict[str, Post], holds: dict[int, Hold],
                  ignore_holds: bool = False) -> bool:
        """The claim rule, written out from the issue: what a claim at ``self.now`` must accept."""
        held = not ignore_holds and self.held(post, holds)
        parent_out = post.reply_to is None or (
            post.reply_to in posts and posts[post.reply_to].state == PostState.PUBLISHED
        )
        backing_off = post.not_before is not None and aware(post.not_before) > self.now
        return (post.state == PostState.APPROVED and post.approved_hash == post.content_hash
                and aware(post.due_at) <= self.now <= aware(post.late_after) and not held and parent_out
                and not backing_off)

    # -- editing the plan and scheduling it -------------------------------------------------------------------

    @initialize(approve_all=st.booleans())
    def first_schedule(self, approve_all: bool) -> None:
        """Start from the plan scheduled, and (half the time) all of it approved, so that claims happen early."""
        self.schedule()
        if approve_all:
            self.approve("all", 0, "fresh")

    @rule(entry=st.sampled_from(ENTRIES), change=st.sampled_from(["text", "time", "in or out"]),
          value=st.integers(0, 3), one_already_out=st.booleans(), then_schedule=st.booleans())
    def edit(self, entry: str, change: str, value: int, one_already_out: bool, then_schedule: bool) -> None:
        """Edit the plan — new words (texts come back: versions cycle), a new time, or add/remove — often of
        an entry with a post already out or on its way, which ``schedule`` must then leave alone; and often
        schedule it straight away."""
        out = sorted({p.entry for p in self.posts().values()
                      if p.state in (PostState.PUBLISHED, PostState.PUBLISHING, PostState.UNKNOWN)})
        if one_already_out and out:
            entry = out[value % len(out)]
        if change == "text":
            self.versions[entry] = (self.versions[entry] + 1 + value) % 5
        elif change == "time":
            self.offsets[entry] = (0, 5, 10, 20)[value]
        else:
            self.included[entry] = not self.included[entry]
        if then_schedule:
            self.schedule()

    @rule()
    def schedule(self) -> None:
        plan_path = write_campaign(self.root, plan_yaml(self.versions, self.offsets, self.included), base=PLAN_BASE)
        rendered = render_plan(plan_path)
        if not rendered.ok:
            self.refused(lambda: self.store.schedule(rendered, PEOPLE[0], now=self.now), "plan with errors")
            return
        before = self.posts()
        report = self.store.schedule(rendered, PEOPLE[0], now=self.now)
        after = self.posts()
        for key, post in before.items():
            if post.state == PostState.PUBLISHED or post.state in (PostState.PUBLISHING, PostState.UNKNOWN):
                assert after[key].model_dump() == post.model_dump(), f"schedule changed {post.state} {key}"
        assert set(after) >= set(before), "schedule deleted a post"
        self.remember_hashes()
        event(f"schedule: {'changes' if report.changes else 'no change'}")

    # -- sign-off --------------------------------------------------------------------------------------------

    @rule(target_kind=st.sampled_from(["post", "entry", "account", "all"]), pick=st.integers(0, 7),
          preview=st.sampled_from(["none", "fresh", "fresh-prefix", "stale"]))
    def approve(self, target_kind: str, pick: int, preview: str) -> None:
        posts = self.posts()
        if target_kind == "post":
            wanted = key_for(pick)
            selection = Selection(campaign=CAMPAIGN_ID, posts=(wanted,))
            chosen = [p for p in posts.values() if p.key == wanted]
        elif target_kind == "entry":
            wanted = ENTRIES[pick % len(ENTRIES)]
            selection = Selection(campaign=CAMPAIGN_ID, posts=(wanted,))
            chosen = [p for p in posts.values() if p.key.startswith(f"{wanted}/")]
        elif target_kind == "account":
            selection = Selection(campaign=CAMPAIGN_ID, account=ACCOUNTS[pick % 2])
            chosen = [p for p in posts.values() if p.account == ACCOUNTS[pick % 2]]
        else:
            selection = Selection(campaign=CAMPAIGN_ID, everything=True)
            chosen = list(posts.values())
        allowed = APPROVED_BY_OWN_KEY if target_kind == "post" else APPROVED_IN_BULK
        approvable = sorted((p for p in chosen if p.state in allowed), key=lambda p: p.key)
        previewed: dict[str, str] | None = None
        if preview != "none":
            previewed = {p.key: p.content_hash[:12] if preview == "fresh-prefix" else p.content_hash
                         for p in approvable}
        if preview == "stale" and approvable:
            victim = approvable[pick % len(approvable)]
            older = sorted(self.hashes_seen.get(victim.key, set()) - {victim.content_hash})
            assert previewed is not None
            previewed[victim.key] = older[0] if older else hashlib.sha256(b"what the approver saw").hexdigest()
            error = self.refused(lambda: self.store.approve(selection, PEOPLE[1], previewed, now=self.now),
                                 "approval from a stale preview")
            assert "changed since it was previewed" in str(error)
            return
        if not approvable:
            self.refused(lambda: self.store.approve(selection, PEOPLE[1], previewed, now=self.now),
                         "nothing to approve")
            return
        approved = self.store.approve(selection, PEOPLE[1], previewed, now=self.now)
        assert sorted(p.key for p in approved) == [p.key for p in approvable]
        after = self.posts()
        for post in approvable:
            current = after[post.key]
            assert current.state == PostState.APPROVED and current.approved_by == PEOPLE[1]
            assert current.approved_hash == current.content_hash == post.content_hash
        event("approved")

    @rule(pick=st.integers(0, 7))
    def reject(self, pick: int) -> None:
        key = key_for(pick)
        post = self.posts().get(key)
        if post is None or post.state not in REJECTABLE:
            self.refused(lambda: self.store.reject(key, PEOPLE[1], "wrong number", CAMPAIGN_ID, now=self.now),
                         "reject what cannot be rejected")
            return
        self.store.reject(key, PEOPLE[1], "wrong number", CAMPAIGN_ID, now=self.now)
        current = self.posts()[key]
        assert current.state == PostState.REJECTED and current.approved_hash is None
        event("rejected")

    # -- pause and resume --------------------------------------------------------------------------------------

    @rule(account=st.sampled_from([None, *ACCOUNTS]), minutes=st.sampled_from([None, 3, 10]))
    def pause(self, account: str | None, minutes: int | None) -> None:
        until = self.now + timedelta(minutes=minutes) if minutes else None
        hold = self.store.pause("incident in progress", PEOPLE[2], CAMPAIGN_ID, account, until, now=self.now)
        stored = self.holds()[hold.id or 0]
        assert stored.account == account and stored.released_at is None
        event(f"paused {'an account' if account else 'the campaign'}")

    @rule(account=st.sampled_from([None, *ACCOUNTS]))
    def resume(self, account: str | None) -> None:
        active = [h for h in self.holds().values()
                  if h.released_at is None and (h.until is None or aware(h.until) > self.now)
                  and (account is None or h.account == account)]
        if not active:
            self.refused(lambda: self.store.resume(PEOPLE[2], CAMPAIGN_ID, account, now=self.now),
                         "resume with nothing paused")
            return
        released, _missed = self.store.resume(PEOPLE[2], CAMPAIGN_ID, account, now=self.now)
        assert sorted(h.id or 0 for h in released) == sorted(h.id or 0 for h in active)
        assert all(self.holds()[h.id or 0].released_at is not None for h in active)
        event("resumed")

    # -- time, claims and what runners do with a claimed post ---------------------------------------------------

    @rule(minutes=st.integers(1, 8), housekeeping=st.booleans())
    def advance_clock(self, minutes: int, housekeeping: bool) -> None:
        """Time passes; a runner's housekeeping then marks posts past their grace window missed, and posts
        whose runner died mid-publish (lease run out) unknown."""
        self.now += timedelta(minutes=minutes)
        if housekeeping:
            self.store.mark_missed(self.now)
            self.store.expire_leases(self.now)

    @rule(pick=st.integers(0, 7), runner=st.sampled_from(RUNNERS),
          aim=st.sampled_from(["any post", "an approved post", "a claimable post", "a held post"]))
    def claim(self, pick: int, runner: str, aim: str) -> None:
        """Claim one post by id: any of them, an approved one, one the rule says is claimable now, or one that
        would be but for a hold (so that wins and every kind of refusal are frequent)."""
        posts = self.posts()
        holds = self.holds()
        if aim == "any post":
            candidates = sorted(posts)
        elif aim == "an approved post":
            candidates = sorted(k for k, p in posts.items() if p.state == PostState.APPROVED)
        elif aim == "a claimable post":
            candidates = sorted(k for k, p in posts.items() if self.claimable(p, posts, holds))
        else:
            candidates = sorted(k for k, p in posts.items() if not self.claimable(p, posts, holds)
                                and self.claimable(p, posts, holds, ignore_holds=True))
        if not candidates:
            return
        key = candidates[pick % len(candidates)]
        expected = self.claimable(posts[key], posts, holds)
        before = self.snapshot()
        assert self.store.claim(posts[key].id or 0, runner, now=self.now) is expected
        if expected:
            assert self.posts()[key].claimed_by == runner
        else:
            assert self.snapshot() == before, "a refused claim changed the database"
        event(f"claim {aim}: {'won' if expected else 'refused'}")

    @rule(runner=st.sampled_from(RUNNERS), limit=st.integers(1, 4))
    def claim_due(self, runner: str, limit: int) -> None:
        posts = self.posts()
        holds = self.holds()
        due = {key for key, post in posts.items() if self.claimable(post, posts, holds)}
        claimed = {p.key for p in self.store.claim_due(runner, now=self.now, limit=limit)}
        assert claimed <= due, f"claimed what was not claimable: {sorted(claimed - due)}"
        assert len(claimed) == min(limit, len(due))
        if claimed and due - claimed:  # earliest first
            assert max(aware(posts[k].due_at) for k in claimed) <= min(aware(posts[k].due_at) for k in due - claimed)
        event(f"claim_due: {min(len(claimed), 2)}{'+' if len(claimed) > 1 else ''} claimed")

    def in_state(self, state: PostState) -> list[Post]:
        return sorted((p for p in self.posts().values() if p.state == state), key=lambda p: p.key)

    @precondition(lambda self: bool(self.in_state(PostState.PUBLISHING)))
    @rule(pick=st.integers(0, 7), outcome=st.sampled_from(["published", "released", "failed", "unknown"]),
          a_held_one=st.booleans())
    def finish(self, pick: int, outcome: str, a_held_one: bool) -> None:
        """A runner with a claimed post (often one paused since it was claimed): the last pause check
        (``arm``), then the platform's answer.

        ``arm`` must refuse while a hold covers the post (the runner then gives the post back), and refuse a
        runner that does not hold the claim; the result of someone else's claim is refused too."""
        publishing = self.in_state(PostState.PUBLISHING)
        holds = self.holds()
        paused_since = [p for p in publishing if self.held(p, holds)]
        choice = paused_since if a_held_one and paused_since else publishing
        post = choice[pick % len(choice)]
        assert post.id is not None and post.claimed_by is not None
        post_id, owner = post.id, post.claimed_by
        stranger = next(r for r in RUNNERS if r != owner)
        before = self.snapshot()
        assert self.store.arm(post_id, stranger, now=self.now) is None
        assert self.snapshot() == before, "a refused arm changed the database"
        self.refused(lambda: self.store.record_published(post_id, stranger, "1", "https://x.test/1", now=self.now),
                     "result recorded by another runner")
        held = self.held(post, holds)
        armed = self.store.arm(post_id, owner, now=self.now) is not None
        assert armed is not held, f"arm said {armed} while {'held' if held else 'not held'}"
        if not armed or outcome == "released":
            self.store.release(post_id, owner, "paused before it was sent", now=self.now)
            expected = PostState.APPROVED
        elif outcome == "published":
            self.store.record_published(post_id, owner, f"remote-{post_id}", f"https://x.test/{post_id}", now=self.now)
            expected = PostState.PUBLISHED
        elif outcome == "failed":
            self.store.record_failed(post_id, owner, "403: duplicate content", now=self.now)
            expected = PostState.FAILED
        else:
            self.store.record_unknown(post_id, owner, "timed out after sending", now=self.now)
            expected = PostState.UNKNOWN
        assert self.posts()[post.key].state == expected
        event(f"finish: {expected}")

    @precondition(lambda self: bool(self.in_state(PostState.UNKNOWN)))
    @rule(pick=st.integers(0, 7), runner=st.sampled_from(RUNNERS),
          result=st.sampled_from(["found", "absent", "absent after a duplicate refusal", "lookup failed"]))
    def look_up(self, pick: int, runner: str, result: str) -> None:
        """A runner looks an ``unknown`` post up (if nobody else holds it and its next lookup is due): found, it
        is published at the platform's time; absent, it goes back to approved while in time (the one legitimate
        second claim), else missed — or failed after a duplicate refusal; a failed lookup changes nothing but
        the time of the next one."""
        post = self.in_state(PostState.UNKNOWN)[pick % len(self.in_state(PostState.UNKNOWN))]
        assert post.id is not None
        free = post.claimed_by is None or post.lease_until is None or aware(post.lease_until) < self.now
        due = post.not_before is None or aware(post.not_before) <= self.now
        before = self.snapshot()
        claimed = self.store.claim_lookup(post.id, runner, self.now)
        assert (claimed is not None) == (free and due), (post.claimed_by, post.lease_until, post.not_before)
        if claimed is None:
            assert self.snapshot() == before, "a refused lookup claim changed the database"
            return
        if result == "found":
            assert self.store.adopt(post.id, runner, f"remote-{post.id}", "https://x.test/found", self.now, self.now)
            expected = PostState.PUBLISHED
        elif result == "lookup failed":
            self.store.lookup_failed(post.id, runner, "the platform did not answer", self.now + timedelta(minutes=1),
                                     self.now)
            expected = PostState.UNKNOWN
        else:
            if result != "absent":
                expected = PostState.FAILED
            elif self.now <= aware(post.late_after):
                expected = PostState.APPROVED
            else:
                expected = PostState.MISSED
            self.store.settle_unknown(post.id, runner, expected, "not on the platform", self.now)
        assert self.posts()[post.key].state == expected
        event(f"looked up: {expected}")

    @rule(pick=st.integers(0, 7), new_time=st.booleans())
    def retry(self, pick: int, new_time: bool) -> None:
        """A person puts a failed or missed post back in the queue: at once (only within its grace window), or at
        a new time. Anything else is refused and changes nothing."""
        key = key_for(pick)
        post = self.posts().get(key)
        at = self.now + timedelta(minutes=5) if new_time else None
        allowed = (post is not None and post.state in (PostState.FAILED, PostState.MISSED)
                   and post.approved_hash == post.content_hash and post.approved_by is not None
                   and (new_time or self.now <= aware(post.late_after)))
        selection = Selection(campaign=CAMPAIGN_ID, posts=(key,))
        if post is None or not allowed:
            self.refused(lambda: self.store.retry(selection, PEOPLE[2], at, now=self.now), "retry not allowed")
            return
        self.store.retry(selection, PEOPLE[2], at, now=self.now)
        current = self.posts()[key]
        assert current.state == PostState.APPROVED
        if at is not None:
            assert aware(current.due_at) == at and current.local_time == at.replace(tzinfo=None)
        event(f"retried {'at a new time' if new_time else 'now'}")

    # -- invariants, from the database -------------------------------------------------------------------------

    @invariant()
    def the_audit_trail_explains_every_post_and_every_claim_was_allowed(self) -> None:
        posts = self.posts()
        replayed = replay(self.trail(), posts, self.holds())
        assert set(replayed) == set(posts), "a post without an audit trail, or a trail without a post"
        for key, post in posts.items():
            life = replayed[key]
            assert life.state == post.state, f"{key}: the table says {post.state}, the trail says {life.state}"
            assert life.content == post.content_hash, f"{key}: its content changed off the record"
            assert post.attempts == life.claims, f"{key}: {post.attempts} attempts, {life.claims} claims on record"
            if post.state in (PostState.APPROVED, PostState.PUBLISHING, PostState.PUBLISHED):
                assert post.approved_hash == post.content_hash and post.approved_by is not None, key
            if post.state == PostState.PUBLISHING:
                assert post.claimed_by is not None and post.claimed_at is not None, key


# The life cycle of docs/design.md, as audit actions: the states a post may be in before each, and after it
# (None: the state the entry names in its details). Published is in no "before" set: nothing may follow it.
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "content_changed": (frozenset({"draft", "approved", "rejected", "missed", "failed"}), None),
    "restored": (frozenset({"cancelled"}), PostState.DRAFT),
    "cancelled": (frozenset({"draft", "approved", "rejected", "missed", "failed"}), PostState.CANCELLED),
    "rescheduled": (frozenset({"draft", "approved", "rejected", "missed", "failed"}), None),
    "approved": (frozenset({"draft", "rejected"}), PostState.APPROVED),
    "retried": (frozenset({"failed", "missed"}), PostState.APPROVED),
    "rejected": (frozenset({"draft", "approved", "missed", "failed"}), PostState.REJECTED),
    "missed": (frozenset({"approved"}), PostState.MISSED),
    "claimed": (frozenset({"approved"}), PostState.PUBLISHING),
    "published": (frozenset({"publishing"}), PostState.PUBLISHED),
    "released": (frozenset({"publishing"}), PostState.APPROVED),
    "failed": (frozenset({"publishing"}), PostState.FAILED),
    "unknown": (frozenset({"publishing"}), PostState.UNKNOWN),
    "reconciled": (frozenset({"unknown"}), None),
    "lookup_failed": (frozenset({"unknown"}), PostState.UNKNOWN),
}


def replay(trail: list[AuditEntry], posts: dict[str, Post], holds: dict[int, Hold]) -> dict[str, Replayed]:
    """Replay the audit trail, oldest first: every transition must be one the life cycle allows, and every
    claim must find the post approved for its current content, not claimed since, and under no active hold."""
    lives: dict[str, Replayed] = {}
    active: set[int] = set()
    for entry in trail:
        details = json.loads(entry.details)
        if entry.action == "paused":
            active.add(details["hold"])
            continue
        if entry.action == "resumed":
            active.discard(details["hold"])
            continue
        if entry.action == "schedule":
            continue
        key = entry.post_key
        assert key is not None and key in posts, f"audit entry {entry.id} ({entry.action}) names no post"
        post = posts[key]
        assert entry.campaign_id == post.campaign_id, (
            f"audit entry {entry.id} ({entry.action} {key}) is filed under campaign {entry.campaign_id!r}, "
            f"not {post.campaign_id!r}: `campaign audit --campaign` and the records bundle would leave it out")
        life = lives.get(key)
        if entry.action == "added":
            assert life is None, f"{key} was added twice"
            lives[key] = Replayed(PostState.DRAFT, details["content_hash"], None, 0)
            continue
        assert life is not None, f"{key}: {entry.action} before it was added"
        if entry.action not in TRANSITIONS:
            raise AssertionError(f"unknown audit action {entry.action!r}: teach this replay what it means")
        allowed, target = TRANSITIONS[entry.action]
        assert life.state in allowed, f"{key}: {entry.action} while {life.state} (entry {entry.id})"
        state = target or details.get("state", life.state)
        content, approved, claims = life.content, life.approved, life.claims
        if entry.action in ("content_changed", "restored"):
            content, approved = details["content_hash"], None
            if entry.action == "content_changed":
                expected = PostState.REJECTED if life.state == PostState.REJECTED else PostState.DRAFT
                assert state == expected, f"{key}: a change of words must leave a rejection standing (entry {entry.id})"
        elif entry.action == "approved":
            assert details["content_hash"] == content, f"{key}: approved a hash that is not its content"
            assert (life.state == PostState.REJECTED) == ("reverses_rejection" in details), \
                f"{key}: an approval after a rejection must say it reverses it, and only then (entry {entry.id})"
            approved = content
        elif entry.action == "rejected":
            approved = None
        elif entry.action == "claimed":
            assert approved == content, f"{key} was claimed without an approval of its current content"
            at = aware(entry.at)
            covering = [h for h in sorted(active) if holds[h].campaign_id in (None, post.campaign_id)
                        and holds[h].account in (None, post.account)
                        and (holds[h].until is None or aware(holds[h].until) > at)]  # type: ignore[arg-type]
            assert not covering, f"{key} was claimed at {at} under hold(s) {covering}"
            claims += 1
        elif entry.action in ("released", "unknown") and str(details.get("reason", "")).startswith(RUNNER_DIED):
            claims -= 1  # a dead runner's claim is not counted: the platform did nothing wrong (expire_leases)
        if state == PostState.APPROVED:
            assert approved == content, f"{key}: back to approved ({entry.action}) without an approval of its content"
        lives[key] = Replayed(state, content, approved, claims)
    return lives


StoreMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    # No "explain" phase: on a failure it re-ran each step's variations for minutes; the shrunk steps suffice.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreRules = StoreMachine.TestCase
TestStoreRules.__doc__ = (
    "Random sequences of edit / schedule / approve (fresh and stale previews) / reject / pause / resume / clock / "
    "claim / claim_due / arm and publish, give back, fail or lose / look up / retry never claim a post that is not "
    "approved for its current content, never claim one twice or under an active hold, never touch a published "
    "post, keep the audit trail a complete and allowed life cycle, and every refused command changes nothing."
)
