"""The plan's posts as an iCalendar file (RFC 5545), so the team can see the week in Outlook."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from campaign import __version__
from campaign.platforms import PLATFORMS
from campaign.render import Draft, RenderedPlan

SLOT = timedelta(minutes=15)
"""How long each post's entry lasts in the calendar: long enough to be seen in a week view."""


def calendar_bytes(rendered: RenderedPlan, drafts: Iterable[Draft], now: datetime | None = None) -> bytes:
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", f"-//campaign toolkit {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if rendered.plan is not None:
        calendar.add("x-wr-calname", rendered.plan.campaign.name)
        calendar.add("x-wr-timezone", rendered.plan.campaign.zone)
    for draft in drafts:
        calendar.add_component(_event(draft, rendered, stamp))
    result: bytes = calendar.to_ical()
    return result


def _event(draft: Draft, rendered: RenderedPlan, stamp: datetime) -> Event:
    spec = PLATFORMS[draft.platform]
    first_line = draft.text.splitlines()[0] if draft.text else ""
    if len(first_line) > 60:
        first_line = first_line[:59].rstrip() + "…"
    event = Event()
    event.add("uid", f"{draft.key}@{draft.campaign}.campaign")
    event.add("dtstamp", stamp)
    event.add("dtstart", draft.when.utc)
    event.add("dtend", draft.when.utc + SLOT)
    event.add("summary", f"{spec.label} {draft.handle}: {first_line}")
    details = [draft.text, "", f"Post: {draft.key}", f"Local time: {draft.when.label()}"]
    details += [f"Image: {image.path.name} — alt: {image.alt}" for image in draft.images]
    details += [f"{p.severity}: {p.message}" for p in draft.problems]
    event.add("description", "\n".join(details))
    event.add("categories", [spec.label])
    if draft.event and rendered.plan is not None:
        location = rendered.plan.events[draft.event].location
        if location:
            event.add("location", location)
    return event
