"""Bluesky through the atproto SDK.

The adapter logs in once (``createSession`` with the account's app password) on first use and
keeps the session; atproto refreshes it before the access token expires. Posts carry facets, so
links and hashtags are clickable (a plain string would not be), mentions resolved to DIDs; a mention
whose handle resolves to no account goes out as plain text, and the receipt says so in its warnings.
Images are uploaded as blobs with their MIME type and attached with their alt text and their aspect
ratio (read from the bytes). ``langs`` is the post's language when it has one.

**One record key per post.** When the runner gives the post's first attempt time and idempotency key,
the post's record key (rkey) is a TID made from them (:func:`record_key`): every attempt at the same post
writes to the same address, so a second create is refused by the PDS instead of making a second post.
The reference PDS refuses it with ``500 InternalServerError: Internal Server Error`` (its repository
throws "There is already a value at key"), which says nothing by itself; so after a 500 to a create with
a fixed key the adapter reads that key back (``getRecord``) and raises :class:`Duplicate` when a record
is there. A lookup (:meth:`BlueskyAdapter.find`) then reads the post's own record from the PDS, which
answers from the repository it writes; the AppView (``getAuthorFeed``, ``getPosts``) lags it. Without a
fixed key, lookups read the author feed. Reply parents are read from the PDS too (``getRecord``), so a
reply sent right after its parent finds it. See docs/decisions/0006-bluesky-reference-peer.md.

The client's ``httpx`` transport gets the account's timeout. When Bluesky answers ``ExpiredToken``
or ``InvalidToken``, the adapter drops its session and raises :class:`AuthExpired` with
``relogin=True``: the next call logs in again with the app password.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from atproto import AtUri, Client, Request, Session, SessionEvent, client_utils, models
from atproto import exceptions as atproto_errors
from PIL import Image, UnidentifiedImageError

from campaign.plan.languages import tags_of
from campaign.platforms import PLATFORMS
from campaign.platforms.base import (
    AccountConfig,
    AccountIdentity,
    Adapter,
    MediaItem,
    MetricsReading,
    Outgoing,
    Receipt,
    RecentPost,
    comparable_text,
    measures,
)
from campaign.platforms.credentials import register_secrets
from campaign.platforms.errors import (
    AuthExpired,
    Duplicate,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.sessions import server_root

MAX_LANGS = 3
"""The languages a post's record may name (app.bsky.feed.post: `langs`, "maxLength": 3)."""

DEFAULT_PDS = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
RECENT_PAGES = 5
SESSION_ERRORS = ("ExpiredToken", "InvalidToken")
COUNTS = ("like_count", "repost_count", "reply_count", "quote_count", "bookmark_count")
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
"""atproto's base32-sortable alphabet: TIDs compare as strings in the order of their numbers."""
TAKEN_KEY = (500, "InternalServerError")
"""How the reference PDS answers a create whose record key is taken (and any other failure of its own)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROTATED = frozenset({5, 6, 7, 8})
"""EXIF orientations shown turned a quarter: width and height swap on screen."""


class _Request(Request):  # type: ignore[misc]  # atproto is not typed for mypy here
    """atproto's HTTP client, able to open its connection ahead of a post."""

    def open_connection(self, url: str, timeout: float) -> None:
        """Open the connection to *url*'s server with a ``HEAD`` that carries no credentials (atproto adds those
        per request) and follows no redirect (it would open a connection elsewhere)."""
        self._client.head(url, timeout=timeout, follow_redirects=False).read()


