"""Files only the station's account may read: everything in a station folder is health data
or derived from it (docs/station.md §1: every file 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def create_private(path: Path) -> None:
    """Create the file 0600, or make an existing one so, before anything writes to it.

    Called before SQLite opens a database: SQLite gives its -wal and -shm files the mode
    of the database, so they are private too; and before a copy or download lands in the
    file, which then keeps the mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
