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
It is the Python equivalent of `age -d -i KEY SEGMENT | zstd -d`.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import orjson
import pyrage
import zstandard

from . import format as fmt
from .errors import VaultError
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


def compressed_lines(path: Path) -> Iterator[bytes]:
    """The plaintext lines, header first, of a segment's compressed plaintext kept in a
    file (a writer's cache of what it wrote)."""
    with open(path, "rb") as handle:
        reader = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
        yield from io.BufferedReader(reader, buffer_size=READ_SIZE)


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
        self._stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(
            _decrypted(path, identities),  # type: ignore[arg-type]
            read_across_frames=True), buffer_size=READ_SIZE)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as exc:
            raise self._why(exc) from exc

    def readline(self) -> bytes:
        try:
            return self._stream.readline()
        except Exception as exc:
            raise self._why(exc) from exc

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            raise self._why(exc) from exc

    def _why(self, exc: Exception) -> Exception:
        if isinstance(exc, zstandard.ZstdError):
            return DecryptError(self.name, f"compressed plaintext is damaged ({exc})")
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


class Mismatch(VaultError):
    """A plaintext that is not what its signed descriptor says."""


def check_header(header: fmt.Header, descriptor: fmt.Descriptor) -> None:
    """The plaintext's header must repeat the signed descriptor."""
    if header.descriptor.signed_form() != descriptor:
        raise Mismatch("plaintext header differs from its signed descriptor")


def check_counts(descriptor: fmt.Descriptor, puts: int, deletes: int) -> None:
    """The records counted in a plaintext must number what the descriptor signed."""
    if (puts, deletes) != (descriptor.puts, descriptor.deletes):
        raise Mismatch(f"holds {puts} puts and {deletes} deletes, its signature says "
                       f"{descriptor.puts} and {descriptor.deletes}")


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One plaintext line after the header: a put (the resource) or a delete."""

    line: bytes
    resource_type: str
    resource_id: str
    deleted: bool

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def read_segment(path: Path, identities: list) -> tuple[fmt.Header, Iterator[Record]]:
    """The header and an iterator over the records of one segment, streamed."""
    plaintext = open_plaintext(path, identities)
    try:
        first = plaintext.readline()
        if not first:
            raise DecryptError(path.name, "empty plaintext")
        return fmt.Header.from_line(first), _records(plaintext)
    except BaseException:
        plaintext.close()  # the decrypting thread stops at its next write
        raise


def _records(plaintext: Plaintext) -> Iterator[Record]:
    with plaintext:
        for number, line in enumerate(plaintext, start=2):
            yield parse_record(line, number)


def parse_record(line: bytes, number: int) -> Record:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise fmt.FormatError(f"plaintext line {number} is not JSON") from exc
    target = data.get("delete") if isinstance(data, dict) and "resourceType" not in data else data
    if not isinstance(target, dict):
        raise fmt.FormatError(f"plaintext line {number} is neither a resource nor a delete")
    rtype, rid = target.get("resourceType"), target.get("id")
    if not isinstance(rtype, str) or not isinstance(rid, str):
        raise fmt.FormatError(f"plaintext line {number} lacks resourceType or id")
    return Record(line, rtype, rid, deleted=target is not data)
