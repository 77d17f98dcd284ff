"""Compressed input files, read to their very end or refused.

A file cut short (a copy interrupted, a full disk) often still decompresses into text
that ends on a newline: read leniently, it would import part of an extract as if it were
the whole. So each stream in the file (a gzip member, a zstd frame, a bzip2 or xz
stream) must reach its end mark, where its checksum is checked (gzip's CRC-32 and
length, xz's and bzip2's own; a zstd frame's when it carries one), and the file must end
where a stream ends. The decompressors report that as `eof`; zstandard's stream reader
does not (at the end of the input it returns what it has), so its `decompressobj` is used.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import zstandard

from ..errors import ReleveError

READ_SIZE = 128 * 1024  # compressed bytes a read: as fast as 1 MiB reads, smaller pieces


class UnpackError(ReleveError):
    """A compressed file that could not be read to its end (the caller names the file)."""


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


# gzip and xz allow null bytes between streams (gzip's padding, xz's stream padding)
_PADDED = {"gzip", "xz"}
DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "gzip": lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
}
FAILURES = (zlib.error, zstandard.ZstdError, lzma.LZMAError, OSError, EOFError, ValueError)


def unpacked(path: Path, method: str) -> Iterator[bytes]:
    """The decompressed bytes of `path`, in pieces; UnpackError if any stream is damaged
    or the file ends before its last stream does."""
    new = DECOMPRESSORS[method]
    current: _Decompressor | None = None
    try:
        for data in _raw(path):
            while data:
                if current is None:
                    if method in _PADDED:
                        data = data.lstrip(b"\0")
                        if not data:
                            break
                    current = new()
                piece = current.decompress(data)
                if piece:
                    yield piece
                if current.eof:  # a stream ended: what follows starts the next one
                    data, current = current.unused_data, None
                else:
                    data = b""
    except FAILURES as exc:
        raise UnpackError(f"cannot decompress ({exc})") from None
    if current is not None:
        raise UnpackError(f"the {method} data ends before its end mark: the file was cut short "
                          "(an interrupted copy?); nothing was imported")


def _raw(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as raw:
            while data := raw.read(READ_SIZE):
                yield data
    except OSError as exc:
        raise UnpackError(f"cannot read ({exc.strerror or exc})") from None
