"""Mastodon through Mastodon.py.

The client is built so that it never talks to the server on its own: ``version_check_mode="created"``
with an explicit ``mastodon_version`` (no instance lookup at start-up, and v2 media), and
``ratelimit_method="throw"`` (never sleeps). ``request_timeout`` is the account's timeout.

Every status is sent with the post's ``Idempotency-Key``: if the runner re-sends a post after a
timeout, Mastodon returns the status it already made instead of a second one, so publishing is
idempotent here (:attr:`MastodonAdapter.idempotent_publish`). Servers that merely implement the API
(Takahe, for one) may ignore the key.

Errors are classified from the status and the server's words together:

- any 5xx is :class:`Transient`; 401 is :class:`AuthExpired`;
- 400 whose words refuse the token is :class:`AuthExpired` too: servers that implement the API without
  being Mastodon answer a bad token that way — Takahe's ``ApiTokenMiddleware`` answers ``400 Invalid
  Bearer token`` as plain text (jointakahe/takahe ``api/middleware.py``), others an OAuth 2.0 body
  ``{"error": "invalid_token", "error_description": "..."}`` (RFC 6750);
- 403 ``This action is outside the authorized scopes`` (Mastodon's ``Api::BaseController``, for a token
  without the scope, e.g. no ``write``), 403 ``Your login is currently disabled`` / ``... missing a
  confirmed e-mail address`` / ``... pending approval`` and 422 ``This method requires an authenticated
  user`` (Mastodon's API documentation for ``verify_credentials``) stop every post of the account:
  :class:`AccountProblem`;
- anything else concerns that one request: :class:`Permanent`.

Mastodon.py keeps only the body's ``"error"`` field in its exception, so ``error_description`` and a body
that is not JSON would be lost: a response hook on the client's session keeps each thread's last answer
(as the Facebook adapter does), and the error's words are read from it.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIOError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from campaign import __version__
from campaign.exceptions import CampaignError
from campaign.plan.languages import tags_of
from campaign.platforms import PLATFORMS
from campaign.platforms.base import (
    AccountConfig,
    AccountIdentity,
    Adapter,
    MetricsReading,
    Outgoing,
    Receipt,
    RecentPost,
    measures,
)
from campaign.platforms.errors import (
    AccountProblem,
    AuthExpired,
    InvalidMedia,
    Permanent,
    PlatformError,
    RateLimited,
    Transient,
)
from campaign.platforms.sessions import open_connection, read_environment_once, server_root

MASTODON_VERSION = "4.3.0"
RECENT_PAGES = 5
COUNTS = ("favourites_count", "reblogs_count", "replies_count", "quotes_count")
WRITE_SCOPES = ("write", "write:statuses")
MAX_WORDS = 300
_REFUSED_TOKEN = re.compile(
    r"invalid_token|invalid_grant|token|credential|unauthori[sz]ed|not authori[sz]ed|authenticat",
    re.IGNORECASE,
)
"""Words of a 400 answer that refuse the token rather than the request."""
_ACCOUNT_PROBLEM = re.compile(
    r"outside the authorized scopes|insufficient_scope|your login is|two-factor"
    r"|requires an authenticated user",
    re.IGNORECASE,
)
"""Words of a 403/422 answer that refuse the account or the token's scopes, whatever is sent."""


