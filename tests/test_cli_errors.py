"""Wrong command lines, broken stores and failing files: one line that says what to do, never a traceback.

The table below is the proof for issue 10's "no command ever prints a traceback": every wrong command line
found by trying the CLI as a careless user would (a store that is a folder, a text file, truncated, missing a
table, read-only, unreachable; output into a folder that does not exist; a pause until the end of time; a
blank reason, name or file; a post that does not exist…) exits non-zero with exactly one `Error:` line that
names what is wrong, and no traceback. An unexpected error is one line too, naming a log file that holds its
traceback. Files are replaced whole or not at all, folders are complete or absent, two first `schedule`s at
once on a new PostgreSQL database both succeed, and the webhook thread outlives every failure.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

from campaign import files
from campaign.cli import main
from campaign.cli.errors import EXIT_UNEXPECTED, LOG_KEEP, write_log
from campaign.files import WriteError, atomic_folder, atomic_text
from campaign.publishing.events import Event, Failed, WebhookListener
from campaign.store.database import head_revision
from tests.plan_fixtures import write_campaign
from tests.store_fixtures import fresh_postgres_database

# On one pytest-xdist worker: the module's scheduled plan and store are made once.
pytestmark = pytest.mark.xdist_group("cli-errors")

POSTS = """\
- id: launch
  accounts: [lancs-x, lancs-facebook]
  text: The week of action starts today.
  at: '2027-03-15 09:00'
  images:
    - {file: images/guide.png, alt: The cover of the pocket guide}
- id: signs
  accounts: [lancs-x]
  text: Spot the signs in nail bars.
  at: '2027-03-16 10:00'
"""


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Failure logs go to the test's own folder, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env)


def error_line(result: Result) -> str:
    """The one `Error:` line of a failed command; fails the test on a traceback or on more than one line."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small plan (3 posts) and a SQLite store it was scheduled into: (plan, store)."""
    root = tmp_path_factory.mktemp("scheduled")
    plan = write_campaign(root, POSTS)
    live = root / "live.db"
    result = invoke(["schedule", str(plan), "--db", str(live)])
    assert result.exit_code == 0, result.output
    # One self-contained file (no -wal beside it), so that a test can copy it: SQLite's own backup.
    store = root / "store.db"
    with sqlite3.connect(live) as source, sqlite3.connect(store) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    return plan, store


# -- the table -------------------------------------------------------------------------------------------------

def _folder(tmp: Path, db: Path) -> None:
    (tmp / "a-folder").mkdir()


def _text_file(tmp: Path, db: Path) -> None:
    (tmp / "notes.db").write_text("shopping list: milk, eggs\n", encoding="utf-8")


