"""The adapters of the store's accounts, with the credentials their environment variables hold."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from campaign.exceptions import CampaignError
from campaign.platforms import PLATFORMS, adapter_class
from campaign.platforms.base import AccountConfig, Adapter
from campaign.platforms.credentials import resolve_credentials
from campaign.platforms.media_host import MediaHostSettings, media_host
from campaign.store import Store
from campaign.store.models import AccountRow, Post

AdapterFactory = Callable[[AccountRow], Adapter]
"""Makes the adapter of a store account (tests and rehearsals give their own)."""


def account_adapter(row: AccountRow, environ: Mapping[str, str], timeout: float = 10.0) -> Adapter:
    """The adapter of a store account, with the credentials its environment variables hold."""
    spec = PLATFORMS[row.platform]
    credentials = resolve_credentials(spec, json.loads(row.credentials), environ)
    host = media_host(MediaHostSettings.from_json(row.media_host), environ) if row.media_host else None
    config = AccountConfig(platform=row.platform, handle=row.handle, credentials=credentials, api_base=row.api_base,
                           timeout=timeout, media_host=host)
    return adapter_class(row.platform)(config)


class Adapters:
    """One adapter per account of the store, made on first use and closed together."""

    def __init__(self, store: Store, factory: AdapterFactory) -> None:
        self.store, self.factory = store, factory
        self._made: dict[tuple[str, str], Adapter] = {}

    def of(self, post: Post) -> Adapter:
        key = (post.campaign_id, post.account)
        if key not in self._made:
            rows = [a for a in self.store.accounts(post.campaign_id) if a.key == post.account]
            if not rows:
                raise CampaignError(f"the store has no account {post.account!r} for {post.key}")
            self._made[key] = self.factory(rows[0])
        return self._made[key]

    def close(self) -> None:
        for adapter in self._made.values():
            adapter.close()
        self._made.clear()
