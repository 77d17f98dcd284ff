"""A segment's bytes, both ways: zstd frames, age encryption, the minisign signature, and
back to plaintext lines.

Writing: a capture compresses its blocks into zstd frames in worker processes
(`compress_block`, one compressor per process), puts the header frame first
(`header_frame`), encrypts the whole to the vault's recipients into a sink that hashes
the ciphertext as it is written (`encrypt`), and signs the hash with the descriptor as
trusted comment (`sign`).

Reading: `open_plaintext` decrypts in a thread that writes into a pipe and decompresses
the other end as a stream, so a segment is never held in memory whole (a full segment is
about 100 MB compressed at 1,000 beds) and the reader parses while the thread decrypts.
It is the Python equivalent of `age -d -i KEY SEGMENT | zstd -d`; what the lines must be
is plaintext.py's.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import pyrage
import zstandard

from . import format as fmt
from .errors import VaultError
from .frames import FrameError, FrameReader
from .minisign import SecretKey

READ_SIZE = 1 << 20
COMPRESSION_LEVEL = 1  # measured on Synthea: 1290 vs 950 MB/s a core, 22.0 vs 21.6x smaller
HEADER_LEVEL = 3


class DecryptError(VaultError):
    """The segment cannot be opened with the given identity, or its plaintext is damaged;
    `reason` says which, without the file's name."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.reason = reason


# --- writing --------------------------------------------------------------------------------------

_compressor: zstandard.ZstdCompressor | None = None


def compress_block(data: bytes) -> bytes:
    """One zstd frame of records; the compressor is made once a process (a block at a time)."""
    global _compressor
    if _compressor is None:
        _compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
    return _compressor.compress(data)


def header_frame(header: fmt.Header) -> bytes:
    """The plaintext's first frame: the header line alone."""
    return zstandard.ZstdCompressor(level=HEADER_LEVEL).compress(header.to_line())


class Sink(Protocol):
    """Where ciphertext goes: a vault's Stager, which hashes it on the way (SHA-256 for
    the chain, BLAKE2b-512 for the signature)."""

    def write(self, chunk: bytes) -> None: ...


def encrypt(plain: BinaryIO, sink: Sink, recipients: list) -> None:
    """Encrypt the compressed plaintext `plain` with age to every recipient, into `sink`."""
    pyrage.encrypt_io(plain, _Writable(sink), recipients)


class _Writable:
    """A Sink as age writes to it (a file-like object whose write returns the count)."""

    def __init__(self, sink: Sink):
        self.sink = sink

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def sign(signer: SecretKey, blake2b: bytes, descriptor: fmt.Descriptor) -> str:
    """The segment's signature file: minisign's prehashed signature over the ciphertext's
    BLAKE2b-512, the descriptor as trusted comment."""
    return signer.sign(blake2b, descriptor.to_comment())


def open_compressed(path: Path) -> io.BufferedReader:
    """A compressed plaintext kept in a file, read as lines (FrameError if damaged)."""
    return io.BufferedReader(FrameReader(open(path, "rb")), buffer_size=READ_SIZE)


# --- reading --------------------------------------------------------------------------------------


def decrypt_to(path: Path, identities: list, out: BinaryIO) -> None:
    """Decrypt a segment file into `out` (still zstd-compressed)."""
    try:
        with open(path, "rb") as src:
            pyrage.decrypt_io(src, out, identities)
    except (pyrage.DecryptError, OSError) as exc:  # pyrage reports a truncated file as OSError
        raise DecryptError(path.name, f"cannot decrypt with this identity, or damaged ({exc})") from exc


def open_plaintext(path: Path, identities: list) -> Plaintext:
    """The segment's plaintext as a stream, header line first. Any worker process the
    reader needs must be forked before this is called: a process forked later would
    inherit the write end of the decryption pipe, which would then never reach its end."""
    return Plaintext(path, identities)


class Plaintext:
    """A segment's plaintext, read as it is decrypted and decompressed. A wrong identity,
    a damaged file or damaged compressed data raise DecryptError (at the latest when the
    end is reached: a short read is never mistaken for a short segment)."""

    def __init__(self, path: Path, identities: list):
        self.name = path.name
        # zstandard's stubs ask for IO[bytes]; it reads any object with read(), as a RawIOBase
        self._stream = io.BufferedReader(FrameReader(_decrypted(path, identities)),
                                         buffer_size=READ_SIZE)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as exc:
            raise self._why(exc) from exc

    def readline(self, size: int = -1) -> bytes:
        try:
            return self._stream.readline(size)
        except Exception as exc:
            raise self._why(exc) from exc

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            raise self._why(exc) from exc

    def _why(self, exc: Exception) -> Exception:
        if isinstance(exc, FrameError):
            return DecryptError(self.name, exc.reason)
        if isinstance(exc, (pyrage.DecryptError, OSError)):  # a truncated file is an OSError
            return DecryptError(self.name, f"cannot decrypt with this identity, or damaged ({exc})")
        return exc

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Plaintext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decrypted(path: Path, identities: list) -> io.RawIOBase:
    """The segment's compressed plaintext as a stream: decrypted by a thread into a pipe."""
    read_end, write_end = os.pipe()
    failure: list[BaseException] = []

    def decrypt() -> None:
        try:
            with open(path, "rb") as src, open(write_end, "wb", buffering=READ_SIZE) as dst:
                pyrage.decrypt_io(src, dst, identities)
        except BaseException as exc:  # reported when the reader reaches the end
            failure.append(exc)

    thread = threading.Thread(target=decrypt, daemon=True, name="segment-decrypt")
    thread.start()
    # open() gives a BufferedReader for any buffer size; typeshed only says so for -1 and 1
    pipe = cast(io.BufferedReader, open(read_end, "rb", buffering=READ_SIZE))
    return _CheckedPipe(pipe, thread, failure)


class _CheckedPipe(io.RawIOBase):
    """A pipe's read end that raises the decrypting thread's error at end of stream
    (a wrong identity or a damaged file must not look like a short segment)."""

    def __init__(self, raw: io.BufferedReader, thread: threading.Thread, failure: list[BaseException]):
        self.raw, self.thread, self.failure = raw, thread, failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        if not count:
            self.thread.join()
            if self.failure:
                raise self.failure[0]
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()
