"""Previews of rendered drafts: for the terminal, as JSON, and the filters they share.

The text shown is the draft's text exactly as it will be published; nothing here changes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any

import click

from campaign.plan.languages import describe_language, tags_of
from campaign.platforms import PLATFORMS
from campaign.problems import Problem
from campaign.render import Draft, RenderedPlan

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@dataclass(frozen=True)
class Selection:
    """Which drafts to show: by day (a date or a weekday name), platform and account (id or handle)."""

    day: str | None = None
    platform: str | None = None
    account: str | None = None

    def keep(self, draft: Draft) -> bool:
        if self.platform and draft.platform != self.platform:
            return False
        if self.account and self.account not in (draft.account, draft.handle):
            return False
        return self.day is None or day_matches(self.day, draft.when.local.date())

    def apply(self, drafts: Iterable[Draft]) -> list[Draft]:
        return [d for d in drafts if self.keep(d)]


def parse_day(value: str) -> str:
    """Accept ``2027-03-15``, ``monday`` or ``mon``; raise ValueError with the fix otherwise."""
    text = value.strip().lower()
    if any(day.startswith(text) for day in WEEKDAYS) and len(text) >= 3:
        return text
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a day: write a date such as 2027-03-15 or a weekday such as 'tue'")


def day_matches(selector: str, day: date) -> bool:
    if selector[0].isdigit():
        return day.isoformat() == selector
    return WEEKDAYS[day.weekday()].startswith(selector)


def draft_record(draft: Draft) -> dict[str, Any]:
    """A draft as plain data (the JSON preview, and the store's view of what was previewed)."""
    return {
        "key": draft.key,
        "campaign": draft.campaign,
        "post": draft.post_id,
        "account": draft.account,
        "platform": draft.platform,
        "handle": draft.handle,
        "local_time": draft.when.local.isoformat(timespec="minutes"),
        "zone": draft.when.zone,
        "zone_abbreviation": draft.when.abbreviation,
        "utc_time": draft.when.utc.isoformat(timespec="minutes").replace("+00:00", "Z"),
        "text": draft.text,
        "length": draft.length,
        "limit": draft.limit,
        "bytes": draft.byte_length,
        "byte_limit": draft.byte_limit,
        "language": draft.language,
        "hashtags": list(draft.hashtags),
        "images": [{"file": str(i.path), "alt": i.alt, "mime_type": i.mime_type} for i in draft.images],
        "reply_to": draft.reply_to,
        "follows": draft.follows,
        "languages": tags_of(draft.language),
        "without": dict(draft.without),
        "event": draft.event,
        "template": draft.template,
        "content_hash": draft.content_hash,
        "problems": [problem_record(p) for p in draft.problems],
    }


def problem_record(problem: Problem) -> dict[str, Any]:
    return {
        "severity": problem.severity,
        "file": problem.file,
        "line": problem.line,
        "where": problem.where,
        "message": problem.message,
        "fix": problem.fix,
    }


def json_preview(rendered: RenderedPlan, drafts: list[Draft]) -> str:
    plan = rendered.plan
    campaign = plan.campaign if plan else None
    document = {
        "plan": str(rendered.path),
        "campaign": None if campaign is None else {
            "id": campaign.id,
            "name": campaign.name,
            "timezone": campaign.zone,
            "starts": campaign.starts.isoformat(),
            "ends": campaign.ends.isoformat(),
            "hashtags": [f"#{t}" for t in campaign.all_hashtags],
            "languages": list(campaign.languages) or [campaign.language],
        },
        "posts": [draft_record(d) for d in drafts],
        "problems": [problem_record(p) for p in rendered.problems],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def text_preview(rendered: RenderedPlan, drafts: list[Draft]) -> Iterator[str]:
    """Lines for the terminal: a heading per day, then each post as it will appear."""
    plan = rendered.plan
    if plan is not None:
        campaign = plan.campaign
        yield click.style(f"{campaign.name}", bold=True) + f" · {rendered.path} · {campaign.zone}"
        hashtags = " ".join(f"#{t}" for t in campaign.all_hashtags)
        yield f"{campaign.starts:%a %d %b %Y} – {campaign.ends:%a %d %b %Y} · {hashtags}"
    for day, day_drafts in groupby(drafts, key=lambda d: d.when.local.date()):
        yield ""
        yield click.style(f"━━ {day:%A} {day.day} {day:%B %Y} " + "━" * 40, bold=True)
        for draft in day_drafts:
            yield from _draft_lines(draft)
    yield ""
    yield summary(rendered, drafts)


def _draft_lines(draft: Draft) -> Iterator[str]:
    spec = PLATFORMS[draft.platform]
    over = draft.length > draft.limit
    count = click.style(f"{draft.length}/{draft.limit}", fg="red" if over else None, bold=over)
    if draft.byte_limit is not None:
        over_bytes = draft.byte_length > draft.byte_limit
        count += " · " + click.style(f"{draft.byte_length}/{draft.byte_limit} bytes",
                                     fg="red" if over_bytes else None, bold=over_bytes)
    platform = click.style(f"{spec.label} {draft.handle}", fg=spec.terminal_colour, bold=True)
    yield ""
    yield (f"{draft.when.local:%H:%M} {draft.when.abbreviation} ({draft.when.utc:%H:%M} UTC) · {platform} · "
           f"{draft.key} · {count} · {draft.language} ({describe_language(draft.language)}) · "
           f"content {draft.content_hash[:12]}")
    if draft.reply_to:
        yield f"  ↳ replies to {draft.reply_to}"
    if draft.follows:
        yield f"  ⇄ published with its pair {draft.follows}, never before it"
    for language, reason in draft.without:
        yield f"  ⊘ not in {describe_language(language)}: {reason}"
    for line in draft.text.splitlines() or [""]:
        yield f"  │ {line}"
    for image in draft.images:
        first, *more = image.alt.splitlines() or [""]
        yield f"  │ [image {image.path.name}] alt: {first}"
        yield from (f"  │ {line}" for line in more)
    for problem in draft.problems:
        colour = "red" if problem.is_error else "yellow"
        label = "error" if problem.is_error else "warning"
        yield click.style(f"  {label} ({problem.file}:{problem.line}): {problem.message} — {problem.fix}", fg=colour)


def summary(rendered: RenderedPlan, drafts: list[Draft]) -> str:
    errors, warnings = len(rendered.errors), len(rendered.warnings)
    accounts = len({d.account for d in drafts})
    days = len({d.when.local.date() for d in drafts})
    return (f"{plural(len(drafts), 'post')} on {plural(accounts, 'account')} over {plural(days, 'day')} · "
            f"{plural(errors, 'error')} · {plural(warnings, 'warning')}")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
