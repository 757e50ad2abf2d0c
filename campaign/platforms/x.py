"""X (Twitter) through tweepy's API v2 client, with OAuth 1.0a user context.

tweepy has no v2 media upload, so images go to ``POST /2/media/upload`` and their alt text to
``POST /2/media/metadata`` through tweepy's own ``requests`` session and OAuth 1.0a signer.
tweepy hard-codes ``https://api.twitter.com`` and passes no timeout; :class:`BaseURLAdapter`,
mounted on the session for X's origins, sends each request to the account's ``api_base`` (the
sandbox, a proxy) with the original URL in :data:`ORIGINAL_URL_HEADER`, and puts the account's
timeout on every call. tweepy never waits on rate limits here: a 429 becomes
:class:`RateLimited` with the latest reset X announced (the 24-hour posting cap included).

Errors are classified from the status and the body together. Every 5xx is :class:`Transient`,
whatever its body: :class:`BaseURLAdapter` raises :class:`XServerError` for it before tweepy parses the
body (tweepy fails with ``AttributeError`` on a JSON body that is not an object). A 403 is read by its
problem ``type`` (RFC 7807): ``.../problems/oauth1-permissions`` — "Your client app is not configured
with the appropriate oauth1 app permissions for this endpoint.", an app without Read and Write
permission, as in plhery/node-twitter-api-v2#493 —, ``.../problems/client-forbidden`` (an app not
attached to a Project, or not enrolled for the endpoint, as in xdevplatform/samples#58) and
``.../problems/unsupported-authentication`` (credentials of the wrong kind) stop every post of the
account: :class:`AccountProblem`. A 403 about duplicate content is :class:`Duplicate`; any other 403
concerns that one post.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from campaign.platforms import PLATFORMS
from campaign.platforms.base import (
    ORIGINAL_URL_HEADER,
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
from campaign.platforms.errors import (
    AccountProblem,
    AuthExpired,
    Duplicate,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.sessions import open_connection, read_environment_once

ORIGINS = ("https://api.twitter.com", "https://api.x.com")
MEDIA_UPLOAD_URL = "https://api.x.com/2/media/upload"
MEDIA_METADATA_URL = "https://api.x.com/2/media/metadata"
METRIC_FIELDS = ["public_metrics", "non_public_metrics", "organic_metrics", "created_at"]
PUBLIC_METRIC_FIELDS = ["public_metrics", "created_at"]
PRIVATE_METRICS_WINDOW = timedelta(days=30)
"""X serves a post's non-public and organic metrics to its author only while the post is under 30 days old."""
SNOWFLAKE_EPOCH_MS = 1288834974657
RECENT_PAGES = 5
ACCOUNT_PROBLEM_TYPES = frozenset({"oauth1-permissions", "client-forbidden", "unsupported-authentication"})
"""Problem types (the last part of ``type``) of a 403 that refuses the app or its tokens, not one post."""
MAX_WORDS = 300
_STATUS_ERRORS: dict[int, type[tweepy.HTTPException]] = {
    400: tweepy.BadRequest,
    401: tweepy.Unauthorized,
    403: tweepy.Forbidden,
    404: tweepy.NotFound,
    429: tweepy.TooManyRequests,
}


class XServerError(Exception):
    """X answered with a 5xx; ``words`` is what the body said (its problem JSON's detail, or its text)."""

    def __init__(self, status: int, words: str) -> None:
        super().__init__(status, words)
        self.status = status
        self.words = words


