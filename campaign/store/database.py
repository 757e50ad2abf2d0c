"""Connecting to the store: SQLite by default, any SQLAlchemy URL (PostgreSQL for several runners).

Every SQLite connection gets the settings measured in ``docs/design.md``: WAL, a 5 s busy timeout,
``synchronous=NORMAL``, foreign keys on, and ``BEGIN IMMEDIATE`` for every transaction, so that writers
queue on the busy timeout instead of failing with "database is locked" half-way through. The schema is
created or upgraded by the Alembic migrations shipped in ``campaign/migrations`` on first use, by one
process at a time (on PostgreSQL under an advisory lock, on SQLite under its write lock): two first
commands at once on a new database both succeed.

A store that cannot be used is said so in one sentence before anything is tried: an empty ``--db``, a
folder, a file that is not a SQLite database, a folder that does not exist (created only for the default
location), a database from a newer version or missing a table. A SQLite store the user may only read is
opened read-only, so commands that only read (status, audit, export…) work on it and those that would change
it say why they cannot. :func:`explain` turns the database's own errors into such sentences.
"""

from __future__ import annotations

import os
import re
import sqlite3
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from campaign.exceptions import StoreError

DB_ENVIRONMENT_VARIABLE = "CAMPAIGN_DB"
READ_ONLY = "campaign_read_only"
"""Execution option for connections that only read: on SQLite their transactions take no write lock."""
SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""
UPGRADE_LOCK = zlib.crc32(b"campaign schema upgrade")
"""The PostgreSQL advisory lock key held while the schema is created or upgraded."""


def default_location() -> Path:
    """``$XDG_DATA_HOME/campaign/campaign.db``, i.e. ``~/.local/share/campaign/campaign.db`` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "campaign" / "campaign.db"


def database_url(value: str | None = None) -> str:
    """The URL to use: *value* (``--db``), else ``$CAMPAIGN_DB``, else the default SQLite file.

    A plain path means a SQLite file; anything with ``://`` is an SQLAlchemy URL. A blank *value* is refused,
    never read as "the default". The default location's folder is created; a folder named explicitly must
    exist already, so that a mistyped path is not silently made into a new, empty store.
    """
    if value is not None and not value.strip():
        raise StoreError("--db is empty: give a SQLite file path or a database URL, or leave --db out to use the "
                         f"default store ({default_location()})")
    chosen = value or os.environ.get(DB_ENVIRONMENT_VARIABLE) or ""
    if "://" in chosen:
        return chosen
    if chosen:
        path = Path(chosen).expanduser()
    else:
        path = default_location()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder for the default store, {path.parent}: {error.strerror} — "
                             "give a store with --db or $CAMPAIGN_DB") from None
    return f"sqlite:///{path}"


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"{url!r} is not a database URL or path; use a file path, or e.g. "
                         "'postgresql+psycopg://user@host/db'") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url, parsed.database, read_only=parsed.query.get("mode") == "ro")
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise StoreError(f"{parsed.render_as_string(hide_password=True)!r} names a database campaign cannot use "
                         f"({error}); use a SQLite file path, or PostgreSQL: 'postgresql+psycopg://user@host/db'"
                         ) from None


def _sqlite_engine(url: str, database: str | None, read_only: bool = False) -> Engine:
    """A SQLite engine, after checking the file can be a store; read-only if the user may only read it (or the
    URL says ``mode=ro``)."""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if _check_sqlite_file(path):
            # Opened read-only: a WAL database can be read without writing its -shm file only if SQLite may
            # assume nobody changes it (immutable), which holds when no writer has it open (no -shm file).
            shm = path.with_name(path.name + "-shm").exists()
            location = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro{'' if shm else '&immutable=1'}"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(location, uri=True, timeout=5, check_same_thread=False)

            engine = create_engine(url, creator=connect)
            _sqlite_settings(engine, read_only=True)
            return engine
    engine = create_engine(url, connect_args={"timeout": 5, "check_same_thread": False})
    _sqlite_settings(engine, read_only=read_only)
    return engine


def _check_sqlite_file(path: Path) -> bool:
    """Refuse a path that cannot be a SQLite store, in one sentence; True if the user may only read it."""
    shown = str(path)
    if path.is_dir():
        raise StoreError(f"the store {shown} is a folder, not a database file — give a file path such as "
                         f"{path / 'campaign.db'}")
    if not path.parent.is_dir():
        raise StoreError(f"the folder {path.parent} (for the store {shown}) does not exist — create it first, or "
                         "check the path given to --db (or $CAMPAIGN_DB)")
    if not path.exists():
        return False
    if not path.is_file():
        raise StoreError(f"the store {shown} is not a file (a device, a pipe or a socket) — give the path of a "
                         "database file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StoreError(f"cannot read the store {shown}: {error.strerror} — check the file's permissions") from None
    if header and header != SQLITE_HEADER:
        raise StoreError(f"the store {shown} is not a SQLite database — check --db (or $CAMPAIGN_DB); a new store "
                         "is made only where no file exists yet")
    folder_writable = os.access(path.parent, os.W_OK)
    shm_writable = folder_writable or os.access(path.with_name(path.name + "-shm"), os.W_OK)
    return not (os.access(path, os.W_OK) and shm_writable)


def _sqlite_settings(engine: Engine, read_only: bool = False) -> None:
    # A read-only store keeps the journal mode it has: changing it would be a write.
    pragmas = ("busy_timeout=5000", "foreign_keys=ON") if read_only else (
        "journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON")

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # Writers take the write lock up front, so they queue on the busy timeout instead of failing half-way;
        # readers (READ_ONLY) take none: under WAL they read a consistent snapshot and never block a writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(Path(__file__).parent.parent / "migrations"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; return (revision before, revision after).

    One process at a time: the revision is read again under a lock (PostgreSQL: an advisory lock held for the
    upgrade's transaction; SQLite: the write lock ``BEGIN IMMEDIATE`` takes), so of two first commands on a
    new database one creates the schema and the other finds it made. Errors are raised as :class:`StoreError`
    sentences (:func:`explain`).
    """
    try:
        before = current_revision(engine)
        _check_known(engine, before)
        head = head_revision()
        if before != head:
            before = _upgrade_locked(engine, head)
        _check_tables(engine)
    except SQLAlchemyError as error:
        raise StoreError(explain(error, describe(engine))) from None
    return before, head


def _upgrade_locked(engine: Engine, head: str) -> str | None:
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which rows of other tables that
            # point at it (publish attempts, snapshots) would refuse: foreign keys are switched off for the
            # upgrade — outside any transaction, where SQLite honours it — and checked before it commits.
            _sqlite_pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
                before = MigrationContext.configure(connection).get_current_revision()
                _check_known(engine, before)
                if before != head:
                    command.upgrade(_alembic_config(connection), "head")
                    if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                        raise StoreError("the upgrade would leave rows pointing at nothing; nothing was changed")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "foreign_keys=ON")
    return before


def check_writable(engine: Engine) -> None:
    """Raise a :class:`StoreError` sentence if this store cannot be changed (read-only, or this database user
    may not write): for a long-running command, said once at its start rather than on every try."""
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text("UPDATE campaign SET name = name WHERE 1 = 0"))
            transaction.rollback()
    except SQLAlchemyError as error:
        raise StoreError(explain(error, describe(engine))) from None


def _check_known(engine: Engine, revision: str | None) -> None:
    script = ScriptDirectory(str(Path(__file__).parent.parent / "migrations"))
    if revision is not None and revision not in {r.revision for r in script.walk_revisions()}:
        raise StoreError(
            f"the database {describe(engine)} was written by a newer version of campaign (schema revision "
            f"{revision!r}, this version knows up to {head_revision()!r}); upgrade campaign before using it"
        )


