"""Where the bundled example campaign lives, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_PLAN = "modern-slavery-week.yaml"


def example_root() -> Path:
    """The folder holding the example's ``schedules/`` and ``posts/``.

    A wheel carries them inside the package (``campaign/example/``); a source checkout or an editable
    install has them at the top of the repository, which is where they are edited.
    """
    packaged = Path(__file__).parent / "example"
    if (packaged / "schedules" / EXAMPLE_PLAN).is_file():
        return packaged
    return Path(__file__).parent.parent


def example_plan() -> Path:
    return example_root() / "schedules" / EXAMPLE_PLAN