class BaseURLAdapter(HTTPAdapter):
    """Send requests for *origin* to *base* instead (when given), always with a timeout.

    A 5xx answer raises :class:`XServerError` here, whatever its body, so that no body a failing server
    sends can be misread by tweepy."""

    def __init__(self, origin: str, base: str | None, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.origin = origin.rstrip("/")
        self.base = base.rstrip("/") if base else None
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if self.base and url.startswith(self.origin):
            request.headers[ORIGINAL_URL_HEADER] = url
            request.url = self.base + url[len(self.origin) :]
        response = super().send(
            request, stream=stream, timeout=timeout or self.timeout, verify=verify, cert=cert, proxies=proxies
        )
        if response.status_code >= 500:
            raise XServerError(response.status_code, server_words(response))
        return response


class XAdapter(Adapter):
    """Publishes to X and reads back engagement, as one account (OAuth 1.0a user context)."""

    spec = PLATFORMS["x"]
    api_version = "x-api-v2"

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        credentials = account.credentials
        self._client = tweepy.Client(
            consumer_key=credentials["consumer_key"],
            consumer_secret=credentials["consumer_secret"],
            access_token=credentials["access_token"],
            access_token_secret=credentials["access_token_secret"],
            return_type=requests.Response,
        )
        for origin in ORIGINS:
            self._client.session.mount(origin, BaseURLAdapter(origin, account.api_base, account.timeout))
        read_environment_once(self._client.session, account.api_base or ORIGINS[0])
        self._username = account.handle.lstrip("@")
        self._user_id: str | None = None

    def connect_ahead(self, timeout: float) -> None:
        for origin in ORIGINS:  # posts go to one, images to the other (the same server when redirected)
            open_connection(self._client.session, origin + "/", timeout)

    def close(self) -> None:
        self._client.session.close()

    # -- hooks ----------------------------------------------------------------------------------------

    def _publish(self, post: Outgoing) -> Receipt:
        media_ids = [self._upload(image) for image in post.images]
        self._sending()
        response = self._client.create_tweet(
            text=post.text,
            media_ids=media_ids or None,
            in_reply_to_tweet_id=post.reply_to,
        )
        tweet_id = str(response.json()["data"]["id"])
        return Receipt(tweet_id, self.post_url(tweet_id), created_at=created_at(tweet_id))

    def post_url(self, remote_id: str) -> str:
        return f"https://x.com/{self._username}/status/{remote_id}"

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        # Ask for the private metrics only of posts young enough to have them: asking for them on an older
        # post earns an authorisation error for it.
        now = self._now()
        young = [i for i in remote_ids if now - created_at(i) < PRIVATE_METRICS_WINDOW - timedelta(hours=1)]
        old = [i for i in remote_ids if i not in young]
        readings: list[MetricsReading] = []
        for ids, fields in ((young, METRIC_FIELDS), (old, PUBLIC_METRIC_FIELDS)):
            if ids:
                response = self._client.get_tweets(ids, tweet_fields=fields, user_auth=True)
                collected = self._now()
                readings += [self._reading(tweet, collected) for tweet in response.json().get("data", [])]
        return readings

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        token: str | None = None
        for _ in range(RECENT_PAGES):
            response = self._client.get_users_tweets(
                self._me_id(),
                start_time=since,
                max_results=100,
                pagination_token=token,
                tweet_fields=["created_at", "entities"],
                user_auth=True,
            )
            body = response.json()
            for tweet in body.get("data", []):
                yield RecentPost(str(tweet["id"]), expanded_text(tweet), _parse_time(tweet["created_at"]))
            token = body.get("meta", {}).get("next_token")
            if not token:
                return
        raise self._lookup_too_short(RECENT_PAGES)

    def _check(self) -> AccountIdentity:
        response = self._client.get_me(user_auth=True, user_fields=["username", "name"])
        data = response.json()["data"]
        self._user_id = str(data["id"])
        access = response.headers.get("x-access-level", "")
        permissions = tuple(access.split("-")) if access else ()
        problem = None
        if data["username"].lower() != self._username.lower():
            problem = (
                f"the credentials belong to @{data['username']}, not {self.account.handle}: "
                "check which account's tokens the plan's environment variables hold"
            )
        elif access and "write" not in permissions:
            problem = (
                "the access token can only read: give the app Read and Write permission in the X "
                "developer portal and regenerate the access token"
            )
        return AccountIdentity(
            platform=self.spec.name,
            handle="@" + data["username"],
            remote_user_id=self._user_id,
            display_name=data.get("name", ""),
            token_ok=True,
            permissions=permissions,
            problem=problem,
        )

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        if isinstance(error, XServerError):
            said = f": {error.words}" if error.words else " and no message"
            return Transient(name, f"X's server failed ({error.status}){said}", status=error.status)
        if isinstance(error, tweepy.HTTPException):
            status = error.response.status_code
            message = " ".join(str(m) for m in error.api_messages) or server_words(error.response)
            if isinstance(error, tweepy.TooManyRequests):
                return RateLimited(
                    name,
                    f"rate limit reached ({message})",
                    retry_at=retry_at(error.response.headers),
                    status=status,
                )
            if isinstance(error, tweepy.TwitterServerError) or status >= 500:
                return Transient(name, f"X's server failed ({status}): {message}", status=status)
            if isinstance(error, tweepy.Unauthorized):
                return AuthExpired(name, f"X refused the credentials ({status} {message})", status=status)
            if isinstance(error, tweepy.Forbidden):
                if "duplicate content" in message.lower():
                    return Duplicate(name, message, status=status)
                kind = problem_type(error.response)
                if kind in ACCOUNT_PROBLEM_TYPES or "oauth1 app permissions" in message.lower():
                    return AccountProblem(
                        name,
                        f"X refused the app's access ({status} {kind or 'Forbidden'}): {message}",
                        status=status,
                        code=kind,
                    )
            return Permanent(name, f"X refused the request with {status}: {message}", status=status)
        if isinstance(error, requests.Timeout):
            return Transient(name, f"X did not answer within {self.account.timeout:g} seconds")
        if isinstance(error, requests.ConnectionError):
            return Transient(name, "could not connect to X (the connection failed or was dropped)")
        if isinstance(error, requests.RequestException):
            return Transient(name, f"the request to X failed ({type(error).__name__})")
        if isinstance(error, (KeyError, ValueError)):
            return Transient(name, f"X answered with something unexpected ({type(error).__name__})")
        return None

    # -- helpers --------------------------------------------------------------------------------------

    def _me_id(self) -> str:
        if self._user_id is None:
            data = self._client.get_me(user_auth=True).json()["data"]
            self._user_id = str(data["id"])
        return self._user_id

    def _auth(self) -> Any:
        c = self.account.credentials
        return tweepy.OAuth1UserHandler(
            c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"]
        ).apply_auth()

    def _upload(self, image: MediaItem) -> str:
        """Upload one image through v2 media upload and set its alt text; returns the media id."""
        headers = {"User-Agent": self._client.user_agent}
        response = self._client.session.post(
            MEDIA_UPLOAD_URL,
            headers=headers,
            auth=self._auth(),
            files={"media": (image.name, image.data, image.mime_type)},
            data={"media_category": "tweet_image", "media_type": image.mime_type},
        )
        raise_for_status(response)
        media_id = str(response.json()["data"]["id"])
        if image.alt:
            response = self._client.session.post(
                MEDIA_METADATA_URL,
                headers=headers,
                auth=self._auth(),
                json={"id": media_id, "metadata": {"alt_text": {"text": image.alt}}},
            )
            raise_for_status(response)
        return media_id

    def _reading(self, tweet: Mapping[str, Any], collected: datetime) -> MetricsReading:
        public = tweet.get("public_metrics") or {}
        private = tweet.get("non_public_metrics") or {}
        source: dict[str, int] = {}
        for group in ("public_metrics", "non_public_metrics", "organic_metrics"):
            for key, value in (tweet.get(group) or {}).items():
                if isinstance(value, int):
                    source[f"{group}.{key}"] = value
        return MetricsReading(
            remote_id=str(tweet["id"]),
            collected_at=collected,
            measures=measures(
                views=public.get("impression_count", private.get("impression_count")),
                likes=public.get("like_count"),
                reposts=public.get("retweet_count"),
                replies=public.get("reply_count"),
                quotes=public.get("quote_count"),
                link_clicks=private.get("url_link_clicks"),
                profile_clicks=private.get("user_profile_clicks"),
            ),
            source_metrics=source,
            api_version=self.api_version,
            raw=dict(tweet),
        )


def raise_for_status(response: requests.Response) -> None:
    """Raise the tweepy exception tweepy would raise for *response* (for calls tweepy has no method for)."""
    if 200 <= response.status_code < 300:
        return
    if response.status_code >= 500:
        raise tweepy.TwitterServerError(response)
    raise _STATUS_ERRORS.get(response.status_code, tweepy.HTTPException)(response)


def problem_type(response: requests.Response) -> str | None:
    """The last part of an error answer's problem ``type`` (``oauth1-permissions``), when it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str) or kind in ("", "about:blank"):
        return None
    return kind.rstrip("/").rsplit("/", 1)[-1]


def server_words(response: requests.Response) -> str:
    """What an error answer says: its problem JSON's ``detail``/``title`` or first error message, or its text
    (an HTML page's text without the tags), shortened; empty when it says nothing."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        for value in (
            body.get("detail"),
            body.get("title"),
            first.get("message") if isinstance(first, dict) else first,
            body.get("error"),
        ):
            if isinstance(value, str) and value.strip():
                text = value
                break
        else:
            text = json.dumps(body, ensure_ascii=False)
    elif body is not None:
        text = json.dumps(body, ensure_ascii=False)
    else:
        text = response.text
        if "<" in text and ">" in text:
            text = html.unescape(_TAGS.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1].rstrip() + "…"


_TAGS = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)


def retry_at(headers: Mapping[str, str]) -> datetime | None:
    """When X will take requests again: the latest reset among the exhausted limits it reported."""
    resets: list[int] = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = headers.get(f"{prefix}-reset")
        if reset and reset.isdigit() and headers.get(f"{prefix}-remaining", "0") == "0":
            resets.append(int(reset))
    if not resets and str(headers.get("x-rate-limit-reset", "")).isdigit():
        resets.append(int(headers["x-rate-limit-reset"]))
    return datetime.fromtimestamp(max(resets), UTC) if resets else None


def expanded_text(tweet: Mapping[str, Any]) -> str:
    """The text as written: HTML unescaped and t.co links replaced by the links they stand for."""
    text = html.unescape(str(tweet.get("text", "")))
    for url in (tweet.get("entities") or {}).get("urls", []):
        if url.get("url") and url.get("expanded_url"):
            text = text.replace(url["url"], url["expanded_url"])
    return text


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def created_at(tweet_id: str) -> datetime:
    """When an X post was created, read from its id (a snowflake: milliseconds since X's epoch, shifted 22 bits)."""
    try:
        millis = (int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS
    except ValueError:
        return datetime.now(UTC)
    return datetime.fromtimestamp(millis / 1000, UTC)
