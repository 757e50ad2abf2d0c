"""Connecting to the store: SQLite by default, any SQLAlchemy URL (PostgreSQL for several runners).

Every SQLite connection gets the settings measured in ``docs/design.md``: WAL, a 5 s busy timeout,
``synchronous=NORMAL``, foreign keys on, and ``BEGIN IMMEDIATE`` for every transaction, so that writers
queue on the busy timeout instead of failing with "database is locked" half-way through. The schema is
created or upgraded by the Alembic migrations shipped in ``campaign/migrations`` on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from campaign.exceptions import StoreError

DB_ENVIRONMENT_VARIABLE = "CAMPAIGN_DB"
READ_ONLY = "campaign_read_only"
"""Execution option for connections that only read: on SQLite their transactions take no write lock."""


def default_location() -> Path:
    """``$XDG_DATA_HOME/campaign/campaign.db``, i.e. ``~/.local/share/campaign/campaign.db`` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "campaign" / "campaign.db"


def database_url(value: str | None = None) -> str:
    """The URL to use: *value* (``--db``), else ``$CAMPAIGN_DB``, else the default SQLite file.

    A plain path means a SQLite file; anything with ``://`` is an SQLAlchemy URL.
    """
    chosen = value or os.environ.get(DB_ENVIRONMENT_VARIABLE) or str(default_location())
    if "://" in chosen:
        return chosen
    path = Path(chosen).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"{url!r} is not a database URL or path; use a file path, or e.g. "
                         "'postgresql+psycopg://user@host/db'") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 5, "check_same_thread": False})
        _sqlite_settings(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    try:
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise StoreError(f"{parsed.render_as_string(hide_password=True)!r} names a database campaign cannot use "
                         f"({error}); use a SQLite file path, or PostgreSQL: 'postgresql+psycopg://user@host/db'"
                         ) from None


def _sqlite_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON"):
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
    """Bring the schema to the newest revision; return (revision before, revision after)."""
    before = current_revision(engine)
    head = head_revision()
    script = ScriptDirectory(str(Path(__file__).parent.parent / "migrations"))
    if before is not None and before not in {r.revision for r in script.walk_revisions()}:
        raise StoreError(
            f"the database {engine.url.render_as_string(hide_password=True)} was written by a newer version "
            f"of campaign (schema revision {before!r}, this version knows up to {head!r}); upgrade campaign "
            "before using it"
        )
    if before != head:
        with engine.connect() as connection:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by copying it and dropping the old one, which rows of other tables that
                # point at it (publish attempts, snapshots) would refuse: foreign keys are switched off for the
                # upgrade — outside any transaction, where SQLite honours it — and checked before it commits.
                _sqlite_pragma(connection, "foreign_keys=OFF")
            try:
                with connection.begin():
                    command.upgrade(_alembic_config(connection), "head")
                    if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                        raise StoreError("the upgrade would leave rows pointing at nothing; nothing was changed")
            finally:
                if sqlite:
                    _sqlite_pragma(connection, "foreign_keys=ON")
    return before, head


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a PRAGMA on SQLite's own connection, outside any transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA {pragma}")
