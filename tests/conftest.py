"""Shared fixtures: the platform sandbox served in-process on a free port, a clock tests control, light password
hashing, one run of `campaign demo` for the tests that check it, and HTTPS for a sandbox."""

from __future__ import annotations

import os
import re
import signal
import ssl
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from campaign.sandbox import Sandbox, running
from campaign.sandbox.tls import server_context, trusting, write_self_signed_certificate
from campaign.store import people as people_store
from tests.instagram_fixtures import s3_server  # noqa: F401 - one S3 server per test process, for every module


def pytest_configure(config: pytest.Config) -> None:
    """Processes the tests start (``campaign sandbox serve``, ``campaign run``) stop on Ctrl-C as a user's would,
    even when pytest itself was started with Ctrl-C ignored (a shell's background job): an ignored SIGINT is
    inherited by every child, and then the SIGINT the tests send to stop one is ignored too. And the tests'
    groups hold on pytest-xdist's workers, or the run stops and says why."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # pytest 9.2 gives tests structured ids, and pytest-xdist's loadgroup then silently stops grouping: tests
    # that share a costly fixture, or must not overlap, would be spread over the workers.
    grouping = config.getoption("dist", "no") == "loadgroup" and bool(config.getoption("numprocesses", 0))
    if grouping and pytest.version_tuple[:2] >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} and pytest-xdist's --dist loadgroup do not agree on test ids "
            f"(pytest-dev/pytest-xdist#1386): install the versions pyproject.toml asks for "
            f"(pip install -e '.[test]'), or run with -n 0")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two pytest-xdist workers per core this process may use. Much of the suite waits on real
    clocks, sockets and child processes: on two cores, two workers kept the cores busy 60 % of the time (282 s);
    four took 203 s, and 246 s with a third process spinning on a core, every test passing (decision 0013)."""
    return 2 * len(os.sched_getaffinity(0))


def served_over_https(folder: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """The TLS context for a sandbox served over HTTPS with a throwaway certificate (written into *folder*), which
    this test's clients trust as they would a platform's: by file, never with verification turned off."""
    certificate, key = write_self_signed_certificate(folder)
    for name, value in trusting(certificate).items():
        monkeypatch.setenv(name, value)
    return server_context(certificate, key)


class FakeClock:
    """A clock that stands still until a test moves it (``clock.advance(hours=6)``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


PLAN_CHECKS_AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
"""Before the weeks the tests' plans describe (March 2027): a post is past, and warned about, only where a test
says so — not, one day, because the calendar moved on."""


PRODUCTION_HASHER = people_store.HASHER
"""The password hasher the store uses (argon2-cffi's defaults: 64 MiB, three passes, a quarter of a second)."""


@pytest.fixture(autouse=True, scope="session")
def light_password_hashing() -> Iterator[None]:
    """In-process tests hash passwords with Argon2id at its lightest settings: the same code, the same kind of
    hash, without a quarter of a second for every user added and every login. (Commands run as subprocesses,
    ``campaign serve`` among them, use the production settings, and test_people checks them.)"""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(people_store, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


@pytest.fixture(autouse=True)
def plans_checked_before_their_week(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process commands check plans as of :data:`PLAN_CHECKS_AS_OF` (tests of the past-time warning pass their
    own moment)."""
    monkeypatch.setattr("campaign.plan.loader.plan_clock", lambda: PLAN_CHECKS_AS_OF)


@pytest.fixture
def login_as(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Stand in for the operating-system login of in-process commands: ``login_as("alice")`` makes the next
    commands run as the login ``alice`` (what a person typing them on their own account would be)."""
    def log_in(login: str) -> None:
        monkeypatch.setattr("campaign.people.login_name", lambda: login)

    return log_in


@pytest.fixture
def clock() -> FakeClock:
    """The sandbox's idea of now; starts at the real time and moves only when told."""
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    """A fresh sandbox (demo accounts, seed 1234, the test's clock) served on a free port of 127.0.0.1.

    It has ``.base_url``, ``.posts(platform)``, ``.requests(platform, method, path)``,
    ``.set_faults(*specs)`` / ``.clear_faults()``, ``.add_account(...)`` and ``.account_config(platform)``.
    """
    with running(Sandbox(seed=1234, clock=clock)) as served:
        yield served


def write_png(path: Path) -> Path:
    """A valid one-pixel PNG at *path*."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def png(tmp_path: Path) -> Path:
    """A small PNG image on disk."""
    return write_png(tmp_path / "pocket-guide.png")


@dataclass(frozen=True)
class DemoRun:
    """One run of ``campaign demo``: what it printed, and where."""

    result: subprocess.CompletedProcess[str]
    tmpdir: Path
    """Its ``$TMPDIR`` (and working folder): the demo makes its temporary folder in here."""

    @property
    def lines(self) -> list[str]:
        return self.result.stdout.splitlines()

    @property
    def folder(self) -> Path:
        """The folder the demo says it wrote its store into (step 2)."""
        found = re.search(r" in (.+)/rehearsal\.db\.$", self.result.stdout, flags=re.MULTILINE)
        assert found is not None, self.result.stdout + self.result.stderr
        return Path(found.group(1))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``campaign demo`` as the README's Quick start runs it (the installed console script, no arguments, the
    default speed), run once for every test that checks what it does: it takes seconds, and each of them
    would only run the same thing again."""
    tmpdir = tmp_path_factory.mktemp("demo")
    command = [str(Path(sys.executable).parent / "campaign"), "demo"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, cwd=tmpdir,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    return DemoRun(result, tmpdir)
