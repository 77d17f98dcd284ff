"""A generation's record file: the record lines the rows place, read by offset by every
connection, appended to by the one writer."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import StationIndexError


class RecordFile:
    """A generation's record file, read by offset. The file is opened once per connection
    and stays open: a page still reading a superseded generation keeps reading its file
    after the switch removed it (POSIX), as it keeps its database."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def __call__(self, pos: int | None, length: int | None) -> bytes | None:
        if pos is None or length is None:
            return None  # no such resource (the view on the right of a LEFT JOIN)
        line = os.pread(self.fd, length, pos)
        if len(line) != length:
            raise StationIndexError(f"{self.path.name} ends before the record at {pos} the index places there")
        return line

    def __del__(self) -> None:
        if hasattr(self, "fd"):
            os.close(self.fd)


class RecordAppender:
    """The writer's end of a record file: a block is written where the file ends, and
    made durable before the transaction that places its lines commits.

    A generation build writes the whole plaintext here (2.2 GB at 1000 beds), and with
    24 GB of memory the kernel keeps nearly all of it dirty until the final fdatasync,
    which then waits for the disk while nothing else runs. So every FLUSH_EVERY bytes a
    thread starts an fdatasync of what is written so far (it waits for the disk without
    the GIL), and the build also starts one before its last steps (Index.rebuild), leaving the
    final sync little to write."""

    FLUSH_EVERY = 256 << 20

    def __init__(self, path: Path, fresh: bool = False):
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if fresh else 0)
        self.fd = os.open(path, flags, 0o600)
        self.end = self.start = os.fstat(self.fd).st_size  # past an interrupted append
        self._flushed_to = self.end  # where the last flush behind was started
        self._flusher: threading.Thread | None = None
        self._flush_error: OSError | None = None

    def append(self, block: bytes) -> int:
        """Write the block at the end; returns where it starts."""
        start = self.end
        view = memoryview(block)
        with self._named_errors():
            while view:
                written = os.pwrite(self.fd, view, self.end)
                self.end += written
                view = view[written:]
        if self.end - self._flushed_to >= self.FLUSH_EVERY:
            self.flush_behind()
        return start

    def flush_behind(self) -> None:
        """Start writing what is appended so far to the disk, unless a flush still runs."""
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flushed_to = self.end
        self._flusher = threading.Thread(target=self._flush, daemon=True, name="records-flush")
        self._flusher.start()

    def _flush(self) -> None:
        try:
            os.fdatasync(self.fd)
        except OSError as exc:  # Linux reports a write error to one fdatasync only: keep it
            self._flush_error = exc

    def sync(self) -> None:
        self._join_flusher()
        with self._named_errors():
            if self._flush_error is not None:
                raise self._flush_error
            os.fdatasync(self.fd)

    def _join_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A full or failing disk is the station's, not the segment's: say so."""
        try:
            yield
        except OSError as exc:
            raise StationIndexError(f"cannot write the record file {self.path}: {exc.strerror} "
                              "(nothing of this segment was applied)") from exc

    def discard(self) -> None:
        """Cut off what this appender wrote, for a transaction that will not commit."""
        self._join_flusher()
        os.ftruncate(self.fd, self.start)
        self.end = self.start

    def close(self) -> None:
        self._join_flusher()
        os.close(self.fd)
