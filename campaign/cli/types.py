"""Click types shared by the commands: files and folders to write, and finite numbers.

A blank file name is refused, never read as ``.``; a number option refuses ``nan`` and ``inf`` (which
:class:`click.FloatRange` lets through), so a command never starts with a speed or a timeout it cannot use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click


class OutputPath(click.Path):
    """A path to write to: as :class:`click.Path`, but ``-o ''`` is refused instead of meaning this folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            what = "folder" if not self.file_okay else "file"
            self.fail(f"is blank: give the name of the {what} to write", param, ctx)
        return super().convert(value, param, ctx)


OUTPUT_FILE = OutputPath(dir_okay=False, writable=True, path_type=Path)
"""A file to write (its folder must exist; it is replaced whole)."""
OUTPUT_FOLDER = OutputPath(file_okay=False, path_type=Path)
"""A new or empty folder to write into (made whole, or not at all)."""


class Number(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf``."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number it can use: give one such as 2 or 0.5", param, ctx)
        return number
