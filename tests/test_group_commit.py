"""Group commit (campaign/store/group_commit.py) on a real SQLite file: the writes of many threads share
commits, each caller gets its own result or its own error, a failing write loses nobody else's, and nothing is
lost once the writer has stopped; and on a real PostgreSQL server, a write aborted in a deadlock is run
again."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError

from campaign.store.group_commit import GroupCommit
from tests.store_fixtures import fresh_postgres_database

OUTCOME_TABLE = "CREATE TABLE outcome (post INTEGER PRIMARY KEY, said TEXT NOT NULL)"
"""Each post's recorded outcome: what the writes of these tests fill."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'outcomes.db'}", connect_args={"check_same_thread": False})
    with made.begin() as connection:
        connection.execute(text(OUTCOME_TABLE))
    yield made
    made.dispose()


def commits_counted(engine: Engine) -> list[int]:
    counted = [0]
    event.listen(engine, "commit", lambda _connection: counted.__setitem__(0, counted[0] + 1))
    return counted


def record(post: int, said: str = "published") -> Callable[[Connection], int]:
    def write(connection: Connection) -> int:
        connection.execute(text("INSERT INTO outcome VALUES (:post, :said)"), {"post": post, "said": said})
        return post
    return write


def released_together(count: int, work: Callable[[int], Any]) -> tuple[dict[int, Any], dict[int, Exception]]:
    """``work(0)`` … ``work(count - 1)``, each on a thread of its own, all released at once: what each
    returned, and what each raised."""
    go, results, errors = threading.Barrier(count), {}, {}

    def thread(number: int) -> None:
        go.wait()
        try:
            results[number] = work(number)
        except Exception as error:  # noqa: BLE001 - what the caller would see
            errors[number] = error

    threads = [threading.Thread(target=thread, args=(number,)) for number in range(count)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    return results, errors


def stored(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT post, said FROM outcome"))
        return {int(post): str(said) for post, said in rows}


def test_outcomes_heard_together_share_commits_and_each_caller_gets_its_own_result(engine: Engine) -> None:
    """200 threads released at once each record an outcome: all 200 rows are there, each thread got back its
    own post, and they took far fewer commits than writes (each thread's own transaction would take 200)."""
    group, commits = GroupCommit(engine), commits_counted(engine)
    results, errors = released_together(200, lambda post: group.run(record(post)))
    group.close()
    assert errors == {}
    assert results == {post: post for post in range(200)}
    assert stored(engine) == dict.fromkeys(range(200), "published")
    assert commits[0] < 100, f"{commits[0]} commits for 200 writes"


def test_a_failing_write_fails_alone_and_the_others_are_committed(engine: Engine) -> None:
    """Writes grouped with one that breaks (a second row for post 7): the others are committed, and only the
    caller of the broken write gets the error."""
    group = GroupCommit(engine)
    group.run(record(7))
    _, errors = released_together(30, lambda post: group.run(record(7 if post == 0 else 100 + post, "again")))
    group.close()
    assert list(errors) == [0] and "UNIQUE" in str(errors[0])
    assert stored(engine) == {7: "published", **{100 + post: "again" for post in range(1, 30)}}


def test_a_write_after_the_writer_stopped_is_still_committed(engine: Engine) -> None:
    """A sending thread that finishes after the runner stopped its group commit: its outcome is committed in a
    transaction of its own, never dropped."""
    group = GroupCommit(engine)
    group.run(record(1))
    group.close()
    assert group.run(record(2)) == 2
    assert stored(engine) == {1: "published", 2: "published"}


@pytest.mark.postgres
def test_a_write_the_database_gave_up_on_in_a_deadlock_is_run_again() -> None:
    """On PostgreSQL, a write that deadlocks with another transaction (it takes row 1, then wants row 2, which
    the other holds while it wants row 1) is the one PostgreSQL aborts (its deadlock check runs first). The
    group commit runs it again, and it is committed: its caller gets its result, not "deadlock detected"
    (which left a published post's receipt unrecorded). A write that fails for any other reason is not run
    again."""
    with fresh_postgres_database() as url:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text(OUTCOME_TABLE))
                connection.execute(text("INSERT INTO outcome VALUES (1, 'publishing'), (2, 'publishing')"))
            calls, holds_row_1, other_done = [0], threading.Event(), threading.Event()

            def other() -> None:  # e.g. another runner: row 2, then row 1; it waits long before checking
                with engine.begin() as connection:
                    connection.execute(text("SET LOCAL deadlock_timeout = '10s'"))
                    connection.execute(text("UPDATE outcome SET said = 'other' WHERE post = 2"))
                    holds_row_1.wait(10)
                    connection.execute(text("UPDATE outcome SET said = 'other' WHERE post = 1"))
                other_done.set()

            def write(connection: Connection) -> str:
                calls[0] += 1
                connection.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
                connection.execute(text("UPDATE outcome SET said = 'published' WHERE post = 1"))
                if calls[0] == 1:
                    holds_row_1.set()
                connection.execute(text("UPDATE outcome SET said = 'published' WHERE post = 2"))
                return "recorded"

            thread = threading.Thread(target=other)
            thread.start()
            group = GroupCommit(engine)
            try:
                assert group.run(write) == "recorded"
                thread.join(10)
                assert other_done.is_set()
                assert calls[0] == 2
                assert stored(engine) == {1: "published", 2: "published"}  # the write, run again after the other's

                def broken(connection: Connection) -> None:
                    calls[0] += 1
                    connection.execute(text("INSERT INTO outcome VALUES (1, 'again')"))

                with pytest.raises(IntegrityError):
                    group.run(broken)
                assert calls[0] == 3
            finally:
                group.close()
        finally:
            engine.dispose()
