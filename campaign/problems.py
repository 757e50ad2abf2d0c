"""Problems found in a plan or a post, reported all at once and always as sentences.

Every problem names the file and line it comes from, where in the plan it is, what is wrong and how
to fix it: ``FILE:LINE: where: what is wrong — how to fix it``. Errors block scheduling; warnings are
shown in previews so a person can decide.

Every problem is one line, whatever the plan holds: control characters (NUL, ANSI escapes, line
breaks), the Unicode line and paragraph separators and the bidirectional overrides are shown escaped,
as Python writes them (``\\x1b``, ``\\u2028``), so a value cannot split, colour or reorder the line it
is quoted in. A list of problems can be capped (:func:`capped`), with a count of the rest, so one
mistake repeated thousands of times does not bury the others (``from: 0001-01-01`` once printed 580,000
lines); a plan's loader keeps only the first :data:`MAX_PROBLEMS` of its own, so memory and time stay
bounded whatever the input, and :func:`total` counts what a list stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

MAX_PROBLEMS = 200
"""How many problems a list shows before "… and N more"."""
MAX_FIELD = 2000
"""The longest a problem's message, fix or place may be, in characters (a safety net: values quoted in
messages are shortened by :func:`shown` long before)."""
MAX_SHOWN = 60
"""How much of a value a message quotes."""

# C0 and C1 controls (NUL, tab, line feed, ESC, NEL…), DEL, the line and paragraph separators, and the
# bidirectional embedding, override and isolate characters that can reorder a terminal line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """*text* with every character that could break, colour or reorder a terminal line shown escaped."""
    if _UNSAFE.search(text) is not None:
        text = _UNSAFE.sub(_escape, text)
    if len(text) > MAX_FIELD:
        text = f"{text[:MAX_FIELD]}… ({len(text) - MAX_FIELD:,} more characters)"
    return text


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """*value* quoted for a message, as ``repr`` writes it, shortened if long: ``'9999…' (4,301 characters)``."""
    if not isinstance(value, str):
        value = str(value)
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def brief(text: str, limit: int = MAX_SHOWN) -> str:
    """*text* as part of a place (``posts[3] (week-launch)``), shortened if it is long: ``aaaa…``."""
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    where: str
    message: str
    fix: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        for name in ("file", "where", "message", "fix"):
            value = getattr(self, name)
            safe = one_line(value)
            if safe is not value:
                object.__setattr__(self, name, safe)

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {self.where}: {label}{self.message} — {self.fix}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


_MORE_FIX = "correct the ones listed, then validate again to see the rest"
_MORE = re.compile(r"^… and ([0-9,]+) more ")


def more_problems(first: Problem, count: int, any_error: bool, listed: int) -> Problem:
    """The one line that stands for *count* problems left off a list, the first of them *first*:
    ``… and 57 more errors, from this line on (only the first 200 are listed)``."""
    kinds = "error" if any_error else "warning"
    return Problem(
        first.file, first.line, "plan",
        f"… and {count:,} more {kinds}{'' if count == 1 else 's'}, from this line on (only the first "
        f"{listed:,} are listed)",
        _MORE_FIX,
        "error" if any_error else "warning",
    )


def _stands_for(problem: Problem) -> int:
    """How many problems *problem* stands for: the count of a "… and N more" line, else 1."""
    match = _MORE.match(problem.message) if problem.fix == _MORE_FIX else None
    return int(match.group(1).replace(",", "")) if match else 1


def total(problems: Iterable[Problem]) -> int:
    """How many problems *problems* stand for: a "… and N more" line counts as its N."""
    return sum(_stands_for(p) for p in problems)


def capped(problems: Sequence[Problem], limit: int = MAX_PROBLEMS) -> list[Problem]:
    """The first *limit* of *problems*, then one line counting the rest (if there are any).

    A "… and N more" line already in *problems* (a plan's loader keeps only the first :data:`MAX_PROBLEMS` of
    its own) counts as its N.
    """
    if len(problems) <= limit:
        return list(problems)
    rest = problems[limit:]
    count = sum(_stands_for(p) for p in rest)
    return [*problems[:limit], more_problems(rest[0], count, any(p.is_error for p in rest), limit)]
