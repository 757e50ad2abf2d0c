"""Shared fixtures: the platform sandbox served in-process on a free port, and a clock tests control."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign.sandbox import Sandbox, running


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
