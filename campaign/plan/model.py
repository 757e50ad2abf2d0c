"""The plan's typed model: what a comms officer wrote, checked and resolved into times and files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.times import ScheduledTime

DEFAULT_COLLECT_AFTER = tuple(timedelta(hours=h) for h in (1, 6, 24, 72, 168))
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


@dataclass(frozen=True)
class Phone:
    """A verified phone number; renders as the number itself in templates."""

    key: str
    label: str
    number: str

    def __str__(self) -> str:
        return self.number


@dataclass(frozen=True)
class Link:
    """A verified link; renders as the URL in templates."""

    key: str
    url: str
    label: str

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    zone: str
    starts: date
    ends: date
    hashtags: tuple[str, ...]
    """Display forms, without '#': ``("SeeItShareIt", "ModernSlavery")``."""
    objective: str | None
    audience: str | None
    grace: timedelta
    collect_after: tuple[timedelta, ...]
    """When to collect engagement, after each post is published."""
    templates: Path
    author: str | None
    approver_must_differ: bool
    language: str
    """The posts' language unless a post says otherwise: a standard BCP 47 tag (default ``en-GB``)."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@dataclass(frozen=True)
class Account:
    id: str
    platform: str
    handle: str
    credentials: Mapping[str, str]
    """Credential name -> the name of the environment variable that holds it. Never a secret."""
    api_base: str | None
    line: int


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    start: ScheduledTime
    end: ScheduledTime | None
    location: str | None
    details: str | None
    line: int


@dataclass(frozen=True)
class Image:
    file: Path
    alt: str
    line: int

    @property
    def mime_type(self) -> str:
        return IMAGE_TYPES[self.file.suffix.lower()]


@dataclass(frozen=True)
class Content:
    """What a post says: inline text or a template, its images and its template variables."""

    text: str | None = None
    template: str | None = None
    images: tuple[Image, ...] | None = None
    """None: not set here (a variant then keeps the post's images); () means no images."""
    vars: Mapping[str, Any] = field(default_factory=dict)
    hashtags: bool | None = None
    """Whether the campaign hashtags are added; None: not set here (the default is yes)."""
    line: int = 0
    """Line of the words (`text:` or `template:`), where problems with them are reported."""
    text_starts_below: bool = False
    """The inline text is a block scalar (`text: |`), so its first line is the line after ``line``."""

    def merged(self, variant: Content | None) -> Content:
        if variant is None:
            return self
        replaces_text = variant.text is not None or variant.template is not None
        return Content(
            text=variant.text if replaces_text else self.text,
            template=variant.template if replaces_text else self.template,
            images=self.images if variant.images is None else variant.images,
            vars={**self.vars, **variant.vars},
            hashtags=self.hashtags if variant.hashtags is None else variant.hashtags,
            line=variant.line if replaces_text else self.line,
            text_starts_below=variant.text_starts_below if replaces_text else self.text_starts_below,
        )


@dataclass(frozen=True)
class Occurrence:
    """One time a post goes out: a single post has one, a daily slot one per day."""

    when: ScheduledTime
    suffix: str = ""
    """Added to the post's key for daily slots: ``@2027-03-15``."""


@dataclass(frozen=True)
class PostEntry:
    id: str
    line: int
    accounts: tuple[str, ...]
    content: Content
    variants: Mapping[str, Content]
    occurrences: tuple[Occurrence, ...]
    event: str | None
    reply_to: str | None
    author: str | None
    language: str
    """The language its words are in (BCP 47, standard form): its own `language:`, else the campaign's."""


@dataclass(frozen=True)
class Plan:
    path: Path
    campaign: Campaign
    phones: Mapping[str, Phone]
    links: Mapping[str, Link]
    accounts: Mapping[str, Account]
    events: Mapping[str, Event]
    posts: tuple[PostEntry, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent
