"""The store's schema: shipped Alembic migrations, applied on first use, refused when newer; its safeguards.

- The migrations live inside the package and produce exactly the tables, columns, types, indexes and
  constraints of the SQLModel models (``alembic.autogenerate.compare_metadata`` finds nothing to do).
- The database is created on first use (``Store.open``) and by ``campaign db upgrade``; opening it again
  runs no migration.
- A database stamped by a newer campaign is refused, with a message that says to upgrade, and left alone.
- The audit log is append-only in the database itself: UPDATE and DELETE are refused by triggers.
- Every SQLite connection has the measured settings: WAL, busy_timeout=5000, synchronous=NORMAL,
  foreign_keys=ON, and write transactions that take the write lock at BEGIN.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, event, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import campaign
from campaign.cli import main
from campaign.exceptions import StoreError
from campaign.store import Store, database
from campaign.store.models import AuditEntry
from tests import store_fixtures
from tests.store_fixtures import add_due_approved_posts, opened

store_url = store_fixtures.store_url  # a fixture: a new, empty database, on SQLite and on PostgreSQL

FUTURE_REVISION = "9999_from_the_future"


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": engine.dialect.name == "sqlite",
        })
        return list(compare_metadata(context, SQLModel.metadata))


def everything_in(engine: Engine) -> dict[str, Any]:
    """The whole database: every table's columns, indexes, keys, constraints and rows, and the triggers."""
    found: dict[str, Any] = {}
    with engine.connect() as connection:  # one connection: on SQLite each store transaction holds the write lock
        inspector = inspect(connection)
        for table in sorted(inspector.get_table_names()):
            columns = inspector.get_columns(table)
            found[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in columns],
                "indexes": sorted((i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
                "foreign": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                                  for f in inspector.get_foreign_keys(table)),
                "rows": sorted(tuple(str(v) for v in row)
                               for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"')),
            }
        if engine.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        else:
            query = "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
        found["triggers"] = [tuple(row) for row in connection.exec_driver_sql(query)]
    return found


def audit_rows(store: Store) -> list[tuple[Any, ...]]:
    table = SQLModel.metadata.tables[AuditEntry.__tablename__]
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(table.c.id))]


# -- the schema ---------------------------------------------------------------------------------------------


def test_migrations_ship_inside_the_package() -> None:
    """The Alembic environment and revisions are package data (``campaign/migrations``), found from the
    installed package, not from the working directory."""
    migrations = Path(campaign.__file__).parent / "migrations"
    assert (migrations / "env.py").is_file()
    assert any(migrations.glob("versions/0001_*.py"))
    assert database.head_revision() == "0005"


def test_first_use_creates_exactly_the_models_schema(store_url: str) -> None:
    """Opening an empty database runs the shipped migrations up to the newest revision, and the result is
    exactly the models' schema: ``compare_metadata`` against ``SQLModel.metadata`` finds no difference
    (tables, columns, types, nullability, server defaults, indexes, unique and foreign keys)."""
    with opened(store_url) as store:
        assert database.current_revision(store.engine) == database.head_revision()
        assert schema_differences(store.engine) == []
        tables = set(inspect(store.engine).get_table_names())
        assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


def test_campaign_db_upgrade_creates_the_store_then_finds_it_up_to_date(store_url: str) -> None:
    """``campaign db upgrade --db URL`` creates the schema in an empty database (saying from what to what),
    then reports it up to date; the result is exactly the models' schema."""
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--db", store_url])
    assert first.exit_code == 0, first.output
    assert f"schema empty → {database.head_revision()}" in first.output
    again = runner.invoke(main, ["db", "upgrade", "--db", store_url])
    assert again.exit_code == 0, again.output
    assert "is up to date" in again.output
    with opened(store_url) as store:
        assert schema_differences(store.engine) == []


