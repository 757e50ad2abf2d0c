"""The plan's typed model: what a comms officer wrote, checked and resolved into times and files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.platforms.media_host import MediaHostSettings
from campaign.problems import shown
from campaign.times import ScheduledTime

DEFAULT_COLLECT_AFTER = tuple(timedelta(hours=h) for h in (1, 6, 24, 72, 168))

# Bounds on what a plan may say (docs/plan-format.md, "Limits"): each keeps a value within what the store,
# the file system and the platforms can take, and far from where Python's dates and numbers overflow.
MAX_ID = 100
"""Characters in an id (campaign, account, event, post): the store keeps ids in 100."""
MAX_FILE_NAME = 255
"""Bytes (UTF-8) in one part of a file or folder name, as file systems allow."""
MAX_PATH = 1024
"""Characters in a file or folder path written in the plan."""
MAX_TEXT = {"name": 300, "handle": 200, "author": 200, "api_base": 500}
"""Characters in a value the store keeps in a column of that size."""
CAMPAIGN_DAYS_WARNING = 31
"""A campaign longer than a month (in days, first and last included) is a warning: is a date wrong?"""
CAMPAIGN_DAYS_MAX = 366
"""A campaign longer than a year is an error: a plan is one campaign, not a calendar."""
GRACE_RANGE = (timedelta(minutes=1), timedelta(hours=24))
"""How late a post may still go out: at least a minute (the runner needs time to send), at most a day."""
COLLECT_AFTER_RANGE = (timedelta(minutes=1), timedelta(days=90))
"""When engagement is collected after publishing: from a minute to 90 days."""
MAX_COLLECT_AFTER = 20
"""How many times engagement is collected per post, at most."""
# Control characters, which no file name written in a plan may hold.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def file_name_problem(value: str) -> str | None:
    """What is wrong with *value* as a file or folder name written in the plan, if anything.

    Checked before the name is used as a path: a part over 255 bytes or a NUL makes the file system
    raise instead of answer.
    """
    if _CONTROL.search(value):
        return f"the name {shown(value)} holds a control character"
    if len(value) > MAX_PATH:
        return f"the name is {len(value):,} characters long; at most {MAX_PATH:,} are allowed"
    for part in re.split(r"[/\\]", value):
        if len(part.encode("utf-8")) > MAX_FILE_NAME:
            return (f"the name {shown(part)} is {len(part.encode('utf-8')):,} bytes long; a file or folder name "
                    f"may be at most {MAX_FILE_NAME}")
    return None
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
    by_language: Mapping[str, str] = field(default_factory=dict)
    """In a plan with languages: the link's version in a language, where it has one (a Welsh page)."""

    def __str__(self) -> str:
        return self.url

    def in_language(self, language: str | None) -> str:
        """The URL words in *language* give: its version in that language, else the link itself."""
        return self.by_language.get(language, self.url) if language is not None else self.url

    @property
    def versions(self) -> tuple[str, ...]:
        """Every URL of the link: itself, and its version in each language."""
        return (self.url, *self.by_language.values())


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
    """The posts' language unless a post says otherwise: a standard BCP 47 tag (default ``en-GB``). In a plan
    with `languages:`, the first of them."""
    languages: tuple[str, ...] = ()
    """The languages every post is written in (`languages: [cy, en]`), the first first; empty in a plan in one
    language. See :mod:`campaign.plan.bilingual`."""
    language_hashtags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each language's campaign hashtags, in a plan with languages (``hashtags`` is then the first's)."""

    @property
    def all_hashtags(self) -> tuple[str, ...]:
        """The campaign's hashtags in every language, each once (its ``hashtags`` in a plan in one language)."""
        if not self.languages:
            return self.hashtags
        return tuple(dict.fromkeys(tag for tags in self.language_hashtags.values() for tag in tags))

    @property
    def bilingual(self) -> bool:
        """Whether the plan declares its languages: its posts then give their words per language."""
        return bool(self.languages)

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
    languages: tuple[str, ...] = ()
    """In a plan with languages: those this account posts in, in order. Two or more: each post goes out once,
    its languages one after the other; one: the account posts in that language only (see ``pair``)."""
    pair: str | None = None
    """The account that posts the same posts in the other language (`pair:`, written on either account)."""
    pair_line: int = 0
    """The line of its `pair:`, where one is written."""
    media_host: MediaHostSettings | None = None
    """Where the platform fetches the account's images (Instagram); see :mod:`campaign.plan.hosts`."""


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
    """The language its words are in (BCP 47, standard form): its own `language:`, else the campaign's. In a
    plan with languages, the first language it has words in."""
    words: Mapping[str, Content] = field(default_factory=dict)
    """In a plan with languages: what the post says in each language it is written in (the post's own shared
    keys merged in), in the campaign's order of languages."""
    language_variants: Mapping[tuple[str, str], Content] = field(default_factory=dict)
    """In a plan with languages: per-platform changes, by (platform, language)."""
    without: Mapping[str, str] = field(default_factory=dict)
    """In a plan with languages: each language the post is not written in, with the reason the plan gives."""


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
