"""What the desk's pages show: each stored post as the HTML preview's card, the week, and a post's warnings.

A post on the desk looks exactly as in ``campaign preview --html``: the same :class:`campaign.cards.Card`,
drawn by the same partial (``campaign/templates/card.html.j2``), with the same styles (read from the preview's
own page, :func:`card_styles`). Its warnings are those of the plan's draft with the same key, when that draft
still has the stored content (:class:`PlanProblems`); its images come from :func:`read_image`, which reads a
stored image only from inside its campaign folder, and only if its bytes are still the ones scheduled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment

from campaign.cards import Card, CardImage, ShownImage
from campaign.exceptions import StoreError
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.preview_html import image_size
from campaign.problems import Problem
from campaign.render import Draft, render_plan
from campaign.store import Store
from campaign.store.models import CampaignRow, Post
from campaign.web.errors import NotFound, log

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The only kinds of file the desk serves as a post's image."""


# -- warnings from the plan ------------------------------------------------------------------------


class PlanProblems:
    """The problems of each stored post, from its campaign's plan rendered again (once per version of the plan
    file and of the campaign's last schedule, per worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drafts: dict[str, tuple[tuple[int, str], dict[str, Draft]]] = {}

    def drafts(self, campaign: CampaignRow) -> dict[str, Draft] | None:
        """The plan's drafts by key; None if the plan cannot be read now."""
        path = campaign.plan_path
        try:
            version = (os.stat(path).st_mtime_ns, str(campaign.updated_at))
        except OSError:
            return None
        with self._lock:
            cached = self._drafts.get(path)
            if cached is not None and cached[0] == version:
                return cached[1]
            try:
                rendered = render_plan(path)
            except Exception:  # noqa: BLE001 - a plan that cannot be rendered costs its warnings, not the page
                log.exception("the plan %s could not be rendered for the desk's warnings", path)
                return None
            drafts = {draft.key: draft for draft in rendered.drafts}
            self._drafts[path] = (version, drafts)
            return drafts

    def problems(self, campaign: CampaignRow, post: Post) -> list[Problem]:
        drafts = self.drafts(campaign)
        if drafts is None:
            return [_note(campaign, post, f"the plan {campaign.plan_path} cannot be read now, so its warnings "
                          "cannot be shown", "check that the plan file is still there")]
        draft = drafts.get(post.key)
        if draft is None or draft.content_hash != post.content_hash:
            return [_note(campaign, post, "the plan has changed since this was scheduled, so the warnings of what "
                          "is stored cannot be shown",
                          "schedule the plan again (`campaign schedule PLAN`) to see the plan's version here")]
        return list(draft.problems)


def _note(campaign: CampaignRow, post: Post, message: str, fix: str) -> Problem:
    return Problem(campaign.plan_path, 0, post.key, message, fix, "warning")


# -- images ----------------------------------------------------------------------------------------


def stored_images(post: Post) -> list[dict[str, Any]]:
    media = json.loads(post.media or "[]")
    return [m for m in media if isinstance(m, dict)]


def read_image(campaign: CampaignRow, post: Post, sha256: str) -> tuple[bytes, str]:
    """The bytes and type of *post*'s image *sha256*, read from inside the campaign folder and only if they are
    still the bytes scheduled; :class:`NotFound` otherwise."""
    entry = next((m for m in stored_images(post) if m.get("sha256") == sha256), None)
    if entry is None or not entry.get("path"):
        raise NotFound(f"{post.key} has no such image")
    if entry.get("mime_type") not in IMAGE_TYPES:
        raise NotFound(f"{post.key}'s image is not a picture the desk shows")
    try:
        data = inside(Path(entry["path"]), campaign_folder(campaign.plan_path)).read_bytes()
    except (OSError, OutsideCampaign, UnusablePath):
        raise NotFound(f"{post.key}'s image is missing, or no longer inside the campaign folder") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NotFound(f"{post.key}'s image file has changed since it was scheduled; schedule the plan again")
    return data, str(entry["mime_type"])


