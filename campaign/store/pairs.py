"""Posts published as pairs (the same post in Welsh and English, on partner accounts: campaign/plan/bilingual.py)
as the store sees them: the post in another language a post goes with (``Post.follows``, both ways), and the
accounts paired with an account. A pair is one sign-off: :class:`campaign.store.Store` approves, rejects,
retries and pauses its posts together through these."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlmodel import Session

from campaign.exceptions import StoreError
from campaign.problems import one_line
from campaign.store.models import Post, PostState
from campaign.store.sql import P


class Pairs:
    """The pairs half of :class:`campaign.store.Store` (which mixes it in)."""

    def read_session(self) -> Session:
        raise NotImplementedError

    def partners(self, posts: Sequence[Post]) -> list[Post]:
        """The posts paired with *posts* (the same post in another language, on the partner account: see
        ``Post.follows``) that are not among them.

        One query for the campaign's paired posts (none in a plan in one language), matched here: a bulk approval
        of 10,000 posts binds no list of 10,000 keys."""
        if not posts:
            return []
        keys = {p.key for p in posts}
        leads = {p.follows for p in posts if p.follows}
        campaign = posts[0].campaign_id
        followed = select(P.follows).where(P.campaign_id == campaign, P.follows.is_not(None))
        with self.read_session() as session:
            paired = session.scalars(select(Post).where(
                P.campaign_id == campaign, or_(P.follows.is_not(None), P.key.in_(followed))))
            return [p for p in paired if p.key not in keys and (p.key in leads or p.follows in keys)]

    def pair_keys(self, post: Post) -> list[str]:
        """The keys of the posts *post* is paired with, the plan's first language first."""
        return [p.key for p in sorted(self.partners([post]), key=lambda p: p.follows is not None)]

    def _partners_to_approve(self, posts: Sequence[Post]) -> list[Post]:
        """The drafts paired with *posts*, approved with them: a pair is one sign-off. A partner that was
        rejected is never approved by being paired: the approval is refused, saying so."""
        partners = self.partners(posts)
        for partner in partners:
            if partner.state == PostState.REJECTED:
                paired = next(p.key for p in posts if partner.key == p.follows or partner.follows == p.key)
                raise StoreError(f"{paired} is paired with {partner.key}, which was rejected"
                                 f"{f' ({one_line(partner.last_error)})' if partner.last_error else ''}; a pair is "
                                 f"approved together: approve both by their own keys (`campaign approve {paired} "
                                 f"{partner.key}`, or on the desk, the pair's page), or neither — nothing was approved")
        return [p for p in partners if p.state == PostState.DRAFT]

    def paired_accounts(self, campaign_id: str, account: str) -> list[str]:
        """The accounts paired with *account*: those its posts follow, or that follow its posts."""
        lead = Post.__table__.alias("lead")  # type: ignore[attr-defined]
        with self.read_session() as session:
            pairs = session.execute(select(P.account, lead.c.account).distinct().where(
                P.campaign_id == campaign_id, lead.c.campaign_id == campaign_id, lead.c.key == P.follows,
                or_(P.account == account, lead.c.account == account)))
            return sorted({name for pair in pairs for name in pair} - {account})
