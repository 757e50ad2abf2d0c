"""Stores for tests: a fresh SQLite file, or a fresh PostgreSQL database, and plans with many due posts.

A plain module, not a conftest: test modules import what they use. A fixture is used by naming it in the
test module (``store_url = store_fixtures.store_url``), which is all pytest needs to find it.

PostgreSQL tests read the server's URL from ``$CAMPAIGN_TEST_POSTGRES_URL`` (``.ci/run`` sets it to
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and skip when it is not set. Each test gets its own
database, created with ``CREATE DATABASE`` on an autocommit connection to that server and dropped afterwards.

Posts always reach the store through the real path: a plan file is written, rendered with
:func:`campaign.render.render_plan`, synced with :meth:`Store.schedule` and signed off with :meth:`Store.approve`.
Measured on the 2-core development machine (idle): 1,000 posts (50 entries × 20 Facebook pages) take about
0.75 s to render, 0.3 s to schedule and 1.1 s to approve on SQLite (0.6 s and 1.7 s on PostgreSQL), so no
shortcut is needed; the rendered plan is kept for the session, the scheduling and approval are done per test.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from campaign.render import RenderedPlan, render_plan
from campaign.store import Selection, Store
from campaign.store.models import AuditEntry, Post, table_columns
from tests.plan_fixtures import BASE_PLAN, write_campaign

POSTGRES_URL_VARIABLE = "CAMPAIGN_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = "set CAMPAIGN_TEST_POSTGRES_URL to run PostgreSQL tests"

P = table_columns(Post)
A = table_columns(AuditEntry)

CAMPAIGN_ID = "test-week"
"""The id of the campaign in :data:`tests.plan_fixtures.BASE_PLAN`."""


# -- databases -------------------------------------------------------------------------------------------


def sqlite_url(directory: Path, name: str = "campaign.db") -> str:
    return f"sqlite:///{directory / name}"


def postgres_server_url() -> str:
    """The PostgreSQL URL from the environment, or skip the test."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(POSTGRES_SKIP_REASON)
    return url


def _admin_engine(server_url: str) -> Any:
    url = make_url(server_url)
    if url.drivername == "postgresql":  # as the store does: psycopg 3, not psycopg2
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def fresh_postgres_database(server_url: str | None = None) -> Iterator[str]:
    """Create a uniquely named, empty database on the server; yield its URL; drop it afterwards."""
    server_url = server_url or postgres_server_url()
    name = f"campaign_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # A test that failed half-way may leave a process or a pool connected: end them first.
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = :name AND pid <> pg_backend_pid()"),
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


@pytest.fixture
def sqlite_store_url(tmp_path: Path) -> str:
    """The URL of a SQLite file that does not exist yet."""
    return sqlite_url(tmp_path)


@pytest.fixture
def postgres_store_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (skips without ``$CAMPAIGN_TEST_POSTGRES_URL``)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty store URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with fresh_postgres_database() as url:
            yield url


@contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store.open(url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened store on a fresh database: SQLite and PostgreSQL."""
    with opened(store_url) as opened_store:
        yield opened_store


# -- plans with many posts -------------------------------------------------------------------------------


def facebook_accounts(count: int) -> list[str]:
    return [f"fb-{number:02d}" for number in range(count)]


def base_with_accounts(accounts: list[str]) -> str:
    """:data:`BASE_PLAN` with extra Facebook pages named *accounts* (ids ``fb-00``, ``fb-01``, ...)."""
    extra = "".join(
        f"  {account}:\n    platform: facebook\n    handle: Page {account}\n"
        "    credentials: {page_id: FB_PAGE_ID, page_access_token: FB_PAGE_TOKEN}\n"
        for account in accounts
    )
    return BASE_PLAN.replace("accounts:\n", "accounts:\n" + extra, 1)


def write_bulk_plan(root: Path, count: int, at: str = "2027-03-15 09:00", accounts_per_entry: int = 20) -> Path:
    """A plan of exactly *count* posts, all at *at* (local time): entries × Facebook pages.

    Every text names its entry and its page, so no two posts are alike (X would refuse a repeat, and the
    renderer warns about one).
    """
    accounts = facebook_accounts(min(count, accounts_per_entry))
    lines: list[str] = []
    remaining, number = count, 0
    while remaining > 0:
        chosen = accounts[:min(remaining, len(accounts))]
        lines += [
            f"- id: bulk-{number:04d}",
            f"  accounts: [{', '.join(chosen)}]",
            f"  at: '{at}'",
            f"  text: 'Bulk post {number} for {{{{ account }}}} - report concerns on {{{{ phones.police }}}}.'",
        ]
        remaining -= len(chosen)
        number += 1
    return write_campaign(root, "\n".join(lines) + "\n", base=base_with_accounts(accounts))


def rendered_ok(plan_path: Path) -> RenderedPlan:
    rendered = render_plan(plan_path)
    assert rendered.ok, [str(p) for p in rendered.errors]
    return rendered


@dataclass(frozen=True)
class DuePosts:
    keys: frozenset[str]
    due_at: datetime
    """When they all fall due (UTC)."""

    @property
    def claim_time(self) -> datetime:
        """An instant at which every one of them is due and still inside the campaign's grace window."""
        return self.due_at + timedelta(minutes=1)


SCHEDULED_AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
APPROVED_AT = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)


@functools.cache
def bulk_plan(count: int) -> RenderedPlan:
    """:func:`write_bulk_plan`, rendered: once per test session for each *count* (it takes 0.7 s for 1,000).

    The plan is written to a folder of its own, removed when the session ends.
    """
    root = Path(tempfile.mkdtemp(prefix="campaign-bulk-plan-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return rendered_ok(write_bulk_plan(root, count))


def add_due_approved_posts(store: Store, count: int) -> DuePosts:
    """Schedule and approve a plan of *count* posts (see :func:`bulk_plan`), all due at 2027-03-15 09:00 GMT,
    through the real ``Store.schedule`` and ``Store.approve`` (bound to the rendered hashes)."""
    rendered = bulk_plan(count)
    report = store.schedule(rendered, "author@lancashire.police.uk", now=SCHEDULED_AT)
    assert len(report.added) == count
    approved = store.approve(Selection(campaign=CAMPAIGN_ID, everything=True), "approver@lancashire.police.uk",
                             previewed={d.key: d.content_hash for d in rendered.drafts}, now=APPROVED_AT)
    assert len(approved) == count and {p.state for p in approved} == {"approved"}
    return DuePosts(frozenset(d.key for d in rendered.drafts), datetime(2027, 3, 15, 9, 0, tzinfo=UTC))


def retime_posts(store: Store, first_due: datetime, spacing: timedelta, grace: timedelta) -> list[datetime]:
    """Move the posts' due times to *first_due*, *first_due* + *spacing*, ... (in key order); return them.

    Plans have minute resolution, so tests that need posts falling due every few milliseconds of real time
    schedule and approve a real plan first, then move the times with this one UPDATE per post. Only the
    times change: the content, its hash and the approval stay exactly as the real API left them.
    """
    with store.engine.begin() as connection:
        ids = list(connection.execute(select(P.id).order_by(P.key)).scalars())
        times = [first_due + spacing * index for index in range(len(ids))]
        for post_id, due in zip(ids, times, strict=True):
            connection.execute(update(Post).where(P.id == post_id).values(due_at=due, late_after=due + grace))
    return times


# -- reading the database back -----------------------------------------------------------------------------


def posts_by_key(store: Store) -> dict[str, Post]:
    with store.session() as session:
        return {p.key: p for p in session.scalars(select(Post))}


def audit_entries(store: Store, action: str | None = None) -> list[AuditEntry]:
    with store.session() as session:
        query = select(AuditEntry).order_by(A.id)
        if action is not None:
            query = query.where(A.action == action)
        return list(session.scalars(query))


def aware(value: datetime) -> datetime:
    """SQLModel's UTC type returns aware datetimes; make sure of it before comparing."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