def test_opening_a_store_again_runs_no_migration(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store at the newest revision is opened without running Alembic's upgrade and without a single
    statement that changes the schema or the version table."""
    Store.open(store_url).close()
    upgrades: list[object] = []
    monkeypatch.setattr("campaign.store.database.command.upgrade", lambda *args, **kwargs: upgrades.append(args))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with opened(store_url) as store:
            assert database.current_revision(store.engine) == database.head_revision()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert upgrades == []
    changing = [s for s in statements
                if s.lstrip().split(None, 1)[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}]
    assert changing == []
    assert any("alembic_version" in s for s in statements), "the revision was not even read"


@pytest.mark.parametrize("with_data", [False, True], ids=["empty", "in-use"])
def test_a_database_from_a_newer_campaign_is_refused_and_left_alone(store_url: str, with_data: bool) -> None:
    """A database stamped with a revision this version does not know (written by a newer campaign) is
    refused by ``Store.open`` and by ``campaign db upgrade`` with a StoreError that says to upgrade
    campaign, and nothing in it changes — neither an otherwise empty database nor one in use."""
    if with_data:
        with opened(store_url) as store:
            add_due_approved_posts(store, 3)
            store.claim_due("runner", now=datetime(2027, 3, 15, 9, 1, tzinfo=UTC), limit=1)
    engine = database.create_store_engine(store_url)
    try:
        with engine.begin() as connection:
            if not with_data:
                connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001')")
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{FUTURE_REVISION}'")
        before = everything_in(engine)

        with pytest.raises(StoreError) as refused:
            Store.open(store_url)
        message = str(refused.value)
        assert "newer version of campaign" in message and "upgrade campaign" in message
        assert FUTURE_REVISION in message
        assert everything_in(engine) == before

        result = CliRunner().invoke(main, ["db", "upgrade", "--db", store_url])
        assert result.exit_code == 1
        assert "upgrade campaign" in result.output and "Traceback" not in result.output
        assert everything_in(engine) == before
    finally:
        engine.dispose()


# -- safeguards in the database itself -----------------------------------------------------------------------


def test_the_audit_log_refuses_update_and_delete(store_url: str) -> None:
    """The audit log is append-only in the database, whoever connects: an UPDATE, a DELETE or (PostgreSQL) a
    TRUNCATE on ``audit_log`` (one row or all of them) fails with "the audit log is append-only" (SQLite triggers
    ``RAISE(ABORT)``; a PostgreSQL trigger raises) and leaves every entry as it was."""
    with opened(store_url) as store:
        add_due_approved_posts(store, 2)
        trail = audit_rows(store)
        assert len(trail) >= 5
        for statement in (
            "UPDATE audit_log SET actor = 'someone else' WHERE id = 1",
            "UPDATE audit_log SET details = '{}'",
            "DELETE FROM audit_log WHERE action = 'approved'",
            "DELETE FROM audit_log",
            *(["TRUNCATE audit_log"] if store.engine.dialect.name == "postgresql" else []),
        ):
            with pytest.raises(DBAPIError, match="the audit log is append-only"), store.engine.begin() as connection:
                connection.exec_driver_sql(statement)
            assert audit_rows(store) == trail, statement
        # Appending still works: the store records the next change.
        store.pause("checking the trail", "inspector", store_fixtures.CAMPAIGN_ID)
        assert len(audit_rows(store)) == len(trail) + 1


SQLITE_SETTINGS = {"journal_mode": "wal", "busy_timeout": 5000, "synchronous": 1, "foreign_keys": 1}


def pragmas(connection: Any) -> dict[str, Any]:
    """The settings of one pooled connection, read through the driver (autocommit: no BEGIN, no lock)."""
    driver_connection = connection.connection.dbapi_connection
    return {name: driver_connection.execute(f"PRAGMA {name}").fetchone()[0] for name in SQLITE_SETTINGS}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with opened(store_fixtures.sqlite_url(tmp_path)) as store:
        yield store


def test_every_sqlite_connection_has_the_measured_settings(sqlite_store: Store) -> None:
    """Every connection the store makes — several at once from the pool, a session's, and new ones after the
    pool is emptied — has journal_mode=WAL, busy_timeout=5000, synchronous=NORMAL (1) and foreign_keys=ON."""
    engine = sqlite_store.engine
    connections = [engine.connect() for _ in range(3)]
    try:
        assert len({id(c.connection.dbapi_connection) for c in connections}) == 3
        for connection in connections:
            assert pragmas(connection) == SQLITE_SETTINGS
    finally:
        for connection in connections:
            connection.close()
    with sqlite_store.session() as session:
        assert pragmas(session.connection()) == SQLITE_SETTINGS
    engine.dispose()
    with engine.connect() as connection:
        assert pragmas(connection) == SQLITE_SETTINGS
        assert {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one() for name in SQLITE_SETTINGS} \
            == SQLITE_SETTINGS
        connection.rollback()
        with pytest.raises(DBAPIError, match="FOREIGN KEY"), connection.begin():
            connection.exec_driver_sql("INSERT INTO account (campaign_id, key, platform, handle, credentials) "
                                       "VALUES ('no-such-campaign', 'x', 'x', '@x', '{}')")


def test_sqlite_write_transactions_take_the_write_lock_at_begin(sqlite_store: Store, tmp_path: Path) -> None:
    """A store transaction is ``BEGIN IMMEDIATE``: as soon as it begins, before it writes anything, another
    writer cannot start (so writers queue on the busy timeout instead of failing half-way through)."""
    path = tmp_path / "campaign.db"
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with sqlite_store.engine.begin() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM post").scalar_one()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the store's transaction is over
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_store_written_by_the_previous_version_is_upgraded_with_its_posts_times_kept(store_url: str) -> None:
    """A store at schema 0001 holding a post that was sent (one publish attempt) is upgraded in place on first
    use: the post keeps its due time as the plan's time (``planned_at``), its first request's time is its oldest
    attempt's start (``first_sent_at``, from which lookups and Bluesky's record key work), it is ``en-GB``, and
    the schema is then exactly the models'."""
    from alembic import command

    engine = database.create_store_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(database._alembic_config(connection), "0001")
        connection.exec_driver_sql(
            "INSERT INTO campaign (id, name, zone, plan_path, grace_seconds, collect_after, approver_must_differ, "
            "created_at, updated_at) VALUES ('c', 'C', 'Europe/London', 'p.yaml', 600, '[]', false, "
            "'2027-03-01 00:00:00', '2027-03-01 00:00:00')")
        connection.exec_driver_sql(
            "INSERT INTO post (id, campaign_id, key, entry, account, platform, handle, local_time, zone, due_at, "
            "late_after, text, media, content_hash, state, attempts, created_at, updated_at) VALUES (1, 'c', "
            "'launch/x', 'launch', 'x', 'x', '@x', '2027-03-15 09:00:00', 'Europe/London', '2027-03-15 09:00:00', "
            "'2027-03-15 09:10:00', 'Hello', '[]', 'abc', 'unknown', 1, '2027-03-01 00:00:00', "
            "'2027-03-01 00:00:00')")
        for started in ("2027-03-15 09:00:02", "2027-03-15 09:00:01"):
            connection.exec_driver_sql(
                f"INSERT INTO publish_attempt (post_id, runner, started_at) VALUES (1, 'old-runner', '{started}')")
    engine.dispose()
    with opened(store_url) as store:
        assert database.current_revision(store.engine) == database.head_revision()
        (post,) = store.posts_by_id([1])
        assert post.planned_at.replace(tzinfo=UTC) == datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
        assert post.first_sent_at is not None
        assert post.first_sent_at.replace(tzinfo=UTC) == datetime(2027, 3, 15, 9, 0, 1, tzinfo=UTC)
        assert post.language == "en-GB" and post.lookups == 0 and post.not_before is None
        assert schema_differences(store.engine) == []
