"""The campaign store: the posts table is the truth about every post."""

from campaign.store.models import PostState
from campaign.store.store import Selection, Status, Store, SyncReport

__all__ = ["PostState", "Selection", "Status", "Store", "SyncReport"]
