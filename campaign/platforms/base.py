"""The one small interface every platform adapter implements, and the pipeline they share.

The public methods of :class:`Adapter` are final: they check a post against the platform's
:class:`~campaign.platforms.PlatformSpec` before any request (length, image count, alt text, files),
call the platform's hook, and turn whatever the client library raised into one of the error kinds
in :mod:`campaign.platforms.errors`. A platform module writes only the hooks:

- ``_publish(post) -> Receipt``: media upload, then the post itself; call :meth:`Adapter._sending`
  right before the request that creates the post.
- ``_metrics_batch(ids) -> list[MetricsReading]``: at most ``spec.metrics_batch`` ids.
- ``_recent_posts(since) -> Iterable[RecentPost]`` (or override ``_find``), for lookups.
- ``_check() -> AccountIdentity``.
- ``_map_error(exc) -> PlatformError | None``: the platform's exceptions to the project's kinds.

Adapters never retry and never sleep: the runner decides that from the error kind. The one wait allowed
is for a platform to finish processing uploaded media before the post request that names it (LinkedIn),
bounded by the account's timeout. Constructors make no network calls; clients log in lazily on first use
and keep their session.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from campaign import counting, twitter_text
from campaign.exceptions import CampaignError
from campaign.platforms import PlatformSpec
from campaign.platforms.credentials import install_log_redaction, redact, register_secrets, secret_values
from campaign.platforms.errors import (
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    TooLong,
    Transient,
)

if TYPE_CHECKING:
    from campaign.platforms.media_host import MediaHost

log = logging.getLogger(__name__)

SUPPORTED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

ORIGINAL_URL_HEADER = "X-Campaign-Original-URL"
"""Sent with every request an adapter redirects to another base URL: the URL the client signed.

OAuth 1.0a signatures cover the URL, so a sandbox or proxy that checks them needs the original."""


class ImageNotApproved(CampaignError):
    """An image's bytes are not the ones that were approved: changed, replaced or gone since sign-off."""


@dataclass(frozen=True)
class MediaItem:
    """An image to attach, with its alt text. The adapter sends exactly :attr:`data`, read once and checked."""

    name: str
    """The file's name, as platforms show it."""
    data: bytes = field(repr=False)
    alt: str
    mime_type: str  # e.g. "image/png"

    @classmethod
    def from_file(cls, path: Path, alt: str, mime_type: str, sha256: str | None = None) -> MediaItem:
        """Read *path* once. With *sha256* (the checksum recorded when the post was approved), refuse bytes
        that differ: what goes out is what was signed off, not whatever the file holds now."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ImageNotApproved(
                f"the image {path} cannot be read ({error.strerror or type(error).__name__}); put the approved "
                "file back, or change the plan and approve the post again"
            ) from None
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ImageNotApproved(
                f"the image {path} has changed since the post was approved (checksum {sha256[:12]}… approved, "
                f"{hashlib.sha256(data).hexdigest()[:12]}… now); put the approved file back, or schedule the "
                "plan again and have the new image approved"
            )
        return cls(path.name, data, alt, mime_type)


@dataclass(frozen=True)
class Outgoing:
    """One post as the store hands it to an adapter."""

    text: str
    images: tuple[MediaItem, ...] = ()
    reply_to: str | None = None
    """The platform id of the post this one replies to (threads)."""
    idempotency_key: str | None = None
    """Stable per post and content; Mastodon sends it as ``Idempotency-Key`` (a second line of defence only:
    servers may ignore it)."""
    language: str | None = None
    """The post's language (BCP 47, e.g. ``en-GB``, ``cy``; ``cy,en`` for a post in both, in that order), sent
    where the platform takes one."""
    first_attempt_at: datetime | None = None
    """When the first request that may have created this post went out (aware UTC). Bluesky fixes the post's
    record key from it and :attr:`idempotency_key`, so that a second create of the same post is refused."""


@dataclass(frozen=True)
class Receipt:
    """Where a published post lives."""

    remote_id: str
    url: str
    created_at: datetime | None = None
    """When the platform says it created the post (aware UTC), when its answer says so."""
    warnings: tuple[str, ...] = ()
    """What went out differently from what was written, for a person to know (e.g. a mention that did not
    resolve to an account and went out as plain text)."""


@dataclass(frozen=True)
class MetricsReading:
    """One post's engagement numbers at one moment."""

    remote_id: str
    collected_at: datetime
    """Aware, UTC."""
    measures: Mapping[str, int | None]
    """Common names (see :data:`MEASURES`); ``None`` when the platform did not report it, never 0."""
    source_metrics: Mapping[str, int]
    """The platform's own metric names and values, so the source of every number is kept."""
    api_version: str
    raw: Mapping[str, Any]


