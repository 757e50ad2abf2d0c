"""Campaign plans: the YAML a comms officer writes, loaded into a checked, typed model."""

from campaign.plan.loader import load_plan, read_plan
from campaign.plan.model import (
    Account,
    Campaign,
    Content,
    Event,
    Image,
    Link,
    Occurrence,
    Phone,
    Plan,
    PostEntry,
)

__all__ = [
    "Account", "Campaign", "Content", "Event", "Image", "Link", "Occurrence", "Phone", "Plan", "PostEntry",
    "load_plan", "read_plan",
]
