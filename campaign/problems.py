"""Problems found in a plan or a post, reported all at once and always as sentences.

Every problem names the file and line it comes from, where in the plan it is, what is wrong and how
to fix it: ``FILE:LINE: where: what is wrong — how to fix it``. Errors block scheduling; warnings are
shown in previews so a person can decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    where: str
    message: str
    fix: str
    severity: Severity = "error"

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
