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

Commands that keep working in the background (``run``, ``rehearse``, ``demo``) log what goes wrong there
and carry on; :func:`one_line_logging` shows each such record as one line and keeps its traceback in a log
file the line names.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    path = _new_log()
    trace = _PASSWORD_IN_URL.sub(r"\1***@", "".join(traceback.format_exception(error)))
    path.write_text(_heading(args) + trace, encoding="utf-8")
    return path


@contextmanager
def one_line_logging(args: Sequence[str]) -> Iterator[None]:
    """While a long-running command works, show each warning its background work logs as one line on stderr,
    and keep the records in full, tracebacks included, in a log file (made only if something is logged) that
    the line names."""
    if debugging():  # tracebacks as logging prints them
        yield
        return
    logger = logging.getLogger("campaign")
    path = _new_log(make=False)
    console = logging.StreamHandler()
    console.setFormatter(_OneLine(path))
    console.setLevel(logging.WARNING)
    in_full = _LogFile(path, encoding="utf-8", delay=True)
    in_full.setFormatter(_InFull(_heading(args)))
    in_full.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [in_full, console]
    propagate, level = logger.propagate, logger.level
    for handler in handlers:
        logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.propagate, logger.level = propagate, level


class _OneLine(logging.Formatter):
    def __init__(self, path: Path) -> None:
        super().__init__("%(message)s")
        self.path = path

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {_first_line(error)})"
            message += (f"; the full traceback is in {self.path}" if self.path.exists() else
                        f"; its traceback could not be saved (run it again with {DEBUG_VARIABLE}=1 to see it)")
        return one_line(f"{record.levelname.lower()}: {message}")


class _InFull(logging.Formatter):
    def __init__(self, heading: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.heading: str | None = heading

    def format(self, record: logging.LogRecord) -> str:
        text = _PASSWORD_IN_URL.sub(r"\1***@", super().format(record))
        heading, self.heading = self.heading, None
        return f"{heading}{text}" if heading else text


def _new_log(make: bool = True) -> Path:
    """A new log file's path; with *make*, its folder is made and older logs beyond :data:`LOG_KEEP` removed."""
    path = log_folder() / f"campaign-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{os.getpid()}.log"
    if make:
        _make_room(path.parent)
    return path


def _make_room(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("campaign-*.log"))[:-(LOG_KEEP - 1)]:
        old.unlink(missing_ok=True)


class _LogFile(logging.FileHandler):
    """A log file made (with its folder) only when the first record comes."""

    def _open(self) -> Any:
        _make_room(Path(self.baseFilename).parent)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except Exception:  # noqa: BLE001, S110 - a log that cannot be written is said on the record's line
            pass

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        """No "--- Logging error ---" with a traceback: the console line says the log could not be saved."""


def _heading(args: Sequence[str]) -> str:
    """What ran, where: the first lines of a log (passwords in URLs blanked out)."""
    return _PASSWORD_IN_URL.sub(r"\1***@", f"campaign {__version__} on Python {platform.python_version()} "
                                f"({sys.platform}), {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                                f"command: campaign {' '.join(args)}\n\n")


def command_args() -> Sequence[str]:
    """The command line of the command running now, as typed (for a log's heading)."""
    context = click.get_current_context(silent=True)
    return tuple(context.meta.get(ARGS_META, ())) if context is not None else ()


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