class MastodonAdapter(Adapter):
    """Publishes to one Mastodon account with an access token (scopes ``read`` and ``write``)."""

    spec = PLATFORMS["mastodon"]
    api_version = "mastodon-v1"
    idempotent_publish = True

    def __init__(self, account: AccountConfig) -> None:
        super().__init__(account)
        base_url = account.api_base or instance_url(account.handle)
        self._api = Mastodon(
            api_base_url=base_url,
            access_token=account.credentials["access_token"],
            ratelimit_method="throw",
            request_timeout=account.timeout,
            version_check_mode="created",
            mastodon_version=MASTODON_VERSION,
            user_agent=f"campaign/{__version__}",
        )
        self._account_id: str | None = None
        self._last = threading.local()
        self._api.session.hooks["response"].append(self._remember)
        self._server = server_root(base_url)
        read_environment_once(self._api.session, self._server)

    def connect_ahead(self, timeout: float) -> None:
        open_connection(self._api.session, self._server, timeout)

    def close(self) -> None:
        self._api.session.close()

    # -- hooks ----------------------------------------------------------------------------------------

    def _publish(self, post: Outgoing) -> Receipt:
        media_ids = [
            self._api.media_post(
                image.data,
                mime_type=image.mime_type,
                description=image.alt or None,
                file_name=image.name,
            ).id
            for image in post.images
        ]
        self._sending()
        status = self._api.status_post(
            post.text,
            in_reply_to_id=post.reply_to,
            media_ids=media_ids or None,
            visibility="public",
            # Mastodon keeps a language as its ISO 639 code (its own list has "cy" and "en", not "en-GB").
            # A post in several languages is given its first (Mastodon takes one).
            language=tags_of(post.language)[0].split("-")[0].lower() if post.language else None,
            idempotency_key=post.idempotency_key,
        )
        return Receipt(
            str(status["id"]), str(status["url"] or status["uri"]), created_at=_aware(status["created_at"])
        )

    def post_url(self, remote_id: str) -> str:
        username = self.account.handle.lstrip("@").split("@")[0]
        return f"{instance_url(self.account.handle).rstrip('/')}/@{username}/{remote_id}"

    def _metrics_batch(self, remote_ids: Sequence[str]) -> list[MetricsReading]:
        readings = []
        for remote_id in remote_ids:
            try:
                status = self._api.status(remote_id)
            except MastodonNotFoundError:
                continue  # deleted: left out, like the other platforms' batch lookups do
            readings.append(self._reading(_plain(status), self._now()))
        return readings

    def _recent_posts(self, since: datetime) -> Iterable[RecentPost]:
        page: Any = self._api.account_statuses(self._me(), limit=40, exclude_reblogs=True)
        for _ in range(RECENT_PAGES):
            if not page:
                return
            for status in page:
                created = _aware(status["created_at"])
                if created < since:
                    return
                yield RecentPost(str(status["id"]), html_to_text(str(status["content"])), created)
            page = self._api.fetch_next(page)
        if page:
            raise self._lookup_too_short(RECENT_PAGES)

    def _check(self) -> AccountIdentity:
        me = self._api.account_verify_credentials()
        self._account_id = str(me["id"])
        scopes: tuple[str, ...] | None
        try:
            reported = self._api.app_verify_credentials().get("scopes")
            if isinstance(reported, str):  # a space-separated OAuth scope string, from some servers
                reported = reported.split()
            scopes = tuple(str(s) for s in reported) if isinstance(reported, list) else None
        except MastodonServerError:
            raise
        except MastodonAPIError:
            scopes = None  # older servers, and some that only implement the API, have no such endpoint
        problem = None
        wanted = self.account.handle.lstrip("@").split("@")[0].lower()
        if str(me["acct"]).split("@")[0].lower() != wanted:
            problem = f"the token belongs to @{me['acct']}, not {self.account.handle}"
        elif scopes is not None and not any(s in WRITE_SCOPES for s in scopes):
            problem = (
                f"the token cannot post (its scopes are {', '.join(scopes) or 'none'}): create one with the "
                "write:statuses (or write) scope"
            )
        return AccountIdentity(
            platform=self.spec.name,
            handle=self.account.handle if problem is None else "@" + str(me["acct"]),
            remote_user_id=self._account_id,
            display_name=str(me.get("display_name") or ""),
            token_ok=True,
            # Empty when the server does not say which scopes the token has: `accounts check` then reports
            # that its permission to post could not be verified.
            permissions=scopes or (),
            problem=problem,
        )

    def _map_error(self, error: Exception) -> PlatformError | None:
        name = self.spec.name
        if isinstance(error, MastodonRatelimitError):
            reset = self._api.ratelimit_reset
            retry_at = datetime.fromtimestamp(reset, UTC) if reset else None
            return RateLimited(
                name, "rate limit reached (429 Too Many Requests)", retry_at=retry_at, status=429
            )
        if isinstance(error, MastodonNetworkError):
            if "timed out" in str(error).lower():
                return Transient(
                    name, f"the Mastodon server did not answer within {self.account.timeout:g} seconds"
                )
            return Transient(
                name, "could not connect to the Mastodon server (the connection failed or was dropped)"
            )
        if isinstance(error, MastodonIOError):
            return InvalidMedia(name, f"an image could not be read ({type(error).__name__})")
        if isinstance(error, MastodonAPIError):
            status, reason, message = _api_error_parts(error, getattr(self._last, "answer", None))
            text = f"{status} {reason}: {message}" if message else f"{status} {reason}"
            if isinstance(error, MastodonServerError) or (status or 0) >= 500:
                return Transient(name, f"the server failed ({text})", status=status)
            if isinstance(error, MastodonUnauthorizedError) or (
                status == 400 and _REFUSED_TOKEN.search(message)
            ):
                return AuthExpired(name, f"the server refused the access token ({text})", status=status)
            if status in (403, 422) and _ACCOUNT_PROBLEM.search(message):
                return AccountProblem(
                    name, f"the server refused the account or its token's scopes ({text})", status=status
                )
            return Permanent(name, f"the server refused the request ({text})", status=status)
        if isinstance(error, MastodonError):
            return Permanent(name, f"{type(error).__name__}: {error}")
        return None

    # -- helpers --------------------------------------------------------------------------------------

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep this thread's last answer: its status, and an error's words. Not the answer itself: with urllib3 2,
        a connection pool stays open while an answer refers to it, so ``close()`` would leave its connection open."""
        self._last.answer = (response.status_code, _server_words(response) if response.status_code >= 400 else "")

    def _me(self) -> str:
        if self._account_id is None:
            self._account_id = str(self._api.account_verify_credentials()["id"])
        return self._account_id

    def _reading(self, status: Mapping[str, Any], collected: datetime) -> MetricsReading:
        counts = {key: status[key] for key in COUNTS if isinstance(status.get(key), int)}
        return MetricsReading(
            remote_id=str(status["id"]),
            collected_at=collected,
            measures=measures(
                likes=counts.get("favourites_count"),
                reposts=counts.get("reblogs_count"),
                replies=counts.get("replies_count"),
                quotes=counts.get("quotes_count"),
            ),
            source_metrics=counts,
            api_version=self.api_version,
            raw=status,
        )


def instance_url(handle: str) -> str:
    """``https://mastodon.social`` for ``@name@mastodon.social``."""
    parts = handle.lstrip("@").split("@")
    if len(parts) != 2 or not parts[1]:
        raise CampaignError(
            f"the Mastodon handle {handle!r} names no server: write it as @name@server, or give the account an api_base"
        )
    return f"https://{parts[1]}"


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """The text of a status's HTML ``content`` (paragraphs and line breaks kept, tags dropped)."""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    return html.unescape("".join(parser.parts))


