"""Engagement numbers that grow over time, the same way every time.

Each number of a post is ``peak × (1 − e^(−age / 6 h))``: it starts at 0 when the post goes out,
grows quickly for a few hours and levels off, like real engagement. The peak is the platform's
typical audience times a factor between 0.5 and 1.5 taken from a hash of the seed, the platform, the
post id and the measure, so two sandboxes with the same seed and the same clock report exactly the
same numbers, and no number ever goes down.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

GROWTH_HOURS = 6.0

AUDIENCE = {"x": 4000, "facebook": 6000, "mastodon": 900, "bluesky": 1200, "linkedin": 3000, "instagram": 5000}
"""Typical views of a post when growth has levelled off."""

RATES = {
    "views": 1.0,
    "reach": 0.7,
    "likes": 0.03,
    "reposts": 0.008,
    "replies": 0.004,
    "quotes": 0.002,
    "bookmarks": 0.003,
    "link_clicks": 0.012,
    "profile_clicks": 0.006,
    "photo_views": 0.02,
    "other_clicks": 0.01,
    "love": 0.004,
    "wow": 0.001,
}
"""Each measure as a share of views."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engagement:
    """Deterministic engagement from a seed and a clock."""

    def __init__(self, seed: int = 0, clock: Clock = utc_now) -> None:
        self.seed = seed
        self.clock = clock

    def factor(self, platform: str, post_id: str, measure: str) -> float:
        """A number in [0.5, 1.5) fixed by the seed, the post and the measure."""
        digest = hashlib.sha256(f"{self.seed}:{platform}:{post_id}:{measure}".encode()).digest()
        return 0.5 + int.from_bytes(digest[:8], "big") / 2**64

    def growth(self, created_at: datetime, now: datetime | None = None) -> float:
        """How far a post created at *created_at* has grown, from 0 (just out) towards 1."""
        now = now or self.clock()
        hours = max(0.0, (now - created_at).total_seconds() / 3600)
        return 1 - math.exp(-hours / GROWTH_HOURS)

    def counts(self, platform: str, post_id: str, created_at: datetime) -> dict[str, int]:
        """Every measure of :data:`RATES` for one post, now."""
        grown = self.growth(created_at)
        views = AUDIENCE.get(platform, 1000) * self.factor(platform, post_id, "views") * grown
        return {
            measure: int(
                views if measure == "views" else views * rate * self.factor(platform, post_id, measure)
            )
            for measure, rate in RATES.items()
        }
