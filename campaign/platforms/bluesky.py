"""Bluesky through the atproto SDK.

The adapter logs in once (``createSession`` with the account's app password) on first use and
keeps the session; atproto refreshes it before the access token expires. Posts carry facets, so
links and hashtags are clickable (a plain string would not be), mentions resolved to DIDs. Images
are uploaded as blobs with their MIME type and attached with their alt text. A reply needs the
root and parent of its thread, so the post replied to is looked up first.

The client's ``httpx`` transport gets the account's timeout. When Bluesky answers ``ExpiredToken``
or ``InvalidToken``, the adapter drops its session and raises :class:`AuthExpired` with
``relogin=True``: the next call logs in again with the app password.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from atproto import Client, Request, Session, SessionEvent, models
from atproto import exceptions as atproto_errors

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
    measures,
)
from campaign.platforms.credentials import register_secrets
from campaign.platforms.errors import (
    AuthExpired,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)

DEFAULT_PDS = "https://bsky.social"
RECENT_PAGES = 5
SESSION_ERRORS = ("ExpiredToken", "InvalidToken")
COUNTS = ("like_count", "repost_count", "reply_count", "quote_count", "bookmark_count")


class BlueskyAdapter(Adapter):
    """Publishes to one Bluesky account with an app password."""

    spec = PLATFORMS["bluesky"]
    api_version = "bsky-app-v1"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        self._handle = account.handle.lstrip("@")
        self._client = Client(
            base_url=account.api_base or DEFAULT_PDS, request=Request(timeout=httpx.Timeout(account.timeout))
        )
        self._client.on_session_change(_remember_tokens)
        self._login_lock = threading.Lock()
        self._did: str | None = None

    def close(self) -> None:
        self._client.request.close()

    # -- hooks ----------------------------------------------------------------------------------------

    def _check_extra(self, post: Outgoing) -> None:
        if post.reply_to is not None and not post.reply_to.startswith("at://"):
            raise Permanent(
                self.spec.name, f"{post.reply_to!r} is not a Bluesky post URI (at://...) to reply to"
            )

    def _publish(self, post: Outgoing) -> Receipt:
        did = self._login()
        facets = self._client.detect_facets(post.text) or None
        embed = None
        if post.images:
            images = []
            for image in post.images:
                images.append(models.AppBskyEmbedImages.Image(alt=image.alt, image=self._upload(image)))
            embed = models.AppBskyEmbedImages.Main(images=images)
        reply = self._reply_ref(post.reply_to) if post.reply_to else None
        self._sending()
        created = self._client.send_post(
            post.text, profile_identify=did, reply_to=reply, embed=embed, facets=facets
        )
        return Receipt(created.uri, self.post_url(created.uri))

    def post_url(self, remote_id: str) -> str:
        rkey = remote_id.rsplit("/", 1)[-1]
        return f"https://bsky.app/profile/{self._handle}/post/{rkey}"

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        self._login()
        posts = self._client.get_posts(list(remote_ids)).posts
        collected = self._now()
        return [self._reading(post, collected) for post in posts]

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
        found = self._client.get_posts([parent_uri]).posts
        if not found:
            raise Permanent(self.spec.name, f"the post to reply to ({parent_uri}) no longer exists")
        parent = found[0]
        parent_ref = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
        thread = getattr(parent.record, "reply", None)
        root = thread.root if thread is not None else parent_ref
        return models.AppBskyFeedPost.ReplyRef(parent=parent_ref, root=root)

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
