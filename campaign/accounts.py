"""From a plan's accounts to working adapters: credentials from the environment, and account checks."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from campaign.exceptions import CampaignError
from campaign.plan import Account, Plan
from campaign.platforms import PLATFORMS, adapter_class
from campaign.platforms.base import AccountConfig, AccountIdentity, MediaItem
from campaign.platforms.credentials import resolve_credentials
from campaign.platforms.errors import PlatformError
from campaign.platforms.media_host import media_host

DEFAULT_TIMEOUT = 10.0
UNVERIFIED = {
    "mastodon": (
        "the server does not say which permissions (scopes) the token has, so we could not check that it "
        "is allowed to post. On the server, open Preferences → Development, choose the application and "
        "check that it has the 'write' (or 'write:statuses') scope"
    ),
    "x": (
        "X did not say what the access token may do, so we could not check that it is allowed to post. "
        "In the X developer portal, check that the app has 'Read and write' permission"
    ),
    "facebook": (
        "Facebook did not say which permissions the Page token has, so we could not check that it is "
        "allowed to post. In Meta's Access Token Debugger, check that the token has pages_manage_posts "
        "and pages_read_engagement"
    ),
}
"""What to tell a person when the platform does not report what an account's credentials may do."""


def account_config(account: Account, environ: Mapping[str, str] = os.environ,
                   timeout: float = DEFAULT_TIMEOUT) -> AccountConfig:
    """The adapter configuration for a plan account, its secrets read from the variables the plan names."""
    credentials = resolve_credentials(PLATFORMS[account.platform], account.credentials, environ)
    host = media_host(account.media_host, environ) if account.media_host else None
    return AccountConfig(platform=account.platform, handle=account.handle, credentials=credentials,
                         api_base=account.api_base, timeout=timeout, media_host=host)


@dataclass(frozen=True)
class AccountStatus:
    """The answer to "will this account work?" for one account of a plan.

    Three outcomes: :attr:`ready` (the credentials work and may post); :attr:`problem` set (they do not work,
    or may not post); or they work but the platform does not say what they may do, so their permission to
    post could not be verified (:attr:`unverified` says so, and what a person can check). The last is not a
    failure, and not "ready" either.
    """

    account: Account
    identity: AccountIdentity | None
    problem: str | None
    unverified: str | None = None
    """Why the account's permission to post could not be checked, and what to check instead."""
    media_host: str | None = None
    """What was checked of the account's media host (Instagram), where it has one and it works."""
    media_host_failed: bool = False
    """The problem is the media host's (the token itself works)."""

    @property
    def ok(self) -> bool:
        """The credentials work and nothing is known to be wrong (their right to post may be unverified)."""
        return self.problem is None and self.identity is not None and self.identity.token_ok

    @property
    def ready(self) -> bool:
        """The credentials work and the platform confirmed they may post."""
        return self.ok and self.unverified is None


def check_account(account: Account, environ: Mapping[str, str] = os.environ,
                  pictures: Sequence[MediaItem] = ()) -> AccountStatus:
    """Ask the platform who the account's credentials belong to; every failure becomes a sentence. Its media host,
    where it has one, is tried as a post would use it: with *pictures*, the plan's pictures for the account."""
    try:
        config = account_config(account, environ)
    except CampaignError as exc:
        return AccountStatus(account, None, str(exc))
    adapter = adapter_class(account.platform)(config)
    try:
        identity = adapter.check()
    except CampaignError as exc:
        return AccountStatus(account, None, f"could not reach {PLATFORMS[account.platform].label}: {exc}")
    finally:
        adapter.close()
    problem = identity.problem
    host_checked = None
    host_failed = False
    if problem is None and config.media_host is not None:
        try:
            host_checked = config.media_host.check(account.platform, config.timeout, pictures)
        except PlatformError as exc:  # its own words: the platform is not at fault, nor is it "temporary"
            problem, host_failed = f"media host: {exc.message}", True
        except CampaignError as exc:
            problem, host_failed = f"media host: {exc}", True
    if problem is None and _normal(identity.handle) != _normal(account.handle):
        problem = (f"the credentials belong to {identity.handle}, not {account.handle}: check the variables "
                   "the plan names for this account")
    unverified = None
    if problem is None and identity.token_ok and not identity.permissions:
        # Adapters leave the permissions empty when the platform does not report them.
        label = PLATFORMS[account.platform].label
        unverified = UNVERIFIED.get(
            account.platform,
            f"{label} did not say what the credentials may do, so we could not check that they are allowed "
            "to post",
        )
    return AccountStatus(account, identity, problem, unverified, host_checked, host_failed)


def plan_pictures(plan: Plan) -> dict[str, list[MediaItem]]:
    """The pictures of *plan*'s posts, by account, for the accounts whose platform fetches them from a media host
    (each picture once): what ``accounts check`` looks for where the host serves them. Nothing is rendered for a
    plan without such an account."""
    from campaign.render import Renderer

    hosted = {a.id for a in plan.accounts.values() if a.media_host}
    if not hosted:
        return {}
    pictures: dict[str, dict[str, MediaItem]] = {}
    for draft in Renderer(plan).drafts():
        if draft.account in hosted:
            for image in draft.images:
                pictures.setdefault(draft.account, {}).setdefault(
                    image.sha256, MediaItem.from_file(image.path, image.alt, image.mime_type, image.sha256))
    return {account: list(found.values()) for account, found in pictures.items()}


def _normal(handle: str) -> str:
    return handle.lstrip("@").casefold().replace(" ", "")