def record_key(first_attempt_at: datetime, idempotency_key: str) -> str:
    """The record key of a post: a TID from when its first attempt went out and a hash of its idempotency key.

    A TID is a 64-bit number, top bit 0, then 53 bits of microseconds since 1970 and a 10-bit clock id,
    written as 13 characters of :data:`TID_ALPHABET`. Here the clock id is the first 10 bits of the
    SHA-256 of the idempotency key, so the same post always gets the same key, and two posts of one account
    share a key only if their first attempts went out in the same microsecond and their hashes agree.
    """
    moment = first_attempt_at if first_attempt_at.tzinfo is not None else first_attempt_at.replace(tzinfo=UTC)
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"{first_attempt_at!r} cannot be written as a TID")
    clock_id = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:2], "big") & 0x3FF
    value = (micros << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class BlueskyAdapter(Adapter):
    """Publishes to one Bluesky account with an app password."""

    spec = PLATFORMS["bluesky"]
    api_version = "bsky-app-v1"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        self._handle = account.handle.lstrip("@")
        self._http = _Request(timeout=httpx.Timeout(account.timeout))
        self._client = Client(base_url=account.api_base or DEFAULT_PDS, request=self._http)
        self._client.on_session_change(_remember_tokens)
        self._login_lock = threading.Lock()
        self._did: str | None = None

    def prepare(self) -> None:
        with self._mapped("log in"):
            self._login()

    def connect_ahead(self, timeout: float) -> None:
        # The server the account's requests go to now: after login, the PDS its identity document names.
        self._http.open_connection(server_root(self._client._base_url), timeout)

    def close(self) -> None:
        self._http.close()

    # -- hooks ----------------------------------------------------------------------------------------

    def _check_extra(self, post: Outgoing) -> None:
        if post.reply_to is not None and not post.reply_to.startswith("at://"):
            raise Permanent(
                self.spec.name, f"{post.reply_to!r} is not a Bluesky post URI (at://...) to reply to"
            )
        for number, image in enumerate(post.images, start=1):
            self._aspect_ratio(number, image)

    def _publish(self, post: Outgoing) -> Receipt:
        # The text goes out exactly as base.check_post measured it (graphemes and UTF-8 bytes): nothing
        # here adds to it, and facets only point into it.
        did = self._login()
        facets, unresolved = self._facets(post.text)
        embed = None
        if post.images:
            images = []
            for number, image in enumerate(post.images, start=1):
                ratio = self._aspect_ratio(number, image)
                images.append(
                    models.AppBskyEmbedImages.Image(alt=image.alt, image=self._upload(image), aspect_ratio=ratio)
                )
            embed = models.AppBskyEmbedImages.Main(images=images)
        reply = self._reply_ref(post.reply_to) if post.reply_to else None
        rkey = self._record_key(post)
        now = self._now()
        created_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as written: milliseconds
        record = models.AppBskyFeedPost.Record(
            created_at=created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            text=post.text,
            reply=reply,
            embed=embed,
            langs=tags_of(post.language)[:MAX_LANGS] if post.language else None,
            facets=facets or None,
        )
        self._sending()
        try:
            created = self._client.app.bsky.feed.post.create(did, record, rkey=rkey)
        except atproto_errors.RequestErrorBase as error:
            if rkey is not None and _status_and_name(error) == TAKEN_KEY:
                self._raise_if_taken(did, rkey, error)
            raise
        warnings = tuple(
            f"@{handle} is not a Bluesky account (the handle does not resolve), so it went out as plain text, "
            "not as a mention."
            for handle in unresolved
        )
        return Receipt(created.uri, self.post_url(created.uri), created_at=created_at, warnings=warnings)

    def post_url(self, remote_id: str) -> str:
        rkey = remote_id.rsplit("/", 1)[-1]
        return f"https://bsky.app/profile/{self._handle}/post/{rkey}"

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        self._login()
        posts = self._client.get_posts(list(remote_ids)).posts
        collected = self._now()
        return [self._reading(post, collected) for post in posts]

    def _find(self, post: Outgoing, since: datetime) -> list[RecentPost]:
        """With a fixed record key, the post's own record as the PDS has it; else the author feed.

        The record key was made for this post (its first attempt and idempotency key), so a record there
        with the same text is this post, whenever its ``createdAt`` says it was written.
        """
        rkey = self._record_key(post)
        if rkey is None:
            return super()._find(post, since)
        did = self._login()
        found = self._get_record(did, rkey)
        if found is None:
            return []
        uri, _cid, value = found
        text = str(_field(value, "text") or "")
        if comparable_text(text) != comparable_text(post.text):
            return []
        created = _field(value, "created_at", "createdAt")
        return [RecentPost(uri, text, _parse_time(str(created)) if created else self._now())]

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        did = self._login()
        cursor: str | None = None
        for _ in range(RECENT_PAGES):
            feed = self._client.get_author_feed(
                actor=did, cursor=cursor, filter="posts_with_replies", limit=100
            )
            for item in feed.feed:
                if item.reason is not None:  # a repost of someone else's post
                    continue
                record = item.post.record
                created = _parse_time(str(getattr(record, "created_at", item.post.indexed_at)))
                if created < since:
                    return
                yield RecentPost(item.post.uri, str(getattr(record, "text", "")), created)
            cursor = feed.cursor
            if not cursor:
                return
        raise self._lookup_too_short(RECENT_PAGES)

    def _check(self) -> AccountIdentity:
        did = self._login()
        profile = self._client.get_profile(did)
        session = self._client._session
        scope = session.access_jwt_payload.scope if session is not None else None
        problem = None
        if profile.handle.lower() != self._handle.lower():
            problem = f"the app password belongs to {profile.handle}, not {self.account.handle}"
        return AccountIdentity(
            platform=self.spec.name,
            handle=profile.handle,
            remote_user_id=profile.did,
            display_name=profile.display_name or "",
            token_ok=True,
            permissions=tuple(scope.split()) if scope else (),
            problem=problem,
        )

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        if isinstance(error, atproto_errors.RateLimitExceededError):
            retry_at = error.reset_at
            if retry_at is None and error.retry_after is not None:
                retry_at = self._now() + timedelta(seconds=error.retry_after)
            return RateLimited(
                name, f"rate limit reached ({_describe(error)})", retry_at=retry_at, status=429
            )
        if isinstance(error, atproto_errors.InvokeTimeoutError):
            return Transient(name, f"Bluesky did not answer within {self.account.timeout:g} seconds")
        if isinstance(error, atproto_errors.RequestErrorBase):
            return self._map_response_error(error)
        if isinstance(error, atproto_errors.LoginRequiredError):
            self._drop_session()
            return AuthExpired(name, "the session is gone", relogin=True)
        if isinstance(error, atproto_errors.AtProtocolError):
            return Permanent(name, f"Bluesky answered with something unexpected ({type(error).__name__})")
        if isinstance(error, httpx.HTTPError):
            return Transient(name, f"the request to Bluesky failed ({type(error).__name__})")
        return None

    # -- helpers --------------------------------------------------------------------------------------

    def _login(self) -> str:
        """Log in on first use (once, even from several threads); returns the account's DID."""
        with self._login_lock:
            if self._did is None or self._client._session is None:
                try:
                    self._client.login(
                        self._handle, self.account.credentials["app_password"], fetch_bsky_profile=False
                    )
                except atproto_errors.RequestErrorBase as error:
                    status = error.response.status_code if error.response is not None else None
                    if status in (400, 401):
                        raise AuthExpired(
                            self.spec.name,
                            f"Bluesky refused the handle and app password ({_describe(error)})",
                            status=status,
                        ) from None
                    raise
                assert self._client._session is not None
                self._did = str(self._client._session.did)
            return self._did

    def _drop_session(self) -> None:
        with self._login_lock:
            self._did = None
            self._client._session_dispatcher.set_session(None)

    def _map_response_error(self, error: atproto_errors.RequestErrorBase) -> PlatformError:
        name = self.spec.name
        response = error.response
        status = response.status_code if response is not None else None
        content = response.content if response is not None else None
        code = getattr(content, "error", None)  # an XrpcError model when the answer was XRPC error JSON
        message = _describe(error)
        if code in SESSION_ERRORS or isinstance(error, atproto_errors.UnauthorizedError):
            self._drop_session()
            return AuthExpired(
                name, f"Bluesky refused the session ({message})", relogin=True, status=status, code=code
            )
        if status is None or status >= 500 or isinstance(error, atproto_errors.NetworkError):
            return Transient(name, f"Bluesky failed ({message})", status=status, code=code)
        return Permanent(name, f"Bluesky refused the request ({message})", status=status, code=code)

    def _record_key(self, post: Outgoing) -> str | None:
        if post.first_attempt_at is None or not post.idempotency_key:
            return None
        return record_key(post.first_attempt_at, post.idempotency_key)

    def _get_record(self, repo: str, rkey: str, collection: str = POST_COLLECTION) -> tuple[str, str, Any] | None:
        """``(uri, cid, value)`` of a record, read with ``com.atproto.repo.getRecord``; ``None`` when the
        server says ``RecordNotFound``. Any other failure raises: it is not "not found"."""
        try:
            response = self._client.com.atproto.repo.get_record(
                models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=collection, rkey=rkey)
            )
        except atproto_errors.BadRequestError as error:
            if _status_and_name(error)[1] == "RecordNotFound":
                return None
            raise
        return str(response.uri), str(response.cid or ""), response.value

    def _raise_if_taken(self, did: str, rkey: str, error: atproto_errors.RequestErrorBase) -> None:
        """After the PDS's 500 to a create with a fixed record key: raise :class:`Duplicate` when a record is
        there (the key was taken, by an earlier attempt at this post or, very rarely, another post). When it
        is not, or the read fails, return, and the 500 stands (its outcome unknown)."""
        try:
            found = self._get_record(did, rkey)
        except Exception:  # noqa: BLE001 - the create's own error is the one to report
            return
        if found is not None:
            raise Duplicate(
                self.spec.name,
                f"the PDS already has a record at this post's key {rkey} ({found[0]}): it answered the create "
                f"with {_describe(error)}, which is how it refuses a key that is taken",
                status=TAKEN_KEY[0],
                code=TAKEN_KEY[1],
            )

    def _facets(self, text: str) -> tuple[list[models.AppBskyRichtextFacet.Main], list[str]]:
        """Links, tags and cashtags of *text*, and its mentions resolved to DIDs; and the handles mentioned
        that resolve to no account (the server said so: a failure to ask raises)."""
        facets = list(client_utils.detect_facets(text))
        dids: dict[str, str | None] = {}
        for mention in client_utils.detect_mentions(text):
            handle = mention.handle.lower()
            if handle not in dids:
                try:
                    dids[handle] = self._client.resolve_handle(handle).did
                except atproto_errors.BadRequestError:  # 400: no account has this handle
                    dids[handle] = None
            did = dids[handle]
            if did is None:
                continue
            facets.append(
                models.AppBskyRichtextFacet.Main(
                    features=[models.AppBskyRichtextFacet.Mention(did=did)],
                    index=models.AppBskyRichtextFacet.ByteSlice(
                        byte_start=mention.byte_start, byte_end=mention.byte_end
                    ),
                )
            )
        facets.sort(key=lambda facet: facet.index.byte_start)
        return facets, [handle for handle, did in dids.items() if did is None]

    def _aspect_ratio(self, number: int, image: MediaItem) -> Any:
        """The image's width and height as shown (EXIF rotation applied), read from its bytes."""
        try:
            with Image.open(io.BytesIO(image.data)) as opened:
                width, height = opened.size
                if opened.getexif().get(0x0112) in _ROTATED:
                    width, height = height, width
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
            raise InvalidMedia(
                self.spec.name,
                f"image {number} ({image.name}) cannot be read as an image ({type(error).__name__}), so its size "
                "is unknown",
            ) from None
        if width < 1 or height < 1:
            raise InvalidMedia(self.spec.name, f"image {number} ({image.name}) is {width}x{height} pixels")
        return models.AppBskyEmbedDefs.AspectRatio(width=width, height=height)

    def _upload(self, image: MediaItem) -> Any:
        """Upload one image as a blob with its MIME type (the SDK's helper sends ``*/*`` and uses a
        deprecated httpx argument for raw bytes)."""
        response = self._client.invoke_procedure(
            "com.atproto.repo.uploadBlob",
            content=image.data,
            headers={"Content-Type": image.mime_type},
            output_encoding="application/json",
        )
        return models.get_or_create(response.content, models.ComAtprotoRepoUploadBlob.Response).blob

    def _reply_ref(self, parent_uri: str) -> models.AppBskyFeedPost.ReplyRef:
        """The thread of a reply, from the parent's record on its PDS (the AppView may not show a parent
        published a moment ago). A parent the PDS does not have is a permanent error."""
        try:
            at_uri = AtUri.from_str(parent_uri)
        except Exception:  # noqa: BLE001 - the SDK raises its own error for an unreadable URI
            raise Permanent(self.spec.name, f"{parent_uri!r} is not a Bluesky post URI to reply to") from None
        found = None
        if at_uri.collection == POST_COLLECTION and at_uri.rkey:
            found = self._get_record(at_uri.host, at_uri.rkey)
        if found is None:
            raise Permanent(self.spec.name, f"the post to reply to ({parent_uri}) no longer exists")
        uri, cid, value = found
        parent_ref = models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)
        thread = _field(value, "reply")
        root = _field(thread, "root") if thread is not None else None
        if root is None:
            return models.AppBskyFeedPost.ReplyRef(parent=parent_ref, root=parent_ref)
        root_ref = models.ComAtprotoRepoStrongRef.Main(uri=str(_field(root, "uri")), cid=str(_field(root, "cid")))
        return models.AppBskyFeedPost.ReplyRef(parent=parent_ref, root=root_ref)

    def _reading(self, post: Any, collected: datetime) -> MetricsReading:
        counts = {key: getattr(post, key) for key in COUNTS if isinstance(getattr(post, key, None), int)}
        raw: Mapping[str, Any] = post.model_dump(mode="json", by_alias=True, exclude_none=True)
        return MetricsReading(
            remote_id=post.uri,
            collected_at=collected,
            measures=measures(
                likes=counts.get("like_count"),
                reposts=counts.get("repost_count"),
                replies=counts.get("reply_count"),
                quotes=counts.get("quote_count"),
            ),
            source_metrics=counts,
            api_version=self.api_version,
            raw=raw,
        )


def _remember_tokens(event: SessionEvent, session: Session) -> None:
    """Keep the session's tokens out of logs and error messages, like the app password."""
    register_secrets([session.access_jwt, session.refresh_jwt])


def _status_and_name(error: atproto_errors.RequestErrorBase) -> tuple[int | None, str | None]:
    """The HTTP status and the XRPC error name of a failed request."""
    response = error.response
    if response is None:
        return None, None
    return response.status_code, getattr(response.content, "error", None)


def _field(value: Any, *names: str) -> Any:
    """A field of a record read back: a model (snake_case attributes) or, for an unknown type, a mapping."""
    for name in names:
        if isinstance(value, Mapping):
            if name in value:
                return value[name]
        elif hasattr(value, name):
            return getattr(value, name)
    return None


def _describe(error: atproto_errors.RequestErrorBase) -> str:
    response = error.response
    if response is None:
        return type(error).__name__
    name, message = getattr(response.content, "error", None), getattr(response.content, "message", None)
    if name:
        return f"{response.status_code} {name}: {message}" if message else f"{response.status_code} {name}"
    return str(response.status_code)


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
