"""Group commit (campaign/store/group_commit.py) on a real SQLite file: the writes of many threads share
commits, each caller gets its own result or its own error, a failing write loses nobody else's, and nothing is
lost once the writer has stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text

from campaign.store.group_commit import GroupCommit


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'outcomes.db'}", connect_args={"check_same_thread": False})
    with made.begin() as connection:
        connection.execute(text("CREATE TABLE outcome (post INTEGER PRIMARY KEY, said TEXT NOT NULL)"))
    yield made
    made.dispose()


def commits_counted(engine: Engine) -> list[int]:
    counted = [0]
    event.listen(engine, "commit", lambda _connection: counted.__setitem__(0, counted[0] + 1))
    return counted


def record(post: int, said: str = "published") -> object:
    def write(connection: Connection) -> int:
        connection.execute(text("INSERT INTO outcome VALUES (:post, :said)"), {"post": post, "said": said})
        return post
    return write


def stored(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        return {int(row[0]): str(row[1]) for row in connection.execute(text("SELECT post, said FROM outcome"))}


def test_outcomes_heard_together_share_commits_and_each_caller_gets_its_own_result(engine: Engine) -> None:
    """200 threads released at once each record an outcome: all 200 rows are there, each thread got back its own
    post, and they took far fewer commits than writes (each thread's own transaction would take 200)."""
    group, commits = GroupCommit(engine), commits_counted(engine)
    go, results = threading.Barrier(200), {}

    def thread(post: int) -> None:
        go.wait()
        results[post] = group.run(record(post))  # type: ignore[arg-type]

    threads = [threading.Thread(target=thread, args=(post,)) for post in range(200)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    group.close()
    assert results == {post: post for post in range(200)}
    assert stored(engine) == dict.fromkeys(range(200), "published")
    assert commits[0] < 100, f"{commits[0]} commits for 200 writes"


def test_a_failing_write_fails_alone_and_the_others_are_committed(engine: Engine) -> None:
    """Writes grouped with one that breaks (a second row for post 7): the others are committed, and only the
    caller of the broken write gets the error."""
    group = GroupCommit(engine)
    group.run(record(7))  # type: ignore[arg-type]
    go, errors, done = threading.Barrier(30), {}, {}

    def thread(post: int) -> None:
        go.wait()
        try:
            done[post] = group.run(record(7 if post == 0 else 100 + post, "again"))  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - what the caller would see
            errors[post] = error

    threads = [threading.Thread(target=thread, args=(post,)) for post in range(30)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    group.close()
    assert list(errors) == [0] and "UNIQUE" in str(errors[0])
    assert stored(engine) == {7: "published", **{100 + post: "again" for post in range(1, 30)}}


def test_a_write_after_the_writer_stopped_is_still_committed(engine: Engine) -> None:
    """A sending thread that finishes after the runner stopped its group commit: its outcome is committed in a
    transaction of its own, never dropped."""
    group = GroupCommit(engine)
    group.run(record(1))  # type: ignore[arg-type]
    group.close()
    assert group.run(record(2)) == 2  # type: ignore[arg-type]
    assert stored(engine) == {1: "published", 2: "published"}
