"""The few kinds of platform error the rest of the toolkit deals with.

Every adapter turns its client library's exceptions into one of these, so that the one place that
decides about retries (the runner) never needs to know tweepy from atproto:

- :class:`RateLimited`: wait until :attr:`RateLimited.retry_at` (or back off when it is unknown).
- :class:`Transient`: try again later; :attr:`Transient.outcome_unknown` says whether the post may
  already be out (a timeout after the request was sent), in which case reconcile before re-sending.
- :class:`Permanent`: a person must change something; :attr:`PlatformError.message` says what the
  platform objected to. :class:`TooLong` and :class:`InvalidMedia` are raised locally, before any
  request is made.
- :class:`AccountProblem`: the account cannot post until a person fixes it (a wrong app secret, a
  token without the permission or scope to post). The runner pauses that account and raises an alert.
  :class:`AuthExpired` is the account problem of a refused token: when :attr:`AuthExpired.relogin` is
  true the adapter has dropped a short-lived session and will log in again with the stored
  credentials on its next call; otherwise a person must renew the credential.
- :class:`Duplicate`: the platform says it already has a post with these words. That is not proof that
  *this* post is out (another post may have the same words): look it up before anything else.

Messages never contain a credential: they are passed through :func:`campaign.platforms.credentials.redact`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from campaign.exceptions import CampaignError
from campaign.platforms.credentials import redact


class PlatformError(CampaignError):
    """A platform refused or failed a request. ``message`` is the platform's own words, secret-free."""

    kind = "error"
    advice = ""

    def __init__(
        self, platform: str, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        self.platform = platform
        self.message = redact(message.strip()) or "no message"
        self.status = status
        """The HTTP status of the platform's answer, when there was one."""
        self.code = code
        """The platform's own error code or name (``"190"``, ``"ExpiredToken"``), when it gave one."""
        super().__init__(self.platform, self.message)

    @property
    def label(self) -> str:
        from campaign.platforms import PLATFORMS

        spec = PLATFORMS.get(self.platform)
        return spec.label if spec else self.platform

    @property
    def summary(self) -> str:
        """What happened, in the platform's words, without advice to a person (for what the runner handles by
        itself: a retry, a lookup)."""
        text = f"{self.label}: {self.message}"
        return text if text.endswith((".", "!", "?")) else text + "."

    def __str__(self) -> str:
        return f"{self.summary} {self.advice}".rstrip()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(platform={self.platform!r}, message={self.message!r}, status={self.status!r})"


class RateLimited(PlatformError):
    """The platform asked us to slow down; try again at ``retry_at`` (aware UTC) when it is known."""

    kind = "rate_limited"

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        retry_at: datetime | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.retry_at = retry_at.astimezone(UTC) if retry_at is not None else None
        super().__init__(platform, message, status=status, code=code)

    @property
    def advice(self) -> str:  # type: ignore[override]
        if self.retry_at is None:
            return "The platform gave no reset time: wait a few minutes before trying again."
        return f"Try again after {self.retry_at:%Y-%m-%d %H:%M:%S} UTC."

    def __repr__(self) -> str:
        return (
            f"RateLimited(platform={self.platform!r}, message={self.message!r}, retry_at={self.retry_at!r})"
        )


class Transient(PlatformError):
    """A failure that may go away by itself: a timeout, a dropped connection, a 5xx answer."""

    kind = "transient"

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        outcome_unknown: bool = False,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.outcome_unknown = outcome_unknown
        """True when a post was sent but no answer came back: it may be out. Reconcile before re-sending."""
        super().__init__(platform, message, status=status, code=code)

    @property
    def advice(self) -> str:  # type: ignore[override]
        if self.outcome_unknown:
            return (
                "The post may or may not have been published: look for it on the platform "
                "(reconcile) before sending it again."
            )
        return "This is usually temporary: try again in a minute."


class Permanent(PlatformError):
    """The platform will refuse this request every time until a person changes something."""

    kind = "permanent"
    advice = "Change the post or the account's settings before trying again."


class TooLong(Permanent):
    """The text is longer than the platform allows; raised before any request is made."""

    kind = "too_long"

    def __init__(self, platform: str, message: str, *, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(platform, message)

    advice = "Shorten the post (or give this platform its own variant) and approve it again."


class InvalidMedia(Permanent):
    """An image the platform would refuse (too many, unreadable, unsupported type, alt text too long)."""

    kind = "invalid_media"
    advice = "Fix the post's images or alt text and approve it again."


class MediaNotServed(InvalidMedia):
    """The account's media host does not serve the approved picture where the platform will fetch it."""

    advice = ("Put the approved file where the media host serves it (or correct the plan's media_host), then put "
              "the post back in the queue with `campaign retry`.")


class AccountProblem(PlatformError):
    """The account cannot post until a person fixes its credentials or permissions; every post would fail."""

    kind = "account"
    advice = (
        "Fix the account's credentials or permissions, update the environment variables the plan names for "
        "them, run `campaign accounts check PLAN`, then resume the account."
    )


class AuthExpired(AccountProblem):
    """The platform refused the credentials or the session made from them."""

    kind = "auth_expired"

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        relogin: bool = False,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.relogin = relogin
        """True when only a short-lived session expired: the next call logs in again by itself."""
        super().__init__(platform, message, status=status, code=code)

    @property
    def advice(self) -> str:  # type: ignore[override]
        if self.relogin:
            return "The session was dropped and the next attempt logs in again with the stored credentials."
        return (
            "Renew the account's token, update the environment variable the plan names for it, "
            "and run `campaign accounts check PLAN`."
        )


class Duplicate(PlatformError):
    """The platform already has a post with exactly this content from this account."""

    kind = "duplicate"
    advice = "Do not re-send: look for the post on the account (campaign reconcile) before anything else."


__all__ = [
    "AccountProblem",
    "AuthExpired",
    "Duplicate",
    "InvalidMedia",
    "Permanent",
    "PlatformError",
    "RateLimited",
    "TooLong",
    "Transient",
]
