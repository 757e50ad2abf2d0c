"""The toolkit's exceptions, in one module so that every layer can import them without cycles.

Every message is a sentence a user can act on: it quotes the bad value and says what to do next.
The CLI turns a :class:`CampaignError` into a clean message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaign.problems import Problem


class CampaignError(Exception):
    """Base class for errors the user can fix."""


class UnknownPlatformError(CampaignError, KeyError):
    """A platform name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PlanError(CampaignError):
    """A plan that has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(CampaignError):
    """The store cannot be used as asked: a bad URL, a database from a newer version, a refused change."""
