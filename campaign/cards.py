"""One post as a card: the neutral view of a post that a person reads and signs off.

A :class:`Card` is made from a rendered draft (:meth:`Card.from_draft`) or from a post in the store
(:meth:`Card.from_post`), and drawn by the macro in ``templates/card.html.j2``, so the HTML preview and
anything else that shows posts (a web desk) show them the same way. The constructors read no files: an
image's width and height are known only to whoever reads the image (:meth:`Card.with_image_sizes`), and how
an image reaches the page is the caller's choice (:class:`ShownImage`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from campaign import counting, twitter_text
from campaign.plan.languages import tags_of
from campaign.platforms import PLATFORMS
from campaign.problems import Problem, Severity
from campaign.times import ScheduledTime, as_utc

if TYPE_CHECKING:
    from campaign.render import Draft
    from campaign.store.models import Post

REPLY_EXCERPT = 120
"""How much of the parent's words a reply's card quotes, in characters."""


@dataclass(frozen=True)
class CardImage:
    id: str
    """What the image is known by: the SHA-256 of its bytes."""
    mime_type: str
    alt: str
    path: Path | None = None
    """Where its bytes are, for whoever shows it (never printed on the card)."""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class CardProblem:
    severity: Severity
    message: str
    fix: str


@dataclass(frozen=True)
class ShownImage:
    """How a page shows one image of a card: *href* is a URL (drawn as ``<img>``), or ``#id``, a definition
    shared by every card on the page that shows the same image (drawn as an SVG ``<use>``; its width and
    height give the shape)."""

    href: str
    width: int | None = None
    height: int | None = None

    @property
    def shared(self) -> bool:
        return self.href.startswith("#")


ImageSource = Callable[[CardImage], ShownImage]


@dataclass(frozen=True)
class Card:
    """One post for one account at one time, as a person signing it off sees it."""

    key: str
    platform: str
    handle: str
    when: ScheduledTime
    """The local time, its zone's abbreviation and the UTC instant."""
    text: str
    language: str
    """The words' language (``cy,en`` for a post in Welsh then English)."""
    images: tuple[CardImage, ...]
    reply_to: str | None
    """The key of the post this one replies to."""
    reply_handle: str | None
    reply_text: str | None
    """The words of the post this one replies to, where they are known."""
    length: int
    limit: int
    byte_length: int
    byte_limit: int | None
    hashtags: tuple[str, ...]
    problems: tuple[CardProblem, ...]
    content_hash: str
    """What an approval is bound to (:func:`campaign.render.content_hash`)."""
    state: str | None = None
    """Where the post is in the store (``draft``, ``approved``…); None for a draft not yet scheduled."""
    without: tuple[tuple[str, str], ...] = ()
    """Each language the post is not written in, with the plan's reason."""
    approved_by: str | None = None

    @classmethod
    def from_draft(cls, draft: Draft, parent: Draft | None) -> Card:
        """The card of a rendered *draft*; *parent* is the draft it replies to, if it replies and that is known."""
        return cls(
            key=draft.key, platform=draft.platform, handle=draft.handle, when=draft.when, text=draft.text,
            language=draft.language,
            images=tuple(CardImage(i.sha256, i.mime_type, i.alt, i.path) for i in draft.images),
            reply_to=draft.reply_to,
            reply_handle=parent.handle if parent is not None else None,
            reply_text=parent.text if parent is not None else None,
            length=draft.length, limit=draft.limit, byte_length=draft.byte_length, byte_limit=draft.byte_limit,
            hashtags=draft.hashtags, problems=tuple(_problem(p) for p in draft.problems),
            content_hash=draft.content_hash, without=draft.without,
        )

    @classmethod
    def from_post(cls, post: Post, parent_text: str | None, problems: Iterable[Problem] = ()) -> Card:
        """The card of a stored *post*; *parent_text* is the words of the post it replies to, if known.

        Counted by the platform's own rule, as a draft is (:func:`campaign.counting.length`). A reply is on the
        same account as its parent (threads never cross accounts), so the parent's handle is the post's own.
        """
        spec = PLATFORMS[post.platform]
        media: list[Mapping[str, Any]] = json.loads(post.media or "[]")
        return cls(
            key=post.key, platform=post.platform, handle=post.handle,
            when=ScheduledTime(as_utc(post.due_at), post.local_time, post.zone), text=post.text,
            language=post.language,
            images=tuple(CardImage(m["sha256"], m["mime_type"], m["alt"], Path(m["path"]) if m.get("path") else None)
                         for m in media),
            reply_to=post.reply_to,
            reply_handle=post.handle if post.reply_to else None,
            reply_text=parent_text if post.reply_to else None,
            length=counting.length(spec, post.text), limit=spec.max_length,
            byte_length=counting.utf8_bytes(post.text), byte_limit=spec.max_bytes,
            hashtags=tuple(twitter_text.extract_hashtags(post.text)), problems=tuple(_problem(p) for p in problems),
            content_hash=post.content_hash, state=str(post.state), approved_by=post.approved_by,
            without=tuple(json.loads(post.without).items()) if post.without else (),
        )

    def with_image_sizes(self, sizes: Mapping[str, tuple[int, int]]) -> Card:
        """This card with the width and height of each image whose id is in *sizes*."""
        images = tuple(replace(i, width=sizes[i.id][0], height=sizes[i.id][1]) if i.id in sizes else i
                       for i in self.images)
        return replace(self, images=images) if images != self.images else self

    @property
    def lang(self) -> str:
        """The words' language as HTML's `lang` takes it: the first, for a post in several."""
        return tags_of(self.language)[0]

    @property
    def label(self) -> str:
        """The platform's name for people."""
        return PLATFORMS[self.platform].label

    @property
    def short_hash(self) -> str:
        """The content hash as an approver quotes it: its first 12 characters."""
        return self.content_hash[:12]

    @property
    def reply_excerpt(self) -> str | None:
        """The start of the parent's words, about :data:`REPLY_EXCERPT` characters, cut between words."""
        if self.reply_text is None:
            return None
        words = " ".join(self.reply_text.split())
        if len(words) <= REPLY_EXCERPT:
            return words
        cut = words[:REPLY_EXCERPT]
        space = cut.rfind(" ")
        return (cut[:space] if space > REPLY_EXCERPT // 2 else cut).rstrip(" ,;:.") + "…"

    @property
    def too_long(self) -> bool:
        return self.length > self.limit

    @property
    def too_many_bytes(self) -> bool:
        return self.byte_limit is not None and self.byte_length > self.byte_limit


def _problem(problem: Problem) -> CardProblem:
    return CardProblem(problem.severity, problem.message, problem.fix)


T = TypeVar("T")

def side_by_side(items: Sequence[T], pairing: Sequence[tuple[str, str | None]]) -> list[list[T]]:
    """*items* in groups, in order: a post published as a pair beside its partner in the plan's first language
    (where both are shown), that one first; every other item alone. *pairing* gives each item's post key and
    the key of the post it follows (``Draft.follows``, ``Post.follows``)."""
    shown = {key for key, _ in pairing}
    followers = {follows: item for item, (_, follows) in zip(items, pairing, strict=True) if follows in shown}
    return [[item, followers[key]] if key in followers else [item]
            for item, (key, follows) in zip(items, pairing, strict=True) if follows not in shown]
