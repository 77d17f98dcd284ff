"""Writing a file so that a crash or a full disk never leaves it half-written, and
creating the files and folders that only their owner may read.

The data goes to a temporary file in the same folder, is flushed to disk, gets its mode,
and only then takes the file's name (rename is atomic within one file system); the
folder is flushed last, so the new name itself survives a power cut. A reader sees the
old file or the new one, never a mix.

A private file is 0600 and a private folder 0700 whatever the process's umask: the mode
given to open(2) or mkdir(2) only loses bits to the umask, so the helpers below set the
mode explicitly afterwards (a umask of 0000 would otherwise leave health data 0666).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600  # what the station and the capture keep is health data or a secret
PRIVATE_FOLDER = 0o700
AS_CREATED = None  # the mode any new file gets (0666 less the umask): a user's own output


def private_folder(path: Path) -> Path:
    """`path` (and its missing parents) as a folder, the last one exactly 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    if stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FOLDER:
        os.chmod(path, PRIVATE_FOLDER)
    return path


def create_private(path: Path) -> None:
    """Create the file 0600, or make an existing one so, before anything writes to it.

    Called before SQLite opens a database (it gives its -wal and -shm files the mode of
    the database), before a lock file is opened, and before a copy or download lands
    in the file, which then keeps the mode.

    An existing file is chmod-ed by name, never opened: closing any descriptor of a file
    drops every POSIX lock the process holds on it, so opening a database that another
    thread of this process has open with SQLite would release SQLite's locks under it."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        os.close(_private_fd(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC))
        return
    if mode != PRIVATE:
        os.chmod(path, PRIVATE)


def open_private(path: Path, buffering: int = -1) -> BinaryIO:
    """`open(path, "wb")` for a file only its owner may read: 0600 from its creation on."""
    fd = _private_fd(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
    return os.fdopen(fd, "wb", buffering=buffering)


def _private_fd(path: Path, flags: int) -> int:
    fd = os.open(path, flags, PRIVATE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE:
            os.fchmod(fd, PRIVATE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomic(path: Path, data: bytes, mode: int | None = PRIVATE) -> None:
    """Put `data` at `path` whole or not at all, with `mode` (0600 unless asked)."""
    with atomic_file(path, mode) as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_file(path: Path, mode: int | None = PRIVATE,
                buffering: int = -1) -> Iterator[BinaryIO]:
    """A file to write `path` through: it takes the name only if the block ends without
    an exception, else it is removed and `path` is left as it was."""
    fd, temporary = _create_beside(path, mode)
    try:
        with os.fdopen(fd, "wb", buffering=buffering) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make the names in `folder` durable (a rename is only on disk once its folder is)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_beside(path: Path, mode: int | None) -> tuple[int, Path]:
    """A new, empty, hidden file next to `path`, with `mode` from its creation on (no
    moment where another account could open it)."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         0o666 if mode is None else mode & 0o600)
        except FileExistsError:
            continue
        break
    if mode is not None:
        try:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask took away
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
    return fd, temporary
