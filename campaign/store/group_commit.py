"""Group commit: the writes many threads ask for at once, committed in one transaction by one writer thread.

When 200 posts go out at 09:00, 200 threads hear their platform's answer within a few milliseconds of each other,
and each has an outcome to record. Committed one by one, they queue on the database's write lock (on SQLite, a
busy handler that sleeps up to 100 ms between tries) and on the connection pool: the last outcome was recorded
more than a second after its answer. Here one thread takes every write waiting, runs them in one transaction and
commits once. Each caller still waits until its own write is committed, and gets its own result or its own
error: an outcome is exactly as durable as when it had a transaction of its own; only the commit is shared.

A write that raises spoils its transaction for the others; then each write of that group is run again alone, so
one post's trouble is only that post's. A write the database gave up on only because of other transactions (a
deadlock, a serialization failure, a lock wait that ran out) is run again a few times before its error is given
to its caller: that error would leave a published post's receipt unrecorded.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from campaign.store.database import worth_retrying

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = Callable[[Connection], Any]


class GroupCommit:
    """One writer thread for *engine*; :meth:`run` hands it a write and waits until it is committed."""

    def __init__(self, engine: Engine, most: int = 500, tries: int = 5) -> None:
        self.engine, self.most, self.tries = engine, most, tries
        self._waiting: queue.SimpleQueue[tuple[Write, Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def run(self, write: Callable[[Connection], T]) -> T:
        """Run *write* in a transaction shared with whatever else is waiting; return its result once committed
        (or raise its error, or the commit's)."""
        done: Future[T] = Future()
        with self._lock:
            closed = self._closed
            if not closed and self._thread is None:
                self._thread = threading.Thread(target=self._write, name="group-commit", daemon=True)
                self._thread.start()
            if not closed:
                self._waiting.put((write, done))
        if closed:  # a sending thread finishing after the runner stopped: its outcome still gets committed
            return self._run_alone(write)
        return done.result()

    def close(self) -> None:
        """Commit what is waiting, then stop the writer thread (later writes get a transaction of their own)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is None:
                return
            self._waiting.put(None)
        thread.join()

    def _write(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            group, last = [first], False
            while len(group) < self.most:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    last = True
                    break
                group.append(item)
            self._commit(group)
            if last:
                return

    def _commit(self, group: list[tuple[Write, Future[Any]]]) -> None:
        try:
            with self.engine.begin() as connection:
                results = [write(connection) for write, _ in group]
        except Exception as error:  # noqa: BLE001 - handed to its caller, never lost
            if len(group) == 1:
                self._commit_alone(*group[0], error)
                return
            log.debug("a grouped write failed (%s); running each of the %d alone", error, len(group))
            for item in group:
                self._commit([item])
            return
        for (_, done), result in zip(group, results, strict=True):
            done.set_result(result)

    def _commit_alone(self, write: Write, done: Future[Any], error: Exception) -> None:
        """A lone write failed with *error*: run again while the database only gave up because of others."""
        try:
            done.set_result(self._run_alone(write, error))
        except Exception as final:  # noqa: BLE001 - handed to its caller, never lost
            done.set_exception(final)

    def _run_alone(self, write: Callable[[Connection], T], failed: Exception | None = None) -> T:
        """*write* in a transaction of its own, run again while the database gives it up only because of other
        transactions: :attr:`tries` runs in all, counting the one that already *failed* (if one did)."""
        error = failed
        for run in range(1 if failed is not None else 0, self.tries):
            if error is not None:
                if not worth_retrying(error):
                    raise error
                log.info("the database gave a write up (%s); running it again", error.__class__.__name__)
                time.sleep(random.uniform(0.5, 1.0) * 0.02 * 2**run)  # noqa: S311 - jitter, not security
            try:
                with self.engine.begin() as connection:
                    return write(connection)
            except Exception as again:  # noqa: BLE001 - judged before the next run, or raised after the last
                error = again
        assert error is not None
        raise error