MEASURES = (
    "views",
    "reach",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "link_clicks",
    "profile_clicks",
    "video_views",
)


def measures(**known: int | None) -> dict[str, int | None]:
    """A full measures mapping: every name in :data:`MEASURES`, ``None`` where not given."""
    unknown = set(known) - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measures: {sorted(unknown)}")
    return {name: known.get(name) for name in MEASURES}


@dataclass(frozen=True)
class AccountIdentity:
    """Who an account's credentials belong to, and whether they work."""

    platform: str
    handle: str
    remote_user_id: str
    display_name: str
    token_ok: bool
    permissions: tuple[str, ...]
    problem: str | None
    notes: tuple[str, ...] = ()
    """What a person should know that is no problem (Instagram: how many posts are left in its 24 hours)."""


@dataclass(frozen=True, repr=False)
class AccountConfig:
    """An account as an adapter needs it. ``repr`` shows credential names, never values."""

    platform: str
    handle: str
    credentials: Mapping[str, str] = field(compare=False)
    api_base: str | None = None
    """The sandbox's or a proxy's base URL; ``None`` means the platform's real API."""
    timeout: float = 10.0
    """Seconds, applied to every HTTP call."""
    media_host: MediaHost | None = field(default=None, compare=False)
    """Where a platform that fetches images itself (Instagram) finds them; see :mod:`campaign.platforms.media_host`."""

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.credentials))
        return (
            f"AccountConfig(platform={self.platform!r}, handle={self.handle!r}, "
            f"credentials=<{names}>, api_base={self.api_base!r}, timeout={self.timeout!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class RecentPost:
    """A post found on the account's own timeline, for reconciliation."""

    remote_id: str
    text: str
    created_at: datetime
    url: str | None = None
    """Its address, where the listing gives one that the id alone does not (Instagram's permalink)."""


class Adapter(ABC):
    """Base class of the platform adapters; see the module docstring."""

    spec: ClassVar[PlatformSpec]
    api_version: ClassVar[str]
    idempotent_publish: ClassVar[bool] = False
    """True when re-sending a post with the same ``idempotency_key`` cannot publish it twice."""

    def __init__(self, account: AccountConfig) -> None:
        if account.platform != self.spec.name:
            raise CampaignError(
                f"{type(self).__name__} publishes to {self.spec.label}, but the account {account.handle!r} "
                f"is for {account.platform!r}: use the adapter of that platform."
            )
        missing = [name for name in self.spec.credentials if not account.credentials.get(name)]
        if missing:
            raise CampaignError(
                f"the {self.spec.label} account {account.handle!r} has no value for "
                f"{', '.join(missing)}: name an environment variable for each in the plan."
            )
        if account.timeout <= 0:
            raise CampaignError(
                f"the timeout of {account.handle!r} must be positive, not {account.timeout!r}."
            )
        self.account = account
        register_secrets(secret_values(account.credentials))
        install_log_redaction()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account!r})"

    # -- the public, final pipeline ---------------------------------------------------------------

    def publish(self, post: Outgoing) -> Receipt:
        """Publish *post*; checks run locally first and nothing is sent when one fails."""
        self.check_post(post)
        self._local.sending = False
        with self._mapped("publish"):
            receipt = self._publish(post)
        log.info("published on %s as %s", self.spec.label, receipt.remote_id)
        return receipt

    def check_post(self, post: Outgoing) -> None:
        """Raise :class:`TooLong`, :class:`InvalidMedia` or :class:`Permanent` if the platform would refuse *post*."""
        spec = self.spec
        if not post.text.strip() and not post.images:
            raise Permanent(spec.name, "The post has no text and no images")
        length = counting.length(spec, post.text)
        if length > spec.max_length:
            raise TooLong(
                spec.name,
                f"{spec.label} counts this post as {length} characters; the limit is {spec.max_length} "
                f"({length - spec.max_length} too many)",
                length=length,
                limit=spec.max_length,
            )
        if spec.max_bytes is not None and len(post.text.encode("utf-8")) > spec.max_bytes:
            size = len(post.text.encode("utf-8"))
            raise TooLong(
                spec.name,
                f"the post is {size} bytes in UTF-8; {spec.label} takes at most {spec.max_bytes} "
                f"({size - spec.max_bytes} too many)",
                length=size,
                limit=spec.max_bytes,
            )
        if len(post.images) < spec.min_images:
            raise InvalidMedia(spec.name, f"{spec.label} posts need at least {spec.min_images} image; this one has "
                               f"{len(post.images)}")
        if len(post.images) > spec.max_images:
            raise InvalidMedia(
                spec.name, f"{len(post.images)} images attached; {spec.label} takes at most {spec.max_images}"
            )
        for number, image in enumerate(post.images, start=1):
            self._check_image(number, image)
        self._check_extra(post)

    def _check_image(self, number: int, image: MediaItem) -> None:
        spec = self.spec
        if len(image.alt) > spec.max_alt_text:
            raise InvalidMedia(
                spec.name,
                f"the alt text of image {number} ({image.name}) is {len(image.alt)} characters; "
                f"{spec.label} takes at most {spec.max_alt_text}",
            )
        if image.mime_type not in SUPPORTED_IMAGE_TYPES:
            raise InvalidMedia(
                spec.name,
                f"image {number} ({image.name}) is {image.mime_type!r}; use one of "
                f"{', '.join(sorted(SUPPORTED_IMAGE_TYPES))}",
            )

    def metrics(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        """Engagement of each post in *remote_ids*, asked in batches of ``spec.metrics_batch``.

        Posts the platform no longer has (deleted) are left out of the result.
        """
        readings: list[MetricsReading] = []
        ids = list(dict.fromkeys(remote_ids))
        size = max(1, self.spec.metrics_batch)
        for start in range(0, len(ids), size):
            with self._mapped("metrics"):
                readings.extend(self._metrics_batch(ids[start : start + size]))
        return readings

    @abstractmethod
    def post_url(self, remote_id: str) -> str:
        """The public address of this account's post *remote_id* (for posts found by :meth:`find`)."""

    def find(self, post: Outgoing, since: datetime) -> list[RecentPost]:
        """Posts of this account created at or after *since* whose text is *post*'s, as the platform shows it.

        An empty list means the platform was asked and has no such post. When it could not be asked, or not
        far enough back, this raises (:class:`Transient`, ...): a failed lookup is never "not found".
        """
        if since.tzinfo is None:
            raise ValueError("find needs an aware datetime for 'since'")
        with self._mapped("find"):
            return self._find(post, since)

    def check(self) -> AccountIdentity:
        """Who the credentials belong to and whether they work.

        A refused or expired credential is reported in the result (``token_ok`` false, ``problem``
        says why); a platform that could not be asked at all raises :class:`Transient` or
        :class:`RateLimited`.
        """
        try:
            with self._mapped("check"):
                return self._check()
        except (Transient, RateLimited):
            raise
        except PlatformError as error:
            return AccountIdentity(
                platform=self.spec.name,
                handle=self.account.handle,
                remote_user_id="",
                display_name="",
                token_ok=False,
                permissions=(),
                problem=str(error),
            )

    def prepare(self) -> None:
        """Before the account's first post falls due, do what its first request would otherwise do first (log
        in): at 09:00 each post pays one round trip, not two. Errors are the platform's (mapped); the runner
        ignores them, and the post's own attempt meets and reports them."""

    def connect_ahead(self, timeout: float) -> None:
        """Open the connection the account's next post will go out on, so that at the post's due instant its
        request leaves at once instead of after a TCP (and TLS) handshake: a ``HEAD`` to the root of the API's
        server, which carries no credentials and counts against no rate limit. Servers close idle connections, so
        the runner calls this a few seconds before each instant. Errors are the client library's own; the runner
        ignores them (the post then opens its connection itself, as without this)."""

    def close(self) -> None:
        """Release the client's connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks --------------------------------------------------------------------------------------

    @abstractmethod
    def _publish(self, post: Outgoing) -> Receipt: ...

    @abstractmethod
    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]: ...

    @abstractmethod
    def _check(self) -> AccountIdentity: ...

    @abstractmethod
    def _map_error(self, error: Exception) -> PlatformError | None:
        """The project's kind for *error*, or ``None`` when it is not a platform or network error."""

    def _check_extra(self, post: Outgoing) -> None:
        """Platform-specific local checks (reply id format, images on replies)."""

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        """The account's own posts, newest first, back to *since*; raise :class:`Transient` rather than stop
        before reaching it."""
        raise NotImplementedError

    def _find(self, post: Outgoing, since: datetime) -> list[RecentPost]:
        wanted = comparable_text(post.text)
        return [
            found
            for found in self._recent_posts(since)
            if found.created_at >= since and comparable_text(found.text) == wanted
        ]

    def _lookup_too_short(self, pages: int) -> Transient:
        """The error for a lookup that read *pages* pages of the account's posts without reaching its start."""
        return Transient(
            self.spec.name,
            f"the account has more posts than {pages} pages of its timeline since the post was first sent, so "
            "the lookup could not see whether the post is among them",
        )

    # -- helpers for the hooks ------------------------------------------------------------------------

    def _sending(self) -> None:
        """Mark that the request creating the post is about to go out (see :attr:`Transient.outcome_unknown`)."""
        self._local.sending = True

    def _now(self) -> datetime:
        return datetime.now(UTC)

    @contextmanager
    def _mapped(self, operation: str) -> Iterator[None]:
        try:
            yield
        except PlatformError:
            raise
        except CampaignError:
            raise
        except Exception as error:  # noqa: BLE001 - every library error is mapped or wrapped below
            mapped = self._map_error(error)
            if mapped is None:
                mapped = Permanent(
                    self.spec.name,
                    f"unexpected {type(error).__name__} during {operation}: {redact(str(error))[:300]}",
                )
            if (
                isinstance(mapped, Transient)
                and operation == "publish"
                and getattr(self._local, "sending", False)
                and (mapped.status is None or mapped.status >= 500)
                and not never_connected(error)
            ):
                mapped.outcome_unknown = True
            # The caller decides what a failure means (the runner retries, looks up or tells a person): at warning
            # level this line would say the same thing again, earlier and without the decision.
            log.info("%s %s failed: %s", self.spec.label, operation, mapped)
            raise mapped from None


def never_connected(error: BaseException) -> bool:
    """Whether *error* (or what it wraps) is a connection that was never made: refused, or no such host. Such
    a request certainly created nothing, whatever request it was."""
    import httpx
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    waiting: list[object] = [error]
    while waiting:
        current = waiting.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError | NewConnectionError | httpx.ConnectError):
            return True
        waiting += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def comparable_text(text: str) -> str:
    """*text* in a form two renderings of the same post share, for finding a post again.

    Characters are composed (NFC: X composes what it stores), HTML entities are unescaped, runs of whitespace
    become one space, and links lose their scheme and trailing slash (platforms add ``https://`` to a bare
    domain, or show a link without it).
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    pieces: list[str] = []
    position = 0
    for url in twitter_text.extract_urls_with_indices(text):
        pieces.append(text[position : url.start])
        pieces.append(_SCHEME.sub("", text[url.start : url.end]).rstrip("/"))
        position = url.end
    pieces.append(text[position:])
    return re.sub(r"\s+", " ", "".join(pieces)).strip()


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def chunked(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """*items* in lists of at most *size*."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
