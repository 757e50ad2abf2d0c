"""What a person sees when a command fails: one line that says what failed and what to do, never a traceback.

The command group (:mod:`campaign.cli`) sends every error a command raises through :func:`as_click_error`,
once, for every command:

- the toolkit's own errors (:class:`~campaign.exceptions.CampaignError`) are already sentences: shown as
  they are, exit 1;
- the store's database errors are explained (read-only, damaged, unreachable, missing a table…) by
  :func:`campaign.store.database.explain`, exit 1;
- anything else is unexpected: its full traceback is written to a log file of its own, and the one line
  says what failed and names that file (as pip does), exit :data:`EXIT_UNEXPECTED`.

Log files go to ``$XDG_STATE_HOME/campaign/log/`` (``~/.local/state/campaign/log/`` by default), one per
failure, the newest :data:`LOG_KEEP` kept. A command line's passwords (``postgresql://user:secret@…``) are
not written. Set ``CAMPAIGN_DEBUG=1`` to have the error raised as well (for developers and tests).
"""

from __future__ import annotations

import errno
import os
import platform
import re
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from campaign import __version__
from campaign.cli import ARGS_META, STORE_META
from campaign.exceptions import CampaignError, PlanError
from campaign.problems import one_line

EXIT_UNEXPECTED = 70
"""Exit status for a failure that is a bug, not a mistake in what was given (EX_SOFTWARE in sysexits.h)."""
LOG_KEEP = 20
"""How many failure logs are kept; older ones are removed when a new one is written."""
DEBUG_VARIABLE = "CAMPAIGN_DEBUG"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


class CommandFailed(click.ClickException):
    """A failure explained in one line (exit 1)."""


class UnexpectedFailure(click.ClickException):
    """A failure that is a bug: one line naming the log file with its traceback."""

    exit_code = EXIT_UNEXPECTED


def log_folder() -> Path:
    """``$XDG_STATE_HOME/campaign/log``, i.e. ``~/.local/state/campaign/log`` by default."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "campaign" / "log"


def as_click_error(error: Exception, ctx: click.Context) -> click.ClickException:
    """The one-line error to show for *error*, raised by the command *ctx* ran."""
    if isinstance(error, PlanError):
        lines = [str(problem) for problem in error.problems] or [str(error)]
        return CommandFailed("\n".join(one_line(line) for line in lines))
    if isinstance(error, CampaignError):
        return CommandFailed(_first_line(error))
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(error, SQLAlchemyError):
        from campaign.store.database import explain, explained

        where = str(ctx.meta.get(STORE_META) or "in use")
        message = explain(error, where)
        if explained(error):
            return CommandFailed(one_line(message))
        return CommandFailed(f"{one_line(message)}; {_log_note(error, ctx)}")
    if isinstance(error, OSError):
        target = f" {error.filename}" if error.filename else ""
        what = error.strerror or _first_line(error)
        return CommandFailed(one_line(f"campaign {_command(ctx)} could not use{target}: {what} — check the path and "
                                      f"its permissions, and that the disk is not full; {_log_note(error, ctx)}"))
    detail = f"{type(error).__name__}: {_first_line(error)}" if str(error) else type(error).__name__
    return UnexpectedFailure(one_line(f"campaign {_command(ctx)} failed unexpectedly ({detail}) — this is a bug "
                                      f"in campaign, not in what you gave it; {_log_note(error, ctx)}: please send "
                                      "it to whoever looks after campaign"))


def passes_through(error: BaseException) -> bool:
    """True for what Click itself shows or handles: its own errors, exits, Ctrl-C and a closed pipe."""
    if isinstance(error, (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                          SystemExit, KeyboardInterrupt, EOFError)):
        return True
    return isinstance(error, OSError) and error.errno == errno.EPIPE


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def write_log(error: BaseException, args: Sequence[str]) -> Path:
    """Write *error*'s full traceback, with the command line and versions, to a new log file; return its path."""
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = folder / f"campaign-{now:%Y%m%dT%H%M%S.%fZ}-{os.getpid()}.log"
    command = " ".join(args)
    text = (f"campaign {__version__} on Python {platform.python_version()} ({sys.platform}), "
            f"{now.isoformat(timespec='seconds')}\n"
            f"command: campaign {command}\n\n"
            + "".join(traceback.format_exception(error)))
    path.write_text(_PASSWORD_IN_URL.sub(r"\1***@", text), encoding="utf-8")
    for old in sorted(folder.glob("campaign-*.log"))[:-LOG_KEEP]:
        old.unlink(missing_ok=True)
    return path


def _log_note(error: BaseException, ctx: click.Context) -> str:
    try:
        path = write_log(error, ctx.meta.get(ARGS_META, ()))
    except OSError as failure:
        return (f"its traceback could not be saved ({failure.strerror or failure}); run it again with "
                f"{DEBUG_VARIABLE}=1 to see it")
    return f"the full traceback is in {path}"


def _command(ctx: click.Context) -> str:
    return ctx.invoked_subcommand or ctx.info_name or "campaign"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
