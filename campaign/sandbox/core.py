"""The sandbox's state: accounts, what was posted, what was asked, faults and engagement.

Everything here is guarded by one lock, because the server runs in its own thread (or process) while
tests read the records from theirs. Nothing recorded ever holds a credential: requests are kept as
method, path (without the query string, where Facebook puts its token) and status.

Reads may lag writes, as they do on real platforms (Bluesky's AppView behind the PDS, timelines served
from caches): with ``Sandbox(read_lag=SECONDS)`` a new post is hidden from every read endpoint
(timelines and lookups) until SECONDS of real time after it was created; see :meth:`Sandbox.visible`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from campaign.sandbox.accounts import SandboxAccount, demo_accounts
from campaign.sandbox.engagement import Clock, Engagement, utc_now
from campaign.sandbox.faults import FaultPlan, FaultRule

if TYPE_CHECKING:
    from campaign.platforms.base import AccountConfig


@dataclass(frozen=True)
class RecordedMedia:
    """An uploaded image."""

    platform: str
    account: str
    id: str
    mime_type: str
    size: int
    sha256: str
    alt: str = ""


@dataclass(frozen=True)
class RecordedPost:
    """A post as the sandbox received it (the text exactly as sent)."""

    platform: str
    account: str
    id: str
    text: str
    created_at: datetime
    url: str
    media: tuple[RecordedMedia, ...] = ()
    reply_to: str | None = None
    facets: tuple[dict[str, Any], ...] = ()
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def alt_texts(self) -> list[str]:
        return [item.alt for item in self.media]


@dataclass
class RequestRecord:
    """One request the sandbox saw (no query string, no headers: nothing secret)."""

    platform: str
    method: str
    path: str
    at: datetime
    status: int | None = None
    fault: str | None = None


class RequestLog:
    """Requests seen by a server (the sandbox, the fault proxy), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, platform: str, method: str, path: str) -> RequestRecord:
        record = RequestRecord(platform=platform, method=method, path=path, at=utc_now())
        with self._lock:
            self._records.append(record)
        return record

    def select(
        self, platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[RequestRecord]:
        """The requests seen so far; *path* is a glob (``/2/tweets*``)."""
        with self._lock:
            records = list(self._records)
        return [
            r
            for r in records
            if platform in (None, r.platform)
            and method in (None, r.method)
            and (path is None or fnmatch.fnmatchcase(r.path, path))
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


MEDIA_PROCESSING = 0.2
"""How long :attr:`Sandbox.media_processing` is unless set: enough that an adapter posting an image at once is
refused."""


class Sandbox:
    """A fake of the four platforms' APIs; serve it with :func:`campaign.sandbox.runner.running`.

    *clock* is what "now" means for post times and engagement (tests pass a callable they control);
    OAuth timestamps and JWT expiry use the real time, like the platforms' own checks. So does
    *read_lag*: the seconds of real time a new post stays hidden from reads (:meth:`visible`), whatever
    the clock says, because a lagging read view catches up in real time even when a rehearsal
    compresses the week.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock = utc_now,
        latency_ms: float = 0,
        faults: Iterable[FaultRule | str] = (),
        accounts: Iterable[SandboxAccount] | None = None,
        jwt_key: str | None = None,
        access_token_lifetime: int = 7200,
        read_lag: float = 0,
        media_processing: float = MEDIA_PROCESSING,
    ) -> None:
        if read_lag < 0:
            raise ValueError(f"read_lag must be 0 or more seconds, not {read_lag}")
        self.seed = seed
        self.read_lag = read_lag
        self.media_processing = media_processing
        """Real seconds an uploaded image takes to be processed where a platform processes it after the upload
        (LinkedIn: "processing is asynchronous"; a post naming it before then is refused)."""
        self.clock = clock
        self.latency_ms = latency_ms
        self.faults = FaultPlan(faults, seed=seed)
        self.engagement = Engagement(seed, clock)
        self.jwt_key = jwt_key or hashlib.sha256(f"campaign-sandbox-jwt:{seed}".encode()).hexdigest()
        self.access_token_lifetime = access_token_lifetime
        self.base_url: str | None = None
        self._lock = threading.RLock()
        self._accounts: list[SandboxAccount] = []
        self._posts: dict[tuple[str, str], RecordedPost] = {}
        self._media: dict[tuple[str, str], RecordedMedia] = {}
        self._requests = RequestLog()
        self._written: dict[tuple[str, str], float] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._counter = itertools.count(1)
        self._nonces: set[str] = set()
        self._platform_state: dict[str, dict[str, Any]] = {}
        self._served: dict[str, bytes] = {}
        for account in demo_accounts() if accounts is None else accounts:
            self.add_account(account)

    # -- accounts -----------------------------------------------------------------------------------

    def add_account(self, account: SandboxAccount) -> SandboxAccount:
        with self._lock:
            self._accounts.append(account)
        return account

    def accounts(self, platform: str | None = None) -> list[SandboxAccount]:
        with self._lock:
            return [a for a in self._accounts if platform in (None, a.platform)]

    def account(self, platform: str, handle: str | None = None) -> SandboxAccount:
        """The first account of *platform* (or the one called *handle*)."""
        for account in self.accounts(platform):
            if handle is None or account.handle == handle:
                return account
        raise KeyError(f"the sandbox has no {platform} account {handle or ''}".strip())

    def find_account(self, platform: str, **credentials: str) -> SandboxAccount | None:
        """The account of *platform* whose credentials include all of *credentials*."""
        for account in self.accounts(platform):
            if all(account.credentials.get(name) == value for name, value in credentials.items()):
                return account
        return None

    def account_config(
        self, platform: str, handle: str | None = None, *, timeout: float = 5.0
    ) -> AccountConfig:
        """An :class:`AccountConfig` an adapter can use to reach this running sandbox."""
        from campaign.platforms.base import AccountConfig

        if self.base_url is None:
            raise RuntimeError("the sandbox is not running: start it with campaign.sandbox.running()")
        account = self.account(platform, handle)
        return AccountConfig(
            platform=platform,
            handle=account.handle,
            credentials=dict(account.credentials),
            api_base=self.base_url,
            timeout=timeout,
        )

    # -- ids and time ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def next_number(self) -> int:
        """A number that grows with every call (ids are built from it and the clock)."""
        with self._lock:
            return next(self._counter)

    def snowflake(self, epoch_ms: int) -> str:
        """An X or Mastodon style id: milliseconds since *epoch_ms* shifted, plus a sequence."""
        millis = int(self.now().timestamp() * 1000) - epoch_ms
        return str((millis << 22) | (self.next_number() & 0x3FFFFF))

    def platform_state(self, platform: str) -> dict[str, Any]:
        """What one platform's routes keep beyond posts and media (LinkedIn's images waiting for their bytes),
        for as long as this sandbox lives."""
        with self._lock:
            return self._platform_state.setdefault(platform, {})

    def serve_file(self, name: str, data: bytes) -> str:
        """Serve *data* at ``/_sandbox/media/NAME``, as a force's own web server serves its images (the media host
        of Instagram accounts in rehearsals and the demo); return its URL."""
        with self._lock:
            self._served[name] = data
        return f"{self.base_url}/_sandbox/media/{name}"

    def served_file(self, name: str) -> bytes | None:
        with self._lock:
            return self._served.get(name)

    def use_nonce(self, nonce: str) -> bool:
        """False when *nonce* was seen before (an OAuth replay)."""
        with self._lock:
            if nonce in self._nonces:
                return False
            self._nonces.add(nonce)
            return True

    # -- posts and media ------------------------------------------------------------------------------

    def record_post(self, post: RecordedPost) -> RecordedPost:
        with self._lock:
            self._posts[(post.platform, post.id)] = post
            self._written.setdefault((post.platform, post.id), time.monotonic())
        return post

    def visible(self, post: RecordedPost) -> bool:
        """Whether reads (timelines, lookups) show *post* yet: :attr:`read_lag` seconds of real time after it
        was recorded. Writes and the write side's own reads (a PDS's ``getRecord``) never lag."""
        if self.read_lag <= 0:
            return True
        with self._lock:
            written = self._written.get((post.platform, post.id))
        return written is None or time.monotonic() - written >= self.read_lag

    def get_post(self, platform: str, post_id: str, *, include_deleted: bool = False) -> RecordedPost | None:
        with self._lock:
            post = self._posts.get((platform, post_id))
        if post is None or (post.deleted and not include_deleted):
            return None
        return post

    def delete_post(self, platform: str, post_id: str) -> RecordedPost | None:
        with self._lock:
            post = self._posts.get((platform, post_id))
            if post is None or post.deleted:
                return None
            self._posts[(platform, post_id)] = replace(post, deleted=True)
            return post

    def posts(
        self, platform: str | None = None, account: str | None = None, *, include_deleted: bool = False
    ) -> list[RecordedPost]:
        """Recorded posts, oldest first."""
        with self._lock:
            posts = list(self._posts.values())
        return [
            p
            for p in posts
            if platform in (None, p.platform)
            and account in (None, p.account)
            and (include_deleted or not p.deleted)
        ]

    def record_media(self, media: RecordedMedia) -> RecordedMedia:
        with self._lock:
            self._media[(media.platform, media.id)] = media
        return media

    def get_media(self, platform: str, media_id: str) -> RecordedMedia | None:
        with self._lock:
            return self._media.get((platform, media_id))

    def idempotent(self, account: str, key: str, post_id: str | None = None) -> str | None:
        """The post id stored for (*account*, *key*); store *post_id* when given."""
        with self._lock:
            if post_id is not None:
                self._idempotency[(account, key)] = post_id
            return self._idempotency.get((account, key))

    def counts(self, post: RecordedPost) -> dict[str, int]:
        """The post's engagement now (see :mod:`campaign.sandbox.engagement`)."""
        return self.engagement.counts(post.platform, post.id, post.created_at)

    # -- requests ---------------------------------------------------------------------------------------

    def record_request(self, platform: str, method: str, path: str) -> RequestRecord:
        return self._requests.record(platform, method, path)

    def requests(
        self, platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[RequestRecord]:
        """The requests seen so far; *path* is a glob (``/2/tweets*``)."""
        return self._requests.select(platform, method, path)

    def clear_requests(self) -> None:
        self._requests.clear()

    # -- faults ---------------------------------------------------------------------------------------

    def set_faults(self, *rules: FaultRule | str) -> None:
        """Replace the fault rules (see :mod:`campaign.sandbox.faults` for the text form)."""
        self.faults.set(rules)

    def add_fault(self, rule: FaultRule | str) -> FaultRule:
        return self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()
