"""What the desk refuses, and why, in one sentence with the right HTTP status."""

from __future__ import annotations

import logging

log = logging.getLogger("campaign.web")
"""Where the desk logs what went wrong unexpectedly (with the traceback); a person sees one sentence."""


class DeskError(Exception):
    """A request the desk refuses; the message is one sentence, safe to show."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Refused(DeskError):
    """Not allowed: the person's role or scope does not cover it, or the form was not this session's."""

    status = 403


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    """The store changed since the page was loaded, or does not allow it now."""

    status = 409