def _api_error_parts(
    error: MastodonAPIError, last_answer: tuple[int, str] | None
) -> tuple[int | None, str, str]:
    """The status, reason and the server's own words of a Mastodon.py API error.

    Mastodon.py raises ``(message, status, reason, body["error"])``: it drops ``error_description`` and
    everything of a body that is not JSON, so the words are taken from *last_answer* (the thread's last status
    and words) when it is the one the error was raised for.
    """
    args = list(error.args) + [None] * 4
    status = args[1] if isinstance(args[1], int) else None
    words = str(args[3] or "")
    if last_answer is not None and last_answer[0] == status:
        words = last_answer[1] or words
    return status, str(args[2] or ""), words


def _server_words(response: requests.Response) -> str:
    """An error answer's words: ``error`` and ``error_description`` of its JSON, or its plain text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("error", "error_description") if body.get(key)]
        other = next((str(body[key]) for key in ("message", "detail", "title") if body.get(key)), "")
        text = " — ".join(parts) if parts else other
    elif isinstance(body, str):
        text = body
    else:
        text = response.text
        if "<" in text and ">" in text:
            text = html_to_text(text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1].rstrip() + "…"


def _plain(value: Any) -> Any:
    """Mastodon.py's attribute dicts and lists as plain JSON-like values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


__all__ = ["MastodonAdapter", "html_to_text", "instance_url"]
