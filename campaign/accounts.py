"""From a plan's accounts to working adapters: credentials from the environment, and account checks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from campaign.exceptions import CampaignError
from campaign.plan import Account
from campaign.platforms import PLATFORMS, adapter_class
from campaign.platforms.base import AccountConfig, AccountIdentity
from campaign.platforms.credentials import resolve_credentials

DEFAULT_TIMEOUT = 10.0


def account_config(account: Account, environ: Mapping[str, str] = os.environ,
                   timeout: float = DEFAULT_TIMEOUT) -> AccountConfig:
    """The adapter configuration for a plan account, its secrets read from the variables the plan names."""
    credentials = resolve_credentials(PLATFORMS[account.platform], account.credentials, environ)
    return AccountConfig(platform=account.platform, handle=account.handle, credentials=credentials,
                         api_base=account.api_base, timeout=timeout)


@dataclass(frozen=True)
class AccountStatus:
    """The answer to "will this account work?" for one account of a plan."""

    account: Account
    identity: AccountIdentity | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.identity is not None and self.identity.token_ok


def check_account(account: Account, environ: Mapping[str, str] = os.environ) -> AccountStatus:
    """Ask the platform who the account's credentials belong to; every failure becomes a sentence."""
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
    if problem is None and _normal(identity.handle) != _normal(account.handle):
        problem = (f"the credentials belong to {identity.handle}, not {account.handle}: check the variables "
                   "the plan names for this account")
    return AccountStatus(account, identity, problem)


def _normal(handle: str) -> str:
    return handle.lstrip("@").casefold().replace(" ", "")