def _truncated(tmp: Path, db: Path) -> None:
    data = db.read_bytes()
    (tmp / "truncated.db").write_bytes(data[: len(data) // 3])


def _without_a_table(tmp: Path, db: Path) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TABLE hold")


def _newer(tmp: Path, db: Path) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")


def _full_folder(tmp: Path, db: Path) -> None:
    (tmp / "full").mkdir()
    (tmp / "full" / "keep.txt").write_text("mine", encoding="utf-8")


@dataclass(frozen=True)
class Case:
    """A wrong command line: its arguments ({db}: a copy of the scheduled store, {tmp}: a folder of the test's
    own, {plan}: the plan), the words its one error line must hold, and what to set up first."""

    args: str
    words: str
    setup: Callable[[Path, Path], None] | None = None
    code: int | None = None
    """The exit status, if it must be a particular one (1 for errors, 2 for Click's usage errors)."""
    env: dict[str, str] = field(default_factory=dict)


READ_ONLY = "sqlite:///file:{db}?mode=ro&uri=true"
"""The store as SQLite opens a file the user may only read (portable: root ignores file permissions)."""

CASES: dict[str, Case] = {
    # The store.
    "--db is a folder": Case("status --db {tmp}/a-folder", "is a folder, not a database file", _folder, 1),
    "--db is a text file": Case("status --db {tmp}/notes.db", "is not a SQLite database", _text_file, 1),
    "--db is a truncated database": Case("status --db {tmp}/truncated.db", "is damaged (truncated or corrupt)",
                                         _truncated, 1),
    "--db in a missing folder": Case("status --db {tmp}/no/such/folder/store.db",
                                     "/no/such/folder (for the store", None, 1),
    "--db a missing folder, for db upgrade too": Case("db upgrade --db {tmp}/nowhere/store.db", "does not exist",
                                                      None, 1),
    "--db is blank": Case("status --db ''", "--db is empty", None, 1),
    "--db unreachable PostgreSQL": Case("status --db postgresql+psycopg://someone@127.0.0.1:1/db",
                                        "cannot be reached", None, 1),
    "--db notaurl://": Case("status --db notaurl://", "names a database campaign cannot use", None, 1),
    "--db a store missing a table": Case("status --db {db}", "has no table 'hold'", _without_a_table, 1),
    "--db a store missing a table, for audit": Case("audit --db {db}", "has no table 'hold'", _without_a_table, 1),
    "--db a store from a newer campaign": Case("status --db {db}", "written by a newer version of campaign",
                                               _newer, 1),
    "--db a folder, for db upgrade": Case("db upgrade --db {tmp}/a-folder", "is a folder", _folder, 1),
    "--db a device": Case("status --db /dev/null", "is not a file (a device, a pipe or a socket)", None, 1),
    "--db a driver not installed": Case("status --db sqlite+pysqlcipher:///{tmp}/x.db",
                                        "names a database campaign cannot use", None, 1),
    "--db a URL that is no URL": Case("status --db x://y://z", "is not a database URL or path", None, 1),
    "read-only store: approve": Case(f"approve --all --db {READ_ONLY}", "is read-only for you", None, 1),
    "read-only store: pause": Case(f"pause --reason incident --db {READ_ONLY}", "is read-only for you", None, 1),
    "read-only store: reject": Case(f"reject launch/lancs-x --reason wrong --db {READ_ONLY}",
                                    "is read-only for you", None, 1),
    "read-only store: schedule": Case(f"schedule {{plan}} --db {READ_ONLY}", "is read-only for you", None, 1),
    # Files and folders written.
    "calendar -o into a missing folder": Case("calendar {plan} -o {tmp}/missing/week.ics",
                                              "the folder {tmp}/missing does not exist", None, 1),
    "preview --html into a missing folder": Case("preview {plan} --html {tmp}/missing/p.html",
                                                 "the folder {tmp}/missing does not exist", None, 1),
    "export -o into a missing folder": Case("export --db {db} -o {tmp}/missing/e.csv",
                                            "the folder {tmp}/missing does not exist", None, 1),
    "report -o into a missing folder": Case("report --db {db} -o {tmp}/missing/r.html",
                                            "the folder {tmp}/missing does not exist", None, 1),
    "bundle -o into a missing folder": Case("bundle launch/lancs-x --db {db} -o {tmp}/missing/deeper/b",
                                            "the folder {tmp}/missing/deeper does not exist", None, 1),
    "bundle -o into a folder with files": Case("bundle launch/lancs-x --db {db} -o {tmp}/full",
                                               "already has files in it", _full_folder, 1),
    "init into a folder with files": Case("init {tmp}/full", "already has files in it", _full_folder, 1),
    "calendar -o blank": Case("calendar {plan} -o ''", "is blank: give the name of the file", None, 2),
    "preview --html blank": Case("preview {plan} --html ''", "is blank", None, 2),
    "export -o blank": Case("export --db {db} -o ''", "is blank", None, 2),
    "bundle -o blank": Case("bundle launch/lancs-x --db {db} -o ''", "is blank: give the name of the folder",
                            None, 2),
    # Values that make no sense.
    "pause --until the end of time": Case("pause --db {db} --reason x --until 99999999999999h",
                                          "a pause can end at most a year ahead", None, 2),
    "pause --until no time at all": Case("pause --db {db} --reason x --until 0h", "is no time at all", None, 2),
    "pause --until a time gone": Case("pause --db {db} --reason x --until '2020-01-01 09:00'",
                                      "has already passed", None, 2),
    "pause --until year 9999": Case("pause --db {db} --reason x --until '9999-12-31 23:59'", "--until", None, 2),
    "pause --reason blank": Case("pause --db {db} --reason ''", "say why", None, 1),
    "reject --reason blank": Case("reject launch/lancs-x --db {db} --reason ''", "--reason: is blank", None, 2),
    "reject --reason spaces": Case("reject launch/lancs-x --db {db} --reason '  '", "--reason: is blank", None, 2),
    "approve --as blank": Case("approve --all --db {db} --as ''", "--as: is blank", None, 2),
    "audit --post nope": Case("audit --db {db} --post nope", "there is no post 'nope'", None, 1),
    "audit --post nope as JSON": Case("audit --db {db} --post nope --format json", "there is no post 'nope'",
                                      None, 1),
    "run --webhook not a url": Case("run --db {db} --webhook 'not a url'", "'--webhook'", None, 2),
    "run --webhook ftp": Case("run --db {db} --webhook ftp://example.org/x", "is not a web address", None, 2),
    "run --webhook with a bad port": Case("run --db {db} --webhook https://example.org:99999/x",
                                          "is not a web address", None, 2),
    "run --webhook blank": Case("run --db {db} --webhook ''", "it is blank", None, 2),
    "rehearse --speed nan": Case("rehearse {plan} --speed nan", "is not a number it can use", None, 2),
    "rehearse --speed past the limit": Case("rehearse {plan} --speed 1e12", "1<=x<=1000000", None, 2),
    "demo --speed inf": Case("demo --speed inf", "1<=x<=1000000", None, 2),
    "run --refresh nan": Case("run --db {db} --refresh nan", "is not a number it can use", None, 2),
    "reconcile --timeout inf": Case("reconcile --db {db} --timeout inf", "1<=x<=600", None, 2),
    "sandbox serve --latency nan": Case("sandbox serve --latency nan", "is not a number it can use", None, 2),
    # Names that are not there.
    "approve a post that does not exist": Case("approve nope --db {db}", "there is no post 'nope'", None, 1),
    "reject a post that does not exist": Case("reject nope --reason x --db {db}", "there is no post 'nope'", None, 1),
    "bundle a post that does not exist": Case("bundle nope --db {db} -o {tmp}/b", "there is no post 'nope'", None, 1),
    "retry a post that does not exist": Case("retry nope --db {db}", "there is no post 'nope'", None, 1),
    "status of a campaign not there": Case("status --db {db} --campaign nope", "there is no campaign 'nope'", None,
                                           1),
    "pause an account not there": Case("pause --db {db} --account nope --reason x", "has no account 'nope'", None,
                                       1),
    "resume with nothing paused": Case("resume --db {db} --account lancs-x", "no active pause", None, 1),
    "status of an empty store": Case("status --db {tmp}/empty.db", "has no campaigns yet", None, 1),
    "preview an account not there": Case("preview {plan} --account nope", "the plan has no account 'nope'", None, 2),
    "preview a day that is no day": Case("preview {plan} --day someday", "--day", None, 2),
    "retry --at nonsense": Case("retry launch/lancs-x --db {db} --at whenever", "is not a date and time", None, 2),
    "export --since nonsense": Case("export --db {db} --since 2027-13-01", "is not a date", None, 2),
    "approve --preview not a preview": Case("approve --all --db {db} --preview {plan}", "is not a preview", None, 2),
    "approve --hash too short": Case("approve launch/lancs-x --db {db} --hash ab", "at least the first 8", None, 2),
    "schedule a plan that is not there": Case("schedule {tmp}/nope.yaml --db {db}", "error(s); fix them", None, 1),
    "rehearse a fault that is no fault": Case("rehearse {plan} --fault bogus", "cannot read the fault rule", None,
                                              1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_wrong_command_line_is_one_line_and_no_traceback(name: str, tmp_path: Path,
                                                           scheduled: tuple[Path, Path]) -> None:
    """Each wrong command line of the table exits non-zero (1 for an error, 2 for a wrong option) with exactly
    one `Error:` line holding the words that say what is wrong, and no traceback."""
    case = CASES[name]
    plan, store = scheduled
    db = tmp_path / "store.db"
    shutil.copyfile(store, db)
    if case.setup is not None:
        case.setup(tmp_path, db)
    words = {"db": str(db), "tmp": str(tmp_path), "plan": str(plan)}
    result = invoke([arg.format(**words) for arg in shlex.split(case.args)],
                    {"XDG_STATE_HOME": str(tmp_path / "state"), **case.env})
    line = error_line(result)
    assert case.words.format(**words) in line, line
    if case.code is not None:
        assert result.exit_code == case.code, result.output
    assert not (tmp_path / "state").exists(), "an error that was expected wrote a log"


def test_a_store_read_only_for_the_user_still_answers_the_commands_that_only_read(
        tmp_path: Path, scheduled: tuple[Path, Path]) -> None:
    """On a store opened read-only, status, audit (every format), export and report work; what would change
    it says it is read-only (the table above)."""
    plan, store = scheduled
    db = tmp_path / "store.db"
    shutil.copyfile(store, db)
    url = READ_ONLY.format(db=db)
    for args in (["status"], ["audit"], ["audit", "--format", "csv"], ["audit", "--post", "launch"],
                 ["export", "--format", "jsonl"], ["report", "-o", str(tmp_path / "r.html")]):
        result = invoke([*args, "--db", url])
        assert result.exit_code == 0, (args, result.output)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="file permissions do not bind root; the read-only URL cases above stand in for them")
def test_a_store_file_and_folder_without_write_permission_are_opened_read_only(
        tmp_path: Path, scheduled: tuple[Path, Path]) -> None:
    """A store whose file and folder the user may not write is opened read-only: status and audit answer,
    approve says the store is read-only for you."""
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "store.db"
    shutil.copyfile(scheduled[1], db)
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        assert invoke(["status", "--db", str(db)]).exit_code == 0
        assert invoke(["audit", "--db", str(db)]).exit_code == 0
        assert "is read-only for you" in error_line(invoke(["approve", "--all", "--db", str(db)]))
    finally:
        folder.chmod(0o755)


def test_a_missing_folder_is_made_only_for_the_default_store(tmp_path: Path) -> None:
    """With no --db the default store's folder ($XDG_DATA_HOME/campaign) is created; a folder given in --db or
    $CAMPAIGN_DB that does not exist is refused, and nothing is created there."""
    data = tmp_path / "data"
    result = invoke(["db", "upgrade"], {"XDG_DATA_HOME": str(data), "CAMPAIGN_DB": ""})
    assert result.exit_code == 0, result.output
    assert (data / "campaign" / "campaign.db").is_file()
    line = error_line(invoke(["status"], {"CAMPAIGN_DB": str(tmp_path / "typo" / "store.db")}))
    assert "the folder" in line and "does not exist" in line
    assert not (tmp_path / "typo").exists()


def test_no_traceback_reaches_a_real_terminal(tmp_path: Path) -> None:
    """Run as a real process, a store that is a text file gives one line on stderr, exit 1, nothing else."""
    (tmp_path / "notes.db").write_text("not a database\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "from campaign.cli import main; main()", "status", "--db",
                             str(tmp_path / "notes.db")], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: the store "), result.stderr


# -- the unexpected --------------------------------------------------------------------------------------------

def _broken_status(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a bug nobody foresaw\nsecond line")


def test_an_unexpected_error_is_one_line_naming_a_log_file_that_holds_its_traceback(
        tmp_path: Path, scheduled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (here a library call made to raise, as nothing real should) is one line, exit 70: it says what
    failed, that it is a bug, and names a log file under $XDG_STATE_HOME/campaign/log that holds the full
    traceback and the command line — with a password in a URL blanked out."""
    from campaign.store.store import Store

    monkeypatch.setattr(Store, "status", _broken_status)
    state = tmp_path / "state"
    db = tmp_path / "store.db"
    shutil.copyfile(scheduled[1], db)
    result = invoke(["status", "--db", str(db), "--campaign", "test-week"], {"XDG_STATE_HOME": str(state),
                                                                              "CAMPAIGN_DEBUG": ""})
    line = error_line(result)
    assert result.exit_code == EXIT_UNEXPECTED
    assert line.startswith("Error: campaign status failed unexpectedly (RuntimeError: a bug nobody foresaw) — "
                           "this is a bug in campaign"), line
    (log,) = (state / "campaign" / "log").iterdir()
    assert str(log) in line
    text = log.read_text(encoding="utf-8")
    assert f"command: campaign status --db {db} --campaign test-week" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: a bug nobody foresaw" in text

    monkeypatch.setattr(Store, "open", classmethod(lambda cls, url=None: _broken_status()))
    invoke(["status", "--db", "postgresql+psycopg://someone:hunter2@127.0.0.1:1/db"], {"XDG_STATE_HOME": str(state)})
    newest = max((state / "campaign" / "log").iterdir())
    assert "someone:***@127.0.0.1" in newest.read_text(encoding="utf-8")
    assert "hunter2" not in newest.read_text(encoding="utf-8")


def test_campaign_debug_raises_the_unexpected_error_as_well(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            scheduled: tuple[Path, Path]) -> None:
    """With CAMPAIGN_DEBUG=1 the unexpected error itself is raised (for developers and tests), after its log is
    written."""
    from campaign.store.store import Store

    monkeypatch.setattr(Store, "status", _broken_status)
    state = tmp_path / "state"
    result = invoke(["status", "--db", str(scheduled[1])], {"XDG_STATE_HOME": str(state), "CAMPAIGN_DEBUG": "1"})
    assert isinstance(result.exception, RuntimeError)
    assert len(list((state / "campaign" / "log").iterdir())) == 1


def test_only_the_newest_logs_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure logs do not pile up: the newest LOG_KEEP (20) are kept."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    for number in range(LOG_KEEP + 5):
        write_log(RuntimeError(f"failure {number}"), ["status"])
    logs = sorted((tmp_path / "campaign" / "log").iterdir())
    assert len(logs) == LOG_KEEP
    assert "failure 24" in logs[-1].read_text(encoding="utf-8")


def test_a_log_that_cannot_be_written_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 scheduled: tuple[Path, Path]) -> None:
    """If the log folder cannot be made (here it is a file), the one line says the traceback could not be saved
    and how to see it."""
    from campaign.store.store import Store

    monkeypatch.setattr(Store, "status", _broken_status)
    (tmp_path / "campaign").write_text("in the way", encoding="utf-8")
    line = error_line(invoke(["status", "--db", str(scheduled[1])], {"XDG_STATE_HOME": str(tmp_path)}))
    assert "its traceback could not be saved" in line and "CAMPAIGN_DEBUG=1" in line


# -- files whole or not at all -----------------------------------------------------------------------------------

def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    """A failure half-way through writing leaves the old file exactly as it was and no temporary file; a write
    that completes replaces it, keeping its permissions."""
    target = tmp_path / "week.ics"
    target.write_text("the good calendar", encoding="utf-8")
    target.chmod(0o640)
    with pytest.raises(RuntimeError), atomic_text(target) as handle:
        handle.write("half a cal")
        raise RuntimeError("the disk filled up")
    assert target.read_text(encoding="utf-8") == "the good calendar"
    assert _leftovers(tmp_path) == []
    files.write_text(target, "the new calendar")
    assert target.read_text(encoding="utf-8") == "the new calendar"
    assert target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_a_full_disk_is_one_sentence_and_the_old_file_stays(tmp_path: Path) -> None:
    """An OSError while writing (ENOSPC, as a full disk gives) becomes a WriteError naming the file, and the
    old file is untouched."""
    import errno

    target = tmp_path / "export.csv"
    target.write_text("old rows", encoding="utf-8")
    with pytest.raises(WriteError, match=r"cannot write .*export\.csv: No space left on device"):
        with atomic_text(target) as handle:
            handle.write("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_text(encoding="utf-8") == "old rows"
    assert _leftovers(tmp_path) == []


def test_an_export_that_fails_half_way_leaves_the_previous_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  scheduled: tuple[Path, Path]) -> None:
    """`export -o` streams into a temporary file: a failure after some rows leaves the previous export whole."""
    import campaign.export

    out = tmp_path / "engagement.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")

    def half(rows: Any, handle: Any, *_args: Any) -> int:
        handle.write("post,campaign\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(campaign.export, "write", half)
    line = error_line(invoke(["export", "--db", str(scheduled[1]), "-o", str(out)]))
    assert "No space left on device" in line
    assert out.read_text(encoding="utf-8") == "yesterday's export\n"
    assert _leftovers(tmp_path) == []


def test_calendar_and_preview_replace_their_files_whole(tmp_path: Path, scheduled: tuple[Path, Path]) -> None:
    """`calendar -o` and `preview --html` over existing files write them whole, leaving no temporary files."""
    plan = scheduled[0]
    ics, html = tmp_path / "week.ics", tmp_path / "preview.html"
    ics.write_text("old", encoding="utf-8")
    html.write_text("old", encoding="utf-8")
    assert invoke(["calendar", str(plan), "-o", str(ics)]).exit_code == 0
    assert invoke(["preview", str(plan), "--html", str(html)]).exit_code == 0
    assert ics.read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert _leftovers(tmp_path) == []


def test_a_link_keeps_pointing_and_a_pipe_is_written_directly(tmp_path: Path) -> None:
    """Writing through a symbolic link replaces the file it points at and keeps the link; a target that is
    not a file (a pipe here; /dev/stdout alike) is written directly, never replaced by a file."""
    real, link = tmp_path / "real.ics", tmp_path / "link.ics"
    real.write_text("old", encoding="utf-8")
    link.symlink_to(real)
    files.write_text(link, "new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    files.write_text(fifo, "through the pipe")
    reader.join(10)
    assert read == ["through the pipe"]
    assert fifo.exists() and not fifo.is_file()
    assert _leftovers(tmp_path) == []


def test_a_folder_is_complete_or_absent(tmp_path: Path) -> None:
    """A folder built with atomic_folder appears only when complete; a failure leaves nothing, not even the
    temporary folder; an empty folder given is filled."""
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_folder(target) as building:
        (building / "text.txt").write_text("half", encoding="utf-8")
        raise RuntimeError("stopped half-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    target.mkdir()
    with atomic_folder(target) as building:
        (building / "text.txt").write_text("whole", encoding="utf-8")
    assert (target / "text.txt").read_text(encoding="utf-8") == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_bundle_that_fails_half_way_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       scheduled: tuple[Path, Path]) -> None:
    """`bundle` whose image copy fails (a disk error) says so in one line and leaves no folder behind."""
    import campaign.store.records

    def failing_copy(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(campaign.store.records.shutil, "copyfile", failing_copy)
    out = tmp_path / "foi"
    line = error_line(invoke(["bundle", "launch/lancs-x", "--db", str(scheduled[1]), "-o", str(out)]))
    assert "Input/output error" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_that_fails_half_way_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`init` copies the example into a temporary folder: a failure after the plans are copied leaves no
    folder, so running it again works."""
    import campaign.cli.plans

    real_copytree = shutil.copytree

    def copy_then_fail(source: Path, target: Path, *args: Any, **kwargs: Any) -> Any:
        if Path(target).name == "posts":  # the second folder init copies: the plans are in by now
            raise OSError(28, "No space left on device")
        return real_copytree(source, target, *args, **kwargs)

    monkeypatch.setattr(campaign.cli.plans.shutil, "copytree", copy_then_fail)
    line = error_line(invoke(["init", str(tmp_path / "mine")]))
    assert "No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setattr(campaign.cli.plans.shutil, "copytree", real_copytree)
    assert invoke(["init", str(tmp_path / "mine")]).exit_code == 0
    assert (tmp_path / "mine" / "schedules").is_dir() and (tmp_path / "mine" / "posts").is_dir()


# -- two first schedules at once on PostgreSQL --------------------------------------------------------------------

def _campaign_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from campaign.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})


@pytest.mark.postgres
def test_two_first_schedules_at_once_on_a_new_postgresql_database_both_succeed(tmp_path: Path) -> None:
    """Three times over, on a new PostgreSQL database each time, two `campaign schedule` processes started
    together both exit 0: the schema is created once (the other waits on the advisory lock and finds it made),
    and the sync that loses the race on the campaign's row syncs again and finds the work done. Two `db upgrade`s
    at once likewise."""
    plan = write_campaign(tmp_path, POSTS)
    for _ in range(3):
        with fresh_postgres_database() as url:
            processes = [_campaign_process("schedule", str(plan), "--db", url) for _ in range(2)]
            outcomes = [(p.wait(timeout=120), p.communicate()) for p in processes]
            for code, (out, err) in outcomes:
                assert code == 0, err
                assert "Traceback" not in err
            added = sorted(out.split(":")[1].split(",")[0].strip() for _, (out, _) in outcomes)
            assert added == ["0 added", "3 added"], outcomes
        with fresh_postgres_database() as url:
            processes = [_campaign_process("db", "upgrade", "--db", url) for _ in range(2)]
            for process in processes:
                _, err = process.communicate(timeout=120)
                assert process.returncode == 0, err
            assert head_revision()


# -- the webhook ---------------------------------------------------------------------------------------------------

class _Flaky(BaseHTTPRequestHandler):
    """Answers 500, then drops the connection without an answer, then takes every request."""

    received: ClassVar[list[dict[str, Any]]] = []
    answers: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "500":
            self.send_error(500, "down for maintenance")
        elif answer == "drop":
            self.close_connection = True  # and no answer at all
        else:
            self.received.append(body)
            self.send_response(200)
            self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def _flaky_server() -> Iterator[str]:
    _Flaky.received.clear()
    _Flaky.answers[:] = ["500", "drop"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class _Unwritable(Event):
    """An event that cannot even be turned into a request body."""

    name: ClassVar[str] = "unwritable"
    needs_a_person: ClassVar[bool] = True

    def as_dict(self) -> dict[str, Any]:
        raise ValueError("this event cannot be written")


def test_the_webhook_thread_outlives_every_failure(tmp_path: Path) -> None:
    """A 500, a dropped connection and an event that cannot be written are each logged and skipped: the
    webhook's thread goes on, and the alert after them arrives."""
    with _flaky_server() as url:
        hook = WebhookListener(url, timeout=2.0)
        for number in range(3):
            hook(Failed(post=f"post-{number}/lancs-x", campaign="test-week", reason="refused"))
        hook(_Unwritable(post="odd/lancs-x", campaign="test-week"))
        hook(Failed(post="last/lancs-x", campaign="test-week", reason="refused"))
        hook.close(timeout=20)
    assert hook.failures == 3
    assert [body["post"] for body in _Flaky.received] == ["post-2/lancs-x", "last/lancs-x"]


def test_a_webhook_that_is_not_an_address_is_refused_at_once() -> None:
    """WebhookListener refuses an address it could never reach, instead of losing every alert later."""
    for url in ("not a url", "", "mailto:comms@example.org", "https://"):
        with pytest.raises(ValueError):
            WebhookListener(url)


# -- the long-running commands ----------------------------------------------------------------------------------

def test_background_failures_are_one_line_each_with_the_traceback_in_a_log(tmp_path: Path) -> None:
    """What a long-running command's background work logs (here: a failure with its exception) is one line on
    stderr naming a log file, which holds the traceback under a heading with the command line; the handlers
    are gone afterwards."""
    import logging

    from campaign.cli.errors import one_line_logging

    script = (
        "import logging\n"
        "from campaign.cli.errors import one_line_logging\n"
        "with one_line_logging(['run', '--db', 'postgresql://u:secret@h/db']):\n"
        "    try:\n"
        "        raise RuntimeError('the store went away')\n"
        "    except RuntimeError:\n"
        "        logging.getLogger('campaign.publishing.runner').exception('refreshing from the store failed')\n"
        "    logging.getLogger('campaign.publishing.runner').info('not shown')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    (log,) = (tmp_path / "campaign" / "log").iterdir()
    assert line == (f"error: refreshing from the store failed (RuntimeError: the store went away); the full "
                    f"traceback is in {log}")
    text = log.read_text(encoding="utf-8")
    assert "command: campaign run --db postgresql://u:***@h/db" in text and "secret" not in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: the store went away" in text
    with one_line_logging(["run"]):
        pass
    assert logging.getLogger("campaign").handlers == []


def test_run_on_a_store_it_cannot_write_stops_at_once_in_one_line(tmp_path: Path,
                                                                  scheduled: tuple[Path, Path]) -> None:
    """`campaign run` on a read-only store says so and exits 1 before starting, instead of a runner that
    fails on every try."""
    db = tmp_path / "store.db"
    shutil.copyfile(scheduled[1], db)
    line = error_line(invoke(["run", "--db", READ_ONLY.format(db=db), "--refresh", "0.5"]))
    assert "is read-only for you" in line


def test_campaign_run_whose_store_breaks_logs_one_line_per_failure_and_stops_cleanly(
        tmp_path: Path, scheduled: tuple[Path, Path]) -> None:
    """A real `campaign run` whose store loses a table while it runs: each failed re-read is one line on stderr
    naming the log file (which holds the traceback), no traceback reaches the terminal, and SIGTERM still stops
    it cleanly."""
    import signal
    import time

    db = tmp_path / "store.db"
    shutil.copyfile(scheduled[1], db)
    state = tmp_path / "state"
    process = subprocess.Popen([sys.executable, "-c", "from campaign.cli import main; main()", "run", "--db",
                                str(db), "--refresh", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "XDG_STATE_HOME": str(state), "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Running test-week as ")
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TABLE hold")
        time.sleep(2.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err and err, err
    (log,) = (state / "campaign" / "log").iterdir()
    for line in err.splitlines():
        assert line.startswith("error: refreshing from the store failed") and line.endswith(
            f"the full traceback is in {log}"), line
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")
    assert out.splitlines()[-1] == "Stopped."
