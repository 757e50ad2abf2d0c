"""One message per problem: the same problem found in several drafts is reported once, naming them all.

Rendering checks each draft on its own (one per post × account × day), so one wrong number in a post sent
to four accounts is found four times, at the same file and line, with the same words. When problems are
reported, those that differ only in where they were found become one problem whose place lists every
account it affects: ``post 'launch' for @LancsPolice (x), Lancashire Police (facebook): …``. The drafts
keep their own problems (a preview shows each post's), so nothing is lost by grouping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from campaign.problems import Problem, Severity

# How rendering names a draft's place: ``post 'launch' for @LancsPolice (x)``. A post id never holds a
# quote or a space (the loader allows only [a-z0-9_-]), so the id ends at its closing quote.
_DRAFT_PLACE = re.compile(r"^(post '[^']*') for (.+)$")


def grouped(problems: Iterable[Problem]) -> list[Problem]:
    """*problems* with those alike but for their place merged into one, in the order each was first found."""
    places: dict[tuple[str, int, str, str, Severity], list[str]] = {}
    for problem in problems:
        key = (problem.file, problem.line, problem.message, problem.fix, problem.severity)
        found = places.setdefault(key, [])
        if problem.where not in found:
            found.append(problem.where)
    return [Problem(file, line, merged_place(wheres), message, fix, severity)
            for (file, line, message, fix, severity), wheres in places.items()]


def merged_place(wheres: list[str]) -> str:
    """``post 'a' for @X (x), Page (facebook)`` for the places of one post; other places joined by ``; ``."""
    if len(wheres) == 1:
        return wheres[0]
    matches = [_DRAFT_PLACE.match(where) for where in wheres]
    posts = {match[1] for match in matches if match is not None}
    if len(posts) == 1 and all(matches):
        return f"{posts.pop()} for " + ", ".join(match[2] for match in matches if match is not None)
    return "; ".join(wheres)