class ImageSizes:
    """Each image's width and height (read once per worker), so a card keeps its shape as it loads."""

    def __init__(self) -> None:
        self._sizes: dict[str, tuple[int, int] | None] = {}

    def of(self, campaign: CampaignRow, post: Post) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for entry in stored_images(post):
            sha = str(entry.get("sha256"))
            if sha not in self._sizes:
                try:
                    self._sizes[sha] = image_size(read_image(campaign, post, sha)[0])
                except NotFound:
                    continue  # not cached: the file may come back
            size = self._sizes[sha]
            if size is not None:
                found[sha] = size
        return found


# -- cards -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A post as a page shows it: the post, its card, and how the card's images reach the page."""

    post: Post
    card: Card

    def image_source(self, image: CardImage) -> ShownImage:
        query = urlencode({"campaign": self.post.campaign_id, "post": self.post.key})
        return ShownImage(f"/media/{image.id}?{query}", image.width, image.height)


def cards(store: Store, campaign: CampaignRow, posts: Sequence[Post], problems: PlanProblems,
          sizes: ImageSizes) -> list[Shown]:
    """Each of *posts* as its card, with its warnings, its images' sizes and its reply parent's words."""
    parents = _parents(store, campaign, posts)
    shown = []
    for post in posts:
        card = Card.from_post(post, parents.get(post.reply_to or ""), problems.problems(campaign, post))
        shown.append(Shown(post, card.with_image_sizes(sizes.of(campaign, post))))
    return shown


def _parents(store: Store, campaign: CampaignRow, posts: Iterable[Post]) -> dict[str, str]:
    wanted = {p.reply_to for p in posts if p.reply_to}
    known = {p.key: p.text for p in posts}
    found = {key: known[key] for key in wanted if key in known}
    for key in wanted - set(found):
        try:
            found[key] = store.post(key, campaign.id).text
        except StoreError:  # a parent gone from the store: the card says "Replying to KEY"
            log.info("the parent %s of a reply is not in the store", key)
    return found


_PAGE_RULES = re.compile(r"^\s*(?:\*|body|main|header|\.summary|\.problems|h1|h2|@media|svg\.images)(?![\w-])")


def card_styles(env: Environment) -> str:
    """The HTML preview's styles for its cards, taken from the preview's own page (``preview.html.j2``), so a
    post on the desk is drawn exactly as there; the page's own layout rules are left out (the ``:root`` colours
    the cards use are kept)."""
    loader = env.loader
    assert loader is not None
    source = loader.get_source(env, "preview.html.j2")[0]
    found = re.search(r"<style>(.*?)</style>", source, flags=re.DOTALL)
    if found is None:
        return ""
    css = re.sub(r"/\*.*?\*/", "", found.group(1), flags=re.DOTALL)
    kept: list[str] = []
    for rule in _rules(css):
        selector = rule.split("{", 1)[0]
        if not _PAGE_RULES.match(selector):
            kept.append(rule.strip())
    return "\n".join(kept) + "\n"


def _rules(css: str) -> Iterable[str]:
    """The top-level rules of *css*, each with its braces (an ``@media`` block whole)."""
    depth, start = 0, 0
    for index, char in enumerate(css):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                yield css[start:index + 1]
                start = index + 1


# -- the week --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: date
    posts: list[Post]


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def default_week(posts: Sequence[Post], zone: str, now: datetime) -> date:
    """The week a desk opens on: this week while the campaign runs, else its first (or last) week."""
    today = now.astimezone(ZoneInfo(zone)).date()
    days = sorted(p.local_time.date() for p in posts)
    if not days or days[0] <= today <= days[-1]:
        return monday_of(today)
    return monday_of(days[0] if today < days[0] else days[-1])


def week(posts: Sequence[Post], monday: date) -> list[Day]:
    by_day: dict[date, list[Post]] = {monday + timedelta(days=n): [] for n in range(7)}
    for post in sorted(posts, key=lambda p: (p.local_time, p.key)):
        if post.local_time.date() in by_day:
            by_day[post.local_time.date()].append(post)
    return [Day(day, items) for day, items in by_day.items()]
