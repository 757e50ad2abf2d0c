"""Writing files and folders whole or not at all.

A file is written to a temporary file in the same folder, flushed to disk, then renamed over the target:
a reader (Outlook polling ``week.ics``, a person opening ``report.html``) sees the old file or the whole
new one, never half of one, and a full disk or a crash leaves the old file as it was. (A target that is
not a file — ``/dev/stdout``, a pipe — is written directly: there is no file to keep.) A folder is built
under a temporary name beside it and renamed into place when complete, so it is complete or absent.

Problems a person can fix (a folder that does not exist, a folder given where a file is wanted, no
permission, a full disk) are :class:`WriteError` sentences naming the path.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from campaign.exceptions import CampaignError


class WriteError(CampaignError):
    """A file or folder that cannot be written where asked."""


@contextmanager
def atomic_text(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file open for writing that replaces *path* only when the ``with`` block ends without an
    error; until then *path* is untouched."""
    with _beside(Path(path)) as (descriptor, regular):
        with os.fdopen(descriptor, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            _flush(handle, regular)


@contextmanager
def atomic_binary(path: Path) -> Iterator[IO[bytes]]:
    """As :func:`atomic_text`, for bytes."""
    with _beside(Path(path)) as (descriptor, regular):
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            _flush(handle, regular)


def _flush(handle: IO[str] | IO[bytes], regular: bool) -> None:
    handle.flush()
    if regular:
        os.fsync(handle.fileno())


def write_text(path: Path, text: str) -> None:
    with atomic_text(path) as handle:
        handle.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_binary(path) as handle:
        handle.write(data)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """A new, empty folder to fill; renamed to *path* when the ``with`` block ends without an error.

    *path* must not exist, or be an empty folder; its parent folder must exist. On an error nothing is left.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "already has files in it" if target.is_dir() else "is a file"
        raise WriteError(f"{target} {what}; choose a new or empty folder")
    parent = _existing_parent(target)
    try:
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    except OSError as error:
        raise _write_error(target, error) from None
    try:
        yield building
        building.chmod(0o777 & ~_umask())
        if target.is_dir():
            target.rmdir()  # empty, checked above; fails (and nothing is lost) if something was put there since
        building.rename(target)
    except OSError as error:
        shutil.rmtree(building, ignore_errors=True)
        raise _write_error(target, error) from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


@contextmanager
def _beside(target: Path) -> Iterator[tuple[int, bool]]:
    """A descriptor to write *target* through, and whether it is a regular file's.

    For a file (or a name not taken yet): a new temporary file in the same folder, renamed over *target* if
    the block ends without an error. A symbolic link keeps pointing where it did: the file it points at is
    the one replaced. Something that is not a file — a terminal, a pipe, a device (``-o /dev/stdout``) — is
    written directly: there is nothing to replace, and it must never be replaced by a file.
    """
    if target.is_dir():
        raise WriteError(f"{str(target)!r} is a folder; give the name of a file to write")
    if target.exists() and not target.is_file():
        try:
            descriptor = os.open(target, os.O_WRONLY)
            yield descriptor, False
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise  # the reader went away (`| head`): not an error to report
            raise WriteError(f"cannot write {target}: {error.strerror or error}") from None
        return
    if target.is_symlink():
        target = target.resolve()
    folder = _existing_parent(target)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
    except OSError as error:
        raise _write_error(target, error) from None
    try:
        yield descriptor, True
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise _write_error(target, error) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _existing_parent(target: Path) -> Path:
    parent = target.parent
    if not parent.is_dir():
        why = "is not a folder" if parent.exists() else "does not exist"
        raise WriteError(f"cannot write {target}: the folder {parent} {why} — create it first, or choose another "
                         "place")
    return parent


def _mode_for(target: Path) -> int:
    """The permissions the file would have had if written in place: the old file's, or the usual ones."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(target: Path, error: OSError) -> WriteError:
    reason = error.strerror or str(error)
    return WriteError(f"cannot write {target}: {reason} — nothing was written there; check the folder's permissions "
                      "and free space")
