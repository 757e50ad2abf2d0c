"""Files a plan names stay inside its campaign folder.

A campaign is one folder: the plan in ``schedules/`` (its images beside it) and its templates in ``posts/``,
as ``campaign init`` lays it out. Every file a plan or a template names — the templates folder, each
template, each image — must resolve, after following symlinks, to somewhere inside that folder. An
absolute path, a ``..`` or a symlink that leads elsewhere is refused where the plan names it, so that
nothing the toolkit shows (previews), copies (records bundles) or uploads (the runner) can come from
outside the campaign: a plan copied from someone else cannot make it read ``/etc/passwd``.
"""

from __future__ import annotations

import os
from pathlib import Path

PUT_IT_INSIDE = ("put the file inside the campaign folder {root} (images beside the plan, e.g. in "
                 "schedules/images/; templates in posts/) and name it relative to the plan, with no symlink "
                 "leading out")


def campaign_folder(plan_path: Path | str) -> Path:
    """The campaign folder of the plan at *plan_path*, symlinks resolved: the parent of the plan's folder.

    A plan kept at the top of a file system's root folder (``/srv/plan.yaml``) has its own folder as its
    campaign folder, so that no plan ever makes the whole file system its campaign.
    """
    folder = Path(os.path.abspath(plan_path)).parent
    parent = folder.parent
    root = folder if parent.parent == parent else parent
    return root.resolve()


class OutsideCampaign(Exception):
    """A path that leads outside the campaign folder."""

    def __init__(self, shown: str, target: Path, root: Path) -> None:
        super().__init__(f"{shown!r} leads outside the campaign folder (to {str(target)!r})")
        self.message = str(self)
        self.fix = PUT_IT_INSIDE.format(root=root)


class UnusablePath(Exception):
    """A path the operating system cannot look up: a name too long, a loop of symlinks, no permission."""

    def __init__(self, shown: str, reason: str) -> None:
        super().__init__(f"{shown!r} cannot be used: {reason}")
        self.message = str(self)
        self.fix = "check the name; files are named relative to the plan's folder, inside the campaign folder"


def inside(path: Path, root: Path, shown: str | None = None) -> Path:
    """*path* with every symlink followed, if that is inside *root* (a resolved folder).

    Raises :class:`FileNotFoundError` if it does not exist, :class:`OutsideCampaign` if it leads outside
    *root*, and :class:`UnusablePath` if it cannot be looked up at all. *shown* is how the plan wrote it.
    """
    label = str(path) if shown is None else shown
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise
    except RuntimeError as exc:  # a loop of symlinks, on Pythons that raise it this way
        raise UnusablePath(label, str(exc)) from None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ELOOP, EACCES, an embedded NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UnusablePath(label, reason.lower()) from None
    if resolved != root and not resolved.is_relative_to(root):
        raise OutsideCampaign(label, resolved, root)
    return resolved


def outside_problem(path: Path, root: Path, what: str, shown: str) -> tuple[str, str] | None:
    """What is wrong with using *path* (which the plan wrote as *shown*), if it leads outside *root*.

    None if it is inside, and also if it does not exist: saying that is the caller's part, in its own words.
    *what* names it in the message: ``the image``, ``the templates folder``.
    """
    try:
        inside(path, root, shown)
    except FileNotFoundError:
        return None
    except (OutsideCampaign, UnusablePath) as problem:
        return f"{what} {problem.message}", problem.fix
    return None