def _check_tables(engine: Engine) -> None:
    """A store at the newest revision must have every table: one missing is damage, said before it bites."""
    from sqlmodel import SQLModel

    import campaign.store.models  # noqa: F401 - registers the tables on SQLModel.metadata

    present = set(inspect(engine).get_table_names())
    missing = sorted(name for name in SQLModel.metadata.tables if name not in present)
    if missing:
        tables = ", ".join(repr(name) for name in missing)
        raise StoreError(f"the store {describe(engine)} has no table {tables}: it is damaged, or was not made by "
                         "campaign — restore it from a backup, or give --db a new file")


def describe(engine: Engine) -> str:
    """The store as a person named it: a SQLite file's path, or the URL without its password."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        return engine.url.database
    return engine.url.render_as_string(hide_password=True)


# What the database says (matched in its own words, any case) -> what it means and what to do, in order.
_EXPLANATIONS = tuple((re.compile(pattern, re.IGNORECASE), meaning) for pattern, meaning in (
    (r"readonly|read-only|read only",
     "is read-only for you, and this command changes it — ask for write access to the file and its folder, or "
     "use a command that only reads (status, audit, export)"),
    (r"file is not a database|file is encrypted",
     "is not a SQLite database — check --db (or $CAMPAIGN_DB)"),
    (r"malformed|disk image",
     "is damaged (truncated or corrupt) — restore it from a backup; `sqlite3 FILE .recover` may save what is left"),
    (r"no such table|relation \S+ does not exist|UndefinedTable",
     "is missing a table: it is damaged, or was not made by campaign — restore it from a backup, or give --db "
     "a new file"),
    (r"database \S+ does not exist",
     "does not exist on its server — create it first (e.g. `createdb NAME`), or check the URL"),
    (r"database (table )?is locked",
     "is busy: another process held its write lock for more than 5 seconds — try again"),
    (r"disk is full|no space left",
     "cannot grow: the disk is full — free some space and try again"),
    (r"unable to open database file|disk i/o error",
     "cannot be opened — check that the file and its folder exist and that you may read and write them"),
    (r"password authentication failed|authentication failed|no password supplied",
     "refused the login — check the user and password in the URL"),
    (r"permission denied|insufficient privilege|must be owner",
     "refused this database user — ask its administrator for the rights campaign needs (create tables, read "
     "and write rows)"),
    (r"could not translate host name|name or service not known|connection refused|connection failed|timeout "
     r"expired|could not connect|server closed the connection|terminating connection",
     "cannot be reached — check the URL given to --db (or $CAMPAIGN_DB) and that the database server is running"),
))


RETRY_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL's errors for a transaction given up only because of others running at the same time: "deadlock
detected" and "could not serialize access"."""


def worth_retrying(error: BaseException) -> bool:
    """The database gave up on a transaction only because of others running at the same time (PostgreSQL's
    deadlock or serialization failure, SQLite's lock still held when the busy timeout ran out): the same
    transaction, run again, can succeed."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    return isinstance(error.orig, sqlite3.OperationalError) and "database is locked" in str(error.orig)


def explain(error: BaseException, where: str) -> str:
    """One sentence for a database error: which store, what is wrong with it, and what to do."""
    detail, meaning = _meaning(error)
    if meaning is not None:
        return f"the store {where} {meaning} ({detail})"
    return f"the store {where} failed: {detail} — check --db (or $CAMPAIGN_DB), and that the database is reachable"


def explained(error: BaseException) -> bool:
    """True if :func:`explain` knows what *error* means (else it is unexpected, and worth a traceback)."""
    return _meaning(error)[1] is not None


def _meaning(error: BaseException) -> tuple[str, str | None]:
    original = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0]
    said = f"{type(original).__name__} {detail}"
    return detail, next((meaning for pattern, meaning in _EXPLANATIONS if pattern.search(said)), None)


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a PRAGMA on SQLite's own connection, outside any transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA {pragma}")
